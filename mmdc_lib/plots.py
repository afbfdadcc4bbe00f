"""Figures: confusion matrix, an image grid per cluster, training curves."""
from __future__ import annotations

from typing import Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np


def plot_confusion(
    confusion: np.ndarray, class_names: Optional[Sequence[str]] = None, cluster_ids: Optional[Sequence[int]] = None,
    ax=None, title: str = "Confusion matrix",
):
    """Rows: true classes; columns: clusters, matched clusters on the diagonal (see metrics.evaluate_clustering)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(1 + 0.45 * confusion.shape[1], 1 + 0.45 * confusion.shape[0]))
    ax.imshow(confusion, cmap="Blues")
    for (row, col), count in np.ndenumerate(confusion):
        if confusion.shape[0] <= 20:
            ax.text(col, row, str(count), ha="center", va="center", fontsize=7,
                    color="white" if count > confusion.max() / 2 else "black")
    ax.set_xlabel("cluster (matched order)")
    if cluster_ids is not None:
        # An all-zero column is a class left without a cluster (see metrics.evaluate_clustering).
        names = [str(c) if confusion[:, i].any() else "none" for i, c in enumerate(cluster_ids)]
        ax.set_xticks(range(len(cluster_ids)), names, fontsize=7)
    ax.set_ylabel("true class")
    if class_names is not None and len(class_names) == confusion.shape[0]:
        ax.set_yticks(range(len(class_names)), class_names, fontsize=7)
    ax.set_title(title)
    return ax.figure


def plot_cluster_grid(images: np.ndarray, labels: np.ndarray, n_per_cluster: int = 10, seed: int = 0, title: str = "Images per cluster"):
    """One row per cluster, ``n_per_cluster`` random members each. images: (N, H, W, C) uint8."""
    clusters = np.unique(labels)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(clusters), n_per_cluster, figsize=(0.8 * n_per_cluster, 0.8 * len(clusters)), squeeze=False)
    for row, cluster in enumerate(clusters):
        members = np.flatnonzero(labels == cluster)
        chosen = rng.choice(members, size=min(n_per_cluster, len(members)), replace=False)
        for col in range(n_per_cluster):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(chosen):
                image = images[chosen[col]]
                ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None)
        axes[row, 0].set_title(f"{cluster} (n={len(members)})", fontsize=6, loc="left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history: list[dict], keys: Sequence[str] = ("mse", "rotation_loss", "fit", "acc", "nmi", "ari")):
    """Training curves, one panel per key present in the history."""
    keys = [k for k in keys if history and k in history[0]]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 2.4), squeeze=False)
    epochs = [entry["epoch"] for entry in history]
    for ax, key in zip(axes[0], keys):
        ax.plot(epochs, [entry[key] for entry in history])
        ax.set_title(key)
        ax.set_xlabel("epoch")
    fig.tight_layout()
    return fig
