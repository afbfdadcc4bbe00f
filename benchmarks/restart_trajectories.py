"""Each restart of ``MMDC()``'s defaults on one small set, epoch by epoch: cluster sizes and ACC (issue 13).

For seeds 0-2, the three restarts ``restart_seeds(seed, 3)`` that ``MMDC(n_clusters=k, seed=seed)`` trains,
each with the estimator's own resolved settings (``MMDC._resolve_config``), through the library's ``Trainer``
with the labels passed only to score each epoch. Shows where a run goes wrong (before or after k-means
refinement starts) and what the fit score and the cluster sizes say about it, which is how the estimator's
rule for the kept restart (the lowest fit score among balanced restarts) was chosen.
Usage: python benchmarks/restart_trajectories.py [--set "fashion tops"] [--seeds 0 1 2]
       python benchmarks/restart_trajectories.py --records FILE.jsonl --made-on TEXT  (summarise saved records)
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from common import machine, save
from small_sets import SETS

from mmdc_lib import MMDC
from mmdc_lib.estimator import images_to_uint8_nchw, is_balanced, kept_restart, restart_seeds
from mmdc_lib.train import Trainer


def train(name: str, seeds: list[int]) -> list[dict]:
    images, labels = SETS[name]()
    k = len(np.unique(labels))
    uint8, _ = images_to_uint8_nchw(images)
    records = []
    for seed in seeds:
        for restart in restart_seeds(seed, 3):
            config = MMDC(n_clusters=k)._resolve_config(uint8, seed=restart)
            start = time.perf_counter()
            result = Trainer(config, uint8, labels=labels, device="cpu", progress=False).fit()
            records.append({"set": name, "seed": seed, "restart": restart, "fit": result.fit_score,
                            "refine_epoch": config.refine_epoch, "epochs": config.epochs,
                            "sizes": [entry["cluster_sizes"] for entry in result.history],
                            "acc": [round(entry["acc"], 3) for entry in result.history],
                            "seconds": time.perf_counter() - start})
            print(json.dumps({key: records[-1][key] for key in ("seed", "restart", "fit")}
                             | {"acc": records[-1]["acc"][-1], "sizes": records[-1]["sizes"][-1]}), flush=True)
    return records


def summarise(records: list[dict], where: dict) -> list[str]:
    name = records[0]["set"]
    lines = [f"# Restarts of MMDC()'s defaults on {name}, epoch by epoch", "",
             f"Refinement from epoch {records[0]['refine_epoch']} of {records[0]['epochs']}; ACC uses the labels, "
             "only to score. Kept: the estimator's rule (lowest fit score among balanced restarts); lowest fit: the "
             "earlier rule.", "",
             "| seed | restart | fit score | sizes at the end | balanced | ACC before refinement | ACC at the end "
             "| kept | lowest fit |", "|---|---|---|---|---|---|---|---|---|"]
    kept_accs, lowest_accs = [], []
    for seed in sorted({r["seed"] for r in records}):
        runs = [r for r in records if r["seed"] == seed]
        kept = kept_restart([r["fit"] for r in runs], [r["sizes"][-1] for r in runs])
        lowest = int(np.argmin([r["fit"] for r in runs]))
        kept_accs.append(runs[kept]["acc"][-1])
        lowest_accs.append(runs[lowest]["acc"][-1])
        for i, r in enumerate(runs):
            before = r["acc"][r["refine_epoch"] - 1]  # the last epoch before refinement
            lines.append(f"| {seed} | {r['restart']} | {r['fit']:.4f} | {r['sizes'][-1]} | {is_balanced(r['sizes'][-1])} "
                         f"| {before:.3f} | {r['acc'][-1]:.3f} | {'yes' if i == kept else ''} "
                         f"| {'yes' if i == lowest else ''} |")
    for rule, accs in (("kept (balanced rule)", kept_accs), ("lowest fit", lowest_accs)):
        lines.append(f"\nMean ACC of the {rule} restart over seeds: {np.mean(accs):.3f} ({', '.join(f'{a:.3f}' for a in accs)}).")
    lines += ["", f"Machine: {where}"]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="fashion tops", choices=list(SETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--records", help="a JSON-lines file of records made by train() before: summarise it")
    parser.add_argument("--made-on", default="", help="with --records: the machine, date and commit that made them")
    args = parser.parse_args()
    if args.records:
        with open(args.records) as lines:
            records = [json.loads(line) for line in lines]
        where = {"records made on": args.made_on or "not recorded"}
    else:
        records, where = train(args.set, args.seeds), machine()
    name = "restart_trajectories_" + records[0]["set"].replace(" ", "-").replace("/", "-")
    save(name, {"machine": where, "records": records}, summarise(records, where))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
