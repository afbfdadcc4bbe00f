"""A run's folder and its checkpoint: never lost, never mixed with another run.

A fresh run refuses a folder that holds a run, a checkpoint or a finished run's config and metrics
(``resume`` continues it, ``overwrite`` deletes the old run's files first), and ``resume`` refuses
results without a checkpoint to continue from; config.json is written only once the run goes ahead; a checkpoint is read
with ``torch.load(weights_only=True)`` (tensors and plain values only: a checkpoint cannot run code)
and refused for other settings, other data (a fingerprint of the pixels) or more finished epochs.
A run of several trainings (``train --n-init N``) keeps each in a restart folder of its own (``restart-0``,
``restart-1``, ...; each a run as above) and the combined results in the run's folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import time
from pathlib import Path
from typing import Optional

import torch

from .config import with_defaults

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.json"  # the command line's results: a finished run, also when its checkpoint was deleted
RESTART_PREFIX = "restart-"  # training i of a run of several lives in OUT/restart-i
RESTARTS_NAME = "restarts.json"  # which run of several trainings OUT holds: its seed, n_init and combine
# Everything a run writes into its folder (the trainer: checkpoint and config; the command line: the rest).
# ``overwrite`` removes them all, so an old run's results never sit beside a new run's checkpoint.
RUN_FILES = (CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME, "labels.npy", "confusion.png", "clusters.png", "history.png",
             RESTARTS_NAME)


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not match the run."""


class RunExistsError(CheckpointError):
    """A fresh run was asked for in a folder that already holds one."""


def data_fingerprint(images: torch.Tensor) -> dict:
    """Count, shape and SHA-256 of the pixels of a uint8 batch (N, C, H, W): what a checkpoint was trained on."""
    pixels = images.detach().cpu().contiguous().numpy()
    return {"n_images": int(pixels.shape[0]), "shape": list(pixels.shape[1:]), "sha256": hashlib.sha256(pixels.tobytes()).hexdigest()}


def config_differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """'name: saved in the checkpoint, current now' for every setting that differs (nested dicts with dots)."""
    differences = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            differences += config_differences(old, new, f"{prefix}{key}.")
        elif (list(old) if isinstance(old, (list, tuple)) else old) != (list(new) if isinstance(new, (list, tuple)) else new):
            differences.append(f"{prefix}{key}: {old!r} in the checkpoint, {new!r} now")
    return differences


def holds_run(out_dir: Path) -> bool:
    """A checkpoint, or a finished run's results whose checkpoint was deleted (to save space, say): its
    config.json and metrics.json (a metrics.json alone may be a file of the user's own)."""
    return (out_dir / CHECKPOINT_NAME).exists() or ((out_dir / METRICS_NAME).exists() and (out_dir / CONFIG_NAME).exists())


def _refuse_a_file(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(20, "the output folder is a file", str(out_dir))


def _run_file(out_dir: Path) -> str:
    """The file that shows the run in ``out_dir`` (``holds_run``): its checkpoint, else its metrics."""
    return CHECKPOINT_NAME if (out_dir / CHECKPOINT_NAME).exists() else METRICS_NAME


def check_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse, before any work, an output folder that is a file, that holds a run when neither flag is given,
    or that holds a run's results but no checkpoint for ``resume`` to continue from."""
    _refuse_a_file(out_dir)
    if holds_run(out_dir) and not (resume or overwrite):
        raise RunExistsError(
            f"{out_dir} already holds a run ({_run_file(out_dir)}); continue it with --resume (resume=True) "
            "or start afresh, deleting it, with --overwrite (overwrite=True)"
        )
    if resume and not overwrite and holds_run(out_dir) and not (out_dir / CHECKPOINT_NAME).exists():
        raise RunExistsError(
            f"{out_dir} holds a run's results ({METRICS_NAME}) but no {CHECKPOINT_NAME} to continue from; "
            "start afresh, deleting them, with train --overwrite (overwrite=True) or by deleting the folder, "
            "or choose another output folder"
        )


def restart_dir(out_dir: Path, index: int) -> Path:
    """The folder of training ``index`` (0, 1, ...) of a run of several (``train --n-init``)."""
    return out_dir / f"{RESTART_PREFIX}{index}"


def restart_folders(out_dir: Path) -> list[Path]:
    """Every ``restart-<number>`` folder in ``out_dir``, in index order (also one whose training never finished an
    epoch: only its config.json)."""
    if not out_dir.is_dir():
        return []
    index = lambda path: path.name[len(RESTART_PREFIX):]  # noqa: E731
    found = [path for path in out_dir.glob(f"{RESTART_PREFIX}*") if path.is_dir() and index(path).isdigit()]
    return sorted(found, key=lambda path: int(index(path)))


def read_restarts(out_dir: Path) -> Optional[dict]:
    """The run of several trainings that ``out_dir`` holds, as its restarts.json records it (seed, n_init, combine);
    None when it holds none. A restart folder without that file (deleted, or unreadable) counts as an unknown run."""
    try:
        recorded = json.loads((out_dir / RESTARTS_NAME).read_text())
        if isinstance(recorded, dict):
            return recorded
    except (OSError, ValueError):
        pass
    return {} if any(holds_run(folder) or (folder / CONFIG_NAME).exists() for folder in restart_folders(out_dir)) else None


def _spelt(run: dict) -> str:
    return f"--seed {run.get('seed')} --n-init {run.get('n_init')} --combine {run.get('combine')}"


def check_runs_out_dir(out_dir: Path, run: dict, resume: bool, overwrite: bool) -> None:
    """``check_out_dir`` for a run of ``run["n_init"]`` trainings (``run``: its seed, n_init and combine): one in
    ``out_dir`` itself, or several, each in its restart folder. Refuses, besides, to mix two kinds of run in one
    folder, or to resume several trainings with another seed, number or combination (``overwrite`` deletes the old
    run instead)."""
    _refuse_a_file(out_dir)
    several = read_restarts(out_dir)
    if several is not None and not overwrite:
        what = f"a run of several trainings ({_spelt(several)})" if several else \
            f"trainings ({', '.join(path.name for path in restart_folders(out_dir))}) but no {RESTARTS_NAME} saying of which run"
        if run["n_init"] == 1 or not several:
            raise RunExistsError(f"{out_dir} holds {what}; " + (f"continue it with {_spelt(several)} --resume, or " if several else "")
                                 + "start afresh, deleting it, with --overwrite, or choose another output folder")
        if not resume:
            raise RunExistsError(f"{out_dir} already holds {what}; continue it with --resume or start afresh, deleting "
                                 "it, with --overwrite")
        if {key: several.get(key) for key in run} != run:
            raise RunExistsError(f"{out_dir} holds {what}, not {_spelt(run)}; continue it with its own flags, or start "
                                 "afresh, deleting it, with --overwrite, or choose another output folder")
    if run["n_init"] == 1:
        check_out_dir(out_dir, resume, overwrite)
        return
    if holds_run(out_dir) and not overwrite:
        raise RunExistsError(
            f"{out_dir} holds a run of one training ({_run_file(out_dir)}); start afresh, deleting it, with --overwrite, "
            "or choose another output folder"
        )
    for index in range(run["n_init"]):
        check_out_dir(restart_dir(out_dir, index), resume, overwrite)


def remove_run_files(out_dir: Path) -> None:
    """Delete the files a run writes (``RUN_FILES`` and their temporary copies), nothing else."""
    for name in (*RUN_FILES, f"{CHECKPOINT_NAME}.tmp", f"{CONFIG_NAME}.tmp", f"{METRICS_NAME}.tmp", f"{RESTARTS_NAME}.tmp"):
        (out_dir / name).unlink(missing_ok=True)


def remove_run(out_dir: Path) -> None:
    """``--overwrite``: delete the run in ``out_dir``, one training's or several's (the files a run writes, in the
    folder and in every restart folder, then each restart folder that is left empty); a user's own files stay."""
    if not (holds_run(out_dir) or read_restarts(out_dir) is not None):
        return
    remove_run_files(out_dir)
    for folder in restart_folders(out_dir):
        remove_run_files(folder)
        if not any(folder.iterdir()):
            folder.rmdir()


def start_runs(out_dir: Path, run: dict, overwrite: bool) -> None:
    """Before the first training (its settings and data checked): delete the old run (``overwrite``) and, for
    several trainings, record which run the folder holds (restarts.json: seed, n_init, combine)."""
    if overwrite:
        remove_run(out_dir)
    if run["n_init"] > 1:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(out_dir / RESTARTS_NAME, json.dumps(run))
        except OSError as error:
            raise type(error)(error.errno, f"cannot write the output folder ({error.strerror})", str(out_dir)) from None


def start_run_dir(out_dir: Path, config_json: str, resume: bool, overwrite: bool, before_writing=None) -> None:
    """Check ``out_dir``, call ``before_writing()`` (e.g. load the checkpoint, which may refuse), delete an old
    run's files when overwriting one, then write config.json (atomically). Nothing is written if a check fails."""
    check_out_dir(out_dir, resume, overwrite)
    if before_writing is not None:
        before_writing()
    if overwrite and holds_run(out_dir):  # only a folder that holds a run: never a user's own files
        remove_run_files(out_dir)
    try:  # fail now, not after the first epoch, when the folder cannot be written
        out_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(out_dir / CONFIG_NAME, config_json)
    except OSError as error:
        raise type(error)(error.errno, f"cannot write the output folder ({error.strerror})", str(out_dir)) from None


def write_atomically(path: Path, text: str) -> None:
    """Write ``path.tmp``, then rename it: a kill or a full disk never leaves half a file at ``path``."""
    temporary = path.with_name(f"{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def read_metrics(out_dir: Path) -> Optional[dict]:
    """A run folder's metrics.json, or None when it is missing or unreadable (e.g. truncated by an older version)."""
    try:
        metrics = json.loads((out_dir / METRICS_NAME).read_text())
    except (OSError, ValueError):
        return None
    return metrics if isinstance(metrics, dict) else None


def save_checkpoint(state: dict, path: Path) -> None:
    """Write to a temporary file, then rename: a kill never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".pt.tmp")
    try:
        torch.save(state, temporary)
    except RuntimeError as error:  # torch reports a full disk as "PytorchStreamWriter failed writing file"
        temporary.unlink(missing_ok=True)
        raise OSError(f"cannot write the checkpoint {path}: {error}") from None
    os.replace(temporary, path)


def read_checkpoint(path: Path) -> dict:
    """``torch.load(weights_only=True)``; CheckpointError (one line) for anything unreadable or unsafe."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"cannot resume from {path}: it holds objects other than tensors and plain values, which are not "
            "loaded (a checkpoint could run code); it may come from an older mmdc_lib or another program."
        ) from None
    except Exception as error:  # truncated files, other formats: many exception types
        raise CheckpointError(f"cannot resume from {path}: corrupt or unreadable checkpoint ({type(error).__name__}).") from None


def check_checkpoint(state: dict, config: dict, fingerprint: dict, epochs: int) -> None:
    """CheckpointError naming what differs: settings (``epochs`` may grow), data, or too many finished epochs."""
    if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
        raise CheckpointError("it holds no integer 'epoch'")
    # with_defaults: a setting added since the checkpoint was written counts as its default
    differences = config_differences({**with_defaults(state["config"]), "epochs": None}, {**config, "epochs": None})
    if differences:
        raise CheckpointError("it was written with a different configuration (" + "; ".join(differences) + ")")
    if state["epoch"] > epochs:
        raise CheckpointError(f"it has {state['epoch']} finished epochs, more than the {epochs} asked for")
    data = state["data"]
    if data != fingerprint:
        found = f"{data.get('n_images')} images of shape {data.get('shape')}" if isinstance(data, dict) else repr(data)
        here = f"{fingerprint['n_images']} images of shape {fingerprint['shape']}"
        raise CheckpointError(
            f"it was trained on other data ({found}{', other pixels' if found == here else ''}; this run has {here})"
        )


def installed_source() -> tuple[str, str] | None:
    """(repository URL, full commit) that pip installed the library from (``pip install git+URL``, as Colab
    does), as recorded in the package's direct_url.json; None for any other install."""
    import json
    from importlib import metadata

    try:
        direct = metadata.distribution("mmdc_lib").read_text("direct_url.json")
        if not direct:
            return None
        record = json.loads(direct)
        return str(record["url"]), str(record["vcs_info"]["commit_id"])
    except (metadata.PackageNotFoundError, KeyError, TypeError, ValueError):
        return None


def _installed_commit() -> str | None:
    """The commit pip installed from (``pip install git+URL``), shortened to 12 characters."""
    source = installed_source()
    return source[1][:12] if source is not None else None


def _checkout_commit(root: Path) -> str | None:
    """The commit of the git checkout the library is imported from (an editable install), marked ``+changes``."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        # Only the library's own checkout: a site-packages inside some other repository must not lend its commit.
        top = git("rev-parse", "--show-toplevel")
        if not top or Path(top).resolve() != root:
            return None
        head = git("rev-parse", "--short=12", "HEAD")
        return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "") if head else None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(device: torch.device | None = None) -> dict:
    """When, from which code and on what a result was made: date (UTC), commit, library version, device model.

    The commit is the library's git checkout's (``+changes`` when it has uncommitted edits), else the one pip
    installed from (Colab's ``pip install git+...``), else "unknown".
    """
    from . import __version__

    commit = _checkout_commit(Path(__file__).resolve().parents[1]) or _installed_commit() or "unknown"
    made = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit, "mmdc_lib": __version__}
    if device is not None:
        made["device_name"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    return made
