"""Tests for mnist_kmeans.analysis (nearest members and scores of the kept runs) and
mnist_kmeans.tables (the comparison table that the report and the command line share)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mnist_kmeans.analysis import analyze_studies
from mnist_kmeans.cli import notebook_table
from mnist_kmeans.evaluation import evaluate_clusters
from mnist_kmeans.neighbors import nearest_members
from mnist_kmeans.study import StudyResult, run_study
from mnist_kmeans.tables import COMPARISON_ROWS, comparison_lines, format_number

N_ROWS = 600


@pytest.fixture(scope="module")
def data(mnist_sample: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The first images (as (n, 28, 28)) and their digits."""
    return mnist_sample[0][:N_ROWS].reshape(-1, 28, 28), mnist_sample[1][:N_ROWS]


@pytest.fixture(scope="module")
def studies(mnist_sample: tuple[np.ndarray, np.ndarray]) -> list[StudyResult]:
    X = mnist_sample[0][:N_ROWS]
    return [run_study(X, n_clusters, restarts, random_state=2)
            for n_clusters, restarts in ((4, 3), (2, 2))]


def test_kept_runs_are_analysed_as_the_parts_would(data, studies) -> None:
    images, labels = data
    X = images.reshape(N_ROWS, -1)
    analysis = analyze_studies(studies, images, labels, classes=range(10), n_nearest=5)
    assert analysis.image_shape == (28, 28) and analysis.n_nearest == 5
    assert np.shares_memory(analysis.X, images)  # the images are not copied
    for sa, study in zip(analysis.studies, studies):
        assert sa.study is study
        for ra, run, index in ((sa.best, study.best, study.best_index),
                               (sa.worst, study.worst, study.worst_index)):
            assert ra.run is run and ra.index == index
            # from the data, not from the kernel's distances: the same members
            nearest = nearest_members(X, run.labels, run.centers, 5)
            np.testing.assert_array_equal(ra.nearest.indices, nearest.indices)
            expected = evaluate_clusters(labels, run.labels, study.n_clusters, nearest,
                                         classes=np.arange(10))
            assert ra.evaluation.to_dict() == expected.to_dict()


def test_comparison_row(data, studies) -> None:
    images, labels = data
    sa = analyze_studies(studies[:1], images, labels, n_nearest=3).studies[0]
    row, study = sa.comparison, sa.study
    assert row["n_clusters"] == 4 and row["restarts"] == 3
    assert row["j_clust_min"] == study.j_clust.min() == study.best.j_clust
    assert row["j_clust_max"] == study.j_clust.max() == study.worst.j_clust
    assert row["j_clust_spread"] == study.j_clust.max() - study.j_clust.min()
    assert row["j_clust_spread_relative"] == pytest.approx(
        (study.j_clust.max() - study.j_clust.min()) / study.j_clust.min()
    )
    assert row["best_purity"] == sa.best.evaluation.purity
    assert row["worst_nearest_mode_accuracy"] == sa.worst.evaluation.nearest_mode_accuracy
    assert row["best_ari"] == sa.best.evaluation.ari
    assert row["elapsed_seconds"] == study.elapsed


def test_the_caller_names_the_classes(data, studies) -> None:
    images, labels = data
    no_nines = labels != 9
    X = images[no_nines].reshape(int(no_nines.sum()), -1)
    study = run_study(X, 3, 1, random_state=0)
    digits = analyze_studies([study], X, labels[no_nines], classes=range(10))
    found = analyze_studies([study], X, labels[no_nines])
    np.testing.assert_array_equal(digits.studies[0].best.evaluation.classes, np.arange(10))
    assert digits.studies[0].best.evaluation.contingency[:, 9].sum() == 0
    np.testing.assert_array_equal(found.studies[0].best.evaluation.classes, np.arange(9))
    # labels that are not digits: nothing is guessed from their values
    shifted = analyze_studies([study], X, labels[no_nines].astype(np.int64) + 100)
    np.testing.assert_array_equal(shifted.studies[0].best.evaluation.classes,
                                  np.arange(100, 109))
    assert shifted.studies[0].best.evaluation.purity == found.studies[0].best.evaluation.purity


def test_without_labels(data, studies) -> None:
    images, _ = data
    sa = analyze_studies(studies[1:], images).studies[0]
    assert sa.best.evaluation is None and sa.best.nearest.n == 10
    assert sa.comparison["best_purity"] is None and sa.comparison["best_nmi"] is None
    assert sa.comparison["j_clust_min"] == sa.study.best.j_clust


def test_one_restart_is_analysed_once(data) -> None:
    images, labels = data
    study = run_study(images.reshape(N_ROWS, -1), 3, 1, random_state=0)
    sa = analyze_studies([study], images, labels).studies[0]
    assert sa.best is sa.worst


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(images=a["images"][:10], y_true=None), "ran on data"),
        (lambda a: a.update(y_true=a["y_true"][:10]), "y_true must have shape"),
        (lambda a: a.update(images=np.zeros((N_ROWS, 785))), "square"),
        (lambda a: a.update(images=np.zeros(N_ROWS)), "2-D or 3-D"),
        (lambda a: a.update(studies=[]), "at least one"),
        (lambda a: a.update(n_nearest=0), "n_nearest must be >= 1"),
    ],
)
def test_mismatched_inputs_are_refused(data, studies, change, message) -> None:
    images, labels = data
    args = {"studies": studies, "images": images, "y_true": labels, "n_nearest": 2}
    change(args)
    with pytest.raises(ValueError, match=message):
        analyze_studies(**args)


# --- tables -----------------------------------------------------------------------------------


def test_format_number() -> None:
    assert format_number(None) is None and format_number(math.nan, "pct") is None
    assert format_number(0.1234, "pct") == "12.3%"
    assert format_number(14755475.14, "obj") == "14,755,475.1"
    assert format_number(0.71923, "score") == "0.7192"
    assert format_number(1.2345, "s") == "1.23"
    assert format_number(np.int64(30)) == "30" and format_number(2.5) == "2.5"
    assert format_number(np.bool_(False)) == "no"


def test_every_comparison_row_is_in_the_table_and_back(data, studies) -> None:
    images, labels = data
    comparison = analyze_studies(studies, images, labels).comparison
    keys = {row.key for row in COMPARISON_ROWS}
    # the table shows every number of the row but the column's own name
    assert keys == set(comparison[0]) - {"n_clusters"}
    long, short = comparison_lines(comparison, 7), comparison_lines(comparison, 7, short=True)
    assert [values for _, values in long] == [values for _, values in short]
    assert "7-nearest accuracy, best run, most common digit" in [label for label, _ in long]
    assert "7-nearest acc. best, most common" in [label for label, _ in short]
    for (_, values), spec in zip(long, COMPARISON_ROWS):
        assert values == [format_number(row[spec.key], spec.kind) for row in comparison]


def test_notebook_table_shows_the_shared_lines(data, studies) -> None:
    images, labels = data
    comparison = analyze_studies(studies, images, labels).comparison
    text = notebook_table(comparison, 10).splitlines()
    assert text[0].split() == ["k", "=", "4", "k", "=", "2"]
    assert len(text) == 1 + len(COMPARISON_ROWS)
    for line, (label, values) in zip(text[1:], comparison_lines(comparison, 10, short=True)):
        assert line.startswith(label)
        assert line.split()[-2:] == [v or "-" for v in values]
    assert len(max(text, key=len)) <= 80  # fits a terminal with two columns
    no_labels = analyze_studies(studies, images).comparison
    assert "-" in notebook_table(no_labels, 10).splitlines()[-2].split()  # ARI unknown
