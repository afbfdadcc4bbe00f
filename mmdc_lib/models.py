"""Networks: a shared backbone with an embedding head and a rotation head.

``small`` and ``resnet18`` end in global average pooling and work at any input size of 8 pixels
or more; ``vgg`` halves the image four times and needs at least 16.
- ``small``: 5 conv-BN-ReLU layers (32-M-32-64-M-64-128), for 8x8 to 32x32 images on a CPU.
- ``vgg``: the authors' MNIST net, 32-M-64-M-128-M-256-M with BatchNorm.
- ``resnet18``: torchvision's ResNet-18 with a 3x3 stride-1 stem and no max-pool, as for CIFAR.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from .rotation import N_ROTATIONS


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


def small_backbone(in_channels: int) -> tuple[nn.Module, int]:
    layers = [
        *_conv_bn_relu(in_channels, 32), nn.MaxPool2d(2),
        *_conv_bn_relu(32, 32), *_conv_bn_relu(32, 64), nn.MaxPool2d(2),
        *_conv_bn_relu(64, 64), *_conv_bn_relu(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ]
    return nn.Sequential(*layers), 128


def vgg_backbone(in_channels: int) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = []
    for width in (32, 64, 128, 256):
        layers += [*_conv_bn_relu(in_channels, width), nn.MaxPool2d(2)]
        in_channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 256


def resnet18_backbone(in_channels: int) -> tuple[nn.Module, int]:
    net = torchvision.models.resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    return net, 512


BACKBONES = {"small": small_backbone, "vgg": vgg_backbone, "resnet18": resnet18_backbone}


class MMDCNet(nn.Module):
    """Backbone -> (L2-normalised embedding in R^d, rotation logits over 4 classes)."""

    def __init__(self, network: str, in_channels: int, embedding_dim: int):
        super().__init__()
        if network not in BACKBONES:
            raise ValueError(f"unknown network {network!r}; choose one of {sorted(BACKBONES)}.")
        self.backbone, n_features = BACKBONES[network](in_channels)
        self.embedding_head = nn.Linear(n_features, embedding_dim)
        self.rotation_head = nn.Linear(n_features, N_ROTATIONS)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, S, S) float -> backbone features (B, F)."""
        return self.backbone(images)

    def embed_features(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, F) -> unit-norm embeddings (B, d)."""
        return F.normalize(self.embedding_head(features), dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, S, S) -> unit-norm embeddings (B, d)."""
        return self.embed_features(self.features(images))


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay only on weights with more than one dimension (not biases or BatchNorm), as the authors."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
