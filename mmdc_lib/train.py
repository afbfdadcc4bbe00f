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
whose state is saved in every checkpoint, so a resumed run is identical to an
uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import os
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


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not match the run."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cuda" without a GPU is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a device; use 'auto', 'cpu' or 'cuda'.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but no CUDA GPU is available; use device='auto' or 'cpu'.")
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

        torch.manual_seed(config.seed)  # model initialisation
        self.generator = torch.Generator().manual_seed(config.seed)
        # channels_last lets oneDNN (CPU) and cuDNN pick faster convolution kernels: ~1.5x on 2 CPU cores.
        self.model = MMDCNet(config.network, images.shape[1], config.dim).to(self.device, memory_format=torch.channels_last)
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

    # --- checkpoints ---------------------------------------------------------
    @property
    def checkpoint_path(self) -> Optional[Path]:
        return self.out_dir / CHECKPOINT_NAME if self.out_dir is not None else None

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "means": self.means.cpu(),
            "targets": self.targets.cpu(),
            "previous_labels": self.previous_labels,
            "history": self.history,
        }

    def save_checkpoint(self) -> None:
        """Write the checkpoint to a temporary file, then rename: a kill never leaves half a file."""
        path = self.checkpoint_path
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".pt.tmp")
        torch.save(self.state_dict(), temporary)
        os.replace(temporary, path)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
                raise CheckpointError("it holds no integer 'epoch'")
            saved = MMDCConfig.from_dict(state["config"])
            if dataclasses.replace(saved, epochs=0) != dataclasses.replace(self.config, epochs=0):
                raise CheckpointError("it was written with a different configuration")
            if state["targets"].shape != self.targets.shape:
                raise CheckpointError(f"it holds {state['targets'].shape[0]} targets, the data has {self.targets.shape[0]} images")
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.generator.set_state(state["generator"])
        except CheckpointError as error:
            raise CheckpointError(f"cannot resume from {path}: {error}.") from None
        except Exception as error:  # unpickling errors come in many types
            raise CheckpointError(f"cannot resume from {path}: corrupt or unreadable checkpoint ({type(error).__name__}).") from None
        self.means = state["means"].to(self.device)
        self.targets = state["targets"].to(self.device)
        self.previous_labels = state["previous_labels"]
        self.history = list(state["history"])
        self.epoch = state["epoch"]

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
            total += loss.item()
        return total / len(batches)

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def _refine_targets(self) -> None:
        """k-means on all embeddings; labels aligned to the previous ones; targets = their means."""
        embeddings = self.embed_all().cpu().numpy()
        kmeans = KMeans(self.config.n_clusters, n_init=3, random_state=self.config.seed * 100_003 + self.epoch)
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
            mse_total += mse.item()
            rotation_total += rotation_loss.item()
        return mse_total / len(batches), rotation_total / len(batches)

    def _end_of_epoch(self, seconds: float, mse: float, rotation_loss: float) -> dict:
        embeddings = self.embed_all()
        labels = nearest_mean(embeddings, self.means).cpu().numpy()
        entry = {
            "epoch": self.epoch,
            "lr": self.optimizer.param_groups[0]["lr"],
            "mse": mse,
            "rotation_loss": rotation_loss,
            "fit": float(((embeddings - self.targets) ** 2).sum(dim=1).mean()),
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
    def fit(self, resume: bool = False, on_epoch_end: Optional[Callable[["Trainer", dict], None]] = None) -> TrainResult:
        """Train until ``config.epochs``; with ``resume`` continue from the checkpoint in out_dir.

        ``on_epoch_end(trainer, entry)`` is called after each epoch's checkpoint, e.g. to record
        ``trainer.embed_all()`` for a figure; it must not change the trainer.
        """
        if resume:
            if self.checkpoint_path is None:
                raise ValueError("resume needs an output directory that holds the checkpoint.")
            if self.checkpoint_path.exists():
                self.load_checkpoint(self.checkpoint_path)
        config = self.config
        bar = tqdm(total=config.epochs, initial=self.epoch, desc="MMDC", unit="epoch", disable=not self.progress)
        while self.epoch < config.epochs:
            start = time.perf_counter()
            refining = config.refine_epoch is not None and self.epoch >= config.refine_epoch
            if refining:
                self._refine_targets()
            rotation_loss = self._rotation_pass() if config.rotation == "alternating" else 0.0
            mse, joint_rotation_loss = self._clustering_pass(refining)
            self.scheduler.step()
            self.epoch += 1
            entry = self._end_of_epoch(time.perf_counter() - start, mse, rotation_loss or joint_rotation_loss)
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
