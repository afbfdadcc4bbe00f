"""Rotation self-supervision: which of 0/90/180/270 degrees was applied?"""
from __future__ import annotations

import torch

N_ROTATIONS = 4


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


def rotate_randomly(images: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One random rotation per image: a quarter of the cost of ``rotate_batch``.

    images: (B, C, H, W). Returns ``(rotated, labels)``: (B, C, H, W) and (B,) int64 in {0..3}.
    """
    labels = torch.randint(N_ROTATIONS, (images.shape[0],), generator=generator).to(images.device)
    rotated = images.clone()
    for quarter in range(1, N_ROTATIONS):  # rotate only the images drawn for each quarter turn
        chosen = labels == quarter
        rotated[chosen] = torch.rot90(images[chosen], quarter, dims=(2, 3))
    return rotated, labels
