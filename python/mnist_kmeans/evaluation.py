"""Compare a clustering with the true classes (digits) of the samples.

Besides the usual external measures (purity, NMI, ARI) this computes the
course notebook's eye-ball measure, "n-nearest accuracy": how many of the ``n``
images nearest each cluster representative show the digit that the cluster
stands for. It works on plain NumPy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from ._validation import check_positive_int, read_only_arrays
from .neighbors import NearestMembers

__all__ = ["ClusterEvaluation", "evaluate_clusters"]


@dataclass(frozen=True, eq=False)
class ClusterEvaluation:
    """How well clusters match the true classes.

    Attributes
    ----------
    classes : ndarray of shape (n_classes,), dtype int64
        The class values, increasing; column ``j`` of ``contingency`` counts
        class ``classes[j]``.
    contingency : ndarray of shape (n_clusters, n_classes), dtype int64
        ``contingency[c, j]`` is the number of samples of class ``classes[j]``
        in cluster ``c``.
    sizes : ndarray of shape (n_clusters,), dtype int64
        Number of samples per cluster.
    majority : ndarray of shape (n_clusters,), dtype int64
        The most frequent class of each cluster (the smaller class value on a
        tie), or -1 for an empty cluster.
    majority_share : ndarray of shape (n_clusters,), dtype float64
        Fraction of the cluster that is of its majority class; nan if empty.
    purity : float
        Fraction of all samples that are of their cluster's majority class.
    nmi : float
        Normalized mutual information (scikit-learn, arithmetic mean).
    ari : float
        Adjusted Rand index (scikit-learn).
    nearest_n : int or None
        ``n`` of the nearest-member lists; this and the following ``nearest_*``
        attributes are None when no :class:`NearestMembers` was given.
    nearest_valid : ndarray of shape (n_clusters,), dtype int64, or None
        Number of nearest members available per cluster, ``min(size, n)``.
    nearest_majority_hits : ndarray of shape (n_clusters,), dtype int64, or None
        Form (a): how many of the nearest members are of the cluster's
        ``majority`` class.
    nearest_mode : ndarray of shape (n_clusters,), dtype int64, or None
        The class most common among the nearest members themselves (the
        smaller class value on a tie), or -1 when there are none.
    nearest_mode_hits : ndarray of shape (n_clusters,), dtype int64, or None
        Form (b): how many of the nearest members are of ``nearest_mode``; what
        a person looking at the images counts.
    nearest_majority_accuracy : float or None
        ``sum(nearest_majority_hits) / sum(nearest_valid)``; nan if no cluster
        has members.
    nearest_mode_accuracy : float or None
        ``sum(nearest_mode_hits) / sum(nearest_valid)``; nan if no cluster has
        members.
    """

    classes: np.ndarray
    contingency: np.ndarray
    sizes: np.ndarray
    majority: np.ndarray
    majority_share: np.ndarray
    purity: float
    nmi: float
    ari: float
    nearest_n: int | None = None
    nearest_valid: np.ndarray | None = None
    nearest_majority_hits: np.ndarray | None = None
    nearest_mode: np.ndarray | None = None
    nearest_mode_hits: np.ndarray | None = None
    nearest_majority_accuracy: float | None = None
    nearest_mode_accuracy: float | None = None

    def __post_init__(self) -> None:
        read_only_arrays(self)

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return int(self.contingency.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of classes (columns of ``contingency``)."""
        return int(self.contingency.shape[1])

    @property
    def n_samples(self) -> int:
        """Number of samples evaluated."""
        return int(self.sizes.sum())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable values, e.g. for ``summary.json``.

        Returns
        -------
        dict
            Arrays become (nested) lists of Python ints and floats; nan becomes
            None so that the result is valid strict JSON. The ``nearest`` entry
            is None when no nearest members were evaluated, else a dict with
            ``n``, ``valid``, ``majority_hits``, ``mode``, ``mode_hits``,
            ``majority_accuracy`` and ``mode_accuracy``.
        """
        nearest: dict[str, Any] | None = None
        if self.nearest_n is not None:
            nearest = {
                "n": self.nearest_n,
                "valid": _ints(self.nearest_valid),
                "majority_hits": _ints(self.nearest_majority_hits),
                "mode": _ints(self.nearest_mode),
                "mode_hits": _ints(self.nearest_mode_hits),
                "majority_accuracy": _float(self.nearest_majority_accuracy),
                "mode_accuracy": _float(self.nearest_mode_accuracy),
            }
        return {
            "n_samples": self.n_samples,
            "n_clusters": self.n_clusters,
            "classes": _ints(self.classes),
            "contingency": [_ints(row) for row in self.contingency],
            "sizes": _ints(self.sizes),
            "majority": _ints(self.majority),
            "majority_share": [_float(v) for v in self.majority_share],
            "purity": _float(self.purity),
            "nmi": _float(self.nmi),
            "ari": _float(self.ari),
            "nearest": nearest,
        }


def evaluate_clusters(
    y_true: ArrayLike,
    labels: ArrayLike,
    n_clusters: int,
    nearest: NearestMembers | None = None,
    *,
    classes: ArrayLike | None = None,
) -> ClusterEvaluation:
    """Evaluate cluster labels against true class labels.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True integer class of each sample (the digit, for MNIST).
    labels : array-like of shape (n_samples,)
        Cluster label of each sample, in ``0 .. n_clusters - 1``.
    n_clusters : int
        Number of clusters ``k``; clusters without samples count as empty.
    nearest : NearestMembers, optional
        The nearest members of each cluster (from
        :func:`~mnist_kmeans.neighbors.nearest_members` with the same
        ``labels``); when given, the n-nearest accuracy is computed too.
    classes : array-like of shape (n_classes,), optional
        The class values to tabulate, e.g. ``np.arange(10)`` for digits so
        the table always has ten columns. By default the sorted unique values
        of ``y_true``, so that a class absent from the data adds no empty
        column. Every value of ``y_true`` must be among them.

    Returns
    -------
    ClusterEvaluation
        Contingency table, sizes, majority class and share per cluster,
        purity, NMI, ARI and, with ``nearest``, the n-nearest accuracy in
        both forms.

    Raises
    ------
    ValueError
        If the inputs disagree in length, are not integer, there are no
        samples, a label is outside ``0 .. n_clusters - 1``, a class is
        missing from ``classes``, or ``nearest`` does not match ``labels``.

    Notes
    -----
    The n-nearest accuracy comes in two forms. Form (a) counts the nearest
    members of the cluster's majority class; form (b) counts those of the
    class most common among the nearest members themselves. A cluster that
    mixes 4s, 7s and 9s with 4 the majority, but whose ten nearest members
    are all 9s, scores 0/10 by (a) and 10/10 by (b): (b) is what one judges
    by eye, (a) reveals that the picture misrepresents the cluster.
    """
    y_true = _int_vector(y_true, "y_true")
    labels = _int_vector(labels, "labels")
    n_clusters = check_positive_int(n_clusters, "n_clusters")
    if labels.shape != y_true.shape:
        raise ValueError(
            f"labels has {labels.shape[0]} entries but y_true has {y_true.shape[0]}"
        )
    if y_true.size == 0:
        raise ValueError("there are no samples to evaluate")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= n_clusters:
        raise ValueError(
            f"labels must lie in 0..{n_clusters - 1} (n_clusters={n_clusters}), "
            f"found {low if low < 0 else high}"
        )
    class_values = _class_values(y_true, classes)
    class_index = np.searchsorted(class_values, y_true)
    # searchsorted points past or beside a value that is not a class.
    clipped = np.minimum(class_index, class_values.size - 1)
    unknown = class_values[clipped] != y_true
    if np.any(unknown):
        raise ValueError(
            f"y_true value {int(y_true[np.argmax(unknown)])} is not among classes"
        )
    n_classes = class_values.size

    table = np.bincount(
        labels * n_classes + class_index, minlength=n_clusters * n_classes
    ).reshape(n_clusters, n_classes).astype(np.int64)
    sizes = table.sum(axis=1)
    filled = sizes > 0
    top = table.max(axis=1)
    # argmax picks the first maximum, i.e. the smaller class value on a tie.
    majority = np.where(filled, class_values[table.argmax(axis=1)], -1).astype(np.int64)
    share = np.full(n_clusters, np.nan)
    share[filled] = top[filled] / sizes[filled]
    purity = float(top.sum() / y_true.size)

    evaluation = {
        "classes": class_values,
        "contingency": table,
        "sizes": sizes,
        "majority": majority,
        "majority_share": share,
        "purity": purity,
        "nmi": float(normalized_mutual_info_score(y_true, labels)),
        "ari": float(adjusted_rand_score(y_true, labels)),
    }
    if nearest is not None:
        evaluation.update(
            _nearest_accuracy(nearest, labels, class_index, class_values, majority, sizes)
        )
    return ClusterEvaluation(**evaluation)


def _nearest_accuracy(
    nearest: NearestMembers,
    labels: np.ndarray,
    class_index: np.ndarray,
    class_values: np.ndarray,
    majority: np.ndarray,
    sizes: np.ndarray,
) -> dict[str, Any]:
    """The ``nearest_*`` fields of :class:`ClusterEvaluation`."""
    if not isinstance(nearest, NearestMembers):
        raise ValueError(f"nearest must be a NearestMembers, got {type(nearest).__name__}")
    n_clusters = sizes.size
    if nearest.n_clusters != n_clusters:
        raise ValueError(
            f"nearest has {nearest.n_clusters} clusters but n_clusters is {n_clusters}"
        )
    if not np.array_equal(nearest.n_members, sizes):
        raise ValueError("nearest.n_members does not match the cluster sizes of labels")
    valid = nearest.n_valid
    majority_hits = np.zeros(n_clusters, dtype=np.int64)
    mode = np.full(n_clusters, -1, dtype=np.int64)
    mode_hits = np.zeros(n_clusters, dtype=np.int64)
    for c, members in nearest.iter_valid():
        if members.size == 0:
            continue
        if members.max() >= labels.size or np.any(labels[members] != c):
            raise ValueError(f"nearest members of cluster {c} are not members of it in labels")
        digits = class_values[class_index[members]]
        counts = np.bincount(class_index[members], minlength=class_values.size)
        majority_hits[c] = np.count_nonzero(digits == majority[c])
        mode[c] = class_values[counts.argmax()]
        mode_hits[c] = counts.max()
    total = int(valid.sum())
    return {
        "nearest_n": nearest.n,
        "nearest_valid": valid.astype(np.int64),
        "nearest_majority_hits": majority_hits,
        "nearest_mode": mode,
        "nearest_mode_hits": mode_hits,
        "nearest_majority_accuracy": majority_hits.sum() / total if total else math.nan,
        "nearest_mode_accuracy": mode_hits.sum() / total if total else math.nan,
    }


def _int_vector(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must have an integer dtype, got {array.dtype}")
    return array.astype(np.int64, copy=False)


def _class_values(y_true: np.ndarray, classes: ArrayLike | None) -> np.ndarray:
    if classes is None:
        return np.unique(y_true)
    values = _int_vector(classes, "classes")
    if values.size == 0:
        raise ValueError("classes must not be empty")
    unique = np.unique(values)
    if unique.size != values.size:
        raise ValueError("classes must not repeat a value")
    return unique


def _ints(values: np.ndarray | None) -> list[int]:
    return [] if values is None else [int(v) for v in values]


def _float(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value
