"""Where one library epoch's time goes: torch.profiler over one epoch of a preset's schedule on random data.

Prints the operators with the most self CPU time and the most self device time, the device's busy share of
the epoch (kernel time / wall time: low means the step waits on the host) and the host-device
synchronisations counted; with --compile MODE..., also the epoch time under torch.compile in each mode after
two warm-up epochs (its compiling). With --cuda-graphs the profiled trainer replays whole steps from CUDA graphs
(``Trainer(cuda_graphs=True)``) and a plain one's steady epoch is timed in the same run for comparison.
Speed only: the images are random uint8 of the data set's shape.

Usage: python benchmarks/profile_epoch.py [--device auto] [--preset cifar10] [--images 8192]
       [--compile default reduce-overhead] [--cuda-graphs]
"""
from __future__ import annotations

import argparse
import sys

import torch
from common import machine, require_cuda_for_graphs, timed_epoch
from torch.profiler import ProfilerActivity, profile

from mmdc_lib.config import COMPILE_MODES, preset
from mmdc_lib.step import resolve_device
from mmdc_lib.train import Trainer

SYNC_CALLS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy", "aten::item",
              "aten::_local_scalar_dense")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--preset", default="cifar10", choices=["cifar10", "cifar100-20", "stl10"])
    parser.add_argument("--network", default=None)
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--compile", nargs="*", default=[], choices=COMPILE_MODES, metavar="MODE")
    parser.add_argument("--cuda-graphs", action="store_true", help="profile whole-step CUDA graphs (CUDA only)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    side = 96 if args.preset == "stl10" else 32
    config = preset(args.preset)
    if args.network:
        config.network = args.network
    config.epochs, config.refine_epoch, config.lr_milestones = 10, None, (10,)
    images = torch.randint(0, 256, (args.images, 3, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    require_cuda_for_graphs(parser, args.cuda_graphs, device)
    eager_steady = None
    if args.cuda_graphs:
        plain = Trainer(config, images, device=device, progress=False)
        eager_steady = [timed_epoch(plain) for _ in range(2)][1]
        print(f"plain steps, same run: steady {eager_steady:.2f} s ({args.images / eager_steady:.0f} images/s)",
              flush=True)
        del plain
    trainer = Trainer(config, images, device=device, progress=False, cuda_graphs=args.cuda_graphs)
    warm_up, steady = timed_epoch(trainer), timed_epoch(trainer)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as profiler:
        profiled = timed_epoch(trainer)
    events = profiler.key_averages()
    print(f"{args.preset}, {config.network}, {args.images} images, batch {config.batch_size}, {config.rotation} rotation, "
          f"on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}")
    print(f"Command: python {' '.join(sys.argv)}")
    print(f"Machine: {machine()}")
    print(f"epoch seconds{' (CUDA graphs)' if args.cuda_graphs else ''}: warm-up {warm_up:.2f}, steady {steady:.2f} "
          f"({args.images / steady:.0f} images/s), under the profiler {profiled:.2f}")
    if eager_steady is not None:
        print(f"CUDA graphs against plain steps: {eager_steady / steady:.2f}x; "
              f"{trainer.step_graphs.captures} graphs captured")
    print(events.table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=60))
    if device.type == "cuda":
        print(events.table(sort_by="self_device_time_total", row_limit=20, max_name_column_width=60))
        kernel_us = sum(e.self_device_time_total for e in events if e.device_type == torch.autograd.DeviceType.CUDA)
        print(f"device busy: {kernel_us / 1e6:.2f} s of kernels in a {profiled:.2f} s epoch ({100 * kernel_us / 1e6 / profiled:.0f}%)")
    for event in events:
        if event.key in SYNC_CALLS:
            print(f"sync-like call {event.key}: {event.count} calls")
    for mode in args.compile:
        torch._dynamo.reset()  # each mode compiles afresh
        compiled = Trainer(config, images, device=device, progress=False, compile=mode)
        first = [timed_epoch(compiled) for _ in range(2)]
        print(f"torch.compile mode {mode}: first epochs {first[0]:.2f} s, {first[1]:.2f} s; "
              f"steady {timed_epoch(compiled):.2f} s (without compile{', CUDA graphs' if args.cuda_graphs else ''}: "
              f"steady {steady:.2f} s)", flush=True)


if __name__ == "__main__":
    main()
