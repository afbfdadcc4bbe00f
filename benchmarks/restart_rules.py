"""Which restart to keep? Label-free rules tried on many restarts of one setting (issue 13).

Trains R restarts of the ``fashion-mnist`` preset on a fixed subset of Fashion-MNIST (seeds ``--first-seed`` ..
+R-1), then, for every choice of ``--n-init`` of those restarts, asks which one each rule keeps and scores the
kept one's ACC (labels only to score; no rule sees them):

- one restart: any one of the choice's restarts (``n_init=1``), the baseline: the mean ACC of the choice's restarts;
- lowest fit: the restart whose clean embeddings lie closest to their targets (``fit_score``);
- kept: the estimator's rule, the lowest fit among balanced restarts (``mmdc_lib.estimator.kept_restart``);
- consensus: the restart that agrees most with the others (highest mean ARI with them, :func:`consensus_restart`):
  good partitions resemble each other, poor optima tend to be poor in different ways.

The pairwise agreement, fit scores, cluster sizes and ACCs are saved, so every rule can be recomputed.
``--from-dir DIR``: instead of training, the same rules on the trainings ``fashion_mnist.py --keep-dir DIR`` saved on
all 70,000 images (each seed's restarts; a training of seed S is a restart like any other), saved as
``restart_rules_fashion-70000.*``; their seconds are not in DIR and show as "-".
Usage: python benchmarks/restart_rules.py [--subset 10000] [--restarts 9] [--first-seed 20] [--n-init 3]
       python benchmarks/restart_rules.py --from-dir DIR [--n-init 3]
       python benchmarks/restart_rules.py --summarise [--subset 70000]  (redraw the tables from the saved JSON; nothing is trained)
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

import numpy as np
from common import FASHION_DIR, RESULTS, machine, read_kept_trainings, save, train_scored
from sklearn.metrics import adjusted_rand_score

from mmdc_lib.cli import subset_indices
from mmdc_lib.config import preset
from mmdc_lib.data import load_dataset
from mmdc_lib.estimator import images_to_uint8_nchw, is_balanced, kept_restart
from mmdc_lib.metrics import evaluate_clustering


def consensus_restart(agreement) -> int:
    """Index of the restart that agrees most with the others: the highest mean of its row of ``agreement``
    ((R, R), e.g. the adjusted Rand index between the restarts' partitions), its own diagonal left out; the
    first of equals, 0 for one restart. No labels are used.
    """
    agreement = np.asarray(agreement, dtype=float)
    if agreement.ndim != 2 or agreement.shape[0] != agreement.shape[1] or agreement.shape[0] == 0:
        raise ValueError(f"agreement should be a square (R, R) matrix with R >= 1, got shape {agreement.shape}.")
    if len(agreement) == 1:
        return 0
    others = (agreement.sum(axis=1) - np.diag(agreement)) / (len(agreement) - 1)
    return int(np.argmax(others))


def agreement_matrix(partitions: list[np.ndarray]) -> np.ndarray:
    """(R, R) adjusted Rand index between every two of R partitions, each (N,)."""
    return np.array([[adjusted_rand_score(a, b) for b in partitions] for a in partitions])


def rules(fits: list[float], sizes: list[list[int]], agreement: np.ndarray) -> dict[str, int]:
    """The position each rule keeps among these restarts (fits (R,), sizes (R, k), agreement (R, R))."""
    return {"lowest fit": int(np.argmin(fits)), "kept": kept_restart(fits, sizes), "consensus": consensus_restart(agreement)}


def summarise(payload: dict) -> list[str]:
    """The tables of a saved study (runs, their (R, R) agreement, n_init, subset, machine); fills payload["picks"]."""
    runs, agreement, n_init = payload["runs"], np.asarray(payload["agreement"]), payload["n_init"]
    picks: dict[str, list[float]] = {"one restart (mean of the choice)": []}
    for chosen_runs in itertools.combinations(range(len(runs)), n_init):
        index = list(chosen_runs)
        picks["one restart (mean of the choice)"].append(statistics.fmean(runs[i]["acc"] for i in index))
        kept = rules([runs[i]["fit"] for i in index], [runs[i]["sizes"] for i in index], agreement[np.ix_(index, index)])
        for rule, position in kept.items():
            picks.setdefault(rule, []).append(runs[index[position]]["acc"])
        picks.setdefault("best (uses labels)", []).append(max(runs[i]["acc"] for i in index))
    payload["picks"] = picks
    n_choices = len(picks["kept"])
    balanced = sum(is_balanced(run["sizes"]) for run in runs)
    lines = [f"# Which restart to keep? {len(runs)} restarts of the fashion-mnist preset on {payload['subset']} images", "",
             f"Every choice of {n_init} of the {len(runs)} restarts ({n_choices} choices); ACC of the restart "
             f"each rule keeps (labels only to score). {balanced} of the {len(runs)} restarts are balanced.", "",
             "| rule | mean ACC of the kept restart | worst | uses labels |", "|---|---|---|---|"]
    for rule, accs in picks.items():
        lines.append(f"| {rule} | {statistics.fmean(accs):.3f} | {min(accs):.3f} | {'yes' if 'labels' in rule else 'no'} |")
    lines += ["", "| seed | fit score | mean ARI with the others | ACC | NMI | sizes | s |", "|---|---|---|---|---|---|---|"]
    for i, run in enumerate(runs):
        others = np.delete(agreement[i], i).mean()
        lines.append(f"| {run['seed']} | {run['fit']:.4f} | {others:.3f} | {run['acc']:.3f} | {run['nmi']:.3f} "
                     f"| {run['sizes']} | {'-' if run['seconds'] is None else format(run['seconds'], '.0f')} |")
    return lines + ["", f"Machine: {payload['machine']}"]


def from_saved_trainings(keep_dir: Path, n_init: int) -> int:
    """The rules on every training ``fashion_mnist.py --keep-dir`` saved in ``keep_dir`` (all 70,000 images)."""
    data = load_dataset("fashion-mnist", FASHION_DIR, download=False)
    trainings = sorted((t for kept in read_kept_trainings(keep_dir).values() for t in kept), key=lambda t: t["restart"])
    runs, partitions = [], []
    for training in trainings:
        labels = training["labels"]
        scores = evaluate_clustering(data.labels, labels)
        runs.append({"seed": training["restart"], "fit": training["fit"], "acc": scores.acc, "nmi": scores.nmi,
                     "sizes": np.bincount(labels, minlength=10).tolist(), "seconds": None})
        partitions.append(labels)
    if len(runs) < n_init:
        raise SystemExit(f"{keep_dir}: {len(runs)} saved trainings, fewer than --n-init {n_init}")
    payload = {"machine": machine(), "subset": len(data.images), "n_init": n_init, "runs": runs,
               "agreement": agreement_matrix(partitions).round(4).tolist(), "from_dir": str(keep_dir)}
    save(f"restart_rules_fashion-{len(data.images)}", payload, summarise(payload))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subset", type=int, default=10_000)
    parser.add_argument("--restarts", type=int, default=9)
    parser.add_argument("--first-seed", type=int, default=20)
    parser.add_argument("--n-init", type=int, default=3)
    parser.add_argument("--summarise", action="store_true", help="redraw the tables from the saved JSON")
    parser.add_argument("--from-dir", type=Path, default=None,
                        help="score the trainings fashion_mnist.py --keep-dir saved here (all images) instead of training")
    args = parser.parse_args()
    if args.from_dir is not None:
        return from_saved_trainings(args.from_dir, args.n_init)
    if args.summarise:
        payload = json.loads((RESULTS / f"restart_rules_fashion-{args.subset}.json").read_text())
        save(f"restart_rules_fashion-{args.subset}", payload, summarise(payload))
        return 0
    data = load_dataset("fashion-mnist", FASHION_DIR, download=False)
    chosen = subset_indices(len(data.images), args.subset)
    images, _ = images_to_uint8_nchw(data.images[chosen])
    labels = data.labels[chosen]
    runs, partitions = [], []
    for seed in range(args.first_seed, args.first_seed + args.restarts):
        config = preset("fashion-mnist")
        config.seed = seed
        result, record = train_scored(config, images, labels)
        partitions.append(result.labels)
        runs.append(record)
        print(f"seed {seed}: fit {record['fit']:.4f} ACC {record['acc']:.3f} sizes {record['sizes']}", flush=True)
    agreement = agreement_matrix(partitions)
    payload = {"machine": machine(), "subset": args.subset, "n_init": args.n_init, "runs": runs,
               "agreement": agreement.round(4).tolist()}
    save(f"restart_rules_fashion-{args.subset}", payload, summarise(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
