"""Scoring a clustering against labels: ACC, NMI, ARI and the confusion matrix.

ACC is the accuracy after the best one-to-one matching of clusters to classes
(the Hungarian algorithm). NMI uses the arithmetic mean of the two entropies,
as the MMDC paper; scikit-learn's default is the same, SCAN's tables use it,
SPICE uses the geometric mean. Labels are used only to score, never to choose.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

NMI_AVERAGING = "arithmetic"


def _as_labels(name: str, values) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} should be 1-d, got shape {array.shape}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} should hold integer labels, got dtype {array.dtype}.")
    return array.astype(np.int64)


def contingency(y_true, y_pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts[i, j] = #{true class i, cluster j}; also returns the class and cluster ids."""
    y_true, y_pred = _as_labels("y_true", y_true), _as_labels("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred have different lengths: {len(y_true)} != {len(y_pred)}.")
    if y_true.size == 0:
        raise ValueError("y_true and y_pred are empty.")
    classes, true_index = np.unique(y_true, return_inverse=True)
    clusters, pred_index = np.unique(y_pred, return_inverse=True)
    counts = np.zeros((len(classes), len(clusters)), dtype=np.int64)
    np.add.at(counts, (true_index, pred_index), 1)
    return counts, classes, clusters


def _matched(y_true, y_pred):
    """Contingency counts, class and cluster ids, and the Hungarian matching (rows, cols) of the counts."""
    counts, classes, clusters = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return counts, classes, clusters, rows, cols


def best_matching(y_true, y_pred) -> dict[int, int]:
    """The one-to-one map cluster -> class that maximises agreement (Hungarian algorithm)."""
    _, classes, clusters, rows, cols = _matched(y_true, y_pred)
    return {int(clusters[c]): int(classes[r]) for r, c in zip(rows, cols)}


def cluster_accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose cluster maps to their class under the best one-to-one matching."""
    counts, _, _, rows, cols = _matched(y_true, y_pred)
    return float(counts[rows, cols].sum() / counts.sum())


@dataclass
class ClusteringScores:
    acc: float
    nmi: float
    ari: float
    confusion: np.ndarray  # (n_classes, n_columns): matched clusters in their classes' order, then the unmatched
    cluster_ids: np.ndarray  # (n_columns,), the cluster label of each column (see evaluate_clustering)

    def as_dict(self) -> dict:
        values = asdict(self)
        values["confusion"] = self.confusion.tolist()
        values["cluster_ids"] = self.cluster_ids.tolist()
        return values


def evaluate_clustering(y_true, y_pred) -> ClusteringScores:
    """ACC, NMI (arithmetic), ARI and the confusion matrix in one call, as SCAN's hungarian_evaluate.

    The confusion matrix has one row per class; column i holds the cluster matched to
    class i, so its trace is ACC x N; unmatched clusters follow. When there are fewer
    clusters than classes (a collapsed run), a class left without a cluster gets an
    empty column (all zeros: a real cluster always has members) whose cluster id is one
    less than the smallest real one (-1 for clusters 0..k-1).
    """
    counts, _, clusters, rows, cols = _matched(y_true, y_pred)
    n_classes, n_clusters = counts.shape
    matched_cluster = np.full(n_classes, -1)  # column index in `counts` of each class's cluster
    matched_cluster[rows] = cols
    unmatched = [c for c in range(n_clusters) if c not in set(cols)]
    columns = [counts[:, c] if c >= 0 else np.zeros(n_classes, dtype=counts.dtype) for c in matched_cluster]
    columns += [counts[:, c] for c in unmatched]
    placeholder = min(int(clusters.min()), 0) - 1  # never a real cluster id, even with DBSCAN's -1 for noise
    ids = [clusters[c] if c >= 0 else placeholder for c in matched_cluster] + [clusters[c] for c in unmatched]
    return ClusteringScores(
        acc=float(counts[rows, cols].sum() / counts.sum()),
        nmi=float(normalized_mutual_info_score(y_true, y_pred, average_method=NMI_AVERAGING)),
        ari=float(adjusted_rand_score(y_true, y_pred)),
        confusion=np.stack(columns, axis=1),
        cluster_ids=np.asarray(ids, dtype=np.int64),
    )


def align_labels(new_labels: np.ndarray, reference: np.ndarray, n_clusters: int) -> np.ndarray:
    """Rename the clusters of ``new_labels`` to agree best with ``reference`` (both in 0..k-1)."""
    counts = np.zeros((n_clusters, n_clusters), dtype=np.int64)
    np.add.at(counts, (new_labels, reference), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping = np.empty(n_clusters, dtype=np.int64)
    mapping[rows] = cols
    return mapping[new_labels]
