"""Each chapter's expected time: measured on this CPU, estimated for a Colab T4 (no T4 has been lent to measure it).

- This CPU: the wall time of each chapter under nbval, read from ``results/book_timing.json`` (``book_timing.py``
  measures it; run that first). That is the CPU branch, the one CI and a laptop without a GPU take.
- Colab T4, the GPU branch, ESTIMATED: for every training run the GPU branch makes (listed below from the
  chapters' ``BOOK.scale(...)`` values), the training FLOPs are counted (``torch.utils.flop_counter`` on one
  forward pass of the run's network at its input size; a training pass = 3 forward passes, an evaluation = 1)
  and converted at an assumed sustained rate on a T4 (8.1 TFLOP/s fp32 peak x ``UTILISATION``); small
  networks are bound by kernel launches instead, so each optimisation step costs at least ``STEP_FLOOR_S``.
  The chapter's other cells are taken as long as the whole CPU branch on this CPU (they run on the CPU in
  Colab too, 2 vCPUs): this counts the CPU branch's own training once more, and leaves out the GPU branch's
  extra CPU work (k-means on 70,000 images instead of 5,000, loading CIFAR-10). Every assumption is a named constant below; a measurement on a T4 replaces all of it.

Usage: python benchmarks/chapter_times.py
"""
from __future__ import annotations

import json
import math
from dataclasses import replace

import torch
from common import RESULTS, machine, save
from torch.utils.flop_counter import FlopCounterMode

from mmdc_lib.config import AugmentConfig, MMDCConfig, preset
from mmdc_lib.models import MMDCNet

T4_FP32_FLOPS = 8.1e12  # NVIDIA's T4 datasheet, fp32 peak (the T4 has no bf16: the library trains in fp32 there)
UTILISATION = 0.35  # assumed share of peak sustained by cuDNN convolutions in fp32 at these sizes
# Least time of one optimisation step of a small net (kernel launches, Hungarian sync): the digits preset's epoch
# (29 steps) took 0.23-0.26 s on one H200 (results/scaling_cuda.json, 2026-11-30: with and without DDP's
# gradient sync), 8-9 ms a step, set by the host, not the GPU; Colab's 2 vCPUs are taken to be no faster.
STEP_FLOOR_S = 0.009


def forward_flops(config: MMDCConfig, channels: int) -> float:
    """FLOPs of one forward pass of one image through the run's network (embedding and rotation heads)."""
    model = MMDCNet(config.network, channels, config.dim, config.input_size).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(2, channels, config.input_size, config.input_size), None)
    return counter.get_total_flops() / 2


def training_run(config: MMDCConfig, n_images: int, channels: int) -> tuple[float, int]:
    """(FLOPs, optimisation steps) of training ``config`` on ``n_images``, with its per-epoch evaluation."""
    forward = forward_flops(config, channels)
    passes = {"joint": 1 + 2 * 3, "alternating": 1 + 4 * 3 + 3, "none": 1 + 3}[config.rotation]  # clean view + training
    passes += 1  # the end-of-epoch embedding of every image
    steps_per_epoch = math.ceil(n_images / config.batch_size) * (2 if config.rotation == "alternating" else 1)
    return forward * passes * n_images * config.epochs, steps_per_epoch * config.epochs


def seconds_on_t4(runs: list[tuple[float, int]]) -> float:
    return sum(max(flops / (T4_FP32_FLOPS * UTILISATION), steps * STEP_FLOOR_S) for flops, steps in runs)


def gpu_branch_runs() -> dict[str, tuple[list[tuple[float, int]], str]]:
    """The training each chapter's GPU branch does (from the chapters' BOOK.scale values)."""
    digits = preset("digits")
    # Ch. 4: its own loop, the rotation task alone: 30 epochs, batches of 64, all four turns of each image trained.
    rotation_loop = (forward_flops(digits, 1) * 4 * 3 * 1797 * 30, 30 * math.ceil(1797 / 64))
    ablation = [training_run(replace(digits, **changes), 1797, 1)
                for changes in ({}, {"rotation": "none"}, {"rotation": "alternating"}, {"sigma": 0.2}, {"refine_epoch": 60},
                                {"augment": AugmentConfig()})] * 5
    from mmdc_lib.estimator import MMDC

    # Chapter 7's fit: 600 colour photos at the estimator's largest input (20), as many restarts as the estimator
    # resolves (n_init="auto": 3 for 600 images); its solutions' fits are not counted.
    photos = torch.zeros((600, 3, 20, 20), dtype=torch.uint8)
    estimator = MMDC(n_clusters=4)._resolve_config(photos, seed=0)
    restarts = MMDC(n_clusters=4)._n_restarts(len(photos))
    cifar_budget = replace(preset("cifar10"), epochs=50)
    return {
        "04_rotation.ipynb": ([rotation_loop], "30 epochs of the rotation task on 1,797 digits"),
        "05_joint_objective.ipynb": (ablation, "6 variants x 5 seeds of the digits preset"),
        "06_benchmarks.ipynb": ([training_run(preset("fashion-mnist"), 70_000, 1), training_run(cifar_budget, 60_000, 3)],
                                "fashion-mnist preset on 70,000 images; CIFAR-10 with --budget (50 epochs of ResNet-18)"),
        "07_your_images.ipynb": ([training_run(estimator, 600, 3)] * restarts,
                                 f"MMDC() defaults on 600 images (about 2,000 steps, {restarts} restarts)"),
    }


def main() -> int:
    timing = json.loads((RESULTS / "book_timing.json").read_text())
    measured = {row["notebook"]: row["seconds"] for row in timing["notebooks"]}
    cpu_machine = timing["machine"]
    gpu_runs = gpu_branch_runs()
    rows = []
    for notebook, cpu_seconds in measured.items():
        runs, what = gpu_runs.get(notebook, ([], "no GPU branch: the same cells as on the CPU"))
        training = seconds_on_t4(runs)
        t4 = cpu_seconds + training  # other cells: as long as the CPU branch here (see the module's docstring)
        per_run = [seconds_on_t4([run]) for run in runs]
        rows.append({"notebook": notebook, "cpu_seconds": cpu_seconds, "t4_seconds_estimated": t4,
                     "t4_training_seconds_estimated": training, "t4_seconds_per_run": per_run, "gpu_branch": what})
    lines = ["# Each chapter's time: this CPU (measured) and a Colab T4 (estimated)", "",
             "| chapter | this CPU, measured (nbval) | Colab T4, estimated | the GPU branch trains | T4 training per run, estimated |",
             "|---|---|---|---|---|"]
    for row in rows:
        runs = ", ".join(f"{seconds / 60:.1f}" for seconds in row["t4_seconds_per_run"][:3]) + (", ..." if len(row["t4_seconds_per_run"]) > 3 else "")
        lines.append(f"| {row['notebook']} | {row['cpu_seconds'] / 60:.1f} min | {row['t4_seconds_estimated'] / 60:.1f} min "
                     f"| {row['gpu_branch']} | {runs + ' min' if runs else '-'} |")
    total_cpu, total_t4 = sum(r["cpu_seconds"] for r in rows), sum(r["t4_seconds_estimated"] for r in rows)
    lines += ["", f"Total: {total_cpu / 60:.0f} min on this CPU; about {total_t4 / 3600:.1f} h on a T4 (estimated).", "",
              f"CPU times measured {cpu_machine['date']} on {cpu_machine['cpus']} cores (results/book_timing.json). T4: NOT measured "
              f"(no T4 lent; the step floor is from an H200); FLOPs counted with torch.utils.flop_counter, at {UTILISATION:.0%} of the T4's "
              f"{T4_FP32_FLOPS / 1e12:.1f} TFLOP/s fp32 peak, at least {STEP_FLOOR_S * 1000:.0f} ms a step, plus the CPU branch's "
              "measured time for the chapter's other cells (it includes the CPU branch's training; the GPU branch's extra CPU work, "
              "e.g. k-means on 70,000 images, is not counted). The chapters print their own projection, timed on the reader's GPU, "
              "before each long run.", f"Machine: {machine()}"]
    save("chapter_times", {"machine": machine(), "assumptions": {"t4_fp32_flops": T4_FP32_FLOPS, "utilisation": UTILISATION,
                                                                 "step_floor_s": STEP_FLOOR_S}, "rows": rows}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
