"""One training step, the loss and the clean-view embeddings: plain functions that every schedule shares.

``train_step`` is the only place where the network trains: the joint schedule, the authors' alternating
schedule (its rotation pass and its clustering pass) and, wrapped in DistributedDataParallel, several
processes all call it. It goes through ``model.forward`` (what DDP needs) and takes its targets either
as a tensor or as a function called after the forward pass is queued, so the per-batch Hungarian step
(scipy, on the CPU) runs while the GPU computes.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F

from .augment import clean_view
from .models import MMDCNet


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


def bf16_is_fast(device: torch.device) -> bool:
    """bf16 tensor cores: CUDA compute capability 8.0 or more (A100, H100, L4; not a T4 or V100)."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


def autocast_for(
    device: torch.device, precision: str = "auto", cache_enabled: bool = True,
) -> contextlib.AbstractContextManager:
    """bf16 autocast for the backbone where asked ("bf16"), or ("auto") on a GPU with bf16 tensor cores;
    float32 otherwise (a Colab T4 has no bf16 convolutions). ``cache_enabled=False`` for CUDA graph captures
    (autocast's cache of bf16 weights must not outlive a capture).

    The heads and the loss stay in float32 (``MMDCNet`` runs its heads with autocast off), so a CPU
    run is exactly what it was without autocast.
    """
    if precision == "bf16" or (precision == "auto" and bf16_is_fast(device)):
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache_enabled)
    return contextlib.nullcontext()


@torch.no_grad()
def embed_images(
    model: MMDCNet, images: torch.Tensor, size: int, eval_crop: float, batch_size: int = 1024,
    whole_pixel: bool = False, precision: str = "auto",
) -> torch.Tensor:
    """Clean-view embeddings (N, d) float32 of uint8 images (N, C, H, W), in eval mode, on the model's device.

    ``whole_pixel``: the authors' clean view (see ``augment.clean_view``).
    """
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    with autocast_for(device, precision):
        for start in range(0, len(images), batch_size):
            views = clean_view(images[start : start + batch_size].to(device), size, eval_crop, whole_pixel)
            chunks.append(model(views))
    return torch.cat(chunks)


def mmdc_loss(
    embeddings: Optional[torch.Tensor], targets: Optional[torch.Tensor], rotation_logits: Optional[torch.Tensor] = None,
    rotation_labels: Optional[torch.Tensor] = None, rotation_weight: float = 0.5, mse_reduction: str = "sum",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The joint objective: MSE to the targets + ``rotation_weight`` x rotation cross-entropy.

    embeddings, targets: (B, d), or None for the rotation task alone; rotation_logits: (R, 4) and
    rotation_labels: (R,), or None for no rotation term. ``mse_reduction="sum"``: the squared distance
    per image averaged over the batch (ours); ``"mean"``: also divided by d, as the authors'
    ``nn.MSELoss()``, which shrinks the clustering gradient d-fold against the rotation loss.
    Returns ``(total, mse, rotation)``, float32 scalars.
    """
    if embeddings is None:
        mse = torch.zeros((), device=rotation_logits.device)
    else:
        squared = (embeddings.float() - targets.float()) ** 2
        mse = squared.sum(dim=1).mean() if mse_reduction == "sum" else squared.mean()
    if rotation_logits is None:
        rotation = torch.zeros((), device=mse.device)
    else:
        rotation = F.cross_entropy(rotation_logits.float(), rotation_labels)
    return mse + rotation_weight * rotation, mse, rotation


Targets = Union[torch.Tensor, Callable[[], torch.Tensor]]


def train_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, views: Optional[torch.Tensor], targets: Optional[Targets],
    rotated: Optional[torch.Tensor] = None, rotation_labels: Optional[torch.Tensor] = None, *,
    rotation_weight: float = 0.5, mse_reduction: str = "sum", autocast: Optional[contextlib.AbstractContextManager] = None,
    loss_scale: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step of MMDC on a batch, in train mode. Returns ``(mse, rotation)``, detached, on the device.

    views: augmented images (B, C, S, S) and targets (B, d) or a function returning them (called
    after the forward pass is queued); rotated (R, C, S, S) with rotation_labels (R,) adds the
    rotation task, in the same backbone pass. ``views=None`` trains the rotation task alone.
    No host-device synchronisation happens here unless ``targets`` is a function that needs one.
    ``loss_scale`` weights this process's shard of a batch under DistributedDataParallel (which
    averages gradients over processes), so that unequal shards still give the whole batch's mean.
    """
    model.train()
    with autocast if autocast is not None else contextlib.nullcontext():
        if rotated is None:
            embeddings, logits = model(views), None
        else:
            embeddings, logits = model(views, rotated)
    batch_targets = targets() if callable(targets) else targets
    total, mse, rotation = mmdc_loss(embeddings, batch_targets, logits, rotation_labels, rotation_weight, mse_reduction)
    optimizer.zero_grad(set_to_none=True)
    (total * loss_scale if loss_scale != 1.0 else total).backward()
    optimizer.step()
    return mse.detach(), rotation.detach()
