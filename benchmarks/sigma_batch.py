"""sigma and the batch size: a small grid on the digits (issue 12), for chapter 3.

The `digits` preset (80 epochs, joint rotation) with the targets' noise sigma in {0, 0.1, 0.2, 0.3} and the
batch size in {16, 64, 256}, seeds 0-2, the same seeds in every cell (the seed fixes the network, the targets
and every batch). The number of epochs is fixed, so a smaller batch also takes more steps (the table says how
many). Each run reports ACC, NMI and ARI, its label-free fit score, and the share of images that changed
cluster in its last epoch. ``--same-steps-as 64`` separates the two (default sigmas 0 and 0.3): each cell's
epochs (and its learning-rate milestone) are scaled so that it takes about as many steps as batches of 64 do
in 80 epochs; saved as ``results/sigma_batch_same-steps.*``. Another grid than the default is saved with
``_partial`` in its name, never over the default's file. ``--summarise FILE.json`` writes the table of a saved
run again (with this script's table code), keeping its machine record.
Usage: python benchmarks/sigma_batch.py [--seeds 0 1 2] [--sigmas 0 0.1 0.2 0.3] [--batch-sizes 16 64 256]
       [--same-steps-as 64] [--summarise results/sigma_batch.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
from common import machine, save, summary

from mmdc_lib.config import preset
from mmdc_lib.data import load_digits_images
from mmdc_lib.estimator import images_to_uint8_nchw
from mmdc_lib.metrics import evaluate_clustering
from mmdc_lib.train import Trainer

N_DIGITS = 1797
DEFAULT_SIGMAS = {"grid": [0.0, 0.1, 0.2, 0.3], "same-steps": [0.0, 0.3]}


def batches_per_epoch(n_images: int, batch_size: int) -> int:
    """Optimisation steps in an epoch, as ``Trainer._epoch_order`` cuts it (a last batch of one image is dropped)."""
    batches = math.ceil(n_images / batch_size)
    return batches - 1 if batches > 1 and n_images % batch_size == 1 else batches


def scaled_epochs(base_epochs: int, batch_size: int, same_steps_as: int) -> int:
    """Epochs at ``batch_size`` that take about the steps of ``base_epochs`` epochs at ``same_steps_as``."""
    steps = base_epochs * batches_per_epoch(N_DIGITS, same_steps_as)
    return max(1, round(steps / batches_per_epoch(N_DIGITS, batch_size)))


def table(cells: dict[str, list[dict]], seeds: list[int], same_steps_as: int | None, where: dict) -> list[str]:
    base = preset("digits")
    schedule = (f"epochs scaled to about the steps of batch {same_steps_as}" if same_steps_as
                else f"{base.epochs} epochs")
    lines = [f"# sigma x batch size: the `digits` preset ({schedule}) on the 1,797 digits, seeds {seeds}", "",
             "| sigma | batch | epochs | steps | ACC mean ± std (min-max) | NMI | ARI | fit | changed, last epoch "
             "| s a run |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key, runs in cells.items():
        s = summary(runs, keys=("acc", "nmi", "ari", "fit", "changed_last_epoch"))
        sigma, batch = (part.split("=")[1] for part in key.split(", "))
        epochs = runs[0].get("epochs", base.epochs)  # the first saved grid ran the preset's epochs and kept none
        lines.append(f"| {sigma} | {batch} | {epochs} | {epochs * batches_per_epoch(N_DIGITS, int(batch))} "
                     f"| {s['acc']['mean']:.3f} ± {s['acc']['std']:.3f} ({s['acc']['min']:.3f}-{s['acc']['max']:.3f}) "
                     f"| {s['nmi']['mean']:.3f} | {s['ari']['mean']:.3f} | {s['fit']['mean']:.3f} "
                     f"| {s['changed_last_epoch']['mean']:.3f} | {np.mean([r['wall_seconds'] for r in runs]):.0f} |")
    total = sum(r["wall_seconds"] for runs in cells.values() for r in runs) / 60
    lines += ["", f"± is the standard deviation over the {len(seeds)} seeds. The fit score is the mean squared "
              "distance of each clean embedding to its target (no labels); with sigma > 0 the targets themselves "
              "are off the means. ACC, NMI (arithmetic) and ARI use the labels, only to score. "
              f"All runs together: {total:.0f} minutes.", "", f"Machine: {where}"]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sigmas", type=float, nargs="+", default=None)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--same-steps-as", type=int, default=None, help="scale each cell's epochs to this batch's steps")
    parser.add_argument("--summarise", default=None, help="a saved results JSON: write its table again")
    args = parser.parse_args()
    if args.summarise:
        saved = json.loads(Path(args.summarise).read_text())
        seeds = [run["seed"] for run in next(iter(saved["cells"].values()))]
        save(Path(args.summarise).stem, saved, table(saved["cells"], seeds, saved.get("same_steps_as"), saved["machine"]))
        return 0
    mode = "same-steps" if args.same_steps_as else "grid"
    sigmas = args.sigmas if args.sigmas is not None else DEFAULT_SIGMAS[mode]
    base = preset("digits")
    digits = load_digits_images()
    images, _ = images_to_uint8_nchw(digits.images)
    cells: dict[str, list[dict]] = {}
    for sigma in sigmas:
        for batch_size in args.batch_sizes:
            key = f"sigma={sigma:g}, batch={batch_size}"
            cells[key] = []
            for seed in args.seeds:
                config = dataclasses.replace(base, sigma=sigma, batch_size=batch_size, seed=seed)
                if args.same_steps_as:  # e.g. batch 256: about 3.6x the epochs, the milestone at the same share
                    config.epochs = scaled_epochs(base.epochs, batch_size, args.same_steps_as)
                    config.lr_milestones = tuple(round(m * config.epochs / base.epochs) for m in base.lr_milestones)
                start = time.perf_counter()
                result = Trainer(config, images, device="cpu", progress=False).fit()
                scores = evaluate_clustering(digits.labels, result.labels)
                run = {"seed": seed, "acc": scores.acc, "nmi": scores.nmi, "ari": scores.ari, "fit": result.fit_score,
                       "changed_last_epoch": result.history[-1]["changed"], "epochs": config.epochs,
                       "wall_seconds": time.perf_counter() - start}
                cells[key].append(run)
                print(f"{key}, seed {seed}: ACC {run['acc']:.3f}, fit {run['fit']:.3f}, "
                      f"changed {run['changed_last_epoch']:.3f}, {run['wall_seconds']:.0f} s", flush=True)
    default = sigmas == DEFAULT_SIGMAS[mode] and args.batch_sizes == [16, 64, 256] and args.seeds == [0, 1, 2]
    name = "sigma_batch" + ("_same-steps" if args.same_steps_as else "") + ("" if default else "_partial")
    where = machine()
    save(name, {"machine": where, "same_steps_as": args.same_steps_as, "cells": cells},
         table(cells, args.seeds, args.same_steps_as, where))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
