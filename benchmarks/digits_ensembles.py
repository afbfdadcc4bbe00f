"""Restarts of the digits preset: how good is one training on seeds it was not chosen on, and do ensembles help?

For each seed S (default 0-4) the script trains the ``digits`` preset with the seeds ``restart_seeds(S, 3)`` (S
itself first, then two drawn from it, as ``MMDC(n_init=3)``) and reports, with labels only to score:

- first: the training with seed S, what ``python -m mmdc_lib train --dataset digits --seed S`` gives;
- the other two: seeds the preset was not chosen on (its 80 epochs were chosen by ACC over seeds 0-4);
- ensembles: k-means (10 starts) on the embeddings of the first 2 or all 3 trainings side by side, (N, R*d);
- kept by a label-free score: the lowest fit score, the highest Calinski-Harabasz index of the embeddings.

Issue 13's digits bar is mean ACC >= 0.97, every seed >= 0.95, within 60 s a run.
Usage: python benchmarks/digits_ensembles.py [--seeds 0 1 2 3 4]
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np
from common import embedding_ensemble, machine, save, train_scored
from sklearn.metrics import calinski_harabasz_score

from mmdc_lib.config import preset
from mmdc_lib.data import load_digits_images
from mmdc_lib.estimator import images_to_uint8_nchw, restart_seeds
from mmdc_lib.metrics import evaluate_clustering

RULES = ("first", "second", "third", "ensemble of 2", "ensemble of 3", "lowest fit of 3", "highest CH of 3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    data = load_digits_images()
    images, _ = images_to_uint8_nchw(data.images)
    rows, seconds = {}, []
    for seed in args.seeds:
        trainings = []
        for restart_seed in restart_seeds(seed, 3):
            config = preset("digits")
            config.seed = restart_seed
            result, record = train_scored(config.validate(), images, data.labels)
            embeddings = result.embeddings.numpy()
            trainings.append({"labels": result.labels, "embeddings": embeddings, "fit": record["fit"],
                              "ch": calinski_harabasz_score(embeddings, result.labels)})
            seconds.append(record["seconds"])

        partitions = {"first": trainings[0]["labels"], "second": trainings[1]["labels"], "third": trainings[2]["labels"],
                      "ensemble of 2": embedding_ensemble([t["embeddings"] for t in trainings[:2]], 10, seed),
                      "ensemble of 3": embedding_ensemble([t["embeddings"] for t in trainings], 10, seed),
                      "lowest fit of 3": trainings[int(np.argmin([t["fit"] for t in trainings]))]["labels"],
                      "highest CH of 3": trainings[int(np.argmax([t["ch"] for t in trainings]))]["labels"]}
        rows[seed] = {rule: evaluate_clustering(data.labels, labels).acc for rule, labels in partitions.items()}
        print(f"seed {seed}: " + ", ".join(f"{rule} {acc:.3f}" for rule, acc in rows[seed].items()), flush=True)
    lines = ["# Digits preset: three trainings per seed (restart_seeds), ensembles and label-free choices; ACC", "",
             "| rule | " + " | ".join(f"seed {s}" for s in rows) + " | mean | min |", "|---|" + "---|" * (len(rows) + 2)]
    for rule in RULES:
        accs = [rows[s][rule] for s in rows]
        lines.append(f"| {rule} | " + " | ".join(f"{a:.3f}" for a in accs) + f" | {statistics.fmean(accs):.3f} | {min(accs):.3f} |")
    fresh = [rows[s][rule] for s in rows for rule in ("second", "third")]
    lines += ["", f"One training on seeds the preset was not chosen on (second and third, {len(fresh)} trainings): "
              f"mean ACC {statistics.fmean(fresh):.3f}. A training takes {min(seconds):.0f}-{max(seconds):.0f} s here "
              "(the Trainer alone; the command line adds start-up and figures).", "", f"Machine: {machine()}"]
    save("digits_ensembles", {"machine": machine(), "seeds": args.seeds, "acc": rows, "seconds": seconds}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
