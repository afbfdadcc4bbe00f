"""Per-batch assignment: permute a batch's targets among its images.

The targets of a mini-batch are a fixed multiset; the Hungarian algorithm
(scipy's ``linear_sum_assignment``) chooses the one-to-one pairing of images
and targets with the smallest total Euclidean distance. Because batches are
reshuffled every epoch, targets travel across the whole data set over time.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


class PendingAssignment:
    """The Hungarian step of one batch, started: the distances are computed on the device and copied
    to the CPU without waiting (pinned memory, behind an event), so the caller can queue more GPU work
    (the augmented forward pass) before ``permutation()`` blocks for scipy. On the CPU it is plain.

    embeddings, targets: (B, d).
    """

    def __init__(self, embeddings: torch.Tensor, targets: torch.Tensor):
        if embeddings.shape != targets.shape:
            raise ValueError(f"embeddings {tuple(embeddings.shape)} and targets {tuple(targets.shape)} differ in shape.")
        cost = torch.cdist(embeddings.float(), targets.float())
        self.device = targets.device
        self._ready = None
        if cost.is_cuda:
            self._cost = torch.empty(cost.shape, dtype=cost.dtype, pin_memory=True)
            self._cost.copy_(cost, non_blocking=True)
            self._ready = torch.cuda.Event()
            self._ready.record(torch.cuda.current_stream(cost.device))  # the copy's stream, also for cuda:N
        else:
            self._cost = cost

    def permutation(self) -> torch.Tensor:
        """The permutation ``perm`` minimising sum_i ||embeddings[i] - targets[perm[i]]||, (B,) int64 on the
        targets' device. Raises FloatingPointError when the distances are NaN or infinite (a diverged network)."""
        if self._ready is not None:
            self._ready.synchronize()  # waits for the copy only, not for the work queued after it
        cost = self._cost.numpy()
        if not np.isfinite(cost).all():
            raise FloatingPointError("the embeddings contain NaN or infinity")
        rows, cols = linear_sum_assignment(cost)
        perm = np.empty_like(cols)
        perm[rows] = cols
        return torch.from_numpy(perm).to(self.device, non_blocking=True)


def optimal_permutation(embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The permutation ``perm`` minimising sum_i ||embeddings[i] - targets[perm[i]]||.

    embeddings, targets: (B, d). Returns (B,) int64 on the targets' device.
    Raises FloatingPointError when the distances are NaN or infinite (a diverged network).
    """
    return PendingAssignment(embeddings, targets).permutation()


def reassign_batch(embeddings: torch.Tensor, targets: torch.Tensor, batch_indices: torch.Tensor) -> torch.Tensor:
    """Permute ``targets[batch_indices]`` in place so each image gets its best target.

    embeddings: (B, d) clean-view embeddings of the batch; targets: (N, d), all
    images' targets; batch_indices: (B,). Returns the batch's new targets (B, d).
    """
    batch_targets = targets[batch_indices]
    new_targets = batch_targets[optimal_permutation(embeddings, batch_targets)]
    targets[batch_indices] = new_targets
    return new_targets
