"""Tests for mnist_kmeans.evaluation.evaluate_clusters."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mnist_kmeans.evaluation import ClusterEvaluation, evaluate_clusters
from mnist_kmeans.neighbors import NearestMembers, nearest_members


def mixed_cluster_case():
    """Cluster 0 mixes 4s (majority), 7s and 9s; its ten nearest members are 9s.

    Cluster 1 is all 1s. Samples lie on a line; both centers sit at 0 and
    the 9s are closest to it.
    """
    digits = [4] * 30 + [7] * 25 + [9] * 20 + [1] * 15
    y_true = np.array(digits, dtype=np.int32)
    labels = np.array([0] * 75 + [1] * 15, dtype=np.int32)
    position = np.where(y_true == 9, 1.0, 100.0) + np.arange(y_true.size)
    X = position[:, None].astype(np.float32)
    centers = np.zeros((2, 1), dtype=np.float32)
    return X, y_true, labels, centers


def test_nearest_accuracy_forms_differ_as_in_the_example():
    X, y_true, labels, centers = mixed_cluster_case()
    nearest = nearest_members(X, labels, centers, n=10)
    assert np.all(y_true[nearest.valid(0)] == 9)
    result = evaluate_clusters(y_true, labels, 2, nearest)
    np.testing.assert_array_equal(result.majority, [4, 1])
    assert result.nearest_n == 10
    np.testing.assert_array_equal(result.nearest_valid, [10, 10])
    np.testing.assert_array_equal(result.nearest_majority_hits, [0, 10])  # (a): 0/10
    np.testing.assert_array_equal(result.nearest_mode, [9, 1])
    np.testing.assert_array_equal(result.nearest_mode_hits, [10, 10])  # (b): 10/10
    assert result.nearest_majority_accuracy == pytest.approx(10 / 20)
    assert result.nearest_mode_accuracy == pytest.approx(20 / 20)


def test_nearest_accuracy_with_mixed_nearest_members():
    # Nearest members 9, 9, 9, 7, 4 for a cluster whose majority is 4.
    y_true = np.array([9, 9, 9, 7, 4, 4, 4, 4, 4])
    labels = np.zeros(9, dtype=np.int64)
    X = np.arange(9, dtype=np.float64)[:, None]
    nearest = nearest_members(X, labels, np.zeros((1, 1)), n=5)
    result = evaluate_clusters(y_true, labels, 1, nearest)
    assert result.majority[0] == 4
    assert result.nearest_majority_hits[0] == 1
    assert (result.nearest_mode[0], result.nearest_mode_hits[0]) == (9, 3)
    assert result.nearest_majority_accuracy == pytest.approx(1 / 5)
    assert result.nearest_mode_accuracy == pytest.approx(3 / 5)


def test_perfect_clustering():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, size=200)
    # Clusters are a relabelling of the digits.
    labels = (y_true * 3 + 1) % 10
    result = evaluate_clusters(y_true, labels, 10)
    assert result.purity == 1.0
    assert result.nmi == pytest.approx(1.0)
    assert result.ari == pytest.approx(1.0)
    np.testing.assert_array_equal(result.majority_share, np.ones(10))
    for c in range(10):
        assert (result.majority[c] * 3 + 1) % 10 == c
    assert result.nearest_n is None and result.nearest_mode_accuracy is None


def test_empty_clusters_and_short_nearest_lists():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    labels = np.array([0, 0, 0, 3, 3, 3])  # clusters 1 and 2 are empty
    X = np.arange(6, dtype=np.float32)[:, None]
    centers = np.zeros((4, 1), dtype=np.float32)
    nearest = nearest_members(X, labels, centers, n=5)
    result = evaluate_clusters(y_true, labels, 4, nearest)
    np.testing.assert_array_equal(result.sizes, [3, 0, 0, 3])
    np.testing.assert_array_equal(result.majority, [0, -1, -1, 1])
    np.testing.assert_allclose(result.majority_share, [2 / 3, np.nan, np.nan, 2 / 3])
    assert result.purity == pytest.approx(4 / 6)
    np.testing.assert_array_equal(result.nearest_valid, [3, 0, 0, 3])
    np.testing.assert_array_equal(result.nearest_mode, [0, -1, -1, 1])
    np.testing.assert_array_equal(result.nearest_majority_hits, [2, 0, 0, 2])
    np.testing.assert_array_equal(result.nearest_mode_hits, [2, 0, 0, 2])
    # Totals are over the 6 valid nearest members, not k * n = 20 slots.
    assert result.nearest_majority_accuracy == pytest.approx(4 / 6)
    assert result.nearest_mode_accuracy == pytest.approx(4 / 6)


@pytest.mark.parametrize("seed", range(4))
def test_contingency_and_purity_match_a_loop(seed):
    rng = np.random.default_rng(seed)
    k, n_samples = 7, 300
    y_true = rng.choice([0, 2, 3, 5, 9], size=n_samples)
    labels = rng.integers(0, k - 1, size=n_samples)  # cluster k-1 stays empty
    result = evaluate_clusters(y_true, labels, k)

    classes = sorted(set(y_true.tolist()))
    table = [[0] * len(classes) for _ in range(k)]
    for digit, cluster in zip(y_true.tolist(), labels.tolist()):
        table[cluster][classes.index(digit)] += 1
    correct = 0
    for c in range(k):
        if sum(table[c]):
            best = max(range(len(classes)), key=lambda j: (table[c][j], -j))
            assert result.majority[c] == classes[best]
            assert result.majority_share[c] == pytest.approx(table[c][best] / sum(table[c]))
            correct += table[c][best]
        else:
            assert result.majority[c] == -1 and math.isnan(result.majority_share[c])
    np.testing.assert_array_equal(result.classes, classes)
    np.testing.assert_array_equal(result.contingency, table)
    assert result.contingency.dtype == np.int64
    np.testing.assert_array_equal(result.sizes, np.bincount(labels, minlength=k))
    assert result.purity == pytest.approx(correct / n_samples)
    assert (result.n_samples, result.n_clusters, result.n_classes) == (n_samples, k, 5)


def test_metrics_match_sklearn():
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 10, size=150)
    labels = rng.integers(0, 6, size=150)
    result = evaluate_clusters(y_true, labels, 6)
    assert result.nmi == pytest.approx(normalized_mutual_info_score(y_true, labels))
    assert result.ari == pytest.approx(adjusted_rand_score(y_true, labels))
    assert isinstance(result.nmi, float) and isinstance(result.ari, float)


def test_majority_tie_takes_smaller_class():
    result = evaluate_clusters([7, 3, 7, 3], [0, 0, 0, 0], 1)
    assert result.majority[0] == 3
    assert result.majority_share[0] == 0.5


def test_explicit_classes_add_columns():
    result = evaluate_clusters([1, 1, 4], [0, 1, 1], 2, classes=np.arange(10))
    assert result.contingency.shape == (2, 10)
    np.testing.assert_array_equal(result.contingency[:, [1, 4]], [[1, 0], [1, 1]])
    assert result.contingency.sum() == 3
    np.testing.assert_array_equal(result.classes, np.arange(10))


def test_to_dict_is_strict_json():
    X, y_true, labels, centers = mixed_cluster_case()
    centers = np.zeros((3, 1), dtype=np.float32)  # cluster 2 is empty: nan share
    nearest = nearest_members(X, labels, centers, n=10)
    result = evaluate_clusters(y_true, labels, 3, nearest)
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    assert data["majority"] == [4, 1, -1]
    assert data["majority_share"][2] is None
    assert data["nearest"]["majority_hits"] == [0, 10, 0]
    assert data["nearest"]["mode_hits"] == [10, 10, 0]
    assert data["nearest"]["mode_accuracy"] == 1.0
    assert data["contingency"][0] == [0, 30, 25, 20]
    assert data["classes"] == [1, 4, 7, 9]
    plain = evaluate_clusters(y_true, labels, 2).to_dict()
    assert plain["nearest"] is None
    json.dumps(plain, allow_nan=False)


def test_result_is_frozen_and_read_only():
    result = evaluate_clusters([0, 1], [0, 1], 2)
    assert isinstance(result, ClusterEvaluation)
    with pytest.raises(AttributeError):
        result.purity = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.contingency[0, 0] = 5


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0, 1], [0, 1, 1], 2), {}, "labels has 3 entries"),
        (([[0, 1]], [0, 1], 2), {}, "y_true must be 1-D"),
        (([0.0, 1.0], [0, 1], 2), {}, "y_true must have an integer dtype"),
        (([0, 1], [0.0, 1.0], 2), {}, "labels must have an integer dtype"),
        (([], [], 2), {}, "no samples"),
        (([0, 1], [0, 2], 2), {}, r"labels must lie in 0\.\.1"),
        (([0, 1], [0, -1], 2), {}, "found -1"),
        (([0, 1], [0, 0], 0), {}, "n_clusters must be >= 1"),
        (([0, 1], [0, 0], 1.5), {}, "n_clusters must be an integer"),
        (([0, 5], [0, 0], 1), {"classes": [0, 1]}, "value 5 is not among classes"),
        (([0, 1], [0, 0], 1), {"classes": [0, 1, 1]}, "repeat"),
        (([0, 1], [0, 0], 1), {"classes": []}, "must not be empty"),
    ],
)
def test_invalid_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate_clusters(*args, **kwargs)


def test_nearest_must_match_labels():
    X, y_true, labels, centers = mixed_cluster_case()
    nearest = nearest_members(X, labels, centers, n=3)
    with pytest.raises(ValueError, match="clusters"):
        evaluate_clusters(y_true, labels, 3, nearest)
    with pytest.raises(ValueError, match="n_members"):
        evaluate_clusters(y_true, np.zeros_like(labels), 2, nearest)
    # Same sizes, but the listed members belong to other clusters.
    swapped = NearestMembers(
        indices=nearest.indices[::-1], sq_distances=nearest.sq_distances, n_members=[75, 15]
    )
    with pytest.raises(ValueError, match="not members"):
        evaluate_clusters(y_true, labels, 2, swapped)
    with pytest.raises(ValueError, match="NearestMembers"):
        evaluate_clusters(y_true, labels, 2, nearest.indices)  # type: ignore[arg-type]
