"""The analysis step between a study and its report: where the results meet the data.

For the best and worst run of each :class:`~mnist_kmeans.study.StudyResult`,
:func:`analyze_studies` finds the members nearest each center
(:func:`~mnist_kmeans.neighbors.nearest_members`, ranked by the kernel's own distances) and, when
the true classes are known, scores the clustering against them
(:func:`~mnist_kmeans.evaluation.evaluate_clusters`, with the class set the caller names). It
also sums each study up in one comparison row, the numbers that the HTML report and the command
line tabulate side by side (see :mod:`mnist_kmeans.tables`). Nothing here writes or draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import check_positive_int, check_vector
from .evaluation import ClusterEvaluation, evaluate_clusters
from .kmeans import RunResult
from .neighbors import NearestMembers, nearest_members
from .study import StudyResult

__all__ = ["Analysis", "RunAnalysis", "StudyAnalysis", "analyze_studies"]


@dataclass(frozen=True, eq=False)
class RunAnalysis:
    """One kept run, with its nearest members and its scores.

    Attributes
    ----------
    run : RunResult
    index : int
        The run's restart index in its study.
    nearest : NearestMembers
        The members nearest each center.
    evaluation : ClusterEvaluation or None
        Scores against the true classes; None when they are not known.
    """

    run: RunResult
    index: int
    nearest: NearestMembers
    evaluation: ClusterEvaluation | None

    @property
    def j_clust_rises(self) -> int:
        """Iterations after which J_clust was higher than after the one before.

        Lloyd's iterations never raise the inertia (the sum of squared distances, which they
        minimise) but may raise J_clust (the sum of the distances themselves).
        """
        return _rises(self.run.j_clust_history)

    @property
    def inertia_rises(self) -> int:
        """Iterations after which the inertia was higher than after the one before (0 for
        Lloyd's algorithm, up to rounding)."""
        return _rises(self.run.inertia_history)

    def score(self, name: str) -> float | None:
        """A :class:`ClusterEvaluation` score as a float; None when unknown or nan."""
        if self.evaluation is None:
            return None
        value = getattr(self.evaluation, name)
        return None if value is None or math.isnan(value) else float(value)


@dataclass(frozen=True, eq=False)
class StudyAnalysis:
    """The best and worst run of one study, analysed, and the study's comparison row.

    Attributes
    ----------
    study : StudyResult
    best, worst : RunAnalysis
        The same object when the best run is also the worst.
    comparison : dict
        The study in one row, JSON-serialisable: ``n_clusters``, ``restarts``, ``j_clust_min``,
        ``j_clust_max``, ``j_clust_spread``, ``j_clust_spread_relative``, the n-nearest
        accuracies ``{best,worst}_nearest_{majority,mode}_accuracy``, ``{best,worst}_purity``,
        ``best_nmi``, ``best_ari`` (None without true classes), ``elapsed_seconds`` and
        ``{best,worst}_j_clust_rises`` (see :class:`RunAnalysis`).
    """

    study: StudyResult
    best: RunAnalysis
    worst: RunAnalysis
    comparison: dict[str, Any]

    @property
    def lowest_inertia_index(self) -> int:
        """The restart with the lowest final inertia, the one scikit-learn's KMeans would keep
        (ties to the lower index); the study's best run is the lowest J_clust's."""
        return int(np.argmin(self.study.inertia))


@dataclass(frozen=True, eq=False)
class Analysis:
    """Every study of one data set, analysed; what :func:`~mnist_kmeans.report.write_report`
    writes.

    Attributes
    ----------
    studies : tuple of StudyAnalysis
    X : ndarray of shape (n_samples, n_features)
        The images as rows (a view of the given images, not a copy).
    image_shape : tuple of int
        Height and width of one image.
    y_true : ndarray of shape (n_samples,) or None
        The true classes, when known.
    n_nearest : int
        Members found per cluster, the ``n`` of the n-nearest accuracy.
    """

    studies: tuple[StudyAnalysis, ...]
    X: np.ndarray
    image_shape: tuple[int, int]
    y_true: np.ndarray | None
    n_nearest: int

    @property
    def comparison(self) -> list[dict[str, Any]]:
        """The comparison row of every study, in order."""
        return [s.comparison for s in self.studies]


def analyze_studies(
    studies: Sequence[StudyResult],
    images: Any,
    y_true: Any = None,
    *,
    classes: Any = None,
    n_nearest: int = 10,
) -> Analysis:
    """Find the nearest members and the scores of the best and worst run of each study.

    Parameters
    ----------
    studies : sequence of StudyResult
        One or more studies on the same data (e.g. the notebook's k = 20, 10, 5).
    images : array-like of shape (n_samples, height, width) or (n_samples, n_features)
        The data the studies ran on, as images (rows are taken as square images).
    y_true : array-like of shape (n_samples,), optional
        True class of each image; enables the label-based scores.
    classes : array-like of shape (n_classes,), optional
        The class values to tabulate, e.g. ``range(10)`` for the MNIST digits, so that every
        digit has its column even when absent from the data; by default the values found in
        ``y_true`` (see :func:`~mnist_kmeans.evaluation.evaluate_clusters`).
    n_nearest : int, default=10
        Members found per cluster, and the ``n`` of the n-nearest accuracy.

    Returns
    -------
    Analysis

    Raises
    ------
    ValueError
        If there is no study, or the studies, images and labels do not match.
    """
    if not studies:
        raise ValueError("studies must hold at least one StudyResult")
    n_nearest = check_positive_int(n_nearest, "n_nearest")
    X, image_shape = _image_rows(images)
    y = None if y_true is None else check_vector(y_true, X.shape[0], "y_true")
    for study in studies:
        if study.n_samples != X.shape[0] or study.n_features != X.shape[1]:
            raise ValueError(
                f"the study with n_clusters={study.n_clusters} ran on data of shape "
                f"({study.n_samples}, {study.n_features}), but images give {X.shape}"
            )
    analysed = []
    for study in studies:
        best = _analyze_run(study.best, study.best_index, X, y, classes, n_nearest)
        worst = best if study.worst is study.best else _analyze_run(
            study.worst, study.worst_index, X, y, classes, n_nearest
        )
        analysed.append(StudyAnalysis(study, best, worst, _comparison_row(study, best, worst)))
    return Analysis(tuple(analysed), X, image_shape, y, n_nearest)


def _image_rows(images: Any) -> tuple[np.ndarray, tuple[int, int]]:
    array = np.asarray(images)
    if array.ndim == 3:
        shape = (int(array.shape[1]), int(array.shape[2]))
        return array.reshape(array.shape[0], -1), shape
    if array.ndim == 2:
        side = math.isqrt(array.shape[1])
        if side * side != array.shape[1]:
            raise ValueError(
                f"images of shape {array.shape}: rows of {array.shape[1]} values are not "
                "square images; pass an (n_samples, height, width) array"
            )
        return array, (side, side)
    raise ValueError(f"images must be 2-D or 3-D, got shape {array.shape}")


def _analyze_run(
    run: RunResult, index: int, X: np.ndarray, y: np.ndarray | None, classes: Any, n: int
) -> RunAnalysis:
    # The kernel's distances rank the members: no second pass over the data.
    nearest = nearest_members(X, run.labels, run.centers, n, sq_distances=run.sq_distances)
    evaluation = None
    if y is not None:
        n_clusters = run.centers.shape[0]
        evaluation = evaluate_clusters(y, run.labels, n_clusters, nearest, classes=classes)
    return RunAnalysis(run, index, nearest, evaluation)


def _comparison_row(study: StudyResult, best: RunAnalysis, worst: RunAnalysis) -> dict[str, Any]:
    low = float(study.j_clust.min())
    return {
        "n_clusters": study.n_clusters,
        "restarts": study.n_restarts,
        "j_clust_min": low,
        "j_clust_max": float(study.j_clust.max()),
        "j_clust_spread": study.j_clust_spread,
        "j_clust_spread_relative": study.j_clust_spread / low if low > 0 else None,
        "best_nearest_majority_accuracy": best.score("nearest_majority_accuracy"),
        "best_nearest_mode_accuracy": best.score("nearest_mode_accuracy"),
        "worst_nearest_majority_accuracy": worst.score("nearest_majority_accuracy"),
        "worst_nearest_mode_accuracy": worst.score("nearest_mode_accuracy"),
        "best_purity": best.score("purity"),
        "worst_purity": worst.score("purity"),
        "best_nmi": best.score("nmi"),
        "best_ari": best.score("ari"),
        "elapsed_seconds": study.elapsed,
        "best_j_clust_rises": best.j_clust_rises,
        "worst_j_clust_rises": worst.j_clust_rises,
    }


def _rises(history: np.ndarray) -> int:
    return int(np.count_nonzero(np.diff(np.asarray(history, dtype=np.float64)) > 0))
