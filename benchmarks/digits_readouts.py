"""Label-free read-outs of one digits training: does anything cheaper than a second training lift its ACC?

Issue 13 aims at a mean ACC of 0.97 for the ``digits`` preset within 60 s a run; one training takes about
35 s on 2 CPU cores, so two trainings (``digits_ensembles.py``: k-means on two trainings' embeddings, 0.969)
do not fit. This script trains the preset once per seed and reads its clusters out in several ways, none
using labels (they only score):

- nearest mean: the preset's own read-out (what ``python -m mmdc_lib train --dataset digits`` reports);
- k-means on the embeddings: 10 starts on the final clean embeddings (N, d);
- mean of five crops: the embeddings of centre crops 0.85, 0.9, 0.95, 1 and 1.05 averaged (test-time
  augmentation), then the nearest mean;
- snapshots side by side: k-means on the clean embeddings after epochs 48, 56, 64, 72 and 80, (N, 5d) (a
  free ensemble along one training's path);
- the per-epoch read-outs after epochs 56 and 72 (the learning rate drops ten-fold after epoch 64).

Usage: python benchmarks/digits_readouts.py [--seeds 0 1 2 3 4 5 6 7 8 9]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from common import embedding_ensemble, machine, save

from mmdc_lib.config import preset
from mmdc_lib.data import load_digits_images
from mmdc_lib.estimator import images_to_uint8_nchw
from mmdc_lib.metrics import evaluate_clustering
from mmdc_lib.step import embed_images
from mmdc_lib.targets import nearest_mean
from mmdc_lib.train import Trainer

SNAPSHOT_EPOCHS = (48, 56, 64, 72, 80)  # the preset's 80 epochs; x0.1 after epoch 64
CROPS = (0.85, 0.9, 0.95, 1.0, 1.05)  # centre crops around the preset's clean view (0.95)
RULES = ("nearest mean", "k-means on the embeddings", "mean of five crops", "snapshots side by side",
         "epoch 56", "epoch 72")


def readouts(seed: int, images: torch.Tensor) -> tuple[dict[str, np.ndarray], float]:
    """Train the preset with ``seed``; every rule's labels (N,) and the training's seconds."""
    config = preset("digits")
    config.seed = seed
    snapshots: dict[int, np.ndarray] = {}

    def keep_snapshot(trainer: Trainer, entry: dict) -> None:
        if trainer.epoch in SNAPSHOT_EPOCHS:
            snapshots[trainer.epoch] = trainer.embed_all().numpy()

    start = time.perf_counter()
    trainer = Trainer(config.validate(), images, device="cpu", progress=False)
    result = trainer.fit(on_epoch_end=keep_snapshot)
    seconds = time.perf_counter() - start
    crops = [embed_images(trainer.model, images, config.input_size, crop) for crop in CROPS]
    return {
        "nearest mean": result.labels,
        "k-means on the embeddings": embedding_ensemble([result.embeddings.numpy()], config.n_clusters, seed),
        "mean of five crops": nearest_mean(torch.stack(crops).mean(dim=0), result.means).numpy(),
        "snapshots side by side": embedding_ensemble([snapshots[e] for e in SNAPSHOT_EPOCHS], config.n_clusters, seed),
        "epoch 56": nearest_mean(torch.from_numpy(snapshots[56]), result.means).numpy(),
        "epoch 72": nearest_mean(torch.from_numpy(snapshots[72]), result.means).numpy(),
    }, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    args = parser.parse_args()
    data = load_digits_images()
    images, _ = images_to_uint8_nchw(data.images)
    rows, seconds = {}, []
    for seed in args.seeds:
        partitions, took = readouts(seed, images)
        seconds.append(took)
        rows[seed] = {rule: evaluate_clustering(data.labels, partitions[rule]).acc for rule in RULES}
        print(f"seed {seed} ({took:.0f} s): " + ", ".join(f"{rule} {acc:.3f}" for rule, acc in rows[seed].items()), flush=True)
    lines = ["# Digits preset: label-free read-outs of one training per seed; ACC", "",
             "| read-out | mean | min | ahead of nearest mean | behind |", "|---|---|---|---|---|"]
    for rule in RULES:
        accs = [rows[s][rule] for s in rows]
        ahead = sum(rows[s][rule] > rows[s]["nearest mean"] for s in rows)
        behind = sum(rows[s][rule] < rows[s]["nearest mean"] for s in rows)
        lines.append(f"| {rule} | {statistics.fmean(accs):.4f} | {min(accs):.4f} | {ahead} of {len(rows)} | {behind} of {len(rows)} |")
    lines += ["", "Per seed: " + "; ".join(f"seed {s}: " + ", ".join(f"{rows[s][rule]:.3f}" for rule in RULES) for s in rows)
              + " (in the table's order).", "",
              f"A training with its snapshots takes {min(seconds):.0f}-{max(seconds):.0f} s here (the Trainer alone).",
              "", f"Machine: {machine()}"]
    save("digits_readouts", {"machine": machine(), "seeds": args.seeds, "acc": rows, "seconds": seconds}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
