"""Command line: ``python -m mmdc_lib train --dataset NAME ...``.

Bad input ends with a one-line message on stderr and exit status 2, never a
traceback: bad arguments, missing or broken data, an output folder that cannot
be written, a device torch lacks, a checkpoint that is corrupt or belongs to
another run. The error families are caught once, in ``main``.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
import zlib
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .config import COMPILE_MODES, PRECISIONS, PRESETS, ROTATION_SCHEDULES, preset, with_warmup
from .data import DATASETS, MAX_IMAGE_SIZE, load_dataset
from .estimator import (COMBINE_RESTARTS, INPUT_SIZE_RANGE, NATIVE_SIZE_EVAL_CROP, combine_restarts, default_input_size,
                        images_to_uint8_nchw, restart_seeds)
from .metrics import NMI_AVERAGING, evaluate_clustering
from . import reproduce
from .graphs import check_cuda_graphs
from .processes import distributed, start_processes, together, world_size
from .runs import (METRICS_NAME, RESTART_PREFIX, check_runs_out_dir, provenance, read_metrics, read_restarts, restart_dir,
                   start_runs, write_atomically)
from .train import Trainer, resolve_device

# What bad input raises, by family: our ValueError/TypeError (CheckpointError and the data errors included),
# OSError and its children (missing, unwritable or read-only paths; gzip.BadGzipFile; PIL's UnidentifiedImageError),
# EOFError and zlib.error (truncated or corrupt compressed files).
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError, EOFError, zlib.error)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (and exit status 2), like every other error here."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def describe(error: BaseException) -> str:
    """One line for an error: an OSError names its path ("Permission denied: 'runs/x'"), others their message."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.strerror}: {error.filename!r}"
    return " ".join(str(error).split()) or type(error).__name__


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m mmdc_lib", description="Multi-Modal Deep Clustering.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    train = commands.add_parser("train", help="train on a data set and write metrics, checkpoint and figures")
    train.add_argument("--dataset", default="digits", help=f"one of: {', '.join(DATASETS)} (default: digits)")
    train.add_argument("--preset", default=None, help="settings to use (default: the data set's own; 'digits' for a folder)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--epochs", type=int, default=None,
                       help="override the preset; lr milestones, refine_epoch and warmup_epochs scale with it (refinement is "
                            "dropped when its scaled start is not before the last epoch)")
    train.add_argument("--warmup-epochs", type=int, default=None,
                       help="epochs of the rotation task alone before the clustering starts, instead of the preset's; "
                            "the preset's schedule (epochs, lr milestones, refinement; after --epochs) moves with them: "
                            "--epochs E --warmup-epochs W trains E + W epochs for a preset without a warm-up")
    train.add_argument("--n-clusters", type=int, default=None,
                       help="override the preset (default for a folder: the number of labelled sub-folders)")
    train.add_argument("--rotation", choices=ROTATION_SCHEDULES, default=None, help="override the preset's rotation schedule ('none' also drops a rotation-only warm-up)")
    train.add_argument("--subset", type=int, default=None, help="train on a random subset of this many images (the same subset for every seed)")
    train.add_argument("--n-init", type=int, default=1, metavar="N",
                       help="train N times (seeds drawn from --seed, as MMDC(n_init=N)), each in OUT/restart-I, and "
                            "combine them by --combine (default 1: one training in OUT)")
    train.add_argument("--combine", choices=COMBINE_RESTARTS, default="best",
                       help="with --n-init N: best (default) keeps the training with the lowest fit score among the "
                            "balanced ones; ensemble clusters the N trainings' embeddings side by side with k-means "
                            "(as MMDC(combine=...); no labels either way)")
    train.add_argument("--out", default=None, help="output folder (default: runs/DATASET-seedS; with --n-init N: "
                                                   "runs/DATASET-seedS-n-init-N-COMBINE)")
    train.add_argument("--data-dir", default=None, help="where the data set lives or is downloaded to (default: ./data; unused for digits, which scikit-learn ships)")
    train.add_argument("--no-download", action="store_true", help="never download; fail if the data is missing")
    train.add_argument("--image-size", type=int, default=None,
                       help="folder only: resize images to this side (default: the median shorter side, at most 96); "
                            f"without --preset the network sees that side, clipped to {INPUT_SIZE_RANGE[0]}-{INPUT_SIZE_RANGE[1]} px")
    train.add_argument("--skip-bad-images", action="store_true", help="folder only: skip files that cannot be decoded (counted) instead of stopping")
    runs = train.add_mutually_exclusive_group()
    runs.add_argument("--resume", action="store_true",
                      help="continue from OUT/checkpoint.pt if it exists (refused when OUT holds a run's results without it)")
    runs.add_argument("--overwrite", action="store_true", help="delete the run already in OUT and start afresh")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, or another device torch has")
    train.add_argument("--precision", choices=PRECISIONS, default=None,
                       help="auto (default): bf16 autocast for the backbone on GPUs with bf16 tensor cores, else float32")
    train.add_argument("--compile", nargs="?", const="default", default=False, choices=COMPILE_MODES, metavar="MODE",
                       help="torch.compile the network, in MODE (default; reduce-overhead replays CUDA graphs; "
                            "CUDA; minutes of compiling first)")
    train.add_argument("--cuda-graphs", action="store_true",
                       help="replay each whole training step from a CUDA graph (one CUDA GPU, one process, without "
                            "--compile; fewer kernel launches)")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    reproduce.add_parser(commands)
    return parser


def resolve_config(args: argparse.Namespace):
    name = args.preset or ("digits" if args.dataset == "folder" else args.dataset)
    config = preset(name)
    config.seed = args.seed
    if args.rotation is not None:
        config.rotation = args.rotation
        if args.rotation == "none":  # the warm-up trains the rotation task alone: nothing is left to warm up
            with_warmup(config, 0)  # the clustering epochs keep the preset's schedule
    if args.precision is not None:
        config.precision = args.precision
    if args.epochs is not None:
        if args.epochs < 1:
            raise ValueError(f"--epochs={args.epochs} should be >= 1.")
        scale = args.epochs / config.epochs
        config.lr_milestones = tuple(max(1, round(m * scale)) for m in config.lr_milestones)
        if config.refine_epoch is not None:
            # Too short a run leaves no room for the refinement stage: it is dropped, not moved to epoch 0.
            refine_epoch = round(config.refine_epoch * scale)
            config.refine_epoch = refine_epoch if refine_epoch < args.epochs else None
        # The rotation-only warm-up scales too, and always leaves an epoch to cluster.
        config.warmup_epochs = min(round(config.warmup_epochs * scale), args.epochs - 1)
        if config.refine_epoch is not None and config.refine_epoch < config.warmup_epochs:
            config.refine_epoch = config.warmup_epochs
        config.epochs = args.epochs
    if args.warmup_epochs is not None:
        if args.warmup_epochs < 0:
            raise ValueError(f"--warmup-epochs={args.warmup_epochs} should be >= 0.")
        with_warmup(config, args.warmup_epochs)  # the clustering epochs keep the preset's schedule
    return config


# The settings ``fit_to_data`` takes from a folder's images, not from the preset (reproduce compares the rest).
FOLDER_DATA_SETTINGS = ("n_clusters", "input_size", "augment.eval_crop")


def fit_to_data(config, args: argparse.Namespace, images_nhwc: np.ndarray, class_names: Optional[Sequence[str]] = None):
    """The settings that depend on the loaded data; returns ``config``, validated.

    ``--n-clusters``, else a folder's number of labelled sub-folders (``class_names``; None: not known, e.g. for a
    time projection, the preset's k stays). A folder without ``--preset`` trains at the side ``MMDC()`` would
    choose (``default_input_size``; the digits preset's 8 px are for 8x8 digits), its own side with a resampled
    clean view (a centre crop of ``NATIVE_SIZE_EVAL_CROP``), as ``MMDC()``.
    """
    if args.n_clusters is not None:
        config.n_clusters = args.n_clusters
    elif args.dataset == "folder" and class_names is not None:
        if not class_names:
            raise ValueError("the folder has no labelled sub-folders: say how many clusters with --n-clusters.")
        config.n_clusters = len(class_names)
    if args.dataset == "folder" and args.preset is None:
        height, width = images_nhwc.shape[1:3]
        config.input_size = default_input_size(height, width)
        config.augment.eval_crop = NATIVE_SIZE_EVAL_CROP if height == width == config.input_size else 1.0
    return config.validate()


def subset_indices(n_images: int, size: int) -> np.ndarray:
    """The sorted indices of ``--subset size``: one fixed random draw (seed 0), the same for every training seed."""
    return np.sort(np.random.default_rng(0).permutation(n_images)[:size])


def write_figures(out: Path, images: np.ndarray, labels: np.ndarray, scores, class_names, history) -> None:
    import matplotlib.pyplot as plt  # no backend switch: called from a notebook, inline figures must keep working

    from .plots import plot_cluster_grid, plot_confusion, plot_history

    figures = {"clusters.png": plot_cluster_grid(images, labels), "history.png": plot_history(history)}
    if scores is not None:
        figures["confusion.png"] = plot_confusion(scores.confusion, class_names, scores.cluster_ids)
    for name, figure in figures.items():
        figure.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(figure)


# What a run's metrics.json holds from its labels (add_scores).
SCORE_KEYS = ("acc", "nmi", "ari", "nmi_averaging", "confusion", "confusion_cluster_ids")


def check_restart_flags(args: argparse.Namespace) -> None:
    """``--n-init`` and ``--combine``, named before the data set loads."""
    if args.n_init < 1:
        raise ValueError(f"--n-init={args.n_init} should be >= 1.")
    if args.combine == "ensemble" and args.n_init < 2:
        raise ValueError(f"--combine ensemble clusters several trainings: it needs --n-init 2 or more, got --n-init {args.n_init}.")


def default_out_dir(args: argparse.Namespace, run: dict) -> Path:
    """``runs/DATASET-seedS``; a run of several trainings names them and their combination, so that it never
    meets a run of one (or of another combination) in one folder.

    ``--resume`` of several trainings whose folder is empty while ``runs/DATASET-seedS``, their default before,
    holds ``run`` (or a run of several it cannot read) is refused, naming that folder: it would start afresh
    beside the trainings it should continue."""
    single = Path(f"runs/{args.dataset}-seed{args.seed}")
    if args.n_init == 1:
        return single
    out = Path(f"{single}-n-init-{args.n_init}-{args.combine}")
    older = read_restarts(single)
    if args.resume and read_restarts(out) is None and older is not None and older in ({}, run):
        raise ValueError(f"{single} holds a run of several trainings (their default folder before {out}); "
                         f"continue it with --out {single} --resume.")
    return out


def train(args: argparse.Namespace) -> dict:
    if args.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {args.dataset!r}; choose one of {', '.join(DATASETS)}.")
    if args.preset is not None and args.preset not in PRESETS:
        raise ValueError(f"unknown preset {args.preset!r}; choose one of {', '.join(PRESETS)}.")
    config = resolve_config(args)
    config.validate()  # a bad --seed or --epochs is named before the data set loads
    check_restart_flags(args)
    rank, device_name = start_processes(args.device)
    device = resolve_device(device_name)
    if args.cuda_graphs:  # the trainer's own check, in the flags' spelling, before the data set loads
        check_cuda_graphs(device, args.compile, world_size(), "--cuda-graphs", "--compile")
    if args.dataset != "folder" and (args.image_size is not None or args.skip_bad_images):
        raise ValueError("--image-size and --skip-bad-images apply to --dataset folder only.")
    if args.image_size is not None and not 2 <= args.image_size <= MAX_IMAGE_SIZE:
        raise ValueError(f"--image-size={args.image_size} should be between 2 and {MAX_IMAGE_SIZE}.")
    run = {"seed": args.seed, "n_init": args.n_init, "combine": args.combine}
    out = Path(args.out) if args.out else default_out_dir(args, run)
    check_runs_out_dir(out, run, args.resume, args.overwrite)  # before loading the data: a forgotten --resume costs nothing
    load = lambda download: load_dataset(  # noqa: E731
        args.dataset, args.data_dir, download=download, image_size=args.image_size, skip_bad=args.skip_bad_images,
        progress=False if args.no_progress or rank > 0 else None)
    if distributed():  # rank 0 downloads (if it must) while the others wait, then they read its files
        first = together(lambda: load(not args.no_download), rank == 0, "rank 0 could not load the data set")
        others = together(lambda: load(False), rank > 0, "another process could not load the data set")
        data = first if rank == 0 else others
    else:
        data = load(not args.no_download)
    images_nhwc, labels = data.images, data.labels
    fit_to_data(config, args, images_nhwc, data.class_names)
    if args.subset is not None:
        if not 2 <= args.subset:
            raise ValueError(f"--subset={args.subset} should be >= 2.")
        if args.subset > len(images_nhwc):
            raise ValueError(f"--subset={args.subset} is larger than the data set ({len(images_nhwc)} images); leave it out to use them all.")
        chosen = subset_indices(len(images_nhwc), args.subset)
        images_nhwc = images_nhwc[chosen]
        labels = labels[chosen] if labels is not None else None
    images, _ = images_to_uint8_nchw(images_nhwc)
    start = time.perf_counter()
    trainings = []
    for index, seed in enumerate(restart_seeds(args.seed, args.n_init)):
        config = copy.deepcopy(config)  # each trainer keeps its own settings
        config.seed = seed
        run_out = out if args.n_init == 1 else restart_dir(out, index)
        trainer = Trainer(config, images, labels=labels, device=device, out_dir=run_out, progress=not args.no_progress,
                          compile=args.compile, cuda_graphs=args.cuda_graphs)
        if index == 0:  # the settings and data checked: rank 0 deletes an old run (--overwrite), records this one
            together(lambda: start_runs(out, run, args.overwrite), rank == 0, "rank 0 could not prepare the output folder")
        # The trainer refuses a finished run without --resume/--overwrite and writes config.json only once it goes ahead.
        result = trainer.fit(resume=args.resume, overwrite=args.overwrite)
        seconds, trained = time.perf_counter() - start, trainer.timings["training"] > 0

        def record() -> Optional[object]:  # rank 0: this training's results; its scores
            metrics, scores = run_metrics(args, config, trainer.world, result, labels, device, run_out, trained, seconds)
            trainings.append((metrics, result.labels, result.embeddings.numpy(), trained))
            if args.n_init > 1:
                write_training(run_out, metrics, result.labels, f"{index + 1} of {args.n_init}")
            return scores

        if args.n_init == 1:  # after the last collective: rank 0 writes alone
            if rank > 0:
                return {}
            scores = record()
            return write_run(out, trainings[0][0], result.labels, scores, images_nhwc, data.class_names)
        # More collectives follow: every process learns whether rank 0 could write these results.
        together(record, rank == 0, f"rank 0 could not write the results of training {index + 1}")
        start = time.perf_counter()
    if rank > 0:
        return {}
    metrics, predicted, scores = combined_metrics(args, config.n_clusters, trainings, labels)
    metrics.update(provenance_of(out, device, trained=any(training[3] for training in trainings)))
    return write_run(out, metrics, predicted, scores, images_nhwc, data.class_names)


def save_results(out: Path, metrics: dict, predicted: np.ndarray) -> None:
    """metrics.json (atomically) and labels.npy, the cluster of each image (N,), into ``out``."""
    write_atomically(out / METRICS_NAME, json.dumps(metrics, indent=2))
    np.save(out / "labels.npy", predicted)


def write_training(out: Path, metrics: dict, predicted: np.ndarray, which: str) -> None:
    """The results of one training of several (no figures: the combined run has them); prints its line."""
    save_results(out, metrics, predicted)
    print(f"{metrics['dataset']} training {which} (seed {metrics['seed']}): {summary_of(metrics)} -> {out}")


def run_metrics(args: argparse.Namespace, config, processes: int, result, labels: Optional[np.ndarray], device,
                out: Path, trained: bool, seconds: float):
    """The results of one training (``result``: the trainer's): (metrics.json's dict, its scores or None without
    labels). ``seconds``: this process's, up to the end of the training."""
    metrics = {
        "dataset": args.dataset,
        "n_images": int(len(result.labels)),
        "seed": config.seed,
        "epochs": config.epochs,
        "device": str(device),
        "compile": args.compile,  # False or torch.compile's mode
        "cuda_graphs": args.cuda_graphs,
        "processes": processes,
        "subset": args.subset,
        "data_dir": args.data_dir if args.dataset != "digits" else None,  # scikit-learn ships the digits
        "fit": result.fit_score,
        "seconds_this_process": seconds,
        "seconds_training": float(sum(entry["seconds"] for entry in result.history)),
        **provenance_of(out, device, trained),  # date, commit, device model: a results file names where it came from
    }
    scores = add_scores(metrics, labels, result.labels)
    metrics["history"] = result.history
    return metrics, scores


def provenance_of(out: Path, device, trained: bool) -> dict:
    """Date, commit and device model of the results in ``out``: this process's, or, when it trained nothing (a
    finished run only loaded), those its earlier metrics.json recorded."""
    made = provenance(device)
    earlier = read_metrics(out)
    if not trained and earlier is not None:
        made.update({k: v for k, v in earlier.items() if k in made})
    return made


def add_scores(metrics: dict, labels: Optional[np.ndarray], predicted: np.ndarray):
    """ACC, NMI, ARI and the confusion matrix into ``metrics`` when there are labels; returns the scores or None."""
    if labels is None:
        return None
    scores = evaluate_clustering(labels, predicted)
    metrics.update(acc=scores.acc, nmi=scores.nmi, ari=scores.ari, nmi_averaging=NMI_AVERAGING,
                   confusion=scores.confusion.tolist(), confusion_cluster_ids=scores.cluster_ids.tolist())
    return scores


def combined_metrics(args: argparse.Namespace, n_clusters: int, trainings: list, labels: Optional[np.ndarray]):
    """The run of ``--n-init`` trainings, combined as ``MMDC(n_init=N, combine=...)`` combines its restarts (no labels
    used): (metrics.json's dict, the cluster of each image (N,), the scores or None). ``trainings``: each training's
    (metrics, clusters (N,), clean embeddings (N, d), trained here), in restart order."""
    runs = [metrics for metrics, *_ in trainings]
    combined = combine_restarts([run["seed"] for run in runs], [run["fit"] for run in runs],
                                [np.bincount(predicted, minlength=n_clusters) for _, predicted, *_ in trainings],
                                args.combine, [embeddings for _, _, embeddings, _ in trainings], n_clusters, args.seed)
    if args.combine == "ensemble":
        predicted, fit = combined.labels, combined.fit_score
    else:
        predicted, fit = trainings[combined.kept[0]][1], runs[combined.kept[0]]["fit"]
    first = runs[combined.kept[0]]  # with an ensemble the first training, the seed's own (as MMDC's history_)
    metrics = {"dataset": first["dataset"], "n_images": first["n_images"], "seed": args.seed, "n_init": args.n_init,
               "combine": args.combine}
    metrics.update({key: value for key, value in first.items() if key not in metrics and key not in SCORE_KEYS})
    metrics.update(
        fit=fit,  # with an ensemble: k-means' mean squared distance, not comparable with one training's
        seconds_this_process=float(sum(run["seconds_this_process"] for run in runs)),
        seconds_training=float(sum(run["seconds_training"] for run in runs)),
        restarts=[{**record, "folder": f"{RESTART_PREFIX}{index}", **{key: run[key] for key in ("acc", "nmi", "ari") if key in run}}
                  for index, (record, run) in enumerate(zip(combined.records, runs))],
    )
    history = metrics.pop("history")
    scores = add_scores(metrics, labels, predicted)
    metrics["history"] = history
    return metrics, predicted, scores


def summary_of(metrics: dict) -> dict:
    return {k: round(metrics[k], 4) for k in ("acc", "nmi", "ari", "fit") if k in metrics}


def write_run(out: Path, metrics: dict, predicted: np.ndarray, scores, images_nhwc: np.ndarray, class_names) -> dict:
    """metrics.json, labels.npy and the figures of a run into ``out``; prints its summary line."""
    save_results(out, metrics, predicted)
    write_figures(out, images_nhwc, predicted, scores, class_names, metrics["history"])
    print(f"{metrics['dataset']} seed {metrics['seed']}: {summary_of(metrics)} -> {out}")
    return metrics


def one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings on the command line: ``warning: ...`` on one line, without the source line."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr if file is None else file)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m mmdc_lib`` in-process: ``argv`` as the command line's arguments (default ``sys.argv[1:]``).

    Returns the exit status: 0; 2 with one line on stderr for bad input; 1 when some of reproduce's runs failed;
    130 when interrupted (every finished epoch is kept). A bad argument (argparse) or ``--help`` raises
    ``SystemExit`` (status 2 or 0), as the command line exits.
    """
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_warning
            if args.command == "reproduce":
                runs = reproduce.run_all(args)
                failed = [run for run in runs if run["status"] == "failed"]
                if failed:
                    print(f"error: {len(failed)} of {len(runs)} runs failed (reasons in {args.out}/results.md)", file=sys.stderr)
                    return 1
            else:
                train(args)
    except USER_ERRORS as error:
        print(f"error: {describe(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        again = "run the same command again" if args.command == "reproduce" else "rerun with --resume"
        print(f"interrupted: every finished epoch is in the checkpoint; {again}", file=sys.stderr)
        return 130
    finally:
        if distributed():
            import torch.distributed as dist

            dist.destroy_process_group()
    return 0
