"""How strongly ``MMDC()`` jitters grayscale images: one training (``n_init=1``) per seed, on one small set.

Brightness and contrast jitter make the clusters follow shapes rather than how dark an image is (fashion tops:
T-shirt/top, Pullover, Shirt), but they also hide how much ink a small digit has (digits 0/1). Each variant is
``MMDC()``'s grayscale augmentation ("affine") with another brightness/contrast jitter, everything else the
defaults' (its clean view included: a centre crop of 0.95 for images kept at their own side). One training per
seed shows the failure rate that the defaults' three restarts then have to catch. Labels only score; they were
looked at to pick the default (``mmdc_lib.estimator.GRAYSCALE_JITTER``), on sets of our own making.

Every training is appended to ``results/jitter_screen.jsonl`` with its date and commit as it finishes; the table
``results/jitter_screen.md`` is rendered from all of them.

Usage: python benchmarks/jitter_screen.py --set "digits 0/1" --jitter none 0.2 0.4 [--seeds 0 1 2 3 4 5 6 7]
       python benchmarks/jitter_screen.py --render
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch
from common import RESULTS, machine
from small_sets import SETS, summary

from mmdc_lib import MMDC
from mmdc_lib.config import AugmentConfig
from mmdc_lib.estimator import AUGMENTATIONS, NATIVE_SIZE_EVAL_CROP, default_input_size, is_balanced
from mmdc_lib.metrics import evaluate_clustering

LOG = RESULTS / "jitter_screen.jsonl"


def grayscale_augmentation(jitter: float | None, side: int) -> AugmentConfig:
    """The defaults' "affine" augmentation with brightness and contrast jitter ``jitter`` (None or 0: none), and
    the clean view the estimator gives square images of this side (a centre crop of 0.95 when trained at it)."""
    native = default_input_size(side, side) == side
    return dataclasses.replace(AUGMENTATIONS["affine"], color_jitter=(jitter, jitter, 0.0, 0.0) if jitter else None,
                               eval_crop=NATIVE_SIZE_EVAL_CROP if native else 1.0)


def strength(record: dict) -> float:
    """A record's jitter strength, "no jitter" (recorded as None or 0) as 0.0."""
    return float(record["jitter"] or 0.0)


def latest(records: list[dict]) -> list[dict]:
    """One record per (set, jitter, seed): the last one recorded (a training run again replaces its earlier one)."""
    return list({(r["set"], strength(r), r["seed"]): r for r in records}.values())


def render(records: list[dict]) -> list[str]:
    lines = ["# Brightness/contrast jitter of MMDC()'s grayscale augmentation: one training per seed", "",
             "n_init=1, every other setting the defaults'; ACC per seed (labels only score). A collapse: a cluster "
             "under half of n/k images (the defaults' restart rule drops such a training when another is balanced).", "",
             "| set | jitter | seeds | ACC per seed | ACC | NMI | collapses | s a training | made |", "|---|---|---|---|---|---|---|---|---|"]
    records = latest(records)
    keys = sorted({(r["set"], strength(r)) for r in records})
    for name, jitter in keys:
        runs = sorted((r for r in records if r["set"] == name and strength(r) == jitter), key=lambda r: r["seed"])
        collapses = sum(not is_balanced(r["sizes"]) for r in runs)
        made = sorted({f"{r['date']} {r['commit']}" for r in runs})
        lines.append(f"| {name} | {jitter or 'none'} | {', '.join(str(r['seed']) for r in runs)} "
                     f"| {', '.join(format(r['acc'], '.3f') for r in runs)} | {summary([r['acc'] for r in runs])} "
                     f"| {np.mean([r['nmi'] for r in runs]):.3f} | {collapses} of {len(runs)} "
                     f"| {np.mean([r['seconds'] for r in runs]):.0f} | {made[0]}" + (f" to {made[-1]}" if len(made) > 1 else "") + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=list(SETS))
    parser.add_argument("--jitter", nargs="+", default=["none", "0.2", "0.4"], help="strengths, or none")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--render", action="store_true", help="only render the table from the recorded trainings")
    args = parser.parse_args()
    if not args.render:
        if args.set is None:
            raise SystemExit("jitter_screen.py: name a --set (or --render)")
        torch.set_num_threads(min(2, torch.get_num_threads()))
        images, labels = SETS[args.set]()
        k = len(np.unique(labels))
        for text in args.jitter:
            jitter = None if text == "none" or float(text) == 0 else float(text)
            for seed in args.seeds:
                start = time.perf_counter()
                model = MMDC(n_clusters=k, seed=seed, n_init=1,
                             augmentation=grayscale_augmentation(jitter, min(images.shape[1:3]))).fit(images)
                scores = evaluate_clustering(labels, model.labels_)
                about = machine()
                record = {"set": args.set, "jitter": jitter, "seed": seed, "acc": scores.acc, "nmi": scores.nmi,
                          "sizes": np.bincount(model.labels_, minlength=k).tolist(), "fit": float(model.fit_score_),
                          "seconds": time.perf_counter() - start, "date": about["date"], "commit": about["commit"]}
                print(json.dumps(record), flush=True)
                with LOG.open("a") as log:
                    log.write(json.dumps(record) + "\n")
    if not LOG.is_file():
        raise SystemExit(f"jitter_screen.py: no trainings recorded yet ({LOG} is missing); run one with --set")
    records = [json.loads(line) for line in LOG.read_text().splitlines() if line.strip()]
    lines = render(records) + ["", f"Machine of the last render: {machine()}"]
    (RESULTS / "jitter_screen.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
