"""Chapter 6's CPU run: the `fashion-mnist` preset on its fixed 5,000-image subset, against k-means, by epochs.

Does the small run beat k-means on the same images, and does the number of optimisation steps decide it?
The same command as the chapter (``train --dataset fashion-mnist --subset 5000``) with ``--epochs`` 8 and 15 (the
preset's), seeds 0-2; k-means on the same pixels with the chapter's settings (n_init=3, seed 0).
Usage: python benchmarks/fashion_small_run.py [--epochs 8 15] [--seeds 0 1 2] [--subset 5000]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from common import FASHION_DIR, machine, run_training, save, summary
from sklearn.cluster import KMeans

from mmdc_lib.cli import subset_indices
from mmdc_lib.config import preset
from mmdc_lib.data import load_dataset
from mmdc_lib.metrics import evaluate_clustering


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[8, 15])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--subset", type=int, default=5000)
    parser.add_argument("--data-dir", default=str(FASHION_DIR))
    args = parser.parse_args()
    data = load_dataset("fashion-mnist", args.data_dir, download=False)
    chosen = subset_indices(len(data.images), args.subset)  # the command's images
    pixels = data.images[chosen].reshape(len(chosen), -1) / 255
    kmeans = evaluate_clustering(data.labels[chosen], KMeans(10, n_init=3, random_state=0).fit_predict(pixels))
    print(f"k-means on pixels: ACC {kmeans.acc:.3f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for epochs in args.epochs:
            runs = []
            for seed in args.seeds:
                metrics = run_training(["--dataset", "fashion-mnist", "--data-dir", args.data_dir, "--no-download", "--subset",
                                        str(args.subset), "--epochs", str(epochs), "--seed", str(seed), "--device", "cpu"],
                                       Path(scratch) / f"e{epochs}-s{seed}")
                runs.append({"seed": seed, "acc": metrics["acc"], "nmi": metrics["nmi"], "ari": metrics["ari"],
                             "changed_last": metrics["history"][-1]["changed"], "wall_seconds": metrics["wall_seconds"]})
                print(f"{epochs} epochs, seed {seed}: ACC {metrics['acc']:.3f}, {metrics['wall_seconds']:.0f} s", flush=True)
            steps = epochs * -(-args.subset // preset("fashion-mnist").batch_size)
            rows.append({"epochs": epochs, "steps": steps, "runs": runs, "summary": summary(runs)})
    lines = [f"# Chapter 6's CPU run: `fashion-mnist` preset on {args.subset} images, by epochs", "",
             f"k-means on the same pixels (n_init=3, seed 0, as the chapter): ACC {kmeans.acc:.3f}, NMI {kmeans.nmi:.3f}, ARI {kmeans.ari:.3f}", "",
             "| epochs | steps | MMDC ACC mean ± std (min) | NMI | ARI | beats k-means (seeds) | changed, last epoch | s a run |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        s, runs = row["summary"], row["runs"]
        wins = sum(run["acc"] > kmeans.acc for run in runs)
        lines.append(f"| {row['epochs']} | {row['steps']} | {s['acc']['mean']:.3f} ± {s['acc']['std']:.3f} ({s['acc']['min']:.3f}) "
                     f"| {s['nmi']['mean']:.3f} | {s['ari']['mean']:.3f} | {wins} of {len(runs)} "
                     f"| {np.mean([r['changed_last'] for r in runs]):.2f} | {np.mean([r['wall_seconds'] for r in runs]):.0f} |")
    lines += ["", f"Machine: {machine()}"]
    save("fashion_small_run", {"machine": machine(), "subset": args.subset, "kmeans": kmeans.as_dict() | {"confusion": None},
                               "rows": rows}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
