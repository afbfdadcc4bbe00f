"""How ``MMDC()``'s refinement and restart defaults were chosen: on our own small sets, with their labels.

Two studies, on the sets of ``small_sets.py`` (k-means on pixels beside each, n_init=10, seeds 0-2):

- ``--fractions 0.5 0.75``: MMDC with k-means refinement from that fraction of the epochs (``refine_epoch =
  round(f * epochs)``, 0 for none), one restart, seeds 0-2: the mean and each seed's ACC and fit score.
- ``--restarts 3 --fraction 0.75``: for each seed s, the restarts ``restart_seeds(s, 3)`` trained one by one with
  refinement from that fraction, each restart's ACC and fit score written as it finishes (a JSON line), then per
  set: ACC with one restart (the seed itself), with three kept by the lowest fit score, and the best of three.

Labels choose here, and only here: the estimator's defaults (``AUTO_REFINE_FRACTION``, ``n_init="auto"``) were
set from what this prints, and ``small_sets.py`` then measures them, on the same sets.

Usage: python benchmarks/refinement_study.py --fractions 0.5 0.75 --sets "digits 0/1" "fashion five"
       python benchmarks/refinement_study.py --restarts 3 --fraction 0.75 --sets "fashion five" ...
"""
from __future__ import annotations

import argparse
import collections
import json
import time

import numpy as np
from common import RESULTS, machine
from small_sets import ORIGINAL_SETS, SETS
from sklearn.cluster import KMeans

from mmdc_lib import MMDC
from mmdc_lib.estimator import images_to_uint8_nchw, restart_seeds
from mmdc_lib.metrics import evaluate_clustering


def fit(images, k: int, seed: int, fraction: float) -> tuple[MMDC, float]:
    epochs = MMDC(n_clusters=k)._resolve_config(images_to_uint8_nchw(images)[0], seed=seed).epochs  # as MMDC() does
    refine_epoch = round(fraction * epochs) if fraction else None
    start = time.perf_counter()
    model = MMDC(n_clusters=k, seed=seed, n_init=1, refine_epoch=refine_epoch).fit(images)
    return model, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", default=ORIGINAL_SETS, choices=list(SETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fractions", type=float, nargs="+", help="study 1: refinement from these fractions")
    parser.add_argument("--restarts", type=int, help="study 2: this many restarts per seed")
    parser.add_argument("--fraction", type=float, default=0.75, help="study 2: refinement from this fraction")
    args = parser.parse_args()
    print(machine(), flush=True)
    for name in args.sets:
        images, labels = SETS[name]()
        k = len(np.unique(labels))
        pixels = images.reshape(len(images), -1) / 255
        kmeans = np.mean([evaluate_clustering(labels, KMeans(k, n_init=10, random_state=s).fit_predict(pixels)).acc
                          for s in args.seeds])
        for fraction in args.fractions or []:
            runs = [fit(images, k, seed, fraction) for seed in args.seeds]
            accs = [evaluate_clustering(labels, model.labels_).acc for model, _ in runs]
            print(f"{name:14s} refine {fraction:.2f} ACC {np.mean(accs):.3f} ± {np.std(accs):.3f} {[round(a, 3) for a in accs]} "
                  f"fit {[round(model.fit_score_, 3) for model, _ in runs]} {np.mean([s for _, s in runs]):.0f} s", flush=True)
        if args.restarts:
            per_seed = collections.defaultdict(list)
            # A new file per run (never appended to a committed one), its first line the machine and thread count.
            path = RESULTS / f"refinement_study_restarts_{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
            with open(path, "w") as log:
                log.write(json.dumps({"machine": machine(), "fraction": args.fraction, "restarts": args.restarts}) + "\n")
                for seed in args.seeds:
                    for restart in restart_seeds(seed, args.restarts):
                        model, seconds = fit(images, k, restart, args.fraction)
                        record = dict(set=name, seed=seed, restart=restart, acc=evaluate_clustering(labels, model.labels_).acc,
                                      fit=model.fit_score_, kmeans=kmeans, seconds=seconds)
                        per_seed[seed].append(record)
                        log.write(json.dumps(record) + "\n")
                        print(record, flush=True)
            one = [runs[0]["acc"] for runs in per_seed.values()]
            kept = [min(runs, key=lambda r: r["fit"])["acc"] for runs in per_seed.values()]
            best = [max(r["acc"] for r in runs) for runs in per_seed.values()]
            print(f"{name:22s} one restart {np.mean(one):.3f}, {args.restarts} kept by fit {np.mean(kept):.3f}, "
                  f"best of {args.restarts} {np.mean(best):.3f}, k-means {kmeans:.3f}", flush=True)


if __name__ == "__main__":
    main()
