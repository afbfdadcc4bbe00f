"""The MMDC training loop, with atomic per-epoch checkpoints and exact resume.

One epoch (joint schedule):
  for each mini-batch (index slices of a fresh randperm):
    1. embed the clean view in eval mode, no grad;
    2. permute the batch's targets among its images (Hungarian algorithm);
    3. train on an augmented view: MSE to the targets + w * rotation cross-entropy
       on one randomly rotated copy of each augmented image.
The alternating schedule (the authors') runs a full rotation pass first, then
the clustering pass with MSE only. From ``refine_epoch`` on, targets come from
k-means on all embeddings and step 2 stops.

All randomness after model initialisation comes from one CPU ``torch.Generator``
whose state is saved in every checkpoint, so a resumed CPU run is identical to an
uninterrupted one (GPU kernels are not bit-deterministic). Model initialisation
draws from the global torch RNG inside ``fork_rng``: the caller's RNG is left as it was.

Runs are never lost or mixed: a fresh run refuses an output folder that holds a
checkpoint (``resume`` or ``overwrite`` says what to do), a checkpoint is refused
for other settings or other data (it stores a fingerprint of the pixels), and it
is read with ``torch.load(weights_only=True)``: tensors and plain values only.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from tqdm.auto import tqdm

from .assignment import reassign_batch
from .augment import augment_batch, clean_view, random_affine_view
from .config import MMDCConfig
from .metrics import align_labels, evaluate_clustering
from .models import MMDCNet, parameter_groups
from .rotation import rotate_batch, rotate_randomly
from .targets import mixture_means, nearest_mean, sample_targets

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.json"
# Everything a run writes into its folder (the trainer: checkpoint and config; the command line: the rest).
# ``overwrite`` removes them all, so an old run's results never sit beside a new run's checkpoint.
RUN_FILES = (CHECKPOINT_NAME, CONFIG_NAME, "metrics.json", "labels.npy", "confusion.png", "clusters.png", "history.png")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not match the run."""


class RunExistsError(CheckpointError):
    """A fresh run was asked for in a folder that already holds one."""


class TrainingDivergedError(ValueError):
    """The loss or the embeddings became NaN or infinite."""


def data_fingerprint(images: torch.Tensor) -> dict:
    """Count, shape and SHA-256 of the pixels of a uint8 batch (N, C, H, W): what a checkpoint was trained on."""
    pixels = images.detach().cpu().contiguous().numpy()
    return {"n_images": int(pixels.shape[0]), "shape": list(pixels.shape[1:]), "sha256": hashlib.sha256(pixels.tobytes()).hexdigest()}


def config_differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """'name: saved != current' for every setting that differs (nested dicts flattened with dots)."""
    differences = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            differences += config_differences(old, new, f"{prefix}{key}.")
        elif (list(old) if isinstance(old, (list, tuple)) else old) != (list(new) if isinstance(new, (list, tuple)) else new):
            differences.append(f"{prefix}{key}: {old!r} in the checkpoint, {new!r} now")
    return differences


def check_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse, before any work, an output folder that is a file, or that holds a run when neither flag is given."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(20, "the output folder is a file", str(out_dir))
    if (out_dir / CHECKPOINT_NAME).exists() and not (resume or overwrite):
        raise RunExistsError(
            f"{out_dir} already holds a run ({CHECKPOINT_NAME}); continue it with --resume (resume=True) "
            "or start afresh, deleting it, with --overwrite (overwrite=True)"
        )


def kmeans_seed(seed: int, epoch: int) -> int:
    """A k-means random_state in [0, 2**32) derived from the run's seed and the epoch (any seed works)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def check_finite(value: float, what: str) -> None:
    if not math.isfinite(value):
        raise FloatingPointError(f"{what} is {value}")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU. Any other device must exist here: ValueError otherwise."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a device; use 'auto', 'cpu' or 'cuda'.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device='{device}' was asked for, but no CUDA GPU is available; use device='auto' or 'cpu'.")
    if device.type == "meta":
        raise ValueError("device='meta' holds no data and cannot train; use 'auto', 'cpu' or 'cuda'.")
    if device.type != "cpu":
        try:  # mps, xpu, a cuda index beyond the GPUs present, a backend not built in: ask torch
            torch.empty(1, device=device)
        except Exception:
            raise ValueError(f"device='{device}' is not available on this machine; use device='auto' or 'cpu'.") from None
    return device


@torch.no_grad()
def embed_images(model: MMDCNet, images: torch.Tensor, size: int, eval_crop: float, batch_size: int = 1024) -> torch.Tensor:
    """Clean-view embeddings (N, d) of uint8 images (N, C, H, W), in eval mode, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    chunks = [model(clean_view(images[i : i + batch_size].to(device), size, eval_crop)) for i in range(0, len(images), batch_size)]
    return torch.cat(chunks)


def mmdc_loss(
    embeddings: torch.Tensor, targets: torch.Tensor, rotation_logits: Optional[torch.Tensor] = None,
    rotation_labels: Optional[torch.Tensor] = None, rotation_weight: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The joint objective: MSE to the targets + ``rotation_weight`` x rotation cross-entropy.

    embeddings, targets: (B, d); rotation_logits: (R, 4) and rotation_labels: (R,), or None for no
    rotation term. The MSE is the squared distance per image averaged over the batch (the authors'
    nn.MSELoss also divides by d, which shrinks the clustering gradient d-fold against the rotation loss).
    Returns ``(total, mse, rotation)``, scalars.
    """
    mse = ((embeddings - targets) ** 2).sum(dim=1).mean()
    if rotation_logits is None:
        rotation = torch.zeros((), device=embeddings.device)
    else:
        rotation = F.cross_entropy(rotation_logits, rotation_labels)
    return mse + rotation_weight * rotation, mse, rotation


@dataclass
class TrainResult:
    model: MMDCNet
    means: torch.Tensor  # (k, d)
    embeddings: torch.Tensor  # (N, d), clean views, on the CPU
    labels: np.ndarray  # (N,), nearest mean
    fit_score: float  # mean squared distance of clean embeddings to their targets (no labels used)
    history: list[dict] = field(default_factory=list)


class Trainer:
    """Trains one MMDC model on ``images``, a uint8 tensor (N, C, H, W).

    ``labels`` (optional, (N,)) are used only to report ACC/NMI/ARI per epoch,
    never to choose anything. With ``out_dir`` a checkpoint is written
    atomically after every epoch.
    """

    def __init__(
        self,
        config: MMDCConfig,
        images: torch.Tensor,
        labels: Optional[np.ndarray] = None,
        device: str | torch.device = "auto",
        out_dir: Optional[str | os.PathLike] = None,
        progress: bool = True,
    ):
        self.config = config.validate()
        self.device = resolve_device(device)
        self.images = images.to(self.device)
        self.labels = labels
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress
        n_samples = images.shape[0]
        if n_samples < config.n_clusters:
            raise ValueError(f"n_samples={n_samples} should be >= n_clusters={config.n_clusters}.")

        # Model initialisation draws from the global CPU RNG: seed it inside fork_rng so the caller's stays as it was.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(config.seed)
            model = MMDCNet(config.network, images.shape[1], config.dim)
        self.generator = torch.Generator().manual_seed(config.seed)
        # channels_last lets oneDNN (CPU) and cuDNN pick faster convolution kernels: ~1.5x on 2 CPU cores.
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(
            parameter_groups(self.model, config.weight_decay), lr=config.lr, momentum=config.momentum,
            nesterov=config.nesterov,
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(config.lr_milestones), gamma=config.lr_gamma
        )
        self.means = mixture_means(config.n_clusters, config.dim, config.means, self.generator).to(self.device)
        targets, _ = sample_targets(n_samples, self.means.cpu(), config.sigma, self.generator)
        self.targets = targets.to(self.device)
        self.previous_labels: Optional[np.ndarray] = None
        self.epoch = 0  # number of finished epochs
        self.history: list[dict] = []
        self._fingerprint: Optional[dict] = None

    @property
    def fingerprint(self) -> dict:
        """The data fingerprint (computed once, when a checkpoint first needs it)."""
        if self._fingerprint is None:
            self._fingerprint = data_fingerprint(self.images)
        return self._fingerprint

    # --- checkpoints ---------------------------------------------------------
    @property
    def checkpoint_path(self) -> Optional[Path]:
        return self.out_dir / CHECKPOINT_NAME if self.out_dir is not None else None

    def state_dict(self) -> dict:
        """Tensors and plain values only, so that ``torch.load(weights_only=True)`` reads it."""
        return {
            "epoch": self.epoch,
            "config": self.config.to_dict(),
            "data": self.fingerprint,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            # MultiStepLR keeps its milestones in a Counter, which weights_only loading refuses before torch 2.4.
            "scheduler": {**self.scheduler.state_dict(), "milestones": dict(self.scheduler.state_dict()["milestones"])},
            "generator": self.generator.get_state(),
            "means": self.means.cpu(),
            "targets": self.targets.cpu(),
            "previous_labels": None if self.previous_labels is None else torch.from_numpy(self.previous_labels),
            "history": self.history,
        }

    def save_checkpoint(self) -> None:
        """Write the checkpoint to a temporary file, then rename: a kill never leaves half a file."""
        path = self.checkpoint_path
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".pt.tmp")
        try:
            torch.save(self.state_dict(), temporary)
        except RuntimeError as error:  # torch reports a full disk as "PytorchStreamWriter failed writing file"
            temporary.unlink(missing_ok=True)
            raise OSError(f"cannot write the checkpoint {path}: {error}") from None
        os.replace(temporary, path)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore a run from ``path``; CheckpointError (one line) if it is unreadable or belongs to another run."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise CheckpointError(
                f"cannot resume from {path}: it holds objects other than tensors and plain values, which are not "
                "loaded (a checkpoint could run code); it may come from an older mmdc_lib or another program."
            ) from None
        except Exception as error:  # truncated files, other formats: many exception types
            raise CheckpointError(f"cannot resume from {path}: corrupt or unreadable checkpoint ({type(error).__name__}).") from None
        try:
            self._restore(state)
        except CheckpointError as error:
            raise CheckpointError(f"cannot resume from {path}: {error}.") from None
        except Exception as error:  # a missing key, a tensor of the wrong shape, ...
            detail = f"missing {error}" if isinstance(error, KeyError) else type(error).__name__
            raise CheckpointError(f"cannot resume from {path}: corrupt or incomplete checkpoint ({detail}).") from None

    def _restore(self, state: dict) -> None:
        """Check every part of ``state`` against this run, then load it (all keys read here)."""
        if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
            raise CheckpointError("it holds no integer 'epoch'")
        epoch, saved_config, data = state["epoch"], state["config"], state["data"]
        differences = config_differences({**saved_config, "epochs": None}, {**self.config.to_dict(), "epochs": None})
        if differences:
            raise CheckpointError("it was written with a different configuration (" + "; ".join(differences) + ")")
        if epoch > self.config.epochs:
            raise CheckpointError(f"it has {epoch} finished epochs, more than the {self.config.epochs} asked for")
        if data != self.fingerprint:
            found = f"{data.get('n_images')} images of shape {data.get('shape')}" if isinstance(data, dict) else repr(data)
            here = f"{self.fingerprint['n_images']} images of shape {self.fingerprint['shape']}"
            same_shape = isinstance(data, dict) and found == here
            raise CheckpointError(
                f"it was trained on other data ({found}{', other pixels' if same_shape else ''}; this run has {here})"
            )
        means, targets, previous, history = state["means"], state["targets"], state["previous_labels"], list(state["history"])
        if targets.shape != self.targets.shape or means.shape != self.means.shape:
            raise CheckpointError(f"it holds targets of shape {tuple(targets.shape)}, this run needs {tuple(self.targets.shape)}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        scheduler = dict(state["scheduler"])
        scheduler["milestones"] = collections.Counter(scheduler["milestones"])
        self.scheduler.load_state_dict(scheduler)
        self.generator.set_state(state["generator"])
        self.means = means.to(self.device)
        self.targets = targets.to(self.device)
        self.previous_labels = None if previous is None else previous.numpy()
        self.history = history
        self.epoch = epoch

    def _prepare_out_dir(self, resume: bool, overwrite: bool) -> None:
        """Decide whether the run may go ahead in out_dir, before writing anything there.

        A fresh run never replaces a checkpoint silently: it needs ``resume`` (continue it)
        or ``overwrite`` (remove the old run's files first). config.json is written only
        once the run is known to go ahead, so it always describes the checkpoint beside it.
        """
        if self.out_dir is None:
            if resume:
                raise ValueError("resume needs an output directory that holds the checkpoint.")
            return
        check_out_dir(self.out_dir, resume, overwrite)
        checkpoint = self.checkpoint_path
        if resume and checkpoint.exists():
            self.load_checkpoint(checkpoint)
        elif overwrite and checkpoint.exists():  # only a folder that holds a run: never a user's own files
            for name in (*RUN_FILES, f"{CHECKPOINT_NAME}.tmp", f"{CONFIG_NAME}.tmp"):
                (self.out_dir / name).unlink(missing_ok=True)
        try:  # fail now, not after the first epoch, when the folder cannot be written
            self.out_dir.mkdir(parents=True, exist_ok=True)
            temporary = self.out_dir / f"{CONFIG_NAME}.tmp"
            temporary.write_text(self.config.to_json())
            os.replace(temporary, self.out_dir / CONFIG_NAME)
        except OSError as error:
            raise type(error)(error.errno, f"cannot write the output folder ({error.strerror})", str(self.out_dir)) from None

    # --- one epoch -----------------------------------------------------------
    def _batches(self) -> list[torch.Tensor]:
        order = torch.randperm(self.images.shape[0], generator=self.generator)
        batches = list(order.split(self.config.batch_size))
        if len(batches) > 1 and len(batches[-1]) < 2:  # BatchNorm needs two images
            batches.pop()
        return batches

    def embed_all(self) -> torch.Tensor:
        """Clean-view embeddings of every image, (N, d), on the device."""
        return embed_images(self.model, self.images, self.config.input_size, self.config.augment.eval_crop)

    def _rotation_pass(self) -> float:
        """The authors' alternating schedule: all four rotations of every image, random crops only."""
        crops = dataclasses.replace(self.config.augment, rotation_degrees=0.0, hflip=False, color_jitter=None, grayscale_p=0.0)
        total = 0.0
        batches = self._batches()
        self.model.train()
        for batch in batches:
            views = random_affine_view(self.images[batch.to(self.device)], self.config.input_size, crops, self.generator)
            rotated, rotation_labels = rotate_batch(views)
            loss = F.cross_entropy(self.model.rotation_head(self.model.features(rotated)), rotation_labels)
            self._step(loss)
            value = loss.item()
            check_finite(value, "the rotation loss")
            total += value
        return total / len(batches)

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def _refine_targets(self) -> None:
        """k-means on all embeddings; labels aligned to the previous ones; targets = their means."""
        embeddings = self.embed_all().cpu().numpy()
        check_finite(float(embeddings.sum()), "the sum of the embeddings")
        kmeans = KMeans(self.config.n_clusters, n_init=3, random_state=kmeans_seed(self.config.seed, self.epoch))
        labels = kmeans.fit_predict(embeddings)
        if self.previous_labels is not None:
            labels = align_labels(labels, self.previous_labels, self.config.n_clusters)
        # The mixture means, not hard-coded one-hot vectors: read-out and refinement agree for any d.
        self.targets = self.means[torch.as_tensor(labels, device=self.device)].clone()

    def _clustering_pass(self, refining: bool) -> tuple[float, float]:
        config = self.config
        joint = config.rotation == "joint"
        mse_total = rotation_total = 0.0
        batches = self._batches()
        for batch in batches:
            batch_on_device = batch.to(self.device)
            images = self.images[batch_on_device]
            if refining:
                batch_targets = self.targets[batch_on_device]
            else:
                self.model.eval()
                with torch.no_grad():
                    clean = self.model(clean_view(images, config.input_size, config.augment.eval_crop))
                batch_targets = reassign_batch(clean, self.targets, batch_on_device)
            self.model.train()
            views = augment_batch(images, config.input_size, config.augment, self.generator)
            rotation_logits = rotation_labels = None
            if joint:
                # One randomly rotated copy per image (half the cost of all four rotations), in the same
                # forward pass as the upright views so BatchNorm sees both.
                rotated, rotation_labels = rotate_randomly(views, self.generator)
                features = self.model.features(torch.cat([views, rotated]))
                embeddings = self.model.embed_features(features[: len(batch)])
                rotation_logits = self.model.rotation_head(features[len(batch) :])
            else:
                embeddings = self.model(views)
            loss, mse, rotation_loss = mmdc_loss(embeddings, batch_targets, rotation_logits, rotation_labels, config.rotation_weight)
            self._step(loss)
            mse_value, rotation_value = mse.item(), rotation_loss.item()
            check_finite(mse_value, "the MSE to the targets")
            check_finite(rotation_value, "the rotation loss")
            mse_total += mse_value
            rotation_total += rotation_value
        return mse_total / len(batches), rotation_total / len(batches)

    def _end_of_epoch(self, seconds: float, lr: float, mse: float, rotation_loss: float) -> dict:
        embeddings = self.embed_all()
        fit = float(((embeddings - self.targets) ** 2).sum(dim=1).mean())
        check_finite(fit, "the distance of the embeddings to their targets")
        labels = nearest_mean(embeddings, self.means).cpu().numpy()
        entry = {
            "epoch": self.epoch,
            "lr": lr,  # the rate this epoch trained with
            "mse": mse,
            "rotation_loss": rotation_loss,
            "fit": fit,
            "changed": float(np.mean(labels != self.previous_labels)) if self.previous_labels is not None else 1.0,
            "cluster_sizes": np.bincount(labels, minlength=self.config.n_clusters).tolist(),
            "seconds": seconds,
        }
        if self.labels is not None:  # reported, never used to choose
            scores = evaluate_clustering(self.labels, labels)
            entry.update(acc=scores.acc, nmi=scores.nmi, ari=scores.ari)
        self.previous_labels = labels
        return entry

    # --- the run -------------------------------------------------------------
    def fit(
        self, resume: bool = False, on_epoch_end: Optional[Callable[["Trainer", dict], None]] = None,
        overwrite: bool = False,
    ) -> TrainResult:
        """Train until ``config.epochs``; with ``resume`` continue from the checkpoint in out_dir.

        A fresh run (no ``resume``) into an out_dir that holds a checkpoint raises RunExistsError
        unless ``overwrite``. ``on_epoch_end(trainer, entry)`` is called after each epoch's
        checkpoint, e.g. to record ``trainer.embed_all()`` for a figure; it must not change the
        trainer. A NaN or infinite loss or embedding stops the run with TrainingDivergedError
        (the last finished epoch stays in the checkpoint).
        """
        self._prepare_out_dir(resume, overwrite)
        config = self.config
        bar = tqdm(total=config.epochs, initial=self.epoch, desc="MMDC", unit="epoch", disable=not self.progress)
        while self.epoch < config.epochs:
            start = time.perf_counter()
            lr, epoch_number = self.optimizer.param_groups[0]["lr"], self.epoch + 1
            try:
                refining = config.refine_epoch is not None and self.epoch >= config.refine_epoch
                if refining:
                    self._refine_targets()
                rotation_loss = self._rotation_pass() if config.rotation == "alternating" else 0.0
                mse, joint_rotation_loss = self._clustering_pass(refining)
                self.scheduler.step()
                self.epoch += 1
                entry = self._end_of_epoch(time.perf_counter() - start, lr, mse, rotation_loss or joint_rotation_loss)
            except FloatingPointError as error:
                bar.close()
                raise TrainingDivergedError(
                    f"training diverged in epoch {epoch_number}: {error}; try a lower learning rate than lr={config.lr:g}"
                    + (" (a new run: --overwrite, overwrite=True)" if self.out_dir is not None and epoch_number > 1 else "")
                    + "."
                ) from None
            self.history.append(entry)
            if self.out_dir is not None:
                self.save_checkpoint()
            if on_epoch_end is not None:
                on_epoch_end(self, entry)
            bar.update(1)
            bar.set_postfix({k: f"{entry[k]:.3f}" for k in ("mse", "fit", "acc") if k in entry})
        bar.close()
        embeddings = self.embed_all()
        labels = nearest_mean(embeddings, self.means).cpu().numpy()
        return TrainResult(
            model=self.model,
            means=self.means.cpu(),
            embeddings=embeddings.cpu(),
            labels=labels,
            fit_score=float(((embeddings - self.targets) ** 2).sum(dim=1).mean()),
            history=self.history,
        )
