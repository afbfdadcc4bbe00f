"""Can a restart be chosen after a few epochs? The fit score early in training against the ACC at the end (issue 13).

Keeping the best of three full trainings of the ``fashion-mnist`` preset costs three trainings (28-45 min a run on
2 CPU cores, over the issue's 30). Keeping the best after a few epochs and training only that one to the end would
cost about 1.4 trainings (3 x 3 epochs + 12). That works only if a restart's standing after a few epochs (label-free:
its fit score, the mean squared distance of the clean embeddings to their targets) foretells its ACC at the end.

This trains the preset for ``--epochs`` E epochs (the first E of its 15: the same learning rate, its cut comes at 12)
for each seed, on all 70,000 images, and reads each seed's finished training (same seed, same machine) from
``fashion_mnist.json``. It checks that the first E epochs reproduce the finished training's per-epoch ACC (a CPU
run is fixed by its seed, but other machines round otherwise), then, for each epoch e <= E and every choice of
``--n-init`` of the seeds' trainings, which one the estimator's rule (``kept_restart``: the lowest fit among the
balanced) would keep with epoch e's fit scores and cluster sizes, and that one's final ACC. Labels only score.
Saved as ``restart_screening_fashion-70000_epochs-E.*``; trainings that do not reproduce are shown and left out of the
choices. Usage: python benchmarks/restart_screening.py [--seeds 0 1 2 3 4] [--epochs 4] [--n-init 3]
       python benchmarks/restart_screening.py --epochs E --render   (redraw the .md from the saved .json)
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics

from common import FASHION_DIR, RESULTS, machine, save, train_scored
from scipy.stats import spearmanr

from mmdc_lib.config import preset
from mmdc_lib.data import load_dataset
from mmdc_lib.estimator import images_to_uint8_nchw, kept_restart

NAME = "restart_screening_fashion-70000_epochs-{epochs}"


def finished_trainings(full: dict) -> dict[int, dict]:
    """Each seed's finished one-training run in a ``fashion_mnist.json`` payload: seed -> its run.

    ValueError when a seed has two such runs (which one pairs would be a guess)."""
    runs = [run for run in full["mmdc"] if run.get("n_init", 1) == 1 and run["kept_seed"] == run["seed"]]
    seeds = [run["seed"] for run in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the finished trainings hold a seed twice: {sorted(seeds)}")
    return {run["seed"]: run for run in runs}


def judged(training: dict, epoch: int | None) -> dict:
    """A training's fit and cluster sizes after ``epoch`` epochs (None: at the end of its finished training)."""
    return training["early"][epoch - 1] if epoch is not None else {"fit": training["final_fit"],
                                                                    "cluster_sizes": training["final_sizes"]}


def screened_choices(trainings: list[dict], epoch: int | None, n_init: int) -> dict:
    """For every choice of n_init trainings: the final ACC of the one kept by its fit scores and cluster sizes after
    ``epoch`` epochs (None: at the end).

    Each training: ``early`` (its per-epoch history dicts: fit, cluster_sizes), ``final_fit``, ``final_sizes`` and
    ``final_acc``. Returns the mean and worst kept ACC, the mean of one training (the choice's mean) and of the best
    (labels), over the choices.
    """
    kept, one, best = [], [], []
    for choice in itertools.combinations(trainings, n_init):
        entries = [judged(training, epoch) for training in choice]
        index = kept_restart([entry["fit"] for entry in entries], [entry["cluster_sizes"] for entry in entries])
        kept.append(choice[index]["final_acc"])
        one.append(statistics.fmean(training["final_acc"] for training in choice))
        best.append(max(training["final_acc"] for training in choice))
    return {"choices": len(kept), "kept_mean": statistics.fmean(kept), "kept_worst": min(kept),
            "one_mean": statistics.fmean(one), "best_mean": statistics.fmean(best)}


def render(payload: dict) -> list[str]:
    trainings = payload["trainings"]
    epochs, n_init = payload["epochs"], payload["n_init"]
    lines = [f"# Choosing a restart early: the fit score after 1-{epochs} epochs against the final ACC, Fashion-MNIST "
             f"(70,000 images)", "",
             f"The `fashion-mnist` preset's first {epochs} epochs for seeds {[t['seed'] for t in trainings]}; each seed's "
             f"finished training ({payload.get('full_epochs', 15)} epochs) read from `{payload['full_file']}` (its run of the same seed). Fit: the mean "
             "squared distance of the clean embeddings to their targets (no labels). Labels only score.", "",
             "| seed | " + " | ".join(f"fit after {e}" for e in range(1, epochs + 1)) + " | "
             + " | ".join(f"ACC after {e}" for e in range(1, epochs + 1)) + " | final fit | final ACC | reproduced |",
             "|---|" + "---|" * (2 * epochs + 3)]
    for t in trainings:
        lines.append(f"| {t['seed']} | " + " | ".join(f"{entry['fit']:.4f}" for entry in t["early"]) + " | "
                     + " | ".join(f"{entry['acc']:.3f}" for entry in t["early"])
                     + f" | {t['final_fit']:.4f} | {t['final_acc']:.3f} | {'yes' if t['reproduced'] else 'NO'} |")
    paired = [t for t in trainings if t["reproduced"]]
    lines += ["", "reproduced: the first epochs' ACC equal the finished training's (to 4 places); where not, the machine "
              "rounds otherwise, the rows do not pair and the choices below leave them out.", "",
              f"Every choice of {n_init} of the {len(paired)} reproduced trainings; the final ACC of the one the estimator's rule "
              "(lowest fit among the balanced, `kept_restart`) keeps, judged after e epochs:", "",
              "| judged after | Spearman (fit, final ACC) | kept: mean ACC | kept: worst | one training | best (labels) |",
              "|---|---|---|---|---|---|"]
    for row in payload["by_epoch"]:
        lines.append(f"| {row['epoch'] or str(payload.get('full_epochs', 15)) + ' (the end)'} | {row['spearman']:+.2f} | {row['kept_mean']:.3f} | {row['kept_worst']:.3f} | "
                     f"{row['one_mean']:.3f} | {row['best_mean']:.3f} |")
    lines += ["", "Spearman: rank correlation over the trainings; negative means a lower fit goes with a higher ACC.",
              "Seconds a screened training took: " + ", ".join(f"{t['seconds']:.0f}" for t in trainings) + ".",
              "", f"Machine: {payload['machine']}"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--n-init", type=int, default=3)
    parser.add_argument("--data-dir", default=str(FASHION_DIR))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--render", action="store_true")
    args = parser.parse_args()
    name = NAME.format(epochs=args.epochs)
    if args.render:
        payload = json.loads((RESULTS / f"{name}.json").read_text())
        save(name, payload, render(payload))
        return
    full_file = "fashion_mnist.json"
    finished = finished_trainings(json.loads((RESULTS / full_file).read_text()))
    missing = [seed for seed in args.seeds if seed not in finished]
    full_epochs = preset("fashion-mnist").epochs
    if missing or not 1 <= args.epochs < full_epochs or not 2 <= args.n_init <= len(args.seeds):
        raise SystemExit(f"need finished trainings of every seed in {full_file} (missing {missing}), 1 <= --epochs < the preset's epochs "
                         "and 2 <= --n-init <= the number of seeds")
    data = load_dataset("fashion-mnist", args.data_dir, download=False)
    images, _ = images_to_uint8_nchw(data.images)
    trainings = []
    for seed in args.seeds:
        config = preset("fashion-mnist")
        config.seed, config.epochs = seed, args.epochs  # the preset's first epochs: its lr cut (12) is later
        result, record = train_scored(config, images, data.labels, args.device, per_epoch=True)
        early = [{key: entry[key] for key in ("fit", "acc", "changed", "cluster_sizes")} for entry in result.history]
        run = finished[seed]
        trainings.append({"seed": seed, "early": early, "final_acc": run["acc"], "final_fit": run["fit"],
                          "final_sizes": run["restarts"][0]["sizes"],
                          "reproduced": [round(e["acc"], 4) for e in early] == run["acc_per_epoch"][:args.epochs],
                          "seconds": record["seconds"]})
        print(f"seed {seed}: fits {[round(e['fit'], 4) for e in early]} acc {[round(e['acc'], 4) for e in early]} "
              f"final acc {run['acc']:.3f} ({record['seconds']:.0f} s)", flush=True)
    paired = [t for t in trainings if t["reproduced"]]  # others took another path on this machine: they do not pair
    if len(paired) < args.n_init:
        raise SystemExit(f"only {len(paired)} of the trainings reproduced their finished ones' first epochs here: "
                         "run fashion_mnist.py for these seeds on this machine first")
    by_epoch = []
    for epoch in [*range(1, args.epochs + 1), None]:
        fits = [judged(t, epoch)["fit"] for t in paired]
        by_epoch.append({"epoch": epoch, "spearman": float(spearmanr(fits, [t["final_acc"] for t in paired])[0]),
                         **screened_choices(paired, epoch, args.n_init)})
    payload = {"machine": machine(), "full_file": full_file, "epochs": args.epochs, "full_epochs": full_epochs,
               "n_init": args.n_init, "trainings": trainings, "by_epoch": by_epoch}
    save(name, payload, render(payload))


if __name__ == "__main__":
    main()
