"""Several processes under torchrun: joining the group, the world size, and failing together.

One place for what the command line, the reproduce command and the trainer each need: a process that
fails alone must not leave the others waiting forever at the next collective.
"""
from __future__ import annotations

import os
from typing import Callable, Optional

import torch
import torch.distributed as dist


def distributed() -> bool:
    """Whether this process is one of several (an initialised process group)."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if distributed() else 1


def start_processes(device: str) -> tuple[int, str]:
    """Under torchrun (WORLD_SIZE > 1): join the process group (NCCL on GPUs, gloo on CPUs) and pick this
    process's device. Returns (rank, device)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, device
    gpus = device != "cpu" and torch.cuda.is_available()
    if gpus:  # one GPU per process, by local rank (an explicit --device cuda:N is overridden)
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"process {local_rank} has no GPU of its own ({torch.cuda.device_count()} GPUs): "
                             "use --nproc_per_node up to the number of GPUs, or --device cpu.")
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    if not distributed():
        dist.init_process_group("nccl" if gpus else "gloo")
    return dist.get_rank(), device


def together(work: Optional[Callable], mine: bool, message: str):
    """Run ``work()`` where ``mine``; then every process learns whether it worked everywhere, and all raise
    together (the failing process its own error, the others OSError(message + " (its message says why)")), so
    none waits forever at the next collective. Returns ``work()``'s result, or None where not ``mine``.
    With one process it is simply ``work()``."""
    if not distributed():
        return work() if mine and work is not None else None
    result, error = None, None
    if mine and work is not None:
        try:
            result = work()
        except Exception as caught:  # re-raised below, once the other processes know
            error = caught
    flag = torch.tensor([0 if error is not None else 1], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    if error is not None:
        raise error
    if not flag.item():
        raise OSError(f"{message} (its message says why)")
    return result
