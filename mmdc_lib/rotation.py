"""Rotation self-supervision: which of 0/90/180/270 degrees was applied?"""
from __future__ import annotations

import torch

N_ROTATIONS = 4
_INDEX_TABLES: dict[tuple[int, str], torch.Tensor] = {}  # (side, device) -> (4, side*side) pixel indices


def rotate_batch(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of every image.

    images: (B, C, H, W) with H == W. Returns ``(rotated, labels)``: rotated
    (4B, C, H, W), the first B un-rotated, then 90, 180 and 270 degrees
    counter-clockwise; labels (4B,) int64 in {0, 1, 2, 3}.
    """
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rotate_batch needs square (B, C, H, W) images, got shape {tuple(images.shape)}.")
    rotated = torch.cat([torch.rot90(images, quarter, dims=(2, 3)) for quarter in range(N_ROTATIONS)])
    labels = torch.arange(N_ROTATIONS, device=images.device).repeat_interleave(images.shape[0])
    return rotated, labels


def rotate_quarters(views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate the k-th quarter of a batch (4B, C, S, S) by k quarter turns: four different views per image,
    as the authors' rotation pass (an independent random crop of each rotated copy). Returns (rotated, labels)."""
    quarter = views.shape[0] // N_ROTATIONS
    rotated = torch.cat([torch.rot90(views[k * quarter : (k + 1) * quarter], k, dims=(2, 3)) for k in range(N_ROTATIONS)])
    labels = torch.arange(N_ROTATIONS, device=views.device).repeat_interleave(quarter)
    return rotated.contiguous(memory_format=torch.channels_last), labels


def _index_table(side: int, device: torch.device) -> torch.Tensor:
    key = (side, str(device))
    if key not in _INDEX_TABLES:  # built once per size and device: no constant rebuilt per step
        pixels = torch.arange(side * side).view(side, side)
        _INDEX_TABLES[key] = torch.stack([torch.rot90(pixels, k).flatten() for k in range(N_ROTATIONS)]).to(device)
    return _INDEX_TABLES[key]


def rotate_by(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Rotate image i by labels[i] quarter turns: one gather, no boolean masks (no host-device sync).

    images: (B, C, S, S); labels: (B,) int64 on the images' device. Equal to ``torch.rot90`` per image.
    """
    batch, channels, height, width = images.shape
    if height != width:
        raise ValueError(f"rotate_by needs square images, got {height}x{width}.")
    index = _index_table(height, images.device)[labels]  # (B, S*S)
    flat = images.reshape(batch, channels, height * width)
    rotated = flat.gather(2, index[:, None, :].expand(batch, channels, height * width))
    return rotated.view(batch, channels, height, width).contiguous(memory_format=torch.channels_last)


def rotate_randomly(images: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One random rotation per image: a quarter of the cost of ``rotate_batch``.

    images: (B, C, H, W). Returns ``(rotated, labels)``: (B, C, H, W) and (B,) int64 in {0..3}.
    """
    labels = torch.randint(N_ROTATIONS, (images.shape[0],), generator=generator).to(images.device)
    return rotate_by(images, labels), labels
