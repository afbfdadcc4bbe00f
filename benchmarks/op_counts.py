"""Operator calls per training batch: what a GPU launches, counted on any machine (issue 9).

On a GPU whose host sets the pace (results/profile_epoch_cifar10_gpu.txt: an H200 busy 16% of a CIFAR-10 epoch,
about 520 kernel launches a step), a step's time follows its launches, not its arithmetic. This counts, for
each preset's schedule, the aten operator calls of one batch (its rotation step and clustering step), split
into the augmentation (``apply_view``) and the rest, with the training views made batch by batch (as before
``train.VIEW_CHUNK_VALUES``) and several batches per call (now), for one epoch of the whole data set.

How: the counts do not depend on the images' size or the batch size, so a Trainer on the CPU with batches of 16
of the preset's image shape is counted over epochs of 2 and 4 batches; the difference, halved, is one batch
(per-epoch work such as drawing the parameters cancels). The augmentation's calls per epoch then follow from
the data set's size, the preset's batch size and ``batches_per_view_call``. The optimiser runs fused, as on a
GPU. Not every operator call is a kernel launch (views and reshapes are not), and on a GPU bf16 autocast adds a
cast per weight: the counts compare the two ways, they are not a GPU's launch count.

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

SHAPES = {  # preset: (images in the data set, channels, side)
    "cifar10": (60_000, 3, 32), "cifar100-20": (60_000, 3, 32), "stl10": (13_000, 3, 96),
    "mnist": (70_000, 1, 28), "fashion-mnist": (70_000, 1, 28), "digits": (1_797, 1, 8),
}
COUNT_BATCH = 16  # images >= 2 batches x 16 >= every preset's k


class OperatorCount(TorchDispatchMode):
    """Counts aten operator calls, and those made inside ``apply_view`` (one list entry per call)."""

    def __init__(self) -> None:
        super().__init__()
        self.total, self.view_calls, self.inside = 0, [], False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.total += 1
        if self.inside:
            self.view_calls[-1] += 1
        return func(*args, **(kwargs or {}))


def count_epoch(name: str, n_batches: int) -> OperatorCount:
    """Operator calls of one epoch of ``name``'s schedule on n_batches batches of COUNT_BATCH, batch by batch."""
    _, channels, side = SHAPES[name]
    config = preset(name)
    config.epochs, config.refine_epoch, config.lr_milestones, config.warmup_epochs = 2, None, (2,), 0
    config.batch_size = COUNT_BATCH
    images = torch.randint(0, 256, (n_batches * COUNT_BATCH, channels, side, side), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    trainer = train.Trainer(config, images, device="cpu", progress=False)
    if train.FUSED_SGD:  # as on a GPU: one fused kernel for the optimiser step, not several per parameter
        for group in trainer.optimizer.param_groups:
            group["fused"] = True
        train.fill_momentum_buffers(trainer.optimizer)
    counter = OperatorCount()
    apply_view = train.apply_view

    def counted_apply_view(*args, **kwargs):
        counter.view_calls.append(0)
        counter.inside = True
        try:
            return apply_view(*args, **kwargs)
        finally:
            counter.inside = False

    train.apply_view, chunk = counted_apply_view, train.VIEW_CHUNK_VALUES
    train.VIEW_CHUNK_VALUES = 1  # one batch per call: each call's count is one batch's
    try:
        with counter:
            trainer._run_epoch()
    finally:
        train.apply_view, train.VIEW_CHUNK_VALUES = apply_view, chunk
    return counter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args()
    rows = {}
    for name in args.presets:
        small, large = count_epoch(name, 2), count_epoch(name, 4)
        per_batch = (large.total - small.total) / 2
        config = preset(name)
        alternating = config.rotation == "alternating"
        # Batch by batch: the rotation pass's calls come first (alternating schedule), then the clustering pass's.
        rotation_view = small.view_calls[0] if alternating else 0
        clustering_view = small.view_calls[-1]
        views_before = rotation_view + clustering_view
        n_images, channels, side = SHAPES[name]
        batches = math.ceil(n_images / config.batch_size)
        calls = lambda copies: math.ceil(batches / train.batches_per_view_call(channels * side * side, config.batch_size, copies))  # noqa: E731
        views_now = (calls(4) * rotation_view * alternating + calls(1) * clustering_view) / batches
        rest = per_batch - views_before
        rows[name] = {"schedule": config.rotation, "batches_per_epoch": batches, "rest_per_batch": rest,
                      "views_per_batch_before": views_before, "views_per_batch_now": views_now,
                      "per_batch_before": per_batch, "per_batch_now": rest + views_now,
                      "view_calls_per_epoch_now": (calls(4) if alternating else 0) + calls(1)}
        print(name, rows[name], flush=True)
    lines = ["# Operator calls per batch (rotation and clustering steps), counted on the CPU, fused optimiser", "",
             "| preset | schedule | batches an epoch | augmentation, batch by batch | augmentation now | the rest | "
             "all, before | all, now | fewer |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['schedule']} | {row['batches_per_epoch']} | {row['views_per_batch_before']:.0f} | "
                     f"{row['views_per_batch_now']:.1f} | {row['rest_per_batch']:.0f} | {row['per_batch_before']:.0f} | "
                     f"{row['per_batch_now']:.0f} | {100 * (1 - row['per_batch_now'] / row['per_batch_before']):.0f}% |")
    lines += ["", f"Augmentation now: views of several batches per call (train.VIEW_CHUNK_VALUES = {train.VIEW_CHUNK_VALUES} "
              "full-size values a call), over one epoch of the whole data set. Operator calls, not kernel launches: "
              "views and reshapes launch nothing, and on a GPU bf16 autocast adds a cast per weight. The GPU time "
              "this saves is measured only where a GPU is lent (benchmarks/gpu_check.sh).", f"Machine: {machine()}"]
    save("op_counts", {"machine": machine(), "view_chunk_values": train.VIEW_CHUNK_VALUES, "rows": rows}, lines)


if __name__ == "__main__":
    main()
