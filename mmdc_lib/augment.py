"""Batch augmentation with tensor ops, in the style of airbench: no PIL, no workers.

Images stay on the device as uint8 (B, C, H, W). Augmenting is two steps:

1. ``draw_view_params(n, config, generator, side)``: every random number the views of n images
   need, drawn at once on the CPU from an explicit ``torch.Generator`` (a seed fixes a run and a
   checkpoint stores the generator's state). The trainer draws a whole epoch's parameters at once
   and moves them to the device once.
2. ``apply_view(images, size, config, params)``: the views, with whole-batch tensor ops and no
   host-device synchronisation. One ``grid_sample`` does the crop, zoom, shift, rotation, flip and
   resize of a whole batch; colour jitter and grayscale are per-image blends.

Two pipelines (see :class:`mmdc_lib.config.AugmentConfig`): ours, an affine view then colour; and
the authors' (``crop_sizes`` set), colour on the whole image, then flip, rotation and a whole-pixel
crop resized as ``torch.nn.functional.interpolate`` does (bilinear, borders clamped to the crop).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from .config import AugmentConfig

# ITU-R 601 luma weights, as torchvision's rgb_to_grayscale.
_LUMA = (0.299, 0.587, 0.114)
Params = dict[str, torch.Tensor]
# Small constant tensors, built once per (name, device, dtype): torch.tensor(..., device="cuda") would copy
# from the host and synchronise the stream at every call.
_CONSTANTS: dict[tuple, torch.Tensor] = {}


def _constant(name: str, values, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    key = (name, str(device), dtype)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = torch.tensor(values, dtype=dtype).to(device)
    return _CONSTANTS[key]


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 in [0, 1]."""
    return images.float().div_(255.0)


def _uniform(low: float, high: float, n: int, generator: Optional[torch.Generator]) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


# --- random parameters ----------------------------------------------------------------------
def crop_pixels(fraction: float, height: int, width: int) -> int:
    """The side in whole pixels of a square crop that is ``fraction`` of the image's shorter side."""
    side = min(height, width)
    return max(1, min(side, round(fraction * side)))


def draw_view_params(n: int, config: AugmentConfig, generator: Optional[torch.Generator], height: int,
                     width: Optional[int] = None) -> Params:
    """Every random number that the training views of n images of height x width pixels need, on the CPU.

    Returns tensors with n rows; ``params_to(params, device)`` moves them, ``slice_params`` cuts a batch.
    """
    width = height if width is None else width
    params: Params = {}
    if config.authors_pipeline:
        sides = torch.tensor([crop_pixels(fraction, height, width) for fraction in config.crop_sizes])
        params["crop"] = sides[torch.randint(len(sides), (n,), generator=generator)]
        room = torch.stack([width - params["crop"], height - params["crop"]], dim=1) + 1  # RandomCrop: 0..W-c, 0..H-c
        params["offset"] = (torch.rand(n, 2, generator=generator) * room).floor().long()
    else:
        params["scale"] = _uniform(*config.crop_scale, n, generator)  # crop side, fraction of the image side
        params["shift"] = 2 * torch.rand(n, 2, generator=generator) - 1  # in [-1, 1]; scaled at the end
    params["angle"] = _uniform(-config.rotation_degrees, config.rotation_degrees, n, generator) * (math.pi / 180)
    params["flip"] = torch.rand(n, generator=generator) < 0.5 if config.hflip else torch.zeros(n, dtype=torch.bool)
    if config.color_jitter is not None:
        brightness, contrast, saturation, hue = config.color_jitter
        params["jitter"] = torch.stack([
            _uniform(max(0.0, 1 - brightness), 1 + brightness, n, generator),
            _uniform(max(0.0, 1 - contrast), 1 + contrast, n, generator),
            _uniform(max(0.0, 1 - saturation), 1 + saturation, n, generator),
            _uniform(-hue, hue, n, generator),
        ], dim=1)
        params["jitter_order"] = torch.rand(n, 4, generator=generator).argsort(dim=1)  # as torchvision: random order
    if config.grayscale_p > 0:
        params["gray"] = torch.rand(n, generator=generator) < config.grayscale_p
    if tuple(config.aspect_ratio) != (1.0, 1.0):  # drawn last and only when asked: square crops keep their stream
        log_low, log_high = math.log(config.aspect_ratio[0]), math.log(config.aspect_ratio[1])
        params["aspect"] = _uniform(log_low, log_high, n, generator).exp()
    if config.cutout > 0:  # drawn only when asked: views without cutout keep their stream
        params["cutout"] = torch.rand(n, 2, generator=generator)  # centre (x, y), fractions of the view's side
    if not config.authors_pipeline:
        # A crop narrower than the image may sit anywhere inside it along that side; `translate` adds a
        # further shift. Sides (n, 1) for square crops, (n, 2) = (width, height) with an aspect ratio.
        sides = crop_sides(params)
        params["shift"] = params["shift"] * (config.translate + (1.0 - sides).clamp(min=0) / 2) * 2  # coords span 2
    return params


def crop_sides(params: Params) -> torch.Tensor:
    """The crop's sides as fractions of the image side: (n, 1) for square crops, (n, 2) = (width, height)
    with an aspect ratio r (width scale * sqrt(r), height scale / sqrt(r): the square crop's area)."""
    scale = params["scale"][:, None]
    if "aspect" not in params:
        return scale
    stretch = params["aspect"].sqrt()[:, None]
    return torch.cat([scale * stretch, scale / stretch], dim=1)


def params_to(params: Params, device: torch.device | str) -> Params:
    return {key: value.to(device, non_blocking=True) for key, value in params.items()}


def slice_params(params: Params, start: int, stop: int) -> Params:
    """The parameters of images ``start`` to ``stop`` (rows of every tensor), e.g. one batch of an epoch's draw."""
    return {key: value[start:stop] for key, value in params.items()}


# --- geometry -------------------------------------------------------------------------------
def _resample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of uint8 or float images at ``grid`` (B, S, S, 2), zeros outside; float in [0, 1]."""
    source = to_float(images) if images.dtype == torch.uint8 else images
    views = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return views.contiguous(memory_format=torch.channels_last)  # the layout the models use


def _affine_grid(images: torch.Tensor, size: int, params: Params) -> torch.Tensor:
    """Our pipeline: zoom/crop, shift, rotation and flip as one affine map per image."""
    shift, angle = params["shift"], params["angle"]
    flip = 1.0 - 2.0 * params["flip"].to(shift.dtype)
    sides = crop_sides(params)
    width, height = sides[:, 0], sides[:, -1]
    cos, sin = torch.cos(angle), torch.sin(angle)
    # output -> input: flip, rotate, then the crop's sides along the image's axes (a crop resized to a square,
    # then rotated and flipped, as torchvision's RandomResizedCrop before its rotation). Square crops: the same
    # numbers as scale * rotation.
    theta = torch.stack([torch.stack([width * cos * flip, -width * sin, shift[:, 0]], dim=1),
                         torch.stack([height * sin * flip, height * cos, shift[:, 1]], dim=1)], dim=1)
    return F.affine_grid(theta, [images.shape[0], images.shape[1], size, size], align_corners=False)


def _crop_grid(images: torch.Tensor, size: int, crop: torch.Tensor, offset: torch.Tensor,
               angle: Optional[torch.Tensor] = None, flip: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The authors' geometry: flip, rotate about the centre, whole-pixel crop (B,) at offset (B, 2) = (x, y),
    resized to size x size with interpolate's bilinear rule (source borders clamped to the crop)."""
    height, width = images.shape[2:]
    pixels = torch.arange(size, device=images.device, dtype=torch.float32)
    side = crop.to(torch.float32)[:, None]
    local = ((pixels[None] + 0.5) * side / size - 0.5).clamp(min=0)
    local = torch.minimum(local, side - 1)  # (B, size): crop coordinate of each output pixel, in pixels
    x = (offset[:, 0:1].float() + local)[:, None, :].expand(-1, size, -1)  # (B, size, size), columns
    y = (offset[:, 1:2].float() + local)[:, :, None].expand(-1, -1, size)  # rows
    if angle is not None:  # the crop came from the rotated image: rotate its points back about the centre
        cx, cy = (width - 1) / 2, (height - 1) / 2
        cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
        x, y = cx + cos * (x - cx) - sin * (y - cy), cy + sin * (x - cx) + cos * (y - cy)
    if flip is not None:  # the flip came before the rotation
        x = torch.where(flip[:, None, None], (width - 1) - x, x)
    return torch.stack([(2 * x + 1) / width - 1, (2 * y + 1) / height - 1], dim=-1)


def _view_grid(images: torch.Tensor, size: int, config: AugmentConfig, params: Params) -> torch.Tensor:
    if config.authors_pipeline:
        angle = params["angle"] if config.rotation_degrees > 0 else None
        flip = params["flip"] if config.hflip else None
        return _crop_grid(images, size, params["crop"], params["offset"], angle, flip)
    return _affine_grid(images, size, params)


def geometric_view(images: torch.Tensor, size: int, config: AugmentConfig, params: Params) -> torch.Tensor:
    """The geometric part of a training view: uint8 (B, C, H, W) -> float (B, C, size, size) in [0, 1]."""
    return _resample(images, _view_grid(images, size, config, params))


def clean_view(images: torch.Tensor, size: int, eval_crop: float = 1.0, whole_pixel: bool = False) -> torch.Tensor:
    """The un-augmented view: a centre crop of side ``eval_crop``, resized to size x size.

    images: uint8 (B, C, H, W). Returns float32 (B, C, size, size) in [0, 1]. ``whole_pixel``: the
    authors' view (torchvision's CenterCrop of round(eval_crop x side) pixels, then resize).
    """
    n, _, height, width = images.shape
    if whole_pixel:
        crop = crop_pixels(eval_crop, height, width)
        centre = [int(round((width - crop) / 2)), int(round((height - crop) / 2))]
        offset = _constant(f"centre {centre}", centre, images.device, torch.long).expand(n, 2)
        return _resample(images, _crop_grid(images, size, torch.full((n,), crop, device=images.device), offset))
    theta = _constant(f"zoom {eval_crop}", [[eval_crop, 0.0, 0.0], [0.0, eval_crop, 0.0]], images.device).expand(n, 2, 3)
    return _resample(images, F.affine_grid(theta, [n, images.shape[1], size, size], align_corners=False))


# --- colour ---------------------------------------------------------------------------------
def grayscale(images: torch.Tensor) -> torch.Tensor:
    """float (B, 3, H, W) -> luma (B, 1, H, W)."""
    weights = _constant("luma", _LUMA, images.device, images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def _blend(images: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor * images + (1 - factor) * other, clamped to [0, 1]; factor (B,)."""
    factor = factor.view(-1, 1, 1, 1)
    return (factor * images + (1 - factor) * other).clamp_(0, 1)


def _luma(images: torch.Tensor) -> torch.Tensor:
    return images if images.shape[1] == 1 else grayscale(images)


def shift_hue(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift the hue of RGB images (B, 3, H, W) in [0, 1] by ``shift`` (B,) of a turn, in HSV as torchvision."""
    red, green, blue = images.unbind(dim=1)
    value, _ = images.max(dim=1)
    chroma = value - images.min(dim=1).values
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue = torch.where(value == red, ((green - blue) / safe) % 6,
                      torch.where(value == green, (blue - red) / safe + 2, (red - green) / safe + 4))
    hue = torch.where(chroma > 0, hue / 6, torch.zeros_like(hue))
    saturation = torch.where(value > 0, chroma / torch.where(value > 0, value, torch.ones_like(value)), torch.zeros_like(value))
    hue = (hue + shift.view(-1, 1, 1)) % 1.0
    # HSV -> RGB: each channel from the distance of the hue to its own phase
    phases = _constant("hsv phases", [5.0, 3.0, 1.0], images.device, images.dtype).view(1, 3, 1, 1)
    k = (phases + hue[:, None] * 6) % 6
    return value[:, None] - value[:, None] * saturation[:, None] * (torch.minimum(k, 4 - k).clamp(0, 1))


def color_jitter(images: torch.Tensor, strength: tuple[float, float, float, float],
                 generator: Optional[torch.Generator] = None, params: Optional[Params] = None) -> torch.Tensor:
    """Random brightness, contrast, saturation and hue per image, in a random order per image (torchvision's
    ColorJitter). images: float (B, C, H, W) in [0, 1]; saturation and hue apply to RGB only, as for PIL's
    grayscale images. ``params`` ("jitter" (B, 4), "jitter_order" (B, 4)) or a ``generator`` to draw them."""
    if params is None:
        config = AugmentConfig(color_jitter=tuple(strength))
        params = params_to(draw_view_params(images.shape[0], config, generator, *images.shape[2:]), images.device)
    factors, order = params["jitter"], params["jitter_order"]
    colour = images.shape[1] == 3
    operations = (
        lambda x, f: (x * f.view(-1, 1, 1, 1)).clamp(0, 1),
        lambda x, f: _blend(x, _luma(x).mean(dim=(1, 2, 3), keepdim=True), f),
        (lambda x, f: _blend(x, grayscale(x), f)) if colour else None,
        (lambda x, f: shift_hue(x, f)) if colour else None,
    )
    for step in range(4):
        for index, operation in enumerate(operations):
            if operation is not None:
                chosen = (order[:, step] == index).view(-1, 1, 1, 1)
                images = torch.where(chosen, operation(images, factors[:, index]), images)
    return images


def random_grayscale(images: torch.Tensor, p: float, generator: Optional[torch.Generator] = None,
                     chosen: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Replace each RGB image by its luma (in all 3 channels) with probability p (or where ``chosen`` (B,))."""
    if images.shape[1] != 3 or p <= 0:
        return images
    if chosen is None:
        chosen = (torch.rand(images.shape[0], generator=generator) < p).to(images.device)
    return torch.where(chosen.view(-1, 1, 1, 1), grayscale(images).expand_as(images), images)


def _colour(images: torch.Tensor, config: AugmentConfig, params: Params) -> torch.Tensor:
    if config.color_jitter is not None:
        images = color_jitter(images, config.color_jitter, params=params)
    if config.grayscale_p > 0:
        images = random_grayscale(images, config.grayscale_p, chosen=params["gray"])
    return images


def cutout(views: torch.Tensor, side: float, centres: torch.Tensor) -> torch.Tensor:
    """Zero a square of ``side`` (fraction of the view's side) about each view's centre (B, 2) in [0, 1]:
    float (B, C, S, S) -> the same shape."""
    size = views.shape[-1]
    pixel = (torch.arange(size, device=views.device, dtype=views.dtype) + 0.5) / size  # (S,) pixel centres
    inside_x = (pixel.view(1, -1) - centres[:, :1]).abs() < side / 2  # (B, S)
    inside_y = (pixel.view(1, -1) - centres[:, 1:]).abs() < side / 2
    hole = inside_y.unsqueeze(2) & inside_x.unsqueeze(1)  # (B, S, S): rows y, columns x
    return views.masked_fill(hole.unsqueeze(1), 0.0)


# --- whole views ----------------------------------------------------------------------------
def apply_view(images: torch.Tensor, size: int, config: AugmentConfig, params: Params) -> torch.Tensor:
    """The training view of a uint8 batch (B, C, H, W) -> float (B, C, size, size) in [0, 1].

    ``params`` on the images' device (``draw_view_params`` then ``params_to``); no synchronisation.
    """
    if config.authors_pipeline:  # colour first, on the whole image; then the geometry resamples it
        views = _resample(_colour(to_float(images), config, params), _view_grid(images, size, config, params))
    else:
        views = _colour(geometric_view(images, size, config, params), config, params)
    return cutout(views, config.cutout, params["cutout"]) if config.cutout > 0 else views


def random_affine_view(images: torch.Tensor, size: int, config: AugmentConfig,
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """The geometric part of ``augment_batch`` only (no colour): uint8 (B, C, H, W) -> float (B, C, size, size)."""
    params = params_to(draw_view_params(images.shape[0], config, generator, *images.shape[2:]), images.device)
    return geometric_view(images, size, config, params)


def augment_batch(images: torch.Tensor, size: int, config: AugmentConfig,
                  generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """The full training augmentation of a uint8 batch (B, C, H, W) -> float (B, C, size, size) in [0, 1]."""
    params = params_to(draw_view_params(images.shape[0], config, generator, *images.shape[2:]), images.device)
    return apply_view(images, size, config, params)
