"""sigma and the batch size: a small grid on the digits (issue 12), for chapter 3.

The `digits` preset (80 epochs, joint rotation) with the targets' noise sigma in {0, 0.1, 0.2, 0.3} and the
batch size in {16, 64, 256}, seeds 0-2, the same seeds in every cell (the seed fixes the network, the targets
and every batch). The number of epochs is fixed, so a smaller batch also takes more steps (the table says how
many). Each run reports ACC, NMI and ARI, its label-free fit score, and the share of images that changed
cluster in its last epoch. ``--same-steps-as 64`` separates the two: each cell's epochs (and its learning-rate
milestone) are scaled so that it takes as many steps as batches of 64 do in 80 epochs; saved as
``results/sigma_batch_same-steps.*``.
Usage: python benchmarks/sigma_batch.py [--seeds 0 1 2] [--sigmas 0 0.1 0.2 0.3] [--batch-sizes 16 64 256]
       [--same-steps-as 64]
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from common import machine, save, summary

from mmdc_lib.config import preset
from mmdc_lib.data import load_digits_images
from mmdc_lib.estimator import images_to_uint8_nchw
from mmdc_lib.metrics import evaluate_clustering
from mmdc_lib.train import Trainer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--same-steps-as", type=int, default=None, help="scale each cell's epochs to this batch's steps")
    args = parser.parse_args()
    base = preset("digits")
    digits = load_digits_images()
    images, _ = images_to_uint8_nchw(digits.images)
    cells: dict[str, list[dict]] = {}
    for sigma in args.sigmas:
        for batch_size in args.batch_sizes:
            key = f"sigma={sigma:g}, batch={batch_size}"
            cells[key] = []
            for seed in args.seeds:
                config = dataclasses.replace(base, sigma=sigma, batch_size=batch_size, seed=seed)
                if args.same_steps_as:  # e.g. batch 256: 4x the epochs, the milestone at the same share of them
                    scale = batch_size / args.same_steps_as
                    config.epochs = round(base.epochs * scale)
                    config.lr_milestones = tuple(round(m * scale) for m in base.lr_milestones)
                start = time.perf_counter()
                result = Trainer(config, images, device="cpu", progress=False).fit()
                scores = evaluate_clustering(digits.labels, result.labels)
                run = {"seed": seed, "acc": scores.acc, "nmi": scores.nmi, "ari": scores.ari, "fit": result.fit_score,
                       "changed_last_epoch": result.history[-1]["changed"],
                       "epochs": config.epochs, "steps": config.epochs * (len(images) // batch_size),
                       "wall_seconds": time.perf_counter() - start}
                cells[key].append(run)
                print(f"{key}, seed {seed}: ACC {run['acc']:.3f}, fit {run['fit']:.3f}, "
                      f"changed {run['changed_last_epoch']:.3f}, {run['wall_seconds']:.0f} s", flush=True)
    schedule = (f"epochs scaled to the steps of batch {args.same_steps_as}" if args.same_steps_as
                else f"{base.epochs} epochs")
    lines = [f"# sigma x batch size: the `digits` preset ({schedule}) on the 1,797 digits, seeds {args.seeds}", "",
             "| sigma | batch | epochs | steps | ACC mean ± std (min-max) | NMI | ARI | fit | changed, last epoch | s a run |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, runs in cells.items():
        s = summary(runs, keys=("acc", "nmi", "ari", "fit", "changed_last_epoch"))
        sigma, batch = (part.split("=")[1] for part in key.split(", "))
        lines.append(f"| {sigma} | {batch} | {runs[0]['epochs']} | {runs[0]['steps']} | {s['acc']['mean']:.3f} ± {s['acc']['std']:.3f} "
                     f"({s['acc']['min']:.3f}-{s['acc']['max']:.3f}) | {s['nmi']['mean']:.3f} | {s['ari']['mean']:.3f} "
                     f"| {s['fit']['mean']:.3f} | {s['changed_last_epoch']['mean']:.3f} "
                     f"| {np.mean([r['wall_seconds'] for r in runs]):.0f} |")
    lines += ["", f"± is the standard deviation over the {len(args.seeds)} seeds. The fit score (mean squared "
              "distance of each clean embedding to its target) grows with sigma by construction: noisier targets "
              "are farther from anything a network can reach. ACC, NMI (arithmetic) and ARI use the labels, "
              "only to score.", "", f"Machine: {machine()}"]
    name = "sigma_batch_same-steps" if args.same_steps_as else "sigma_batch"
    save(name, {"machine": machine(), "same_steps_as": args.same_steps_as, "cells": cells}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
