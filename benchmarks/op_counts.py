"""Operator calls per training batch: what a GPU launches, counted on any machine (issue 9).

On a GPU whose host sets the pace (results/profile_epoch_cifar10_gpu.txt: an H200 busy 16% of a CIFAR-10 epoch,
about 600 kernel launches a step), a step's time follows its launches, not its arithmetic. This counts, for
each preset's schedule, the aten operator calls of one epoch of the whole data set's number of batches (each
batch: its rotation step and clustering step), in all and inside the augmentation (``apply_view``), with the
training views made batch by batch (``train.VIEW_CHUNK_VALUES = 1``, as before) and several batches per call
(now), in the same run.

How: the counts do not depend on the images' size or the batch size, so the Trainer runs on the CPU with
batches of 2 images of the preset's shape, as many batches as the data set has at the preset's batch size,
and each call of the augmentation takes as many batches as it would at the preset's batch size. Every count is
per batch, an epoch's per-epoch work included. The optimiser runs fused, as on a GPU. Not every operator call is
a kernel launch (views and reshapes are not), and on a GPU bf16 autocast adds a cast per weight: the counts
compare the two ways; they are not a GPU's launch count.

With whole-step CUDA graphs (``Trainer(cuda_graphs=True)``, ``mmdc_lib/graphs.py``) the host launches a graph
where it launched a step's operators: the last column counts, with ``graphs.emulated_capture`` standing in for the
GPU's capture, the operator calls left on the host (the augmentation, the clean view, the Hungarian step's
inputs, the graphs' input copies) plus one per graph replay, in an epoch after one that warmed up and captured
the graphs (the other columns count a first epoch, which holds a few one-time calls, cached constants: 14 in the
digits preset's epoch of 29 batches, 6,223 calls against 6,209 in its second, counted 2026-12-01).

Usage: python benchmarks/op_counts.py [--presets cifar10 stl10 ...]
"""
from __future__ import annotations

import argparse
import math

import torch
from common import machine, save
from torch.utils._python_dispatch import TorchDispatchMode

import mmdc_lib.train as train
from mmdc_lib.config import preset
from mmdc_lib.graphs import StepGraphs, emulated_capture

SHAPES = {  # preset: (images in the data set, channels, side)
    "cifar10": (60_000, 3, 32), "cifar100-20": (60_000, 3, 32), "stl10": (13_000, 3, 96),
    "mnist": (70_000, 1, 28), "fashion-mnist": (70_000, 1, 28), "digits": (1_797, 1, 8),
}
COUNT_BATCH = 2  # images a batch while counting (BatchNorm needs two)


class OperatorCount(TorchDispatchMode):
    """Counts aten operator calls, and those made inside ``apply_view`` (one list entry per call)."""

    def __init__(self) -> None:
        super().__init__()
        self.total, self.view_calls, self.inside = 0, [], False
        self.replays, self.in_replay = 0, False

    def replay(self, run) -> None:
        """A graph replay: one launch from the host; the operators it replays are not counted."""
        self.total, self.replays, self.in_replay = self.total + 1, self.replays + 1, True
        try:
            run()
        finally:
            self.in_replay = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.in_replay:
            return func(*args, **(kwargs or {}))
        self.total += 1
        if self.inside:
            self.view_calls[-1] += 1
        return func(*args, **(kwargs or {}))


def count_epoch(name: str, batch_by_batch: bool, graphs: bool = False) -> OperatorCount:
    """Operator calls of one epoch of ``name``'s schedule with the data set's number of batches; ``graphs``: with
    whole-step graphs (emulated), in the epoch after the one that captured them."""
    n_images, channels, side = SHAPES[name]
    config = preset(name)
    presets_batch_size = config.batch_size
    batches = math.ceil(n_images / presets_batch_size)
    views_per_call = train.batches_per_view_call

    def as_at_the_presets_batch_size(image_values: int, batch_size: int, copies: int = 1) -> int:
        return 1 if batch_by_batch else views_per_call(channels * side * side, presets_batch_size, copies)

    config.epochs, config.refine_epoch, config.lr_milestones, config.warmup_epochs = 2, None, (2,), 0
    config.batch_size = COUNT_BATCH
    images = torch.randint(0, 256, (batches * COUNT_BATCH, channels, side, side), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    trainer = train.Trainer(config, images, device="cpu", progress=False)
    if train.FUSED_SGD:  # as on a GPU: one fused kernel for the optimiser step, not several per parameter
        train.set_fused_sgd(trainer.optimizer, True)
    counter = OperatorCount()
    if graphs:
        capture = emulated_capture(trainer.model, trainer.optimizer, on_replay=counter.replay)
        trainer.step_graphs = StepGraphs(trainer.model, trainer.optimizer, capture=capture)
    apply_view = train.apply_view

    def counted_apply_view(*args, **kwargs):
        counter.view_calls.append(0)
        counter.inside = True
        try:
            return apply_view(*args, **kwargs)
        finally:
            counter.inside = False

    train.apply_view, train.batches_per_view_call = counted_apply_view, as_at_the_presets_batch_size
    try:
        if graphs:  # warm-up calls and captures: a run's first epoch, not counted
            trainer._run_epoch()
            counter.total, counter.view_calls, counter.replays = 0, [], 0
        with counter:
            trainer._run_epoch()
    finally:
        train.apply_view, train.batches_per_view_call = apply_view, views_per_call
    return counter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args()
    rows = {}
    for name in args.presets:
        before, now = count_epoch(name, batch_by_batch=True), count_epoch(name, batch_by_batch=False)
        graphed = count_epoch(name, batch_by_batch=False, graphs=True)
        config = preset(name)
        batches = math.ceil(SHAPES[name][0] / config.batch_size)
        rows[name] = {"schedule": config.rotation, "batches_per_epoch": batches,
                      "per_batch_before": before.total / batches, "per_batch_now": now.total / batches,
                      "views_per_batch_before": sum(before.view_calls) / batches,
                      "views_per_batch_now": sum(now.view_calls) / batches,
                      "view_calls_per_epoch_before": len(before.view_calls), "view_calls_per_epoch_now": len(now.view_calls),
                      "per_batch_cuda_graphs": graphed.total / batches,
                      "graph_replays_per_batch": graphed.replays / batches}
        print(name, rows[name], flush=True)
    lines = ["# Operator calls per batch (rotation and clustering steps), counted on the CPU, fused optimiser", "",
             "| preset | schedule | batches an epoch | augmentation calls an epoch, before / now | in the augmentation, "
             "before | now | all, before | all, now | fewer | all, CUDA graphs (replays) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['schedule']} | {row['batches_per_epoch']} | {row['view_calls_per_epoch_before']} / "
                     f"{row['view_calls_per_epoch_now']} | {row['views_per_batch_before']:.0f} | {row['views_per_batch_now']:.1f} | "
                     f"{row['per_batch_before']:.0f} | {row['per_batch_now']:.0f} | "
                     f"{100 * (1 - row['per_batch_now'] / row['per_batch_before']):.0f}% | "
                     f"{row['per_batch_cuda_graphs']:.0f} ({row['graph_replays_per_batch']:.1f}) |")
    lines += ["", f"Per batch (its rotation and clustering steps), averaged over one epoch of the data set's number of batches. "
              f"Now: views of several batches per call (train.VIEW_CHUNK_VALUES = {train.VIEW_CHUNK_VALUES} "
              "full-size values a call, grouped as at the preset's batch size). Operator calls, not kernel launches: "
              "views and reshapes launch nothing, and on a GPU bf16 autocast adds a cast per weight. The GPU time "
              "this saves is measured only where a GPU is lent (benchmarks/gpu_check.sh). CUDA graphs: the calls left on "
              "the host with whole-step graphs, each replay counted as one (emulated on the CPU: graphs.emulated_capture), "
              "in the epoch after the graphs were captured.", f"Machine: {machine()}"]
    save("op_counts", {"machine": machine(), "view_chunk_values": train.VIEW_CHUNK_VALUES, "rows": rows}, lines)


if __name__ == "__main__":
    main()
