"""Other label-free ways to use a run's restarts, on the restarts `fashion_mnist.py --keep-dir DIR` saved (issue 13).

For each seed's restarts (labels and embeddings of every restart, as the benchmark trained them), the ACC of:

- first: the first restart alone (``n_init=1``, the preset as the command line trains it);
- kept: the estimator's rule, the lowest fit score among balanced restarts (what `fashion_mnist.py` reports);
- consensus: the restart that agrees most with the others (mean ARI between the partitions);
- ensemble of partitions: k-means (k clusters, 10 starts) on the restarts' one-hot cluster memberships side by
  side, (N, R*k): images that the restarts keep together end up together;
- ensemble of embeddings: k-means on the restarts' embeddings side by side, (N, R*d).

No rule sees a label; ACC, NMI and ARI use them only to score. Nothing here is trained: the restarts are read.
``--class-splits``: instead, for every restart, each class's two largest clusters (how the weaker partitions
split a class), saved as ``restart_class_splits_fashion-mnist.*``. ``--tag TAG`` adds ``_TAG`` to the results' names
(other trainings than the committed files').
Usage: python benchmarks/restart_ensembles.py DIR [--class-splits] [--tag TAG] [--data-dir /usr/share/datasets/fashion-mnist]
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
from common import FASHION_DIR, embedding_ensemble, machine, read_kept_trainings, save
from restart_rules import agreement_matrix, consensus_restart
from sklearn.cluster import KMeans

from mmdc_lib.data import load_dataset
from mmdc_lib.estimator import kept_restart, restart_seeds
from mmdc_lib.metrics import evaluate_clustering

RULES = ("first", "kept", "consensus", "ensemble of partitions", "ensemble of embeddings")


def choices(restarts: list[dict], k: int, seed: int) -> dict[str, np.ndarray]:
    """Each rule's partition (N,) from one seed's restarts (each with labels (N,), embeddings (N, d), fit)."""
    partitions = [r["labels"] for r in restarts]
    sizes = [np.bincount(p, minlength=k) for p in partitions]
    agreement = agreement_matrix(partitions)
    onehot = np.concatenate([np.eye(k, dtype=np.float32)[p] for p in partitions], axis=1)
    return {
        "first": partitions[0],
        "kept": partitions[kept_restart([r["fit"] for r in restarts], sizes)],
        "consensus": partitions[consensus_restart(agreement)],
        "ensemble of partitions": KMeans(k, n_init=10, random_state=seed).fit_predict(onehot),
        "ensemble of embeddings": embedding_ensemble([r["embeddings"] for r in restarts], k, seed),
    }


def class_splits(by_seed: dict[int, list[dict]], labels: np.ndarray, class_names: list[str], keep_dir: Path,
                 suffix: str = "") -> int:
    """Each restart's ACC and, per class, its images in the class's largest and second-largest cluster."""
    k = len(class_names)
    lines = ["# How each restart splits each class: Fashion-MNIST, images of the class in its largest / second-largest "
             "cluster", "", f"Restarts read from `{keep_dir}`; labels only to score.", "",
             "| restart | ACC | " + " | ".join(class_names) + " |", "|---|---|" + "---|" * k]
    payload = {"machine": machine(), "keep_dir": str(keep_dir), "restarts": []}
    for seed, restarts in sorted(by_seed.items()):
        for restart in restarts:
            counts = [np.sort(np.bincount(restart["labels"][labels == c], minlength=k))[::-1][:2].tolist() for c in range(k)]
            acc = evaluate_clustering(labels, restart["labels"]).acc
            payload["restarts"].append({"seed": seed, "restart": restart["restart"], "acc": acc, "largest_two": counts})
            lines.append(f"| seed {seed}, {restart['restart']} | {acc:.3f} | " + " | ".join(f"{a} / {b}" for a, b in counts) + " |")
    lines += ["", f"Machine: {machine()}"]
    save("restart_class_splits_fashion-mnist" + suffix, payload, lines)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("keep_dir", type=Path)
    parser.add_argument("--class-splits", action="store_true", help="only tabulate how each restart splits each class")
    parser.add_argument("--data-dir", default=str(FASHION_DIR))
    parser.add_argument("--tag", default=None, help="save as NAME_TAG (trainings other than the committed files')")
    args = parser.parse_args()
    suffix = f"_{args.tag}" if args.tag else ""
    data = load_dataset("fashion-mnist", args.data_dir, download=False)
    k = len(data.class_names)
    by_seed = read_kept_trainings(args.keep_dir)
    if args.class_splits:
        return class_splits(by_seed, data.labels, data.class_names, args.keep_dir, suffix)
    rows = {}
    for seed, restarts in sorted(by_seed.items()):
        order = restart_seeds(seed, len(restarts))  # the order the run trained them in, the seed's own first
        if sorted(order) != sorted(r["restart"] for r in restarts):
            raise SystemExit(f"seed {seed}: the restarts in {args.keep_dir} are not restart_seeds({seed}, {len(restarts)})")
        restarts.sort(key=lambda r: order.index(r["restart"]))
        if any(len(r["labels"]) != len(data.labels) for r in restarts):
            raise SystemExit(f"seed {seed}: saved labels are not one per image of the {len(data.labels)} images")
        rows[seed] = {rule: evaluate_clustering(data.labels, labels).as_dict()
                      for rule, labels in choices(restarts, k, seed).items()}
        print(f"seed {seed}: " + ", ".join(f"{rule} {rows[seed][rule]['acc']:.3f}" for rule in RULES), flush=True)
    lines = [f"# Label-free uses of a run's restarts: Fashion-MNIST, {len(data.images)} images", "",
             f"Restarts read from `{args.keep_dir}` (made by `fashion_mnist.py --keep-dir`); ACC per seed; "
             "labels only to score.", "",
             "| rule | " + " | ".join(f"seed {s}" for s in rows) + " | mean ACC | mean NMI | mean ARI |",
             "|---|" + "---|" * (len(rows) + 3)]
    for rule in RULES:
        scores = [rows[s][rule] for s in rows]
        lines.append(f"| {rule} | " + " | ".join(f"{x['acc']:.3f}" for x in scores)
                     + f" | {statistics.fmean(x['acc'] for x in scores):.3f} | {statistics.fmean(x['nmi'] for x in scores):.3f}"
                     f" | {statistics.fmean(x['ari'] for x in scores):.3f} |")
    lines += ["", f"Machine: {machine()}"]
    for table in rows.values():
        for scores in table.values():
            scores.pop("confusion", None)
    save("restart_ensembles_fashion-mnist" + suffix, {"machine": machine(), "keep_dir": str(args.keep_dir),
                                             "rows": {str(s): r for s, r in rows.items()}}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
