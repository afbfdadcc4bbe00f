"""``python -m mmdc_lib reproduce``: the paper's table in one command, resumable, run after run.

Every (data set, seed) is one ``train --resume`` run in ``OUT/DATASET-seedS``: a finished run is skipped
(its metrics are read), an interrupted one continues from its last finished epoch, a failing one is
reported with its one-line reason while the others go on. The table (Markdown and CSV) gives ACC, NMI and
ARI as mean ± std and min-max over seeds, wall time and device per run, beside the paper's figures and the
authors' released checkpoints. A shorter schedule (``--budget`` or ``--epochs``) is labelled in every row
as not the paper's protocol.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import time
from pathlib import Path

from . import published
from .config import PRESETS, preset
from .data import DATASETS
from .metrics import NMI_AVERAGING

RESULTS_NAME = "results"
BUDGET_FRACTION = 8  # --budget: one eighth of the preset's epochs (50 of 400), lr steps and refinement scaled


def add_parser(commands) -> None:
    reproduce = commands.add_parser("reproduce", help="run every data set and seed, skip finished runs, resume the rest, write the table")
    reproduce.add_argument("--datasets", nargs="+", default=["cifar10", "cifar100-20", "stl10"],
                           help=f"any of: {', '.join(DATASETS)} (default: the paper's three)")
    reproduce.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    reproduce.add_argument("--out", default="runs/reproduce", help="one folder per run under it, and the results table")
    reproduce.add_argument("--data-dir", default=None, help="where the data sets live or are downloaded to (default: ./data)")
    reproduce.add_argument("--no-download", action="store_true")
    schedule = reproduce.add_mutually_exclusive_group()
    schedule.add_argument("--budget", action="store_true",
                          help=f"1/{BUDGET_FRACTION} of each preset's epochs (e.g. 50 of 400): NOT the paper's protocol")
    schedule.add_argument("--epochs", type=int, default=None, help="epochs per run: NOT the paper's protocol unless the preset's")
    reproduce.add_argument("--subset", type=int, default=None, help="a fixed random subset per data set: NOT the paper's protocol")
    reproduce.add_argument("--device", default="auto")
    reproduce.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None)
    reproduce.add_argument("--compile", action="store_true")
    reproduce.add_argument("--no-progress", action="store_true")


def _train_arguments(args: argparse.Namespace, dataset: str, seed: int, run_dir: Path) -> list[str]:
    arguments = ["train", "--dataset", dataset, "--seed", str(seed), "--out", str(run_dir), "--resume", "--device", args.device]
    if args.budget and dataset in PRESETS:
        arguments += ["--epochs", str(max(2, math.ceil(preset(dataset).epochs / BUDGET_FRACTION)))]
    elif args.epochs is not None:
        arguments += ["--epochs", str(args.epochs)]
    for flag, value in (("--data-dir", args.data_dir), ("--subset", args.subset), ("--precision", args.precision)):
        if value is not None:
            arguments += [flag, str(value)]
    arguments += ["--no-download"] * args.no_download + ["--no-progress"] * args.no_progress + ["--compile"] * args.compile
    return arguments


def _schedule_label(dataset: str, epochs: int, subset) -> str:
    own = preset(dataset if dataset in PRESETS else "digits").epochs
    if epochs == own and subset is None:
        return f"paper schedule ({epochs} epochs)" if dataset in published.MMDC_TABLE_1 or dataset == "mnist" else f"preset ({epochs} epochs)"
    return f"short: {epochs} of {own} epochs{f', {subset} images' if subset else ''} (NOT the paper's protocol)"


def _finished(run_dir: Path, config_json: str) -> dict | None:
    """The metrics of a finished run with these settings, or None."""
    metrics, config = run_dir / "metrics.json", run_dir / "config.json"
    if not (metrics.exists() and config.exists()) or config.read_text() != config_json:
        return None
    values = json.loads(metrics.read_text())
    return values if values.get("epochs") == json.loads(config_json)["epochs"] else None


def run_all(args: argparse.Namespace) -> list[dict]:
    """Train (or skip, or resume) every run; one dict per run: status, metrics or reason."""
    from .cli import USER_ERRORS, build_parser, describe, resolve_config, train

    unknown = [d for d in args.datasets if d not in DATASETS]
    if unknown:
        raise ValueError(f"unknown dataset {unknown[0]!r}; choose from {', '.join(DATASETS)}.")
    out = Path(args.out)
    runs = []
    for dataset in args.datasets:
        for seed in args.seeds:
            run_dir = out / f"{dataset}-seed{seed}"
            train_args = build_parser().parse_args(_train_arguments(args, dataset, seed, run_dir))
            run = {"dataset": dataset, "seed": seed, "dir": str(run_dir)}
            try:
                config = resolve_config(train_args).validate()
                run["schedule"] = _schedule_label(dataset, config.epochs, args.subset)
                metrics = _finished(run_dir, config.to_json())
                if metrics is not None:
                    run.update(status="finished earlier", metrics=metrics)
                else:
                    start = time.perf_counter()
                    print(f"reproduce: {dataset} seed {seed} ({run['schedule']}) -> {run_dir}", flush=True)
                    run.update(status="trained", metrics=train(train_args), seconds=time.perf_counter() - start)
            except USER_ERRORS as error:
                run.update(status="failed", reason=describe(error))
                print(f"reproduce: {dataset} seed {seed} failed: {run['reason']}", flush=True)
            runs.append(run)
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0:  # under torchrun: rank 0 writes
        write_table(out, runs)
    return runs


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {std:.3f} ({min(values):.3f}-{max(values):.3f})"


def write_table(out: Path, runs: list[dict]) -> None:
    """OUT/results.md and OUT/results.csv."""
    out.mkdir(parents=True, exist_ok=True)
    fields = ["dataset", "seed", "schedule", "status", "acc", "nmi", "ari", "epochs", "seconds_training", "device", "reason"]
    with open(out / f"{RESULTS_NAME}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for run in runs:
            metrics = run.get("metrics", {})
            writer.writerow({"dataset": run["dataset"], "seed": run["seed"], "schedule": run.get("schedule", ""),
                             "status": run["status"], "reason": run.get("reason", ""),
                             **{k: metrics.get(k, "") for k in ("acc", "nmi", "ari", "epochs", "seconds_training", "device")}})
    lines = [f"# MMDC, reproduced: {len(runs)} runs", "",
             f"ACC, NMI ({NMI_AVERAGING} averaging, as the paper) and ARI: mean ± std (min-max) over the finished seeds.",
             f"Paper: {published.MMDC_PAPER}. Released: {published.RELEASED_CHECKPOINTS_SOURCE}.", "",
             "| data set | schedule | seeds done | ACC | NMI | ARI | paper ACC / NMI | released ACC |", "|---|---|---|---|---|---|---|---|"]
    for dataset in dict.fromkeys(run["dataset"] for run in runs):
        mine = [run for run in runs if run["dataset"] == dataset]
        done = [run["metrics"] for run in mine if "metrics" in run and "acc" in run["metrics"]]
        paper = published.MMDC_TABLE_1.get(dataset)
        released = published.RELEASED_CHECKPOINTS_ACC.get(dataset)
        schedules = "; ".join(dict.fromkeys(run.get("schedule", "-") for run in mine))
        lines.append(f"| {dataset} | {schedules} | {len(done)} of {len(mine)} | {_spread([m['acc'] for m in done])} "
                     f"| {_spread([m['nmi'] for m in done])} | {_spread([m['ari'] for m in done])} "
                     f"| {f'{paper[0]:.3f} / {paper[1]:.3f}' if paper else '-'} | {f'{released:.3f}' if released else '-'} |")
    lines += ["", "| run | status | ACC | NMI | ARI | epochs | training s | device |", "|---|---|---|---|---|---|---|---|"]
    for run in runs:
        metrics = run.get("metrics", {})
        values = " | ".join(f"{metrics[k]:.3f}" if k in metrics else "-" for k in ("acc", "nmi", "ari"))
        status = run["status"] + (f": {run['reason']}" if "reason" in run else "")
        training = f"{metrics['seconds_training']:.0f}" if "seconds_training" in metrics else "-"
        lines.append(f"| {run['dataset']} seed {run['seed']} | {status} | {values} | {metrics.get('epochs', '-')} "
                     f"| {training} | {metrics.get('device', '-')} |")
    (out / f"{RESULTS_NAME}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
