"""The members of each cluster that lie nearest its representative.

A course notebook judged a clustering by eye from the few images nearest each
cluster representative; :func:`nearest_members` finds those images. It works on
plain NumPy arrays and does not depend on how the clustering was computed.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ._validation import check_positive_int

__all__ = ["NearestMembers", "nearest_members"]

# Rows converted to float64 at a time when computing distances: bounds the
# temporary memory (about 50 MB for 784 features) whatever the cluster size.
_CHUNK_ROWS = 8192


@dataclass(frozen=True, eq=False)
class NearestMembers:
    """The ``n`` members of each cluster nearest its center, nearest first.

    Attributes
    ----------
    indices : ndarray of shape (n_clusters, n), dtype int64
        Row ``c`` holds the sample indices of the members of cluster ``c``
        ordered by increasing squared distance to the center, ties broken by
        the smaller index. Clusters with fewer than ``n`` members are padded
        at the end with ``-1``.
    sq_distances : ndarray of shape (n_clusters, n), dtype float64
        The squared Euclidean distance of each member in ``indices`` to its
        cluster's center, padded with ``nan`` where ``indices`` is ``-1``.
    n_members : ndarray of shape (n_clusters,), dtype int64
        The size of each cluster (all of its members, not only the nearest).

    Notes
    -----
    The arrays are made read-only so that the frozen instance cannot be
    changed through them. Equality is identity (``eq=False``), since
    element-wise array comparison has no single truth value.
    """

    indices: np.ndarray
    sq_distances: np.ndarray
    n_members: np.ndarray

    def __post_init__(self) -> None:
        indices = np.array(self.indices, dtype=np.int64)
        sq_distances = np.array(self.sq_distances, dtype=np.float64)
        n_members = np.array(self.n_members, dtype=np.int64)
        if indices.ndim != 2:
            raise ValueError(f"indices must be 2-D, got shape {indices.shape}")
        if sq_distances.shape != indices.shape:
            raise ValueError(
                f"sq_distances has shape {sq_distances.shape}, "
                f"expected {indices.shape} like indices"
            )
        if n_members.shape != (indices.shape[0],):
            raise ValueError(
                f"n_members has shape {n_members.shape}, "
                f"expected ({indices.shape[0]},)"
            )
        if np.any(n_members < 0):
            raise ValueError("n_members must be non-negative")
        # Valid slots must form a prefix of each row whose length is the
        # number of members that fit, so that `valid` can slice instead of mask.
        filled = np.minimum(n_members, indices.shape[1])
        expected = np.arange(indices.shape[1]) < filled[:, None]
        if not np.array_equal(indices >= 0, expected):
            raise ValueError(
                "indices must hold min(n_members, n) non-negative entries per row, "
                "followed by -1 padding"
            )
        for array in (indices, sq_distances, n_members):
            array.setflags(write=False)
        # Bypass the frozen __setattr__ to store the normalised copies.
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "sq_distances", sq_distances)
        object.__setattr__(self, "n_members", n_members)

    @property
    def n_clusters(self) -> int:
        """Number of clusters ``k``."""
        return int(self.indices.shape[0])

    @property
    def n(self) -> int:
        """Number of nearest members asked for per cluster."""
        return int(self.indices.shape[1])

    @property
    def n_valid(self) -> np.ndarray:
        """ndarray of shape (n_clusters,), dtype int64: filled slots per cluster."""
        return np.minimum(self.n_members, self.n)

    @property
    def short(self) -> np.ndarray:
        """ndarray of shape (n_clusters,), dtype bool: fewer than ``n`` members."""
        return self.n_members < self.n

    @property
    def empty(self) -> np.ndarray:
        """ndarray of shape (n_clusters,), dtype bool: no members at all."""
        return self.n_members == 0

    def valid(self, cluster: int) -> np.ndarray:
        """The valid (unpadded) nearest-member indices of one cluster.

        Parameters
        ----------
        cluster : int
            Cluster index in ``0 .. n_clusters - 1``.

        Returns
        -------
        ndarray of shape (min(n_members[cluster], n),), dtype int64
            Sample indices, nearest first (a read-only view).
        """
        cluster = operator.index(cluster)
        if not 0 <= cluster < self.n_clusters:
            raise IndexError(f"cluster {cluster} out of range 0..{self.n_clusters - 1}")
        return self.indices[cluster, : min(int(self.n_members[cluster]), self.n)]

    def iter_valid(self) -> Iterator[tuple[int, np.ndarray]]:
        """Iterate over clusters and their valid nearest-member indices.

        Yields
        ------
        cluster : int
            Cluster index, in increasing order (empty clusters included).
        indices : ndarray of shape (min(n_members[cluster], n),), dtype int64
            As returned by :meth:`valid`.
        """
        for cluster in range(self.n_clusters):
            yield cluster, self.valid(cluster)


def nearest_members(
    X: np.ndarray,
    labels: np.ndarray,
    centers: np.ndarray,
    n: int = 10,
    *,
    sq_distances: np.ndarray | None = None,
) -> NearestMembers:
    """Find, for each cluster, its ``n`` members nearest the cluster center.

    A member of cluster ``c`` is a sample whose label is ``c``; samples of
    other clusters are never considered, even when nearer to the center.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The samples (any real dtype; distances are computed in float64).
    labels : ndarray of shape (n_samples,)
        Integer cluster label of each sample, in ``0 .. n_clusters - 1``.
    centers : ndarray of shape (n_clusters, n_features)
        The cluster representatives.
    n : int, default=10
        How many members to return per cluster; at least 1.
    sq_distances : ndarray of shape (n_samples,), optional
        Squared distance of each sample to its own cluster's center, e.g. as
        left by the clustering, to skip recomputing it. Used as given: the
        ranking is only as exact as these values are.

    Returns
    -------
    NearestMembers
        ``indices`` (n_clusters, n) int64 padded with -1, ``sq_distances``
        (n_clusters, n) float64 padded with nan, ``n_members`` (n_clusters,)
        int64, and ``short`` marking clusters with fewer than ``n`` members.

    Raises
    ------
    ValueError
        If the shapes disagree, ``n < 1``, a label is outside
        ``0 .. n_clusters - 1``, or a distance is not finite (or, for given
        ``sq_distances``, is negative).

    Notes
    -----
    Ranking is by squared distance, then by sample index, so the result is
    deterministic even with duplicate points. Each cluster costs one
    distance pass over its members and one ``argpartition`` (plus a sort of
    the few candidates); no (n_samples, n_clusters) matrix is formed.
    """
    X = np.asarray(X)
    labels = np.asarray(labels)
    centers = np.asarray(centers)
    n = check_positive_int(n, "n")
    n_samples, n_clusters = _check_shapes(X, labels, centers)
    if sq_distances is not None:
        sq_distances = _check_sq_distances(sq_distances, n_samples)

    n_members = np.bincount(labels, minlength=n_clusters).astype(np.int64)
    # A stable sort groups the samples by cluster with indices ascending
    # within each group, which is what makes the tie-break by index work.
    by_cluster = np.argsort(labels, kind="stable").astype(np.int64, copy=False)
    ends = np.cumsum(n_members)
    starts = ends - n_members

    out_indices = np.full((n_clusters, n), -1, dtype=np.int64)
    out_dist = np.full((n_clusters, n), np.nan, dtype=np.float64)
    for c in range(n_clusters):
        members = by_cluster[starts[c] : ends[c]]
        if members.size == 0:
            continue
        if sq_distances is None:
            dist = _sq_distances_to(X, members, centers[c])
            if not np.all(np.isfinite(dist)):
                raise ValueError(
                    f"non-finite distance in cluster {c}: X or centers contain nan or inf"
                )
        else:
            dist = sq_distances[members]
        order = _smallest_first(dist, n)
        out_indices[c, : order.size] = members[order]
        out_dist[c, : order.size] = dist[order]
    return NearestMembers(indices=out_indices, sq_distances=out_dist, n_members=n_members)


def _check_shapes(X: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> tuple[int, int]:
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if centers.ndim != 2:
        raise ValueError(
            f"centers must be 2-D (n_clusters, n_features), got shape {centers.shape}"
        )
    if centers.shape[0] < 1:
        raise ValueError("centers must hold at least one cluster")
    if centers.shape[1] != X.shape[1]:
        raise ValueError(
            f"centers have {centers.shape[1]} features but X has {X.shape[1]}"
        )
    for name, array in (("X", X), ("centers", centers)):
        if not (np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array)):
            raise ValueError(f"{name} must be real-valued, got dtype {array.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (n_samples,), got shape {labels.shape}")
    if labels.shape[0] != X.shape[0]:
        raise ValueError(
            f"labels has {labels.shape[0]} entries but X has {X.shape[0]} rows"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must have an integer dtype, got {labels.dtype}")
    n_clusters = int(centers.shape[0])
    if labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= n_clusters:
            bad = low if low < 0 else high
            raise ValueError(
                f"labels must lie in 0..{n_clusters - 1} (n_clusters={n_clusters}), found {bad}"
            )
    return int(X.shape[0]), n_clusters


def _check_sq_distances(sq_distances: np.ndarray, n_samples: int) -> np.ndarray:
    sq_distances = np.asarray(sq_distances, dtype=np.float64)
    if sq_distances.shape != (n_samples,):
        raise ValueError(
            f"sq_distances must have shape ({n_samples},), got {sq_distances.shape}"
        )
    if not np.all(np.isfinite(sq_distances)):
        raise ValueError("sq_distances contains nan or inf")
    if np.any(sq_distances < 0):
        raise ValueError("sq_distances contains negative values")
    return sq_distances


def _sq_distances_to(X: np.ndarray, rows: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Squared distances in float64 from ``X[rows]`` to ``center``."""
    center = center.astype(np.float64)
    out = np.empty(rows.size, dtype=np.float64)
    for lo in range(0, rows.size, _CHUNK_ROWS):
        block = rows[lo : lo + _CHUNK_ROWS]
        # Subtracting before squaring avoids the cancellation that the
        # |x|^2 - 2 x.c + |c|^2 expansion suffers for points near the center.
        # nan/inf inputs are reported by the caller's finiteness check, so the
        # floating-point warnings they would raise here are silenced.
        with np.errstate(invalid="ignore", over="ignore"):
            diff = X[block].astype(np.float64) - center
            out[lo : lo + block.size] = np.einsum("ij,ij->i", diff, diff)
    return out


def _smallest_first(dist: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` smallest entries of ``dist``, ties by position."""
    if dist.size > n:
        # argpartition alone may pick any of several entries tied at the cut,
        # so keep every entry up to the cut value, then sort those stably.
        cut = dist[np.argpartition(dist, n - 1)[n - 1]]
        candidates = np.flatnonzero(dist <= cut)
    else:
        candidates = np.arange(dist.size)
    order = np.argsort(dist[candidates], kind="stable")[:n]
    return candidates[order]
