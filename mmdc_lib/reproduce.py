"""``python -m mmdc_lib reproduce``: the paper's table in one command, resumable, run after run.

Every (data set, seed) is one ``train --resume`` run in ``OUT/DATASET-seedS``: a finished run is skipped
(its metrics are read), an interrupted one continues from its last finished epoch, a failing one is
reported with its one-line reason while the others go on; settings that every run would refuse (a bad
seed, epochs or subset, an output path that is a file) stop it before anything is written. The table
(``results.md``) gives ACC, NMI and ARI as mean ± std and min-max over seeds, and each run's training time
(the sum of its epochs) and device, beside the paper's figures and the authors' released checkpoints;
``results.csv`` holds one row per run. A shorter schedule (``--budget`` or ``--epochs``) is labelled in every row
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
from typing import Sequence

from . import published
from .config import COMPILE_MODES, PRECISIONS, PRESETS, preset, with_defaults
from .data import DATASETS
from .metrics import NMI_AVERAGING
from .processes import distributed, start_processes, world_size
from .runs import CONFIG_NAME, check_out_dir, read_metrics, write_atomically

RESULTS_NAME = "results"
BUDGET_FRACTION = 8  # --budget: one eighth of the preset's epochs (50 of 400), lr steps and refinement scaled


def add_parser(commands) -> None:
    reproduce = commands.add_parser("reproduce", help="run every data set and seed, skip finished runs, resume the rest, write the table")
    reproduce.add_argument("--datasets", nargs="+", default=["cifar10", "cifar100-20", "stl10"],
                           help=f"any of: {', '.join(DATASETS)} (default: the paper's three)")
    reproduce.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    reproduce.add_argument("--out", default="runs/reproduce", help="one folder per run under it, and the results table")
    reproduce.add_argument("--data-dir", default=None,
                           help="DIR/DATASET holds (or receives) each data set, e.g. data/cifar10 (default DIR: ./data)")
    reproduce.add_argument("--no-download", action="store_true")
    schedule = reproduce.add_mutually_exclusive_group()
    schedule.add_argument("--budget", action="store_true",
                          help=f"1/{BUDGET_FRACTION} of each preset's epochs (e.g. 50 of 400): NOT the paper's protocol")
    schedule.add_argument("--epochs", type=int, default=None, help="epochs per run: NOT the paper's protocol unless the preset's")
    reproduce.add_argument("--subset", type=int, default=None, help="a fixed random subset per data set: NOT the paper's protocol")
    reproduce.add_argument("--device", default="auto")
    reproduce.add_argument("--precision", choices=PRECISIONS, default=None)
    reproduce.add_argument("--compile", nargs="?", const="default", default=False, choices=COMPILE_MODES, metavar="MODE",
                           help="torch.compile each run's network, in MODE (see train --help)")
    reproduce.add_argument("--cuda-graphs", action="store_true",
                           help="whole-step CUDA graphs in every run (see train --help)")
    reproduce.add_argument("--no-progress", action="store_true")


def _preset_name(dataset: str) -> str:
    """The preset a data set trains with: its own, or 'digits' for a folder (as ``train``)."""
    return dataset if dataset in PRESETS else "digits"


def _train_arguments(args: argparse.Namespace, dataset: str, seed: int, run_dir: Path) -> list[str]:
    arguments = ["train", "--dataset", dataset, "--seed", str(seed), "--out", str(run_dir), "--resume", "--device", args.device]
    if args.budget:
        arguments += ["--epochs", str(max(2, math.ceil(preset(_preset_name(dataset)).epochs / BUDGET_FRACTION)))]
    elif args.epochs is not None:
        arguments += ["--epochs", str(args.epochs)]
    data_dir = None if dataset == "digits" else str(Path(args.data_dir or "data") / dataset)  # one folder per data set
    for flag, value in (("--data-dir", data_dir), ("--subset", args.subset), ("--precision", args.precision)):
        if value is not None:
            arguments += [flag, str(value)]
    arguments += ["--no-download"] * args.no_download + ["--no-progress"] * args.no_progress + (["--compile", args.compile] if args.compile else [])
    arguments += ["--cuda-graphs"] * args.cuda_graphs
    return arguments


def _schedule_label(dataset: str, epochs: int, subset) -> str:
    own = preset(_preset_name(dataset)).epochs
    if epochs == own and subset is None:
        return f"paper schedule ({epochs} epochs)" if dataset in published.MMDC_TABLE_1 or dataset == "mnist" else f"preset ({epochs} epochs)"
    return f"short: {epochs} of {own} epochs{f', {subset} images' if subset else ''} (NOT the paper's protocol)"


def _without(config: dict, keys: Sequence[str]) -> dict:
    """A config dict without the dotted ``keys`` (e.g. "augment.eval_crop")."""
    config = json.loads(json.dumps(config))
    for key in keys:
        *parents, last = key.split(".")
        level = config
        for parent in parents:
            level = level.get(parent, {})
        level.pop(last, None)
    return config


def _finished(run_dir: Path, config_json: str, subset, data_dir, data_settings: Sequence[str] = ()) -> dict | None:
    """The metrics of a finished run with these settings, subset and data folder, or None (also when a file is
    unreadable: the run is then resumed from its checkpoint, which rewrites them). ``data_settings``: settings
    the run took from its data (a folder's k and input size), which the preset alone cannot tell and no
    reproduce flag changes: not compared (a finished folder run counts as finished whatever they are)."""
    try:
        saved = with_defaults(json.loads((run_dir / CONFIG_NAME).read_text()))
    except (OSError, ValueError):
        return None
    values = read_metrics(run_dir)
    if values is None or _without(saved, data_settings) != _without(json.loads(config_json), data_settings):
        return None
    same = (values.get("epochs") == json.loads(config_json)["epochs"] and values.get("subset") == subset
            and values.get("data_dir") == data_dir)
    return values if same else None


def run_all(args: argparse.Namespace) -> list[dict]:
    """Train (or skip, or resume) every run; one dict per run: status, metrics or reason.

    Under torchrun every process walks the same runs in the same order; rank 0 alone prints and writes.
    """
    from .cli import FOLDER_DATA_SETTINGS, USER_ERRORS, build_parser, describe, resolve_config, train
    from .graphs import check_cuda_graphs
    from .step import resolve_device

    unknown = [d for d in args.datasets if d not in DATASETS]
    if unknown:
        raise ValueError(f"unknown dataset {unknown[0]!r}; choose from {', '.join(DATASETS)}.")
    out = Path(args.out)
    # Settings every run shares are named before anything is written or trained (one line, status 2).
    check_out_dir(out, resume=True, overwrite=False)
    if args.subset is not None and args.subset < 2:
        raise ValueError(f"--subset={args.subset} should be >= 2.")
    plan = []  # (data set, seed, folder, train's arguments, config): every run resolved once, before any trains
    for dataset in dict.fromkeys(args.datasets):
        for seed in dict.fromkeys(args.seeds):
            run_dir = out / f"{dataset}-seed{seed}"
            train_args = build_parser().parse_args(_train_arguments(args, dataset, seed, run_dir))
            plan.append((dataset, seed, run_dir, train_args, resolve_config(train_args).validate()))
    rank, device = start_processes(args.device)
    if args.cuda_graphs:  # one line, before any run trains
        check_cuda_graphs(resolve_device(device), args.compile, world_size(), "--cuda-graphs", "--compile")
    say = print if rank == 0 else (lambda *a, **k: None)
    # One process may also report other failures (a CUDA out-of-memory error, say) and go on; several
    # processes only stop together on the errors they all see alike.
    caught = USER_ERRORS if distributed() else (*USER_ERRORS, RuntimeError)
    runs = []
    for dataset, seed, run_dir, train_args, config in plan:
        run = {"dataset": dataset, "seed": seed, "dir": str(run_dir),
               "schedule": _schedule_label(dataset, config.epochs, args.subset)}
        try:
            metrics = _finished(run_dir, config.to_json(), args.subset, train_args.data_dir,
                                FOLDER_DATA_SETTINGS if dataset == "folder" else ())
            if metrics is not None:
                run.update(status="finished earlier", metrics=metrics)
            else:
                start = time.perf_counter()
                say(f"reproduce: {dataset} seed {seed} ({run['schedule']}) -> {run_dir}", flush=True)
                run.update(status="trained", metrics=train(train_args), seconds=time.perf_counter() - start)
        except caught as error:
            reason = describe(error)
            run.update(status="failed", reason=reason if not isinstance(error, RuntimeError) else f"{type(error).__name__}: {reason}")
            say(f"reproduce: {dataset} seed {seed} failed: {run['reason']}", flush=True)
        runs.append(run)
        if rank == 0:  # after every run: an interrupted reproduce leaves the table of what it finished
            write_table(out, runs)
    if rank == 0:  # the table was written after the last run: show it
        print((out / f"{RESULTS_NAME}.md").read_text(), end="")
    return runs


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.pstdev(values) if len(values) > 1 else 0.0  # population std over seeds (as numpy's default)
    return f"{statistics.fmean(values):.3f} ± {std:.3f} ({min(values):.3f}-{max(values):.3f})"


def write_table(out: Path, runs: list[dict]) -> None:
    """OUT/results.md and OUT/results.csv."""
    out.mkdir(parents=True, exist_ok=True)
    from_metrics = ("acc", "nmi", "ari", "epochs", "seconds_training", "device", "device_name", "date", "commit")
    fields = ["dataset", "seed", "schedule", "status", *from_metrics, "reason"]
    with open(out / f"{RESULTS_NAME}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for run in runs:
            metrics = run.get("metrics", {})
            writer.writerow({"dataset": run["dataset"], "seed": run["seed"], "schedule": run.get("schedule", ""),
                             "status": run["status"], "reason": run.get("reason", ""),
                             **{k: metrics.get(k, "") for k in from_metrics}})
    lines = [f"# MMDC, reproduced: {len(runs)} runs", "",
             f"ACC, NMI ({NMI_AVERAGING} averaging, as the paper) and ARI: mean ± population std (min-max) over the finished seeds.",
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
    lines += ["", "| run | schedule | status | ACC | NMI | ARI | epochs | training s (sum of epochs) | device x processes | date, commit |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        metrics = run.get("metrics", {})
        values = " | ".join(f"{metrics[k]:.3f}" if k in metrics else "-" for k in ("acc", "nmi", "ari"))
        status = run["status"] + (f": {run['reason']}" if "reason" in run else "")
        training = f"{metrics['seconds_training']:.0f}" if "seconds_training" in metrics else "-"
        device = f"{metrics.get('device_name', metrics['device'])} x {metrics.get('processes', 1)}" if "device" in metrics else "-"
        made = f"{metrics['date']}, {metrics['commit']}" if "date" in metrics else "-"
        lines.append(f"| {run['dataset']} seed {run['seed']} | {run.get('schedule', '-')} | {status} | {values} "
                     f"| {metrics.get('epochs', '-')} | {training} | {device} | {made} |")
    write_atomically(out / f"{RESULTS_NAME}.md", "\n".join(lines) + "\n")
