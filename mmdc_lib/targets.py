"""Targets sampled from a Gaussian mixture whose means lie on the unit sphere.

Each image owns one target point. A target picks a mixture component at
random (or, with balanced counts, every component gets N/k targets), adds
N(0, sigma^2) noise per dimension and is projected back onto the sphere. With
sigma = 0 (the authors' default) targets sit exactly on the means.
"""
from __future__ import annotations

import torch

from .config import TARGET_COUNTS


def mixture_means(n_clusters: int, dim: int, kind: str = "auto", generator: torch.Generator | None = None) -> torch.Tensor:
    """The k component means, unit vectors in R^d.

    kind: "onehot" (the corners e_1..e_k, needs d == k), "orthogonal" (k
    orthonormal random directions, needs d >= k), "random" (k random unit
    vectors, any d), or "auto" (one-hot when d == k, else random).

    Returns a float32 tensor of shape (k, d) with unit-norm rows.
    """
    if kind == "auto":
        kind = "onehot" if dim == n_clusters else "random"
    if kind == "onehot":
        if dim != n_clusters:
            raise ValueError(f"one-hot means need dim == n_clusters, got {dim} != {n_clusters}.")
        return torch.eye(n_clusters)
    if kind == "orthogonal":
        if dim < n_clusters:
            raise ValueError(f"orthogonal means need dim >= n_clusters, got {dim} < {n_clusters}.")
        gaussian = torch.randn(dim, n_clusters, generator=generator)
        q, _ = torch.linalg.qr(gaussian)  # (d, k), orthonormal columns
        return q.T.contiguous()
    if kind == "random":
        gaussian = torch.randn(n_clusters, dim, generator=generator)
        return torch.nn.functional.normalize(gaussian, dim=1)
    raise ValueError(f"unknown kind of means {kind!r}; use 'auto', 'onehot', 'orthogonal' or 'random'.")


def sample_targets(
    n_samples: int, means: torch.Tensor, sigma: float = 0.0, generator: torch.Generator | None = None,
    counts: str = "random",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one target per image.

    means: (k, d). Returns ``(targets, components)``: targets (n_samples, d),
    unit norm; components (n_samples,) int64, the mixture component of each.
    ``counts``: "random", each target draws its component uniformly (the authors'); "balanced", every
    component n_samples // k times (the first n_samples % k once more), shuffled.
    """
    if sigma < 0:
        raise ValueError(f"sigma={sigma} should be >= 0.")
    n_clusters = means.shape[0]
    if counts == "random":
        components = torch.randint(n_clusters, (n_samples,), generator=generator)
    elif counts == "balanced":
        components = (torch.arange(n_samples) % n_clusters)[torch.randperm(n_samples, generator=generator)]
    else:
        raise ValueError(f"counts={counts!r} should be one of {TARGET_COUNTS}.")
    points = means[components].clone()
    if sigma > 0:
        points += sigma * torch.randn(points.shape, generator=generator)
    return torch.nn.functional.normalize(points, dim=1), components


def nearest_mean(embeddings: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Cluster read-out: index of the closest mean (Euclidean) for each row.

    embeddings: (N, d), means: (k, d) -> (N,) int64.
    """
    return torch.cdist(embeddings, means.to(embeddings)).argmin(dim=1)
