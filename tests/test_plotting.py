"""Tests for mnist_kmeans.plotting (headless, Agg backend)."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere: no display needed

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mnist_kmeans.neighbors import nearest_members  # noqa: E402
from mnist_kmeans.plotting import (  # noqa: E402
    grid_shape,
    plot_centers,
    plot_contingency,
    plot_nearest_members,
    plot_objective_history,
    plot_restart_distribution,
    save_figure,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SHAPE = (6, 6)  # small images keep the tests fast


def assert_saves_png(fig: Figure, path) -> None:
    save_figure(fig, path, dpi=30)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert mpimg.imread(path).ndim == 3
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def grid_of(ax) -> tuple[int, int]:
    return ax.get_subplotspec().get_gridspec().get_geometry()


@pytest.mark.parametrize(
    ("k", "shape"), [(5, (1, 5)), (10, (2, 5)), (20, (4, 5)), (7, (2, 5)), (3, (1, 3))]
)
def test_plot_centers_grid(k, shape, tmp_path):
    rng = np.random.default_rng(k)
    centers = rng.random((k, 36), dtype=np.float32)
    majority = rng.integers(0, 10, size=k)
    share = rng.random(k)
    fig = plot_centers(centers, majority=majority, share=share, image_shape=SHAPE)
    assert isinstance(fig, Figure)
    assert grid_shape(k) == shape
    assert len(fig.axes) == k
    for c, ax in enumerate(fig.axes):
        assert grid_of(ax) == shape
        assert len(ax.images) == 1
        assert ax.images[0].get_cmap().name == "gray"
        assert ax.images[0].get_array().shape == SHAPE
        assert ax.get_title() == f"{majority[c]} ({share[c]:.0%})"
        assert len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0
    assert_saves_png(fig, tmp_path / "centers.png")


def test_plot_centers_titles():
    centers = np.zeros((3, 36))
    fig = plot_centers(centers, majority=[7, -1, 1], share=[0.83, np.nan, 1.0], image_shape=SHAPE)
    assert [ax.get_title() for ax in fig.axes] == ["7 (83%)", "empty", "1 (100%)"]
    fig = plot_centers(centers, majority=[7, 3, 1], image_shape=SHAPE)
    assert [ax.get_title() for ax in fig.axes] == ["7", "3", "1"]
    fig = plot_centers(centers, image_shape=SHAPE)
    assert [ax.get_title() for ax in fig.axes] == ["cluster 0", "cluster 1", "cluster 2"]


def test_plot_objective_history(tmp_path):
    best = [10.0, 7.5, 7.0, 6.9]
    worst = [12.0, 11.0]
    fig = plot_objective_history(best, worst)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), worst)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "6.9" in legend[0] and "4 iterations" in legend[0] and "best" in legend[0]
    assert "11" in legend[1] and "2 iterations" in legend[1] and "worst" in legend[1]
    assert ax.get_ylabel() == "J_clust"
    assert_saves_png(fig, tmp_path / "history.png")


def nearest_case(k, n, seed=0):
    """Random images, labels with one empty and one short cluster, digits."""
    rng = np.random.default_rng(seed)
    n_samples = 8 * k
    X = rng.random((n_samples, 36), dtype=np.float32)
    labels = rng.integers(0, k - 2, size=n_samples)
    labels[:1] = k - 2  # one member only; cluster k-1 is empty
    labels[1:] = np.where(labels[1:] == k - 2, 0, labels[1:])
    centers = rng.random((k, 36), dtype=np.float32)
    y_true = rng.integers(0, 3, size=n_samples)
    majority = np.array([np.bincount(y_true[labels == c], minlength=3).argmax()
                         if np.any(labels == c) else -1 for c in range(k)])
    return X, nearest_members(X, labels, centers, n=n), y_true, majority


@pytest.mark.parametrize("k", [5, 10, 20])
def test_plot_nearest_members(k, tmp_path):
    n = 3
    X, nearest, y_true, majority = nearest_case(k, n)
    fig = plot_nearest_members(X, nearest, y_true=y_true, majority=majority, image_shape=SHAPE)
    assert len(fig.axes) == k * n
    red = to_rgba("red")
    outlined = 0
    for c in range(k):
        for j in range(n):
            ax = fig.axes[c * n + j]
            assert grid_of(ax) == (k, n)
            index = nearest.indices[c, j]
            assert len(ax.images) == (1 if index >= 0 else 0)
            expect = index >= 0 and y_true[index] != majority[c]
            frame = [spine.get_visible() for spine in ax.spines.values()]
            assert all(frame) if expect else not any(frame)
            if expect:
                outlined += 1
                assert all(s.get_edgecolor() == red for s in ax.spines.values())
        label = fig.axes[c * n].get_ylabel()
        assert f"#{c}" in label
        if majority[c] >= 0:
            assert str(majority[c]) in label
        else:
            assert "empty" in label
    assert outlined > 0  # the random digits make the check meaningful
    assert sum(len(ax.images) for ax in fig.axes) == nearest.n_valid.sum()
    assert_saves_png(fig, tmp_path / "nearest.png")


def test_plot_nearest_members_without_digits_has_no_outlines():
    X, nearest, y_true, majority = nearest_case(5, 4)
    for kwargs in ({}, {"y_true": y_true}, {"majority": majority}):
        fig = plot_nearest_members(X, nearest, image_shape=SHAPE, **kwargs)
        assert not any(s.get_visible() for ax in fig.axes for s in ax.spines.values())


@pytest.mark.parametrize(("k", "annotated"), [(5, True), (20, True), (50, False)])
def test_plot_contingency(k, annotated, tmp_path):
    rng = np.random.default_rng(k)
    table = rng.integers(0, 50, size=(k, 10))
    fig = plot_contingency(table, class_names=list("abcdefghij"))
    assert len(fig.axes) == 2  # heatmap and colorbar
    ax = fig.axes[0]
    assert len(ax.images) == 1
    np.testing.assert_array_equal(ax.images[0].get_array(), table)
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcdefghij")
    texts = [t.get_text() for t in ax.texts]
    if annotated:
        assert texts == [str(v) for v in table.ravel()]
    else:
        assert texts == []
    if k == 5:
        assert_saves_png(fig, tmp_path / "table.png")


def test_plot_restart_distribution(tmp_path):
    values = np.array([25.1, 24.9, 25.3, 26.0, 24.9, 25.0])
    fig = plot_restart_distribution(values)
    ax = fig.axes[0]
    assert len(fig.axes) == 1
    vertical = [line.get_xdata()[0] for line in ax.lines if len(line.get_xdata()) == 2]
    assert vertical == [24.9, 26.0]
    assert sum(patch.get_height() for patch in ax.patches) == values.size
    fig = plot_restart_distribution(values, best=25.0, worst=25.3)
    vertical = [line.get_xdata()[0] for line in fig.axes[0].lines if len(line.get_xdata()) == 2]
    assert vertical == [25.0, 25.3]
    assert_saves_png(plot_restart_distribution([3.0]), tmp_path / "single.png")


def test_save_figure_is_atomic_and_closes(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    fig = plt.figure()
    fig.add_subplot().plot([0, 1])
    number = fig.number
    assert save_figure(fig, str(path)) == path
    assert not plt.fignum_exists(number)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert os.listdir(tmp_path) == ["out.png"]


def test_save_figure_cleans_up_on_failure(tmp_path):
    fig = plot_objective_history([1.0], [2.0])
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "out.unknownformat")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: plot_centers(np.zeros((3, 35)), image_shape=SHAPE), "shape"),
        (lambda: plot_centers(np.zeros((3, 36)), majority=[1, 2], image_shape=SHAPE), "majority"),
        (lambda: plot_objective_history([], [1.0]), "non-empty"),
        (lambda: plot_objective_history([np.nan], [1.0]), "nan"),
        (lambda: plot_contingency(np.zeros((2, 3)), class_names=["a"]), "class_names"),
        (lambda: plot_contingency(np.zeros(3)), "2-D"),
        (lambda: plot_restart_distribution([]), "non-empty"),
        (lambda: plot_nearest_members(np.zeros((2, 36)), np.zeros((2, 2))), "NearestMembers"),
    ],
)
def test_invalid_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_library_modules_import_neither_pyplot_nor_kmeans():
    code = (
        "import sys, mnist_kmeans.neighbors, mnist_kmeans.evaluation, mnist_kmeans.plotting\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert 'mnist_kmeans.kmeans' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True, env=env)
