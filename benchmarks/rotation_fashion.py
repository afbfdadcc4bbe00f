"""Does the rotation task help the clustering? The paper's central claim, at a CPU scale on Fashion-MNIST.

The `fashion-mnist` preset (joint schedule) against the same preset with ``--rotation none``, on chapter 6's
fixed 5,000-image subset, the preset's 15 epochs, the same seeds for both (the seed fixes the network, the
targets and every batch, so each seed is a paired comparison). On the digits the order of the two changes from
machine to machine (issue 12); natural-looking images are where the paper says rotation helps.
Usage: python benchmarks/rotation_fashion.py [--seeds 0 1 2 3 4] [--subset 5000]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from common import FASHION_DIR, machine, run_training, save, summary

SCHEDULES = ("joint", "none")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--subset", type=int, default=5000)
    parser.add_argument("--data-dir", default=str(FASHION_DIR))
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {schedule: [] for schedule in SCHEDULES}
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            for schedule in SCHEDULES:
                metrics = run_training(["--dataset", "fashion-mnist", "--data-dir", args.data_dir, "--no-download", "--subset",
                                        str(args.subset), "--rotation", schedule, "--seed", str(seed), "--device", "cpu"],
                                       Path(scratch) / f"{schedule}-s{seed}")
                runs[schedule].append({"seed": seed, "acc": metrics["acc"], "nmi": metrics["nmi"], "ari": metrics["ari"],
                                       "wall_seconds": metrics["wall_seconds"]})
                print(f"seed {seed}, rotation {schedule}: ACC {metrics['acc']:.3f}, {metrics['wall_seconds']:.0f} s", flush=True)
    differences = np.array([j["acc"] - n["acc"] for j, n in zip(runs["joint"], runs["none"])])
    wins = int((differences > 0).sum())
    spread = differences.std(ddof=1) if len(differences) > 1 else float("nan")
    standard_error = spread / np.sqrt(len(differences))
    lines = [f"# Rotation or not: the `fashion-mnist` preset on {args.subset} Fashion-MNIST images, seeds {args.seeds}", "",
             "| rotation | ACC mean ± std (min-max) | NMI | ARI | s a run |", "|---|---|---|---|---|"]
    for schedule in SCHEDULES:
        s = summary(runs[schedule])
        lines.append(f"| {schedule} | {s['acc']['mean']:.3f} ± {s['acc']['std']:.3f} ({s['acc']['min']:.3f}-{s['acc']['max']:.3f}) "
                     f"| {s['nmi']['mean']:.3f} | {s['ari']['mean']:.3f} | {np.mean([r['wall_seconds'] for r in runs[schedule]]):.0f} |")
    lines += ["", f"Paired by seed, joint minus none: ACC {differences.mean():+.3f} ± {standard_error:.3f} (standard error of "
              f"the mean difference), joint ahead on {wins} of {len(differences)} seeds; per seed: "
              + ", ".join(f"{d:+.3f}" for d in differences) + ".",
              "Told apart at this scale (mean difference more than twice its standard error): "
              + ("yes" if abs(differences.mean()) > 2 * standard_error else "no") + ".", "", f"Machine: {machine()}"]
    save("rotation_fashion", {"machine": machine(), "subset": args.subset, "runs": runs,
                              "differences": differences.tolist()}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
