"""Digits benchmark: `python -m mmdc_lib train --dataset digits` for seeds 0-4, beside k-means and Ward.

Bar (issue 13, raised from issue 3's 0.92 / 0.85 / 120 s): mean ACC >= 0.97, every seed >= 0.95, each run
within 60 s wall on a 2-core CPU. Also compares the joint (summed loss) and alternating (the authors') rotation
schedules. ``--epochs N`` is a study of another schedule length, saved as ``results/digits_epochs-N.*``;
``--warmup-epochs W`` one of W epochs of the rotation task alone before the preset's schedule (``digits_warmup-W.*``).
Usage: python benchmarks/digits.py [--seeds 0 1 2 3 4] [--schedules joint alternating] [--epochs N] [--warmup-epochs W]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import machine, pixel_baselines, run_training, save, summary

from mmdc_lib.data import load_digits_images


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--schedules", nargs="+", default=["joint", "alternating"])
    parser.add_argument("--epochs", type=int, default=None, help="a study: override the preset's epochs (milestones scale)")
    parser.add_argument("--warmup-epochs", type=int, default=None, help="a study: rotation-only epochs before the preset's schedule")
    args = parser.parse_args()
    epochs = (["--epochs", str(args.epochs)] if args.epochs else []) + \
        (["--warmup-epochs", str(args.warmup_epochs)] if args.warmup_epochs is not None else [])

    data = load_digits_images()
    payload = {"machine": machine(), "baselines": pixel_baselines(data.images, data.labels, 10, args.seeds), "mmdc": {}}
    with tempfile.TemporaryDirectory() as scratch:
        for schedule in args.schedules:
            runs = []
            for seed in args.seeds:
                metrics = run_training(["--dataset", "digits", "--seed", str(seed), "--rotation", schedule, "--device", "cpu", *epochs],
                                       Path(scratch) / f"{schedule}-{seed}")
                runs.append({k: metrics[k] for k in ("seed", "acc", "nmi", "ari", "fit", "wall_seconds")})
                print(f"{schedule} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in runs[-1].items() if k != "seed"), flush=True)
            payload["mmdc"][schedule] = {"runs": runs, "summary": summary(runs)}

    lines = [f"# Digits (1,797 images), {len(args.seeds)} seeds{f', {args.epochs} epochs (a study)' if args.epochs else ''}{f', a {args.warmup_epochs}-epoch rotation warm-up (a study)' if args.warmup_epochs is not None else ''}, {payload['machine']['cpus']} CPUs, no GPU", "",
             "| method | ACC mean ± std (min-max) | NMI mean | ARI mean | wall s (max) |", "|---|---|---|---|---|"]
    for name, runs in payload["baselines"].items():
        s = summary(runs)
        lines.append(f"| {name} (raw pixels) | {s['acc']['mean']:.3f} ± {s['acc']['std']:.3f} ({s['acc']['min']:.3f}-{s['acc']['max']:.3f}) "
                     f"| {s['nmi']['mean']:.3f} | {s['ari']['mean']:.3f} | |")
    for schedule, result in payload["mmdc"].items():
        s, runs = result["summary"], result["runs"]
        lines.append(f"| MMDC, {schedule} rotation | {s['acc']['mean']:.3f} ± {s['acc']['std']:.3f} ({s['acc']['min']:.3f}-{s['acc']['max']:.3f}) "
                     f"| {s['nmi']['mean']:.3f} | {s['ari']['mean']:.3f} | {max(r['wall_seconds'] for r in runs):.0f} |")
    if "joint" in payload["mmdc"]:
        runs = payload["mmdc"]["joint"]["runs"]
        s = payload["mmdc"]["joint"]["summary"]["acc"]
        passed = s["mean"] >= 0.97 and s["min"] >= 0.95 and all(r["wall_seconds"] <= 60 for r in runs)
        payload["bar_met"] = passed
        lines += ["", f"Bar (issue 13; default preset = joint): mean ACC >= 0.97, every seed >= 0.95, each run <= 60 s: {'MET' if passed else 'NOT MET'}"]
    lines += ["", "Per seed (ACC / NMI / ARI / wall s):"]
    for schedule, result in payload["mmdc"].items():
        lines.append(f"- {schedule}: " + "; ".join(f"seed {r['seed']}: {r['acc']:.3f} / {r['nmi']:.3f} / {r['ari']:.3f} / {r['wall_seconds']:.0f}" for r in result["runs"]))
    lines.append(f"\nNMI: arithmetic averaging. Machine: {payload['machine']}")
    save("digits" + (f"_epochs-{args.epochs}" if args.epochs else "")
         + (f"_warmup-{args.warmup_epochs}" if args.warmup_epochs is not None else ""), payload, lines)


if __name__ == "__main__":
    main()
