"""Scaling out with torchrun: images per second with 1 and 2 processes on the same workload, in one run.

Each process count trains the same Trainer workload (random uint8 images of --side pixels, the chosen preset)
for --epochs epochs; the first is a warm-up. Parallel efficiency = (images/s with N) / (N x images/s with 1).
The share of time in communication is estimated from a second timing with DistributedDataParallel's
``no_sync`` (no gradient all-reduce): (t - t_no_sync) / t. On this machine: the gloo backend on CPU cores;
on a GPU machine with one GPU, the single-GPU figure of the same workload. Several GPUs were not available.

Usage: python benchmarks/scaling.py [--processes 1 2] [--preset digits] [--images 1797] [--epochs 3]
       (the worker: torchrun --nproc_per_node N benchmarks/scaling.py --worker ...)
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from common import ROOT, machine, save

from mmdc_lib.processes import start_processes
from mmdc_lib.config import preset
from mmdc_lib.step import resolve_device
from mmdc_lib.train import Trainer


def worker(args: argparse.Namespace) -> None:
    rank, device_name = start_processes(args.device)
    device = resolve_device(device_name)
    config = preset(args.preset)
    config.epochs, config.refine_epoch, config.lr_milestones = args.epochs * 2, None, (args.epochs * 2,)
    channels = 3 if args.preset in ("cifar10", "cifar100-20", "stl10") else 1
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (args.images, channels, args.side, args.side), dtype=np.uint8))
    trainer = Trainer(config, images, device=device, progress=False)
    timings = {}
    for mode in ("sync", "no_sync"):
        seconds = []
        for _ in range(args.epochs):
            no_sync = trainer.forward_model.no_sync() if mode == "no_sync" and trainer.world > 1 else contextlib.nullcontext()
            if trainer.world > 1:
                dist.barrier()
            start = time.perf_counter()
            with no_sync:
                trainer._run_epoch()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds.append(time.perf_counter() - start)
        timings[mode] = float(np.median(seconds[1:]))
    if rank == 0:
        Path(args.result).write_text(json.dumps({"processes": trainer.world, "device": str(device), **timings}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--result", default=None)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--preset", default="digits")
    parser.add_argument("--images", type=int, default=1797)
    parser.add_argument("--side", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for n in args.processes:
            result = Path(scratch) / f"{n}.json"
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n), __file__, "--worker", "--result", str(result),
                       "--preset", args.preset, "--images", str(args.images), "--side", str(args.side),
                       "--epochs", str(args.epochs), "--device", args.device]
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // n)), "PYTHONPATH": str(ROOT)}
            subprocess.run(command, cwd=ROOT, check=True, env=env)
            results[n] = json.loads(result.read_text())
            results[n]["images_per_second"] = args.images / results[n]["sync"]
            print(n, results[n], flush=True)
    base = results[min(results)]["images_per_second"]
    for n, row in results.items():
        row["efficiency"] = row["images_per_second"] / (n * base)
        row["communication_share"] = max(0.0, (row["sync"] - row["no_sync"]) / row["sync"]) if n > 1 else 0.0
    payload = {"machine": machine(), "workload": vars(args), "results": results}
    where = payload["machine"]["gpu"] or f"{payload['machine']['cpus']} CPU cores (gloo), no GPU"
    lines = [f"# Scaling with torchrun: {args.preset} preset, {args.images} random images {args.side}x{args.side}, on {where}", "",
             "| processes | images/s | epoch s | parallel efficiency | communication share |", "|---|---|---|---|---|"]
    for n, row in results.items():
        lines.append(f"| {n} | {row['images_per_second']:.0f} | {row['sync']:.2f} | {row['efficiency']:.2f} | {100 * row['communication_share']:.0f}% |")
    lines += ["", "Threads: the machine's cores divided among the processes (OMP_NUM_THREADS). Communication share: "
              "(epoch time - epoch time under DDP's no_sync) / epoch time. Several GPUs were not available to measure.",
              f"Machine: {payload['machine']}"]
    save(f"scaling_{args.device}", payload, lines)


if __name__ == "__main__":
    main()
