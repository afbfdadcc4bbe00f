"""Networks: a shared backbone with an embedding head and a rotation head.

- ``small`` (ours): 5 conv-BN-ReLU layers (32-M-32-64-M-64-128), global average pooling; for 8x8 to
  32x32 images on a CPU; PyTorch's default initialisation.
- ``vgg``: the authors' small VGG for MNIST (``architectures/vgg.py`` in guysrn/mmdc), 32-M-64-M-128-M-256-M
  with BatchNorm, flattened (2x2x256 = 1024 features at 32 px) into the heads; needs at least 16 px.
  The authors' VGG has no rotation head; ours adds one (their ``--arch vgg --rotnet`` fails).
- ``resnet18``: the authors' ResNet-18 (``architectures/resnet.py``): a 3x3 stride-1 stem followed by a
  2x2 stride-2 max-pool with padding 1 (32 px -> 17x17 before layer1), torchvision's BasicBlocks,
  global average pooling; works at any input of 8 px or more.
The two authors' networks use the authors' initialisation (:func:`init_authors_weights`).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .rotation import N_ROTATIONS


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


def small_backbone(in_channels: int, input_size: int) -> tuple[nn.Module, int]:
    layers = [
        *_conv_bn_relu(in_channels, 32), nn.MaxPool2d(2),
        *_conv_bn_relu(32, 32), *_conv_bn_relu(32, 64), nn.MaxPool2d(2),
        *_conv_bn_relu(64, 64), *_conv_bn_relu(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ]
    return nn.Sequential(*layers), 128


def vgg_backbone(in_channels: int, input_size: int) -> tuple[nn.Module, int]:
    """The authors' small VGG: four conv-BN-ReLU + 2x2 max-pool stages, flattened (no global pooling)."""
    layers: list[nn.Module] = []
    side = input_size
    for width in (32, 64, 128, 256):
        layers += [*_conv_bn_relu(in_channels, width), nn.MaxPool2d(2)]
        in_channels, side = width, side // 2
    if side < 1:
        raise ValueError(f"network='vgg' needs input_size >= 16, got {input_size}.")
    return nn.Sequential(*layers, nn.Flatten()), 256 * side * side


def resnet18_backbone(in_channels: int, input_size: int) -> tuple[nn.Module, int]:
    """The authors' ResNet-18 for small images: 3x3 stride-1 stem, then MaxPool2d(2, stride 2, padding 1)."""
    import torchvision  # here, not above: importing it costs every process about a second (it loads torch._dynamo)

    net = torchvision.models.resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.MaxPool2d(kernel_size=2, stride=2, padding=1)
    net.fc = nn.Identity()
    return net, 512


BACKBONES = {"small": small_backbone, "vgg": vgg_backbone, "resnet18": resnet18_backbone}
AUTHORS_NETWORKS = ("vgg", "resnet18")


def init_authors_weights(module: nn.Module) -> None:
    """The authors' initialisation: Kaiming-normal (fan-in, ReLU) convolutions, BatchNorm 1 and 0,
    linear weights N(0, 0.01), zero biases."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 0.01)
            nn.init.zeros_(layer.bias)


class MMDCNet(nn.Module):
    """Backbone -> (L2-normalised embedding in R^d, rotation logits over 4 classes).

    ``input_size`` matters only for ``vgg``, whose flattened features depend on it. The heads always
    run in float32, also when the backbone runs under bf16 autocast.
    """

    def __init__(self, network: str, in_channels: int, embedding_dim: int, input_size: int = 32):
        super().__init__()
        if network not in BACKBONES:
            raise ValueError(f"unknown network {network!r}; choose one of {sorted(BACKBONES)}.")
        self.backbone, n_features = BACKBONES[network](in_channels, input_size)
        self.embedding_head = nn.Linear(n_features, embedding_dim)
        self.rotation_head = nn.Linear(n_features, N_ROTATIONS)
        if network in AUTHORS_NETWORKS:
            init_authors_weights(self)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, S, S) float -> backbone features (B, F)."""
        return self.backbone(images)

    def embed_features(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, F) -> unit-norm embeddings (B, d), in float32."""
        with torch.autocast(features.device.type, enabled=False):
            return F.normalize(self.embedding_head(features.float()), dim=1)

    def rotate_features(self, features: torch.Tensor) -> torch.Tensor:
        """features (R, F) -> rotation logits (R, 4), in float32."""
        with torch.autocast(features.device.type, enabled=False):
            return self.rotation_head(features.float())

    def forward(self, images: Optional[torch.Tensor], rotation_images: Optional[torch.Tensor] = None):
        """Embeddings (B, d) of ``images``; with ``rotation_images`` (R, C, S, S) also rotation logits (R, 4).

        With both, one backbone pass sees both batches (one BatchNorm batch) and the result is
        ``(embeddings, logits)``; ``images=None`` gives ``(None, logits)``: the rotation task alone.
        Going through ``forward`` (not the submodules) is what DistributedDataParallel needs.
        """
        if rotation_images is None:
            return self.embed_features(self.features(images))
        if images is None:
            return None, self.rotate_features(self.features(rotation_images))
        features = self.features(torch.cat([images, rotation_images]))
        return self.embed_features(features[: len(images)]), self.rotate_features(features[len(images) :])


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay only on weights with more than one dimension (not biases or BatchNorm), as the authors."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
