"""Tests for mnist_kmeans.neighbors.nearest_members."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mnist_kmeans.neighbors import NearestMembers, nearest_members


def brute_force(X, labels, centers, n):
    """Reference: a plain loop over every point, sorted by (distance, index)."""
    k = centers.shape[0]
    indices = np.full((k, n), -1, dtype=np.int64)
    dists = np.full((k, n), np.nan)
    for c in range(k):
        found = []
        for i in range(X.shape[0]):
            if labels[i] == c:
                d = float(np.sum((X[i].astype(np.float64) - centers[c].astype(np.float64)) ** 2))
                found.append((d, i))
        found.sort()
        for slot, (d, i) in enumerate(found[:n]):
            indices[c, slot] = i
            dists[c, slot] = d
    return indices, dists


def tied_data(seed, n_samples=120, n_features=6, k=7):
    """Small-integer data: distances are exact, so ties are real ties.

    Includes duplicated points, a cluster smaller than n and an empty cluster.
    """
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, size=(n_samples, n_features)).astype(np.float32)
    X[n_samples // 2 :] = X[: n_samples - n_samples // 2]  # duplicates of the first half
    centers = rng.integers(0, 3, size=(k, n_features)).astype(np.float32)
    # Cluster k-1 stays empty, cluster k-2 gets exactly 3 members.
    labels = rng.integers(0, k - 2, size=n_samples).astype(np.int32)
    labels[rng.choice(n_samples, size=3, replace=False)] = k - 2
    return X, labels, centers


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [1, 4, 10, 40])
def test_matches_brute_force_with_ties(seed, n):
    X, labels, centers = tied_data(seed)
    result = nearest_members(X, labels, centers, n)
    ref_idx, ref_dist = brute_force(X, labels, centers, n)
    np.testing.assert_array_equal(result.indices, ref_idx)
    np.testing.assert_array_equal(result.sq_distances, ref_dist)  # nan == nan here
    np.testing.assert_array_equal(result.n_members, np.bincount(labels, minlength=7))


def test_ties_are_broken_by_smaller_index():
    X = np.zeros((6, 2), dtype=np.float32)
    X[[1, 4]] = 1.0  # farther; 0, 2, 3, 5 all tie at distance 0
    labels = np.zeros(6, dtype=np.int32)
    result = nearest_members(X, labels, np.zeros((1, 2), np.float32), n=3)
    np.testing.assert_array_equal(result.indices, [[0, 2, 3]])
    np.testing.assert_array_equal(result.sq_distances, [[0.0, 0.0, 0.0]])


def test_matches_brute_force_on_continuous_data():
    rng = np.random.default_rng(11)
    X = rng.random((300, 20), dtype=np.float32)
    centers = rng.random((5, 20), dtype=np.float32)
    labels = rng.integers(0, 5, size=300)
    result = nearest_members(X, labels, centers, n=10)
    ref_idx, ref_dist = brute_force(X, labels, centers, 10)
    np.testing.assert_array_equal(result.indices, ref_idx)
    np.testing.assert_allclose(result.sq_distances, ref_dist, rtol=1e-12)


def test_only_own_members_are_considered():
    # Point 0 sits on center 1 but belongs to cluster 0.
    X = np.array([[5.0], [0.0], [1.0], [6.0]])
    labels = np.array([0, 0, 1, 1])
    centers = np.array([[0.0], [5.0]])
    result = nearest_members(X, labels, centers, n=2)
    np.testing.assert_array_equal(result.indices, [[1, 0], [3, 2]])
    np.testing.assert_array_equal(result.sq_distances, [[0.0, 25.0], [1.0, 16.0]])


def test_short_and_empty_clusters_are_marked_and_padded():
    X, labels, centers = tied_data(3)
    result = nearest_members(X, labels, centers, n=5)
    assert result.short.dtype == np.bool_
    np.testing.assert_array_equal(result.short, result.n_members < 5)
    assert result.short[6] and result.empty[6] and result.n_members[6] == 0
    assert result.short[5] and not result.empty[5] and result.n_members[5] == 3
    np.testing.assert_array_equal(result.indices[6], [-1] * 5)
    assert np.all(np.isnan(result.sq_distances[6]))
    assert np.all(result.indices[5, :3] >= 0)
    np.testing.assert_array_equal(result.indices[5, 3:], [-1, -1])
    assert np.all(np.isnan(result.sq_distances[5, 3:]))
    assert not np.any(np.isnan(result.sq_distances[5, :3]))
    np.testing.assert_array_equal(result.n_valid, np.minimum(result.n_members, 5))


def test_result_types_and_valid_iteration():
    X, labels, centers = tied_data(1)
    result = nearest_members(X, labels, centers, n=4)
    assert isinstance(result, NearestMembers)
    assert result.indices.dtype == np.int64 and result.indices.shape == (7, 4)
    assert result.sq_distances.dtype == np.float64 and result.sq_distances.shape == (7, 4)
    assert result.n_members.dtype == np.int64 and result.n_members.shape == (7,)
    assert (result.n_clusters, result.n) == (7, 4)
    seen = list(result.iter_valid())
    assert [c for c, _ in seen] == list(range(7))
    for c, idx in seen:
        assert idx.dtype == np.int64
        assert idx.size == min(result.n_members[c], 4)
        assert np.all(labels[idx] == c)
        np.testing.assert_array_equal(idx, result.valid(c))
    with pytest.raises(IndexError):
        result.valid(7)


def test_result_is_immutable():
    X, labels, centers = tied_data(0)
    result = nearest_members(X, labels, centers, n=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.indices = result.indices  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.indices[0, 0] = 1


def test_given_sq_distances_give_same_result():
    X, labels, centers = tied_data(4)
    own = np.sum((X.astype(np.float64) - centers[labels].astype(np.float64)) ** 2, axis=1)
    computed = nearest_members(X, labels, centers, n=6)
    given = nearest_members(X, labels, centers, n=6, sq_distances=own)
    np.testing.assert_array_equal(given.indices, computed.indices)
    np.testing.assert_array_equal(given.sq_distances, computed.sq_distances)


def test_given_sq_distances_are_used_as_given():
    # The given distances, not X, decide the order.
    X = np.zeros((4, 2))
    labels = np.zeros(4, dtype=np.int64)
    result = nearest_members(
        X, labels, np.zeros((1, 2)), n=4, sq_distances=np.array([3.0, 1.0, 2.0, 1.0])
    )
    np.testing.assert_array_equal(result.indices, [[1, 3, 2, 0]])


def test_chunked_distances_match(monkeypatch):
    import mnist_kmeans.neighbors as neighbors

    X, labels, centers = tied_data(2)
    whole = nearest_members(X, labels, centers, n=8)
    monkeypatch.setattr(neighbors, "_CHUNK_ROWS", 7)
    chunked = nearest_members(X, labels, centers, n=8)
    np.testing.assert_array_equal(chunked.indices, whole.indices)
    np.testing.assert_array_equal(chunked.sq_distances, whole.sq_distances)


def test_no_samples():
    result = nearest_members(np.zeros((0, 3)), np.zeros(0, np.int32), np.zeros((2, 3)), n=2)
    np.testing.assert_array_equal(result.indices, -np.ones((2, 2)))
    np.testing.assert_array_equal(result.n_members, [0, 0])
    assert result.short.all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"X": np.zeros(5)}, "X must be 2-D"),
        ({"centers": np.zeros(3)}, "centers must be 2-D"),
        ({"centers": np.zeros((0, 3))}, "at least one cluster"),
        ({"centers": np.zeros((2, 4))}, "features"),
        ({"labels": np.zeros((5, 1), np.int32)}, "labels must be 1-D"),
        ({"labels": np.zeros(4, np.int32)}, "labels has 4 entries"),
        ({"labels": np.zeros(5)}, "integer dtype"),
        ({"labels": np.array([0, 1, 2, 0, 1])}, r"labels must lie in 0\.\.1.*found 2"),
        ({"labels": np.array([0, -1, 0, 0, 1])}, "found -1"),
        ({"n": 0}, "n must be >= 1"),
        ({"n": 2.0}, "n must be an integer"),
        ({"n": True}, "n must be an integer"),
        ({"sq_distances": np.zeros(4)}, r"sq_distances must have shape \(5,\)"),
        ({"sq_distances": np.array([0, 1, np.nan, 0, 0])}, "nan or inf"),
        ({"sq_distances": np.array([0, 1, -1.0, 0, 0])}, "negative"),
        ({"X": np.full((5, 3), np.inf)}, "non-finite distance in cluster"),
        ({"centers": np.full((2, 3), np.nan)}, "non-finite distance in cluster"),
        ({"X": np.full((5, 3), 1e200)}, "non-finite distance in cluster"),
    ],
)
def test_invalid_input(kwargs, message):
    args = {
        "X": np.zeros((5, 3), np.float32),
        "labels": np.array([0, 1, 1, 0, 1], np.int32),
        "centers": np.zeros((2, 3), np.float32),
        "n": 2,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        nearest_members(**args)


def test_inconsistent_container_is_rejected():
    with pytest.raises(ValueError, match="padding"):
        NearestMembers(
            indices=np.array([[0, -1]]), sq_distances=np.zeros((1, 2)), n_members=np.array([2])
        )
