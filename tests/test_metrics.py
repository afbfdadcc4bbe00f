import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from mmdc_lib.metrics import align_labels, best_matching, cluster_accuracy, evaluate_clustering


def test_accuracy_is_one_for_a_relabelled_perfect_clustering():
    assert cluster_accuracy([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1]) == 1.0


def test_accuracy_hand_worked_case():
    # classes  0 0 0 1 1 1 ; clusters 0 0 1 1 1 1 -> counts [[2,1],[0,3]]: best matching 2 + 3 = 5 of 6.
    assert cluster_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]) == pytest.approx(5 / 6)


def test_accuracy_is_one_to_one_not_many_to_one():
    # Everything in one cluster: only one class can be matched.
    assert cluster_accuracy([0, 1, 2, 3], [0, 0, 0, 0]) == pytest.approx(1 / 4)


def test_best_matching_maps_clusters_to_classes():
    assert best_matching([5, 5, 7, 7], [1, 1, 0, 0]) == {1: 5, 0: 7}


def test_nmi_and_ari_agree_with_scikit_learn_arithmetic_nmi():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 5, 300), rng.integers(0, 6, 300)
    scores = evaluate_clustering(y_true, y_pred)
    assert scores.nmi == pytest.approx(normalized_mutual_info_score(y_true, y_pred, average_method="arithmetic"))
    assert scores.ari == pytest.approx(adjusted_rand_score(y_true, y_pred))
    assert scores.acc == pytest.approx(cluster_accuracy(y_true, y_pred))


def test_confusion_matrix_puts_matched_clusters_on_the_diagonal():
    scores = evaluate_clustering([0, 0, 1, 1, 1, 2], [2, 2, 0, 0, 1, 1])
    assert scores.confusion.tolist() == [[2, 0, 0], [0, 2, 1], [0, 0, 1]]
    assert scores.cluster_ids.tolist() == [2, 0, 1]
    assert np.trace(scores.confusion) / scores.confusion.sum() == pytest.approx(scores.acc)


def test_mismatched_lengths_and_empty_labels_are_rejected():
    with pytest.raises(ValueError, match="different lengths: 3 != 2"):
        cluster_accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        cluster_accuracy([], [])
    with pytest.raises(TypeError, match="integer labels"):
        cluster_accuracy([0.5, 1.0], [0, 1])


def test_align_labels_renames_clusters_to_match_a_reference():
    reference = np.array([0, 0, 1, 1, 2, 2])
    assert align_labels(np.array([2, 2, 0, 0, 1, 1]), reference, 3).tolist() == reference.tolist()


def test_confusion_matrix_keeps_each_class_matched_cluster_in_its_column_when_clusters_are_fewer():
    scores = evaluate_clustering([0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 1, 1])
    assert scores.acc == pytest.approx(2 / 3)
    assert np.trace(scores.confusion) / scores.confusion.sum() == pytest.approx(scores.acc)
    assert scores.confusion.tolist() == [[2, 0, 0], [2, 0, 0], [0, 0, 2]]
    assert scores.cluster_ids.tolist() == [0, -1, 1]  # class 1 has no cluster of its own


def test_confusion_matrix_lists_unmatched_clusters_after_the_matched_ones():
    scores = evaluate_clustering([0, 0, 1, 1], [0, 1, 2, 3])
    assert scores.confusion.shape == (2, 4)
    assert np.trace(scores.confusion) / scores.confusion.sum() == pytest.approx(scores.acc)


def test_placeholder_column_id_never_collides_with_a_real_noise_label():
    scores = evaluate_clustering([0, 0, 1, 1, 2, 2], [-1, -1, 0, 0, 0, 0])
    assert -1 in scores.cluster_ids.tolist() and -2 in scores.cluster_ids.tolist()
    assert np.trace(scores.confusion) / scores.confusion.sum() == pytest.approx(scores.acc)
