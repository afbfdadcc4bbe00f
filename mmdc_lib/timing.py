"""How long a run will take here: time a few batches of the real schedule and project the whole run.

Before a long run the chapters call ``project_run(config, images)``: it trains the same network with the
same settings on a few batches of the same images for two epochs (the first warms up: cuDNN's kernel
choice, memory pools), times the second, and scales it to every image and every epoch. The projection
leaves out k-means refinement (a few seconds per refining epoch) and checkpoint writing.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import MMDCConfig
from .step import resolve_device
from .train import Trainer


def human_duration(seconds: float) -> str:
    """``42 s``, ``12 min``, ``2.5 h``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class RunProjection:
    seconds_per_epoch: float  # all images, one epoch of the schedule, with its end-of-epoch evaluation
    epochs: int
    n_images: int
    measured_images: int  # images in the timed epoch
    device_name: str
    trainings: int = 1  # train --n-init N: N trainings of the same length

    @property
    def seconds(self) -> float:
        return self.seconds_per_epoch * self.epochs * self.trainings

    def __str__(self) -> str:
        runs = f"{self.trainings} trainings of " if self.trainings > 1 else ""
        return (f"about {human_duration(self.seconds)} on this {self.device_name} ({runs}{self.epochs} epochs of {self.n_images} "
                f"images, {human_duration(self.seconds_per_epoch)} an epoch; timed on {self.measured_images} images)")


def project_run(config: MMDCConfig, images: torch.Tensor, device: str | torch.device = "auto", n_batches: int = 8) -> RunProjection:
    """Project the time of training ``config`` on ``images`` (uint8, (N, C, H, W)) from ``n_batches`` timed batches.

    The timed model is thrown away; the caller's RNG is untouched (the trainer draws from its own).
    """
    device = resolve_device(device)
    if n_batches < 1:
        raise ValueError(f"n_batches={n_batches} should be >= 1.")
    n_images = int(images.shape[0])
    sample = min(n_images, n_batches * config.batch_size)
    chosen = np.sort(np.random.default_rng(config.seed).permutation(n_images)[:sample])
    # Two epochs of the same step (no refinement, no learning-rate step): the first warms up, the second is timed.
    warm = dataclasses.replace(config, epochs=2, lr_milestones=(), refine_epoch=None)
    trainer = Trainer(warm, images[torch.from_numpy(chosen)], device=device, progress=False)
    ends: list[float] = []

    def mark(trainer: Trainer, entry: dict) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        ends.append(time.perf_counter())

    trainer.fit(on_epoch_end=mark)
    per_image = (ends[1] - ends[0]) / sample
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    return RunProjection(per_image * n_images, config.epochs, n_images, sample, name)


def project_command(arguments: list[str], images_nhwc: np.ndarray, device: str | torch.device = "auto", n_batches: int = 8) -> RunProjection:
    """Project a ``python -m mmdc_lib train ...`` or ``reproduce ...`` command (its argument list) on loaded images
    (``--n-init N``: N trainings).

    ``images_nhwc``: the data set's images (N, H, W[, C]), before ``--subset``. For ``reproduce`` the first data
    set and seed are projected (each run of it takes about as long).
    """
    from .cli import build_parser, fit_to_data, resolve_config, subset_indices
    from .estimator import images_to_uint8_nchw
    from .reproduce import _train_arguments

    args = build_parser().parse_args(arguments)
    if args.command == "reproduce":
        args = build_parser().parse_args(_train_arguments(args, args.datasets[0], args.seeds[0], Path(args.out)))
    config = fit_to_data(resolve_config(args), args, images_nhwc)  # a folder: its side; its k only with --n-clusters
    if args.subset is not None:
        images_nhwc = images_nhwc[subset_indices(len(images_nhwc), min(args.subset, len(images_nhwc)))]
    images, _ = images_to_uint8_nchw(images_nhwc)
    projection = project_run(config, images, device, n_batches)
    return dataclasses.replace(projection, trainings=args.n_init) if args.n_init > 1 else projection
