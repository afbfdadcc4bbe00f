"""Batch augmentation with tensor ops, in the style of airbench: no PIL, no workers.

Images stay on the device as uint8 (B, C, H, W). One affine ``grid_sample``
does the crop, zoom, shift, small rotation, flip and resize of a whole batch at
once; colour jitter and grayscale are per-image blends. Random parameters are
drawn on the CPU from an explicit ``torch.Generator`` (cheap: a few numbers an
image), so a seed fixes a run and a checkpoint can store the generator's state.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import AugmentConfig

# ITU-R 601 luma weights, as torchvision's rgb_to_grayscale.
_LUMA = (0.299, 0.587, 0.114)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 in [0, 1]."""
    return images.float().div_(255.0)


def _uniform(low: float, high: float, n: int, generator: torch.Generator | None) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _resample(images: torch.Tensor, theta: torch.Tensor, size: int) -> torch.Tensor:
    """Sample a size x size view of each image through the affine maps theta (B, 2, 3)."""
    grid = F.affine_grid(theta.to(images.device), [images.shape[0], images.shape[1], size, size], align_corners=False)
    views = F.grid_sample(to_float(images), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return views.contiguous(memory_format=torch.channels_last)  # the layout the models use


def clean_view(images: torch.Tensor, size: int, eval_crop: float = 1.0) -> torch.Tensor:
    """The un-augmented view: a centre crop of side ``eval_crop``, resized to size x size.

    images: uint8 (B, C, H, W). Returns float32 (B, C, size, size) in [0, 1].
    """
    theta = torch.tensor([[eval_crop, 0.0, 0.0], [0.0, eval_crop, 0.0]]).expand(images.shape[0], 2, 3)
    return _resample(images, theta, size)


def random_affine_view(
    images: torch.Tensor, size: int, config: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random crop/zoom, shift, rotation and flip of each image, resized to size x size.

    images: uint8 (B, C, H, W). Returns float32 (B, C, size, size) in [0, 1].
    """
    n = images.shape[0]
    scale = _uniform(*config.crop_scale, n, generator)  # crop side, fraction of the image side
    # A crop smaller than the image may sit anywhere inside it; `translate` adds a further shift.
    max_shift = config.translate + (1.0 - scale).clamp(min=0) / 2
    shift = (2 * torch.rand(n, 2, generator=generator) - 1) * max_shift[:, None] * 2  # normalised coords span 2
    angle = _uniform(-config.rotation_degrees, config.rotation_degrees, n, generator) * (math.pi / 180)
    flip = torch.ones(n)
    if config.hflip:
        flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[:, 0]], dim=1), torch.stack([sin * flip, cos, shift[:, 1]], dim=1)],
        dim=1,
    )
    return _resample(images, theta, size)


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """float (B, 3, H, W) -> luma (B, 1, H, W)."""
    weights = torch.tensor(_LUMA, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def _blend(images: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor * images + (1 - factor) * other, clamped to [0, 1]; factor (B,)."""
    factor = factor.to(images.device).view(-1, 1, 1, 1)
    return (factor * images + (1 - factor) * other).clamp_(0, 1)


def _rotate_hue(images: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma of RGB images by ``turns`` (B,) of a full circle, in YIQ space."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=images.device)
    to_rgb = torch.linalg.inv(to_yiq)
    angle = (2 * math.pi * turns).to(images.device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.zeros(images.shape[0], 3, 3, device=images.device)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2], rotation[:, 2, 1], rotation[:, 2, 2] = cos, -sin, sin, cos
    matrix = to_rgb @ rotation @ to_yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", matrix, images).clamp_(0, 1)


def color_jitter(
    images: torch.Tensor, strength: tuple[float, float, float, float], generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random brightness, contrast, saturation and hue per image (fixed order).

    images: float (B, C, H, W) in [0, 1]; saturation and hue apply to RGB only.
    """
    brightness, contrast, saturation, hue = strength
    n, channels = images.shape[:2]
    images = (images * _uniform(1 - brightness, 1 + brightness, n, generator).to(images.device).view(-1, 1, 1, 1)).clamp_(0, 1)
    luma = images if channels == 1 else grayscale(images)
    images = _blend(images, luma.mean(dim=(1, 2, 3), keepdim=True), _uniform(1 - contrast, 1 + contrast, n, generator))
    if channels == 3:
        images = _blend(images, grayscale(images), _uniform(1 - saturation, 1 + saturation, n, generator))
        images = _rotate_hue(images, _uniform(-hue, hue, n, generator))
    return images


def random_grayscale(images: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each RGB image by its luma (in all 3 channels) with probability p."""
    if images.shape[1] != 3 or p <= 0:
        return images
    chosen = (torch.rand(images.shape[0], generator=generator) < p).to(images.device).view(-1, 1, 1, 1)
    return torch.where(chosen, grayscale(images).expand_as(images), images)


def augment_batch(
    images: torch.Tensor, size: int, config: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The full training augmentation of a uint8 batch (B, C, H, W) -> float (B, C, size, size) in [0, 1]."""
    views = random_affine_view(images, size, config, generator)
    if config.color_jitter is not None:
        views = color_jitter(views, config.color_jitter, generator)
    return random_grayscale(views, config.grayscale_p, generator)
