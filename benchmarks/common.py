"""Shared helpers for the benchmarks: run the CLI, time it, train and score one config, baselines on raw pixels,
save results."""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering, KMeans

from mmdc_lib.estimator import ensemble_of_embeddings, is_balanced
from mmdc_lib.metrics import evaluate_clustering
from mmdc_lib.runs import provenance
from mmdc_lib.train import Trainer, TrainResult

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# Where Debian's dataset-fashion-mnist puts its files (MMDC_SYSTEM_DATASETS moves the root, as for the book).
FASHION_DIR = Path(os.environ.get("MMDC_SYSTEM_DATASETS", "/usr/share/datasets")) / "fashion-mnist"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The processor's name as Linux reports it (else platform's, often ""): runs on other CPUs follow other float kernels."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


def require_cuda_for_graphs(parser: argparse.ArgumentParser, cuda_graphs: bool, device: torch.device) -> None:
    """A benchmark's --cuda-graphs needs a CUDA device: the parser's error (status 2) otherwise."""
    if cuda_graphs and device.type != "cuda":
        parser.error("--cuda-graphs needs a CUDA device")


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        # The vector instructions torch's CPU kernels use (e.g. AVX2, AVX512): with other ones float sums round
        # otherwise, so a seed's training takes another path and ends elsewhere.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": provenance()["commit"],  # the code that made the figures ("+changes": uncommitted edits)
    }


def parse_setting(text: str) -> tuple[str, object]:
    """A study's ``KEY=VALUE``: VALUE as a Python literal (numbers, True, a list or tuple as a tuple), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise SystemExit(f"{text!r}: expected KEY=VALUE, e.g. epochs=30")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a plain string, e.g. means=orthogonal
    return key, tuple(parsed) if isinstance(parsed, list) else parsed


def change_settings(config, settings: dict):
    """A copy of ``config`` (an MMDCConfig) with a study's settings changed; ``augment.X`` names an augmentation setting.

    A copy, values copied too, so that ``config`` and any AugmentConfig a setting shares with other variants (a
    study's base augmentation, then changed by an ``augment.X`` key) stay as they were.
    """
    config = copy.deepcopy(config)
    for key, value in settings.items():
        owner, name = (config.augment, key[len("augment."):]) if key.startswith("augment.") else (config, key)
        if not hasattr(owner, name):
            raise SystemExit(f"{key}=...: the preset has no setting {key!r}")
        setattr(owner, name, copy.deepcopy(value))
    return config


def read_kept_trainings(keep_dir: Path) -> dict[int, list[dict]]:
    """The trainings ``fashion_mnist.py --keep-dir`` saved (``seed{S}_restart{R}.npz``), by seed S: each a dict of
    ``restart`` (R), ``labels`` (N,), ``embeddings`` (N, d) and ``fit``, in file-name order. SystemExit naming the
    folder when it holds none."""
    by_seed: dict[int, list[dict]] = {}
    for path in sorted(keep_dir.glob("seed*_restart*.npz")):
        seed, restart = map(int, re.match(r"seed(\d+)_restart(\d+)", path.stem).groups())
        saved = np.load(path)
        by_seed.setdefault(seed, []).append({"restart": restart, "labels": saved["labels"],
                                             "embeddings": saved["embeddings"], "fit": float(saved["fit"])})
    if not by_seed:
        raise SystemExit(f"no seed*_restart*.npz files in {keep_dir}: run fashion_mnist.py --keep-dir {keep_dir}")
    return by_seed


def embedding_ensemble(embeddings: list[np.ndarray], n_clusters: int, seed: int) -> np.ndarray:
    """k-means (10 starts) on several trainings' embeddings side by side, as ``MMDC(combine="ensemble")``:
    (N, d) each -> labels (N,)."""
    return ensemble_of_embeddings(embeddings, n_clusters, seed).labels_


def run_training(args: list[str], out: Path) -> dict:
    """``python -m mmdc_lib train ARGS --out OUT``; returns its metrics.json plus the wall time."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "mmdc_lib", "train", *args, "--out", str(out), "--no-progress"]
    subprocess.run(command, cwd=ROOT, check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["wall_seconds"] = time.perf_counter() - start
    return metrics


def train_scored(config, images, labels: np.ndarray, device: str = "cpu", per_epoch: bool = False) -> tuple[TrainResult, dict]:
    """Train ``config`` on ``images`` (uint8 (N, C, H, W)) with the library's Trainer and score the result.

    Returns the TrainResult and a record: seed, fit score, ACC/NMI/ARI, cluster sizes (k,), balanced, seconds.
    ``labels`` (N,) only score; with ``per_epoch`` the Trainer also scores every epoch (its history's ACC).
    """
    start = time.perf_counter()
    result = Trainer(config, images, labels=labels if per_epoch else None, device=device, progress=False).fit()
    scores = evaluate_clustering(labels, result.labels)
    sizes = np.bincount(result.labels, minlength=config.n_clusters).tolist()
    return result, {"seed": config.seed, "fit": result.fit_score, "acc": scores.acc, "nmi": scores.nmi, "ari": scores.ari,
                    "sizes": sizes, "balanced": is_balanced(sizes), "seconds": time.perf_counter() - start}


def pixel_baselines(images: np.ndarray, labels: np.ndarray, n_clusters: int, seeds, ward: bool = True) -> dict:
    """k-means (one run per seed) and Ward agglomerative clustering on raw pixels scaled to [0, 1]."""
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255
    results = {"kmeans": [evaluate_clustering(labels, KMeans(n_clusters, n_init=10, random_state=s).fit_predict(pixels)).as_dict() for s in seeds]}
    if ward:
        results["ward"] = [evaluate_clustering(labels, AgglomerativeClustering(n_clusters, linkage="ward").fit_predict(pixels)).as_dict()]
    for runs in results.values():
        for run in runs:
            run.pop("confusion")
    return results


def summary(runs: list[dict], keys=("acc", "nmi", "ari")) -> dict:
    """Mean, standard deviation, min and max of each key over runs."""
    out = {}
    for key in keys:
        values = [run[key] for run in runs]
        out[key] = {"mean": statistics.fmean(values), "std": statistics.pstdev(values), "min": min(values), "max": max(values)}
    return out


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a GPU's kernels run behind the host): before reading a clock."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_epoch(trainer: Trainer) -> float:
    """Wall seconds of one training epoch of ``trainer`` (``_run_epoch``, then the epoch counted), device work included."""
    synchronize(trainer.device)
    start = time.perf_counter()
    trainer._run_epoch()
    trainer.epoch += 1
    synchronize(trainer.device)
    return time.perf_counter() - start


def save(name: str, payload: dict, lines: list[str], quiet: bool = False) -> None:
    """Write results/<name>.json and .md; print the .md's lines unless ``quiet`` (a partial save)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    if not quiet:
        print("\n".join(lines))
    print(f"saved {RESULTS / name}.json and .md")
