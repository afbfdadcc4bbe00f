"""Figures: confusion matrix, an image grid per cluster, training curves, the method overview."""
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
    """One row per cluster, ``n_per_cluster`` random members each.

    images: (N, H, W) or (N, H, W, C), as given to ``MMDC.fit``: uint8 as is, any other real dtype scaled
    from the array's own min and max to 0..1, as fit scales it (grayscale: each image's grey levels
    stretched to its own range by ``imshow``); labels: (N,). Only the drawn images
    are converted (no copy of a whole data set).
    """
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.number) or np.issubdtype(images.dtype, np.complexfloating) or images.dtype == bool:
        raise TypeError(f"images should be a numeric array (uint8 or float), got dtype {images.dtype}.")
    if images.ndim == 3:
        images = images[..., None]  # (N, H, W) grayscale, as MMDC.fit takes it
    if images.ndim != 4:
        raise ValueError(f"images should have shape (N, H, W) or (N, H, W, C), got shape {images.shape}.")
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise ValueError(f"labels should have one entry per image, shape ({len(images)},), got shape {labels.shape}.")
    low, high = (0.0, 1.0) if images.dtype == np.uint8 else (float(images.min()), float(images.max()))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError("images contain NaN or infinity.")

    def drawable(image: np.ndarray) -> np.ndarray:
        if image.dtype != np.uint8:
            image = np.clip((image - low) / max(high - low, 1e-12), 0, 1)
        return image[..., 0] if image.shape[-1] == 1 else image

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
                image = drawable(images[chosen[col]])
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        axes[row, 0].set_title(f"{cluster} (n={len(members)})", fontsize=6, loc="left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history: list[dict], keys: Sequence[str] = ("mse", "rotation_loss", "fit", "acc", "nmi", "ari")):
    """Training curves, one panel per key present in the history (a list of per-epoch dicts, e.g. ``history_``)."""
    present = [k for k in keys if history and k in history[0]]
    if not present:
        raise ValueError(f"history should be a non-empty list of per-epoch dicts holding one of keys={tuple(keys)}, "
                         f"got {'an empty history' if not history else 'epochs with keys ' + repr(sorted(history[0]))}.")
    fig, axes = plt.subplots(1, len(present), figsize=(2.6 * len(present), 2.4), squeeze=False)
    epochs = [entry["epoch"] for entry in history]
    for ax, key in zip(axes[0], present):
        ax.plot(epochs, [entry[key] for entry in history])
        ax.set_title(key)
        ax.set_xlabel("epoch")
    fig.tight_layout()
    return fig


# (x, y) centres of the overview's boxes, in axes units (0..1), and their text.
_OVERVIEW_BOXES = {
    "images": ((0.07, 0.5), "a batch of\nB images"),
    "clean": ((0.25, 0.82), "clean view\n(centre crop)"),
    "augmented": ((0.25, 0.5), "augmented view\n(crop, shift, tilt)"),
    "rotated": ((0.25, 0.16), "the same view turned\nq quarter turns"),
    "net_eval": ((0.47, 0.82), "network\n(eval mode, no grad)"),
    "net_train": ((0.47, 0.33), "network (train mode)\none backbone pass"),
    "hungarian": ((0.70, 0.82), "Hungarian step:\npermute the batch's\ntargets, least total\ndistance"),
    "targets": ((0.91, 0.82), "N targets, drawn\nonce from a mixture\nof k Gaussians"),
    "mse": ((0.70, 0.5), "MSE to the\npermuted targets"),
    "rotation": ((0.70, 0.16), "rotation head:\ncross-entropy on q"),
    "step": ((0.91, 0.33), "one SGD step on\nMSE + w x rotation"),
}
_OVERVIEW_ARROWS = [
    ("images", "clean"), ("images", "augmented"), ("augmented", "rotated"), ("clean", "net_eval"),
    ("augmented", "net_train"), ("rotated", "net_train"), ("net_eval", "hungarian"), ("targets", "hungarian"),
    ("hungarian", "mse"), ("net_train", "mse"), ("net_train", "rotation"), ("mse", "step"), ("rotation", "step"),
]


def plot_method_overview(ax=None):
    """MMDC's training step as a diagram: the clean view chooses the targets, the augmented view trains towards
    them, a rotated copy trains the rotation head; an image's cluster is its embedding's nearest mixture mean."""
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.2))
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.axis("off")
    colours = {"clean": "#dbe9f6", "net_eval": "#dbe9f6", "hungarian": "#dbe9f6", "targets": "#fde7c8",
               "rotated": "#e3f1dc", "rotation": "#e3f1dc"}
    boxes = {
        name: ax.text(x, y, text, ha="center", va="center", fontsize=8.5,
                      bbox=dict(boxstyle="round,pad=0.45", facecolor=colours.get(name, "#f2f2f2"), edgecolor="#555555"))
        for name, ((x, y), text) in _OVERVIEW_BOXES.items()
    }
    for start, end in _OVERVIEW_ARROWS:  # each arrow clipped to the edges of its two boxes
        ax.annotate("", xy=_OVERVIEW_BOXES[end][0], xytext=_OVERVIEW_BOXES[start][0],
                    arrowprops=dict(arrowstyle="-|>", color="#555555", lw=1.1, shrinkA=2, shrinkB=2,
                                    patchA=boxes[start].get_bbox_patch(), patchB=boxes[end].get_bbox_patch()))
    ax.text(0.5, 0.0, "After training: each image's cluster is the mixture mean nearest to its clean embedding.",
            ha="center", va="bottom", fontsize=9, style="italic")
    return ax.figure
