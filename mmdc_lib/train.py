"""The MMDC training loop, with atomic per-epoch checkpoints and exact resume.

One epoch (joint schedule):
  for each mini-batch (index slices of a fresh randperm):
    1. embed the clean view in eval mode, no grad;
    2. permute the batch's targets among its images (Hungarian algorithm), overlapped with step 3's
       forward pass on a GPU;
    3. train on an augmented view: MSE to the targets + w * rotation cross-entropy
       on one randomly rotated copy of each augmented image (``step.train_step``).
The alternating schedule (the authors') runs a rotation pass first (all four rotations of every
image, each its own random crop), then the clustering pass with the MSE only. The first
``warmup_epochs`` epochs (ours; 0 in the authors' presets) train the rotation task alone: no
targets, no assignment, an MSE of 0 in the history. From ``refine_epoch``
on, targets come from k-means on all embeddings and step 2 stops.

Fast on a GPU as airbench: the data set lives on the device as one uint8 tensor; an epoch's batch
order and every random augmentation parameter are drawn at once and moved to the device once; the
training views of several batches are made in one call (``VIEW_CHUNK_VALUES``: fewer kernel launches);
losses are summed on the device and read once per epoch; bf16 autocast for the backbone
(``precision``), ``cudnn.benchmark``, fused SGD and optionally ``torch.compile`` on CUDA.

All randomness after model initialisation comes from one CPU ``torch.Generator`` whose state is
saved in every checkpoint, so a resumed CPU run is identical to an uninterrupted one (GPU kernels
are not bit-deterministic). Model initialisation draws from the global torch RNG inside
``fork_rng``: the caller's RNG is left as it was. See ``runs.py`` for how runs are never lost or mixed.
"""
from __future__ import annotations

import collections
import dataclasses
import inspect
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch
import torch.distributed as dist
from sklearn.cluster import KMeans
from tqdm.auto import tqdm

from .assignment import PendingAssignment
from .augment import apply_view, clean_view, draw_view_params, params_to, slice_params
from .config import COMPILE_MODES, MMDCConfig
from .graphs import StepGraphs, check_cuda_graphs
from .metrics import align_labels, evaluate_clustering
from .models import MMDCNet, parameter_groups
from .rotation import N_ROTATIONS, rotate_by, rotate_quarters
from .runs import (  # noqa: F401  (re-exported: the trainer's public names)
    CHECKPOINT_NAME, CONFIG_NAME, RUN_FILES, CheckpointError, RunExistsError, check_checkpoint, check_out_dir,
    config_differences, data_fingerprint, read_checkpoint, save_checkpoint, start_run_dir,
)
from .processes import together, world_size
from .step import autocast_for, embed_images, mmdc_loss, resolve_device, train_step  # noqa: F401
from .targets import mixture_means, nearest_mean, sample_targets

FUSED_SGD = "fused" in inspect.signature(torch.optim.SGD).parameters  # torch >= 2.3
# Full-size float pixel values that one call of the augmentation handles (32 MiB): the views of several batches
# are made at once. Batch by batch, the augmentation made 438 of a CIFAR-10 batch's 1,254 operator calls (its
# rotation and clustering steps, fused optimiser; benchmarks/op_counts.py), most of them kernel launches on a
# GPU, where the launches set the pace.
VIEW_CHUNK_VALUES = 2**23
KMEANS_N_INIT = 10  # the authors' refinement calls scikit-learn's k_means with its classic default of 10 restarts


class TrainingDivergedError(ValueError):
    """The loss or the embeddings became NaN or infinite."""


def batches_per_view_call(image_values: int, batch_size: int, copies: int = 1) -> int:
    """How many batches' training views one call of the augmentation makes: at most ``VIEW_CHUNK_VALUES``
    full-size values (``image_values`` = C * H * W a copy), and at least one batch."""
    return max(1, VIEW_CHUNK_VALUES // (copies * image_values * batch_size))


def fill_momentum_buffers(optimizer: torch.optim.SGD) -> None:
    """Give every parameter of a momentum SGD a zero momentum buffer where it has none yet.

    Fused SGD (PyTorch 2.11-2.14 at least) fails with a TypeError when some parameters of a step have a buffer
    and others get their first gradient later: the embedding head after the rotation pass or a warm-up. A zero
    buffer makes the same first step as none (0 * momentum + grad == grad exactly) where dampening is 0, as in
    every setting of this library; groups with momentum 0 or dampening are left as they are.
    """
    for group in optimizer.param_groups:
        if group["momentum"] == 0 or group.get("dampening", 0) != 0:
            continue
        for parameter in group["params"]:
            state = optimizer.state[parameter]
            if state.get("momentum_buffer") is None:
                state["momentum_buffer"] = torch.zeros_like(parameter, memory_format=torch.preserve_format)


def set_fused_sgd(optimizer: torch.optim.SGD, fused: Optional[bool]) -> None:
    """Switch an SGD's fused kernel on (True) or off (None), e.g. a GPU checkpoint's optimiser resumed on a
    CPU; switched on, every parameter gets its momentum buffer (``fill_momentum_buffers``)."""
    for group in optimizer.param_groups:
        group["fused"] = fused
    if fused:
        fill_momentum_buffers(optimizer)


def kmeans_seed(seed: int, epoch: int) -> int:
    """A k-means random_state in [0, 2**32) derived from the run's seed and the epoch (any seed works)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def check_images_and_labels(images: Any, labels: Any) -> None:
    """TypeError or ValueError naming the problem unless ``images`` is a uint8 tensor (N, C, H, W) and ``labels``
    None or N of them (``MMDC.fit`` takes NumPy arrays of any layout and converts them)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images should be a torch.Tensor of uint8 (N, C, H, W), got {type(images).__name__}; "
                        "mmdc_lib.estimator.images_to_uint8_nchw converts NumPy arrays (N, H, W[, C]).")
    if images.dtype != torch.uint8:
        raise TypeError(f"images should be uint8 (0..255), got {images.dtype}; "
                        "mmdc_lib.estimator.images_to_uint8_nchw converts other ranges.")
    if images.ndim != 4:
        raise ValueError(f"images should be 4-dimensional (N, C, H, W), got shape {tuple(images.shape)}.")
    if labels is not None and len(labels) != images.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {len(labels)} labels; they should match one to one.")


def check_finite(value: float, what: str) -> None:
    if not math.isfinite(value):
        raise FloatingPointError(f"{what} is {value}")


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
    atomically after every epoch. ``compile``: ``torch.compile`` the training
    forward pass (CUDA; minutes of compiling before the first epoch): True for its default mode, or one of
    ``COMPILE_MODES`` ("reduce-overhead" replays CUDA graphs: fewer kernel launches from the host).
    ``cuda_graphs``: replay each whole training step (and the clean forward pass) from a CUDA graph
    (``graphs.StepGraphs``; CUDA, one process, without ``compile``); ``step_graphs`` holds them.
    """

    def __init__(
        self,
        config: MMDCConfig,
        images: torch.Tensor,
        labels: Optional[np.ndarray] = None,
        device: str | torch.device = "auto",
        out_dir: Optional[str | os.PathLike] = None,
        progress: bool = True,
        compile: bool | str = False,
        cuda_graphs: bool = False,
    ):
        self.config = config.validate()
        if not isinstance(compile, (bool, str)) or isinstance(compile, str) and compile not in COMPILE_MODES:
            raise ValueError(f"compile={compile!r} should be True, False or one of {COMPILE_MODES}.")
        if not isinstance(cuda_graphs, bool):
            raise TypeError(f"cuda_graphs should be True or False, got {cuda_graphs!r}.")
        self.device = resolve_device(device)
        if cuda_graphs:
            check_cuda_graphs(self.device, compile, world_size())
        check_images_and_labels(images, labels)
        self.images = images.to(self.device)
        self.labels = labels
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress
        n_samples = images.shape[0]
        if n_samples < config.n_clusters:
            raise ValueError(f"n_samples={n_samples} should be >= n_clusters={config.n_clusters}.")
        # Under torchrun (an initialised process group) every process trains the same model on its shard of each
        # batch; DistributedDataParallel averages the gradients. BatchNorm: per process (each normalises its own
        # shard), running statistics broadcast from rank 0.
        self.world = world_size()
        self.rank = dist.get_rank() if self.world > 1 else 0
        if n_samples < 2 * self.world:
            raise ValueError(f"n_samples={n_samples} is too few for {self.world} processes: each needs 2 images or more.")

        # Model initialisation draws from the global CPU RNG: seed it inside fork_rng so the caller's stays as it was.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(config.seed)
            model = MMDCNet(config.network, images.shape[1], config.dim, config.input_size)
        self.generator = torch.Generator().manual_seed(config.seed)
        # channels_last lets oneDNN (CPU) and cuDNN pick faster convolution kernels: ~1.5x on 2 CPU cores.
        self.model = model.to(self.device, memory_format=torch.channels_last)
        cuda = self.device.type == "cuda"
        if cuda:  # fixed shapes: let cuDNN time its kernels once (a process-wide switch, left on)
            torch.backends.cudnn.benchmark = True
        forward_model: torch.nn.Module = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            # find_unused_parameters: the rotation pass (and a warm-up epoch) leaves the embedding head unused, and vice
            # versa; it stays on for the whole run (DDP is built once), a little slower after the warm-up
            forward_model = DistributedDataParallel(self.model, device_ids=[self.device.index] if cuda else None,
                                                    find_unused_parameters=config.rotation != "joint" or config.warmup_epochs > 0)
        mode = compile if isinstance(compile, str) else "default"
        self.forward_model = torch.compile(forward_model, mode=mode) if compile else forward_model
        self.fused_sgd = True if cuda and FUSED_SGD else None
        self.optimizer = torch.optim.SGD(
            parameter_groups(self.model, config.weight_decay), lr=config.lr, momentum=config.momentum,
            nesterov=config.nesterov, **({"fused": True} if self.fused_sgd else {}),
        )
        if self.fused_sgd:
            fill_momentum_buffers(self.optimizer)
        self.step_graphs: Optional[StepGraphs] = StepGraphs(self.model, self.optimizer) if cuda_graphs else None
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(config.lr_milestones), gamma=config.lr_gamma
        )
        self.means = mixture_means(config.n_clusters, config.dim, config.means, self.generator).to(self.device)
        targets, _ = sample_targets(n_samples, self.means.cpu(), config.sigma, self.generator, config.target_counts)
        self.targets = targets.to(self.device)
        self.previous_labels: Optional[np.ndarray] = None
        self.epoch = 0  # number of finished epochs
        self.history: list[dict] = []
        self.timings: collections.Counter = collections.Counter()  # seconds per phase, this process (benchmarks)
        self._fingerprint: Optional[dict] = None

    @property
    def fingerprint(self) -> dict:
        """The data fingerprint (computed once, when a checkpoint first needs it)."""
        if self._fingerprint is None:
            self._fingerprint = data_fingerprint(self.images)
        return self._fingerprint

    @property
    def autocast(self):
        return autocast_for(self.device, self.config.precision, cache_enabled=self.step_graphs is None)

    def _train_step(self, *args, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        """``step.train_step``, or its graphed twin with ``cuda_graphs``."""
        return (self.step_graphs.train_step if self.step_graphs is not None else train_step)(*args, **kwargs)

    # --- checkpoints ---------------------------------------------------------
    @property
    def checkpoint_path(self) -> Optional[Path]:
        return self.out_dir / CHECKPOINT_NAME if self.out_dir is not None else None

    def state_dict(self) -> dict:
        """Tensors and plain values only, so that ``torch.load(weights_only=True)`` reads it."""
        scheduler = self.scheduler.state_dict()
        return {
            "epoch": self.epoch,
            "config": self.config.to_dict(),
            "data": self.fingerprint,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            # MultiStepLR keeps its milestones in a Counter, which weights_only loading refuses before torch 2.4.
            "scheduler": {**scheduler, "milestones": dict(scheduler["milestones"])},
            "generator": self.generator.get_state(),
            "means": self.means.cpu(),
            "targets": self.targets.cpu(),
            "previous_labels": None if self.previous_labels is None else torch.from_numpy(self.previous_labels),
            "history": self.history,
        }

    def save_checkpoint(self) -> None:
        save_checkpoint(self.state_dict(), self.checkpoint_path)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore a run from ``path``; CheckpointError (one line) if it is unreadable or belongs to another run."""
        state = read_checkpoint(Path(path))
        try:
            check_checkpoint(state, self.config.to_dict(), self.fingerprint, self.config.epochs)
            means, targets, previous = state["means"], state["targets"], state["previous_labels"]
            history, epoch = list(state["history"]), state["epoch"]
            if targets.shape != self.targets.shape or means.shape != self.means.shape:
                raise CheckpointError(f"it holds targets of shape {tuple(targets.shape)}, this run needs {tuple(self.targets.shape)}")
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            # A GPU checkpoint's fused kernel, not on a CPU resume; a CPU checkpoint on a GPU may lack some buffers.
            set_fused_sgd(self.optimizer, self.fused_sgd)
            scheduler = dict(state["scheduler"])
            scheduler["milestones"] = collections.Counter(scheduler["milestones"])
            self.scheduler.load_state_dict(scheduler)
            self.generator.set_state(state["generator"])
            if self.step_graphs is not None:  # the optimiser's state tensors are new: graphs would read the old ones
                self.step_graphs.clear()
        except CheckpointError as error:
            raise CheckpointError(f"cannot resume from {path}: {error}.") from None
        except Exception as error:  # a missing key, a tensor of the wrong shape, ...
            detail = f"missing {error}" if isinstance(error, KeyError) else type(error).__name__
            raise CheckpointError(f"cannot resume from {path}: corrupt or incomplete checkpoint ({detail}).") from None
        self.means = means.to(self.device)
        self.targets = targets.to(self.device)
        self.previous_labels = None if previous is None else previous.numpy()
        self.history = history
        self.epoch = epoch

    # --- one epoch -----------------------------------------------------------
    def embed_all(self) -> torch.Tensor:
        """Clean-view embeddings of every image, (N, d) float32, on the device (on every process: each
        embeds its share of the images and the shares are gathered)."""
        augment = self.config.augment
        embed = lambda images: embed_images(self.model, images, self.config.input_size, augment.eval_crop,  # noqa: E731
                                            whole_pixel=augment.authors_pipeline, precision=self.config.precision)
        if self.world == 1:
            return embed(self.images)
        for buffer in self.model.buffers():  # BatchNorm statistics of rank 0 everywhere: one model to evaluate
            dist.broadcast(buffer, src=0)
        n_images = self.images.shape[0]
        share = math.ceil(n_images / self.world)
        start, stop = min(n_images, self.rank * share), min(n_images, (self.rank + 1) * share)
        padded = torch.zeros(share, self.config.dim, device=self.device)
        if stop > start:
            padded[: stop - start] = embed(self.images[start:stop])
        gathered = [torch.zeros_like(padded) for _ in range(self.world)]
        dist.all_gather(gathered, padded)
        return torch.cat(gathered)[:n_images]

    def _shard(self, start: int, stop: int) -> tuple[int, int, float]:
        """This process's part of the batch at positions [start, stop), and its loss weight."""
        size = stop - start
        low, high = start + size * self.rank // self.world, start + size * (self.rank + 1) // self.world
        return low, high, self.world * (high - low) / size

    def _epoch_order(self) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """A fresh random order of the images, on the device, and its batches' (start, stop) positions.

        A last batch of one image is dropped: BatchNorm needs two.
        """
        n_images, batch_size = self.images.shape[0], self.config.batch_size
        order = torch.randperm(n_images, generator=self.generator).to(self.device, non_blocking=True)
        bounds = [(start, min(start + batch_size, n_images)) for start in range(0, n_images, batch_size)]
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < max(2, self.world):  # BatchNorm: 2 images; a shard: 1
            bounds.pop()
        return order, bounds

    def _batch_views(self, order: torch.Tensor, bounds: list[tuple[int, int]], augment, params: dict,
                     copies: int = 1) -> Iterator[tuple[int, int, float, torch.Tensor, torch.Tensor]]:
        """This process's part of each batch: (low, high, loss weight, its uint8 images (B, C, H, W), their
        training views (copies * B, C, S, S)).

        ``copies`` > 1 repeats each batch's images (the rotation pass's four turns). The views of several
        batches come from one call of ``apply_view`` (fewer, larger kernels). Every operation in it acts on
        each image alone, with that image's parameters: on the CPU the values are those of batch-by-batch
        views, bit for bit (tested); on a GPU a per-image reduction (contrast's mean) may add in another order.
        """
        shards = [self._shard(start, stop) for start, stop in bounds]
        shard_size = math.ceil(self.config.batch_size / self.world)
        per_call = batches_per_view_call(self.images[0].numel(), shard_size, copies)
        for first in range(0, len(shards), per_call):
            chunk = shards[first : first + per_call]
            sizes = [high - low for low, high, _ in chunk]
            if self.world == 1:  # consecutive positions: slices, no gathering of positions
                images = self.images[order[chunk[0][0] : chunk[-1][1]]]
                chunk_params = slice_params(params, copies * chunk[0][0], copies * chunk[-1][1])
            else:
                images = self.images[torch.cat([order[low:high] for low, high, _ in chunk])]
                positions = torch.cat([torch.arange(copies * low, copies * high, device=self.device) for low, high, _ in chunk])
                chunk_params = {key: value[positions] for key, value in params.items()}
            batch_images = images.split(sizes)
            if copies > 1:  # each batch's images, then the same images again: as batch.repeat(copies, 1, 1, 1)
                images = torch.cat([batch.repeat(copies, 1, 1, 1) for batch in batch_images])
            views = apply_view(images, self.config.input_size, augment, chunk_params)
            for (low, high, scale), batch, batch_views in zip(chunk, batch_images, views.split([copies * n for n in sizes])):
                yield low, high, scale, batch, batch_views

    def _draw(self, n: int, augment) -> dict:
        """``n`` images' augmentation parameters, drawn at once on the CPU and moved to the device once."""
        return params_to(draw_view_params(n, augment, self.generator, *self.images.shape[2:]), self.device)

    def _rotation_pass(self) -> torch.Tensor:
        """The authors' alternating schedule: all four rotations of every image, random crops only."""
        config = self.config
        crops = dataclasses.replace(config.augment, rotation_degrees=0.0, hflip=False, color_jitter=None, grayscale_p=0.0,
                                    cutout=0.0)
        order, bounds = self._epoch_order()
        params = self._draw(N_ROTATIONS * self.images.shape[0], crops)
        total = torch.zeros((), device=self.device)
        for _, _, scale, _, views in self._batch_views(order, bounds, crops, params, copies=N_ROTATIONS):
            rotated, rotation_labels = rotate_quarters(views)
            _, rotation = self._train_step(self.forward_model, self.optimizer, None, None, rotated, rotation_labels,
                                           rotation_weight=1.0, autocast=self.autocast, loss_scale=scale)
            total += rotation
        return self._mean_over_processes(total / len(bounds))

    def _mean_over_processes(self, value: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            dist.all_reduce(value)
            value /= self.world
        return value

    def _refine_targets(self) -> None:
        """k-means on all embeddings; labels aligned to the targets' components; targets = their means."""
        embeddings = self.embed_all().cpu().numpy()
        check_finite(float(embeddings.sum()), "the sum of the embeddings")
        labels = np.zeros(len(embeddings), dtype=np.int64)
        if self.rank == 0:  # once, on rank 0's gathered embeddings; the labels are broadcast
            kmeans = KMeans(self.config.n_clusters, n_init=KMEANS_N_INIT, random_state=kmeans_seed(self.config.seed, self.epoch))
            labels = kmeans.fit_predict(embeddings)
            # As the authors: keep each cluster's identity by matching it to the components of the current targets.
            components = nearest_mean(self.targets, self.means).cpu().numpy()
            labels = align_labels(labels, components, self.config.n_clusters)
        if self.world > 1:
            shared = torch.as_tensor(labels, dtype=torch.int64, device=self.device)
            dist.broadcast(shared, src=0)
            labels = shared.cpu().numpy()
        # The mixture means, not hard-coded one-hot vectors: read-out and refinement agree for any d.
        self.targets = self.means[torch.as_tensor(labels, device=self.device)].clone()

    def _assignment(self, images: torch.Tensor, indices: torch.Tensor) -> Callable[[], torch.Tensor]:
        """Start the Hungarian step of a batch; the returned function finishes it (and updates the targets).

        ``assignment="nearest"`` (a teaching switch) gives each image its nearest mean instead, at once;
        ``"fixed"`` keeps each image's target (no assignment, and no clean forward pass).
        """
        if self.config.assignment == "fixed":
            targets = self.targets[indices]
            return lambda: targets
        augment, model = self.config.augment, self.model
        views = clean_view(images, self.config.input_size, augment.eval_crop, augment.authors_pipeline)
        if self.step_graphs is not None:
            clean = self.step_graphs.embed(views, self.autocast)
        else:
            model.eval()
            with torch.no_grad(), self.autocast:
                clean = model(views)
        if self.config.assignment == "nearest":  # no balance: every image takes its nearest mean (collapses)
            nearest = self.means[nearest_mean(clean.float(), self.means)]
            self.targets[indices] = nearest
            return lambda: nearest
        batch_targets = self.targets[indices]
        pending = PendingAssignment(clean, batch_targets)

        def finish() -> torch.Tensor:
            start = time.perf_counter()
            new_targets = batch_targets[pending.permutation()]
            self.targets[indices] = new_targets
            self.timings["hungarian"] += time.perf_counter() - start
            return new_targets

        return finish

    def _clustering_pass(self, refining: bool, warmup: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """One epoch of the joint (or clustering-only) training; returns the mean MSE and rotation loss.

        ``warmup`` (a ``warmup_epochs`` epoch of the joint schedule): the same views and rotations, the
        rotation task alone (weight 1); no assignment, and the targets and the embedding head stay as they are.
        """
        config = self.config
        joint = config.rotation == "joint" or warmup
        order, bounds = self._epoch_order()
        params = self._draw(self.images.shape[0], config.augment)
        quarters = torch.randint(N_ROTATIONS, (self.images.shape[0],), generator=self.generator).to(self.device) if joint else None
        mse_total = torch.zeros((), device=self.device)
        rotation_total = torch.zeros((), device=self.device)
        mine = torch.zeros(self.images.shape[0], dtype=torch.bool, device=self.device) if self.world > 1 else None
        for low, high, scale, images, views in self._batch_views(order, bounds, config.augment, params):
            indices = order[low:high]
            targets = None if warmup else self.targets[indices] if refining else self._assignment(images, indices)
            rotated = rotation_labels = None
            if joint:  # one randomly rotated copy per image, in the same forward pass (BatchNorm sees both)
                rotation_labels = quarters[low:high]
                rotated = rotate_by(views, rotation_labels)
            mse, rotation = self._train_step(
                self.forward_model, self.optimizer, None if warmup else views, targets, rotated, rotation_labels,
                rotation_weight=1.0 if warmup else config.rotation_weight, mse_reduction=config.mse_reduction,
                autocast=self.autocast, loss_scale=scale)
            mse_total += mse
            rotation_total += rotation
            if mine is not None:
                mine[indices] = True
        if mine is not None and not refining and not warmup:  # each process changed only its shards' targets: add them up
            shared = torch.where(mine[:, None], self.targets, torch.zeros_like(self.targets))
            dist.all_reduce(shared)
            missed = (~mine).to(torch.int32)
            dist.all_reduce(missed)  # how many processes did not see each image: all of them for a dropped last batch
            self.targets = torch.where((missed == self.world)[:, None], self.targets, shared)
        return self._mean_over_processes(mse_total / len(bounds)), self._mean_over_processes(rotation_total / len(bounds))

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

    def _run_epoch(self) -> tuple[float, float]:
        """One epoch's training; returns the mean MSE and rotation loss (read from the device once)."""
        config = self.config
        if self.epoch < config.warmup_epochs:  # the rotation task alone (the alternating schedule: its rotation pass)
            rotation = self._rotation_pass() if config.rotation == "alternating" else self._clustering_pass(False, warmup=True)[1]
            rotation_value = float(rotation.cpu())
            check_finite(rotation_value, "the rotation loss")
            return 0.0, rotation_value
        refining = config.refine_epoch is not None and self.epoch >= config.refine_epoch
        if refining:
            start = time.perf_counter()
            self._refine_targets()
            self.timings["kmeans"] += time.perf_counter() - start
        rotation = self._rotation_pass() if config.rotation == "alternating" else None
        mse, joint_rotation = self._clustering_pass(refining)
        mse_value, rotation_value = (float(v) for v in torch.stack([mse, joint_rotation if rotation is None else rotation]).cpu())
        check_finite(mse_value, "the MSE to the targets")
        check_finite(rotation_value, "the rotation loss")
        return mse_value, rotation_value

    def _on_rank_zero(self, write: Optional[Callable[[], None]]) -> None:
        """Rank 0 writes; every process then raises if that failed (e.g. a full disk), so none waits forever."""
        together(write, self.rank == 0, f"rank 0 could not write the run's files in {self.out_dir}")

    # --- the run -------------------------------------------------------------
    def fit(
        self, resume: bool = False, on_epoch_end: Optional[Callable[["Trainer", dict], None]] = None,
        overwrite: bool = False,
    ) -> TrainResult:
        """Train until ``config.epochs``; with ``resume`` continue from the checkpoint in out_dir.

        A fresh run (no ``resume``) into an out_dir that holds a run (``runs.holds_run``) raises RunExistsError
        unless ``overwrite``. ``on_epoch_end(trainer, entry)`` is called after each epoch's
        checkpoint, e.g. to record ``trainer.embed_all()`` for a figure; it must not change the
        trainer. Under torchrun it runs on every process, and ``embed_all`` is a collective: call it on
        all processes (then use the result on rank 0), never on rank 0 alone. A NaN or infinite loss or embedding stops the run with TrainingDivergedError
        (the last finished epoch stays in the checkpoint).
        """
        if self.out_dir is None:
            if resume:
                raise ValueError("resume needs an output directory that holds the checkpoint.")
        else:
            load = (lambda: self.load_checkpoint(self.checkpoint_path)) if resume and self.checkpoint_path.exists() else None
            if self.rank == 0:
                self._on_rank_zero(lambda: start_run_dir(self.out_dir, self.config.to_json(), resume, overwrite, before_writing=load))
            else:  # the same checks and the same checkpoint; rank 0 alone writes
                check_out_dir(self.out_dir, resume, overwrite)
                if load is not None:
                    load()
                self._on_rank_zero(None)
        config = self.config
        bar = tqdm(total=config.epochs, initial=self.epoch, desc="MMDC", unit="epoch", disable=not self.progress or self.rank > 0)
        while self.epoch < config.epochs:
            start = time.perf_counter()
            lr, epoch_number = self.optimizer.param_groups[0]["lr"], self.epoch + 1
            try:
                mse, rotation = self._run_epoch()
                self.scheduler.step()
                self.epoch += 1
                self.timings["training"] += time.perf_counter() - start
                entry = self._end_of_epoch(time.perf_counter() - start, lr, mse, rotation)
            except FloatingPointError as error:
                bar.close()
                raise TrainingDivergedError(
                    f"training diverged in epoch {epoch_number}: {error}; try a lower learning rate than lr={config.lr:g}"
                    + (" (a new run: --overwrite, overwrite=True)" if self.out_dir is not None and epoch_number > 1 else "")
                    + "."
                ) from None
            self.history.append(entry)
            if self.out_dir is not None:
                self._on_rank_zero(self.save_checkpoint)
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
