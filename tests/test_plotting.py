"""Tests for mnist_kmeans.plotting (headless, Agg backend)."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere: no display needed

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.text  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mnist_kmeans.neighbors import nearest_members  # noqa: E402
from mnist_kmeans.plotting import (  # noqa: E402
    MAX_NEAREST_SHOWN,
    grid_shape,
    nearest_tile,
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
        assert ax.get_title() == f"{majority[c]} ({100 * share[c]:.1f}%)"
        assert len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0
    assert_saves_png(fig, tmp_path / "centers.png")


def test_plot_centers_titles():
    centers = np.zeros((3, 36))
    fig = plot_centers(centers, majority=[7, -1, 1], share=[0.83, np.nan, 1.0], image_shape=SHAPE)
    assert [ax.get_title() for ax in fig.axes] == ["7 (83.0%)", "empty", "1 (100.0%)"]
    fig = plot_centers(centers, majority=[7, 3, 1], image_shape=SHAPE)
    assert [ax.get_title() for ax in fig.axes] == ["7", "3", "1"]
    fig = plot_centers(centers, image_shape=SHAPE)
    assert [ax.get_title() for ax in fig.axes] == ["cluster 0", "cluster 1", "cluster 2"]


def test_plot_objective_history(tmp_path):
    best = [10.0, 7.5, 7.0, 6.9]
    worst = [12.0, 11.0]
    fig = plot_objective_history(best, worst)
    assert len(fig.axes) == 2  # the whole runs, and their ends zoomed
    full, tail = fig.axes
    for ax in (full, tail):
        lines = [line for line in ax.lines if len(line.get_xdata()) > 1 and
                 line.get_linestyle() in ("-", "--")]
        np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3, 4])
        np.testing.assert_array_equal(lines[1].get_ydata(), worst)
        assert ax.get_ylabel() == "J_clust"
    legend = [text.get_text() for text in full.get_legend().get_texts()]
    assert "6.9" in legend[0] and "4 iterations" in legend[0] and "best" in legend[0]
    assert "11.0" in legend[1] and "2 iterations" in legend[1] and "worst" in legend[1]
    assert_saves_png(fig, tmp_path / "history.png")


def _long_runs() -> tuple[np.ndarray, np.ndarray]:
    """Like MNIST's k = 20: a steep start, then two slow tails 0.3% apart, one of them with
    small rises (J_clust is not what Lloyd's iterations lower)."""
    steps = np.arange(1, 99)
    best = 14_755_475.0 + 5_000_000.0 * np.exp(-0.9 * steps[:36]) + 20_000 * np.exp(-0.1 * steps[:36])
    worst = 14_802_781.0 + 5_400_000.0 * np.exp(-0.8 * steps) + 40_000 * np.exp(-0.05 * steps)
    worst[50::7] += 300.0  # rises
    return best, worst


def test_objective_history_tail_shows_the_gap_between_the_final_values():
    best, worst = _long_runs()
    fig = plot_objective_history(best, worst)
    full, tail = fig.axes
    gap = worst[-1] - best[-1]
    # in the whole-run panel the first iterations set the range: the gap is a sliver of it
    low, high = full.get_ylim()
    assert gap / (high - low) < 0.02
    # in the tail panel it takes a good part of the height, and both final values are inside
    low, high = tail.get_ylim()
    assert low < best[-1] < worst[-1] < high
    assert gap / (high - low) > 0.3
    # the tail starts where both runs are inside the window for good, and runs to the end
    start, end = tail.get_xlim()
    assert end >= worst.size
    inside = lambda h: np.flatnonzero(h > high)  # noqa: E731
    for history in (best, worst):
        above = inside(history)
        assert above.size == 0 or above[-1] + 1 <= start + 1.5


@pytest.mark.parametrize("same", [True, False])
def test_objective_history_tail_of_equal_or_short_runs(same, tmp_path):
    # one restart (best is worst), or two one-iteration runs: still a readable figure
    best = [5.0] if not same else [9.0, 6.0, 5.0]
    worst = [5.5] if not same else [9.0, 6.0, 5.0]
    fig = plot_objective_history(best, worst)
    low, high = fig.axes[1].get_ylim()
    assert low < 5.0 < high and np.isfinite([low, high]).all()
    assert_saves_png(fig, tmp_path / "h.png")


def _drawn_texts(fig: Figure) -> list[str]:
    """Every piece of text a saved figure shows: tick labels, offsets, titles, legends."""
    fig.canvas.draw()  # tick labels and offsets are made at drawing time
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_visible()]
    for ax in fig.axes:  # the colorbar's axes included
        for axis in (ax.xaxis, ax.yaxis):
            texts += [t.get_text() for t in axis.get_ticklabels() if t.get_visible()]
            texts.append(axis.get_offset_text().get_text())
    return texts


def test_numbers_in_figures_are_written_one_way(tmp_path):
    """Large objectives: thousands separators, no exponent, no '1e7' offset above an axis."""
    best, worst = _long_runs()
    figures = [
        plot_objective_history(best, worst),
        plot_restart_distribution(np.linspace(best[-1], worst[-1], 10)),
        plot_contingency(np.full((3, 4), 12_345)),
    ]
    for fig in figures:
        texts = [t for t in _drawn_texts(fig) if t]
        assert not any("e+" in t or "e-" in t or t.startswith("1e") or "\u00d710" in t
                       for t in texts), texts
        numbers = [t for t in texts if t.replace(",", "").replace(".", "").isdigit()]
        assert numbers, texts
        for number in numbers:
            if float(number.replace(",", "")) >= 10_000:
                assert "," in number, number
    legend = " ".join(t.get_text() for t in figures[0].axes[0].get_legend().get_texts())
    assert f"{best[-1]:,.1f}" in legend and f"{worst[-1]:,.1f}" in legend


def test_restart_histogram_legend_covers_no_bar():
    values = np.array([14.755e6, 14.757e6, 14.758e6, 14.77e6, 14.78e6, 14.785e6, 14.786e6,
                       14.79e6, 14.80e6, 14.8028e6])
    fig = plot_restart_distribution(values)
    fig.canvas.draw()
    legend = fig.legends[0] if fig.legends else fig.axes[0].get_legend()
    box = legend.get_window_extent()
    ax = fig.axes[0]
    assert ax.patches
    for bar in ax.patches:
        assert not box.overlaps(bar.get_window_extent()), "the legend covers a bar"
    assert not box.overlaps(ax.get_window_extent())


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


def _mosaic(fig: Figure) -> np.ndarray:
    assert len(fig.axes) == 1 and len(fig.axes[0].images) == 1  # one picture, however many tiles
    return np.asarray(fig.axes[0].images[0].get_array())


WHITE, RED = np.ones(3), np.array([1.0, 0.0, 0.0])


def _framed(mosaic: np.ndarray, rows: slice, cols: slice) -> bool:
    """Whether the gap just outside the tile is red all round (checked at the four sides)."""
    middle_r, middle_c = (rows.start + rows.stop) // 2, (cols.start + cols.stop) // 2
    sides = [mosaic[rows.start - 1, middle_c], mosaic[rows.stop, middle_c],
             mosaic[middle_r, cols.start - 1], mosaic[middle_r, cols.stop]]
    if all(np.array_equal(side, RED) for side in sides):
        return True
    assert all(np.array_equal(side, WHITE) for side in sides), sides
    return False


@pytest.mark.parametrize("k", [5, 10, 20])
def test_plot_nearest_members(k, tmp_path):
    n = 3
    X, nearest, y_true, majority = nearest_case(k, n)
    fig = plot_nearest_members(X, nearest, y_true=y_true, majority=majority, image_shape=SHAPE)
    mosaic = _mosaic(fig)
    shown = X[nearest.indices[nearest.indices >= 0]]
    low, high = shown.min(), shown.max()  # one gray scale for every tile
    outlined = 0
    for c in range(k):
        for j in range(n):
            rows, cols = nearest_tile(c, j, SHAPE)
            tile = mosaic[rows, cols]
            index = nearest.indices[c, j]
            if index < 0:
                assert np.all(tile == 1.0)  # a blank slot stays white
                assert not _framed(mosaic, rows, cols)
                continue
            expected = (X[index].reshape(SHAPE) - low) / (high - low)
            for channel in range(3):  # gray
                np.testing.assert_allclose(tile[:, :, channel], expected, atol=1e-6)
            odd = y_true[index] != majority[c]
            assert _framed(mosaic, rows, cols) == odd
            outlined += odd
    assert outlined > 0  # the random digits make the check meaningful
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == k
    for c, label in enumerate(labels):
        assert label.startswith(f"cluster {c}\n")
        assert label.endswith(f"majority {majority[c]}" if majority[c] >= 0 else "empty")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "2", "3"]
    assert_saves_png(fig, tmp_path / "nearest.png")


def test_nearest_rows_start_with_the_representative_and_say_what_they_are():
    k, n = 4, 3
    X, nearest, y_true, majority = nearest_case(k, n)
    centers = np.random.default_rng(1).random((k, 36), dtype=np.float32) * 0.5 + 0.25
    fig = plot_nearest_members(X, nearest, centers=centers, y_true=y_true, majority=majority,
                               image_shape=SHAPE)
    mosaic = _mosaic(fig)
    shown = X[nearest.indices[nearest.indices >= 0]]
    low, high = shown.min(), shown.max()
    for c in range(k):
        rows, cols = nearest_tile(c, -1, SHAPE, lead=True)
        np.testing.assert_allclose(mosaic[rows, cols, 0],
                                   (centers[c].reshape(SHAPE) - low) / (high - low), atol=1e-6)
        assert not _framed(mosaic, rows, cols)
        # the members follow, after a wider gap than between members
        first_member = nearest_tile(c, 0, SHAPE, lead=True)[1]
        second_member = nearest_tile(c, 1, SHAPE, lead=True)[1]
        assert first_member.start - cols.stop > second_member.start - first_member.stop
        for j in range(n):
            index = nearest.indices[c, j]
            tile = mosaic[nearest_tile(c, j, SHAPE, lead=True)]
            if index >= 0:
                np.testing.assert_allclose(
                    tile[:, :, 0], (X[index].reshape(SHAPE) - low) / (high - low), atol=1e-6)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == f"cluster 0\nmajority {majority[0]}"
    assert labels[-1] == f"cluster {k - 1}\nempty"  # nearest_case leaves the last one empty
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["mean", "1", "2", "3"]


def test_nearest_columns_are_bounded_by_the_figure_and_the_clusters():
    # more asked for than any cluster holds: no column that every row leaves blank
    X, nearest, _, _ = nearest_case(5, 30)
    largest = int(nearest.n_members.max())
    assert largest < 30
    fig = plot_nearest_members(X, nearest, image_shape=SHAPE)
    assert len(fig.axes[0].get_xticklabels()) == largest
    width = _mosaic(fig).shape[1]  # room for the last column, not for another
    assert nearest_tile(0, largest - 1, SHAPE)[1].stop < width
    assert width < nearest_tile(0, largest, SHAPE)[1].stop
    # more than a figure row can show: refused, whatever the clusters hold
    rng = np.random.default_rng(0)
    X = rng.random((400, 36), dtype=np.float32)
    labels = np.repeat([0, 1], 200)
    many = nearest_members(X, labels, X[:2], n=MAX_NEAREST_SHOWN + 1)
    with pytest.raises(ValueError, match=f"at most {MAX_NEAREST_SHOWN}"):
        plot_nearest_members(X, many, image_shape=SHAPE)


def test_plot_nearest_members_without_digits_has_no_outlines():
    X, nearest, y_true, majority = nearest_case(5, 4)
    for kwargs in ({}, {"y_true": y_true}, {"majority": majority}):
        fig = plot_nearest_members(X, nearest, image_shape=SHAPE, **kwargs)
        mosaic = _mosaic(fig)
        assert not np.any(np.all(mosaic == RED, axis=-1))


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
    # every cluster has its label, not every other one
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(c) for c in range(k)]
    np.testing.assert_array_equal(ax.get_yticks(), np.arange(k))
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
