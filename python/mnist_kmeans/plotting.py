"""Figures for a k-means study of MNIST-like images.

Every function returns a :class:`matplotlib.figure.Figure` built directly,
without :mod:`matplotlib.pyplot`, so that nothing depends on a display or a
GUI backend and no figure is left registered with pyplot. Use
:func:`save_figure` to write one to disk, or display it in a notebook.

This is the only module of the package that imports matplotlib.

Over 500 lines on purpose: it is the one room for figures (six public figures and the small
validation and labelling helpers they share); splitting it would put matplotlib in two modules.
"""

from __future__ import annotations

import math
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, MaxNLocator
from numpy.typing import ArrayLike

from ._validation import check_vector
from .neighbors import NearestMembers
from .tables import format_number

__all__ = [
    "MAX_NEAREST_SHOWN",
    "NumberFormatter",
    "grid_shape",
    "nearest_tile",
    "plot_centers",
    "plot_contingency",
    "plot_nearest_members",
    "plot_objective_history",
    "plot_restart_distribution",
    "save_figure",
]

# Most images per row in plot_centers.
_MAX_COLUMNS = 5
# Colour of the frame around members of a digit other than the majority.
_OUTLINE_RGB = (1.0, 0.0, 0.0)  # red
# Contingency tables with more cells than this are not annotated by default:
# the numbers would be too small to read.
_MAX_ANNOTATED_CELLS = 400

#: The most members per cluster :func:`plot_nearest_members` draws: a row of 50 tiles of
#: 0.85 inch is already 43 inches wide, and every tile is an axes of its own (memory and
#: drawing time grow with their number).
MAX_NEAREST_SHOWN = 50

# Colours of the best and worst run, in every figure that shows both.
_BEST_COLOR = "tab:blue"
_WORST_COLOR = "tab:orange"


class NumberFormatter(Formatter):
    """Axis tick labels written by :func:`mnist_kmeans.tables.format_number`: thousands
    separated, no exponent and no offset ("1e7") above the axis.

    Parameters
    ----------
    kind : str, default='obj'
        The :func:`~mnist_kmeans.tables.format_number` kind; for 'obj' the decimals follow
        the tick spacing (none when the ticks are whole numbers apart).
    """

    def __init__(self, kind: str = "obj") -> None:
        self.kind = kind
        self._decimals: int | None = None

    def set_locs(self, locs: Sequence[float]) -> None:
        super().set_locs(locs)
        steps = np.diff(np.unique(np.asarray(locs, dtype=np.float64)))
        steps = steps[steps > 0]
        self._decimals = None  # the kind's default
        if self.kind == "obj" and steps.size:
            # as many decimals as the spacing needs: 14,760,000 / 14,770,000, or 0.25 / 0.50
            self._decimals = min(6, max(0, -math.floor(math.log10(float(steps.min())))))

    def __call__(self, x: float, pos: int | None = None) -> str:
        return format_number(x, self.kind, decimals=self._decimals) or ""


def grid_shape(k: int, max_columns: int = _MAX_COLUMNS) -> tuple[int, int]:
    """Rows and columns of the grid that :func:`plot_centers` uses for ``k`` images.

    Parameters
    ----------
    k : int
        Number of images, at least 1.
    max_columns : int, default=5
        Most images per row.

    Returns
    -------
    tuple of int
        ``(ceil(k / max_columns), min(k, max_columns))``, e.g. (4, 5) for 20,
        (2, 5) for 10 and (1, 5) for 5.
    """
    if k < 1 or max_columns < 1:
        raise ValueError(f"k and max_columns must be >= 1, got {k} and {max_columns}")
    return math.ceil(k / max_columns), min(k, max_columns)


def plot_centers(
    centers: ArrayLike,
    *,
    majority: ArrayLike | None = None,
    share: ArrayLike | None = None,
    image_shape: tuple[int, int] = (28, 28),
) -> Figure:
    """Show cluster representatives as images in a grid.

    Parameters
    ----------
    centers : array-like of shape (n_clusters, n_features)
        One representative per cluster; ``n_features`` must equal the product
        of ``image_shape``.
    majority : array-like of shape (n_clusters,), optional
        Majority digit per cluster (-1 for an empty cluster), shown as title.
    share : array-like of shape (n_clusters,), optional
        Fraction of the cluster that is its majority digit, shown as a
        percentage after it, e.g. "7 (83%)"; nan entries are left out.
    image_shape : tuple of int, default=(28, 28)
        Height and width of one image.

    Returns
    -------
    Figure
        One axes per cluster, in a grid of at most five columns and
        ``ceil(n_clusters / 5)`` rows, in cluster order; all images share one
        gray scale so that their intensities compare.
    """
    images = _images(centers, "centers", image_shape)
    k = images.shape[0]
    majority_values = _optional_vector(majority, k, "majority")
    share_values = _optional_vector(share, k, "share")
    rows, cols = grid_shape(k)
    fig = Figure(figsize=(1.7 * cols, 1.9 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    vmin, vmax = _gray_range(images)
    for c in range(rows * cols):
        ax = axes.flat[c]
        if c >= k:
            # Cells beyond k in the last row are removed, not left empty.
            ax.remove()
            continue
        ax.imshow(images[c], cmap="gray", vmin=vmin, vmax=vmax)
        _no_ticks(ax)
        ax.set_title(_center_title(c, majority_values, share_values), fontsize=10)
    return fig


def plot_objective_history(
    best: ArrayLike,
    worst: ArrayLike,
    *,
    label: str = "J_clust",
) -> Figure:
    """Plot the objective against the iteration for the best and worst runs: the whole
    curves, and their ends zoomed so that the gap between the two final values shows.

    Parameters
    ----------
    best, worst : array-like of shape (n_iterations,)
        Objective value after each iteration of the run with the lowest and
        the highest final value; the lengths may differ.
    label : str, default="J_clust"
        Name of the objective, used for the axes and legend.

    Returns
    -------
    Figure
        Two axes against the 1-based iteration number, each with one line per run (best
        first). The upper one shows the whole curves; its y-range is set by the first
        iterations, where the objective falls fastest. The lower one shows the tail: its
        y-range spans the two final values with a margin of the larger of their gap and 0.2%
        of the best final value (values above leave the panel), and its x-range starts one
        iteration before both runs are inside that range for good; dotted lines mark the
        final values. The legend gives each run's final value and iteration count; the axes
        are written by :class:`NumberFormatter`.
    """
    runs = [("best", _finite_vector(best, "best"), "-", _BEST_COLOR),
            ("worst", _finite_vector(worst, "worst"), "--", _WORST_COLOR)]
    fig = Figure(figsize=(6.4, 6.4), layout="constrained")
    full, tail = fig.subplots(2, 1, height_ratios=[1, 1.3])
    low, high, start = _tail_window(runs[0][1], runs[1][1])
    for name, history, style, color in runs:
        iterations = np.arange(1, history.size + 1)
        final = format_number(history[-1], "obj")
        plural = "s" if history.size != 1 else ""
        full.plot(
            iterations, history, style, color=color, linewidth=1.5,
            label=f"{name} run: final {label} {final} after {history.size} iteration{plural}",
        )
        tail.plot(iterations, history, style, color=color, linewidth=1.5)
        # Markers only where they stay apart: a band of them hides the line.
        for ax in (full, tail):
            ax.plot(iterations[-1:], history[-1:], "o", color=color, markersize=5)
        tail.axhline(history[-1], color=color, linewidth=0.8, linestyle=":")
    longest = max(runs[0][1].size, runs[1][1].size)
    tail.set_xlim(start - 0.5, longest + 0.5)
    tail.set_ylim(low, high)
    for ax in (full, tail):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(NumberFormatter("obj"))
        ax.set_ylabel(label)
        ax.grid(True, color="0.9")
    tail.set_xlabel("iteration")
    full.set_title(f"{label} per iteration: the whole runs", fontsize=11)
    tail.set_title("the end of the runs, zoomed: the gap between the final values", fontsize=11)
    full.legend(fontsize=9)
    return fig


def _tail_window(best: np.ndarray, worst: np.ndarray) -> tuple[float, float, int]:
    """(low, high, first iteration) of the zoomed tail of :func:`plot_objective_history`."""
    finals = sorted((float(best[-1]), float(worst[-1])))
    gap = finals[1] - finals[0]
    # 0.2% of the value: a visible range even when both runs end at the same value
    margin = max(gap, 0.002 * abs(finals[0])) or 1.0  # (1.0 when both end at zero)
    low, high = finals[0] - 0.25 * margin, finals[1] + margin
    start = 1
    for history in (best, worst):
        above = np.flatnonzero(history > high)  # 0-based iterations still above the window
        entered = int(above[-1]) + 2 if above.size else 1  # 1-based, inside from here on
        start = max(start, entered - 1)  # one more, so that the line comes in from above
    return low, high, start


def plot_nearest_members(
    X: ArrayLike,
    nearest: NearestMembers,
    *,
    centers: ArrayLike | None = None,
    y_true: ArrayLike | None = None,
    majority: ArrayLike | None = None,
    image_shape: tuple[int, int] = (28, 28),
) -> Figure:
    """Show each cluster's representative and the members nearest it.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The samples that ``nearest`` indexes.
    nearest : NearestMembers
        The nearest members per cluster, as from
        :func:`~mnist_kmeans.neighbors.nearest_members`; ``nearest.n`` at most
        :data:`MAX_NEAREST_SHOWN`.
    centers : array-like of shape (n_clusters, n_features), optional
        The representatives (cluster means); when given, each row starts with
        its cluster's, set apart from the members, so that they compare side by
        side.
    y_true : array-like of shape (n_samples,), optional
        True digit per sample.
    majority : array-like of shape (n_clusters,), optional
        Majority digit per cluster (-1 for an empty cluster). With ``y_true``,
        members of another digit are framed in red; without either, no
        member is framed.
    image_shape : tuple of int, default=(28, 28)
        Height and width of one image.

    Returns
    -------
    Figure
        One axes holding one picture, a mosaic of tiles on white (drawn as one image, so that
        the figure stays quick to draw and small in memory however many tiles it has; see
        :func:`nearest_tile` for where each tile lies). One row per cluster, labelled (y tick
        labels) "cluster c" and, when known, "majority d" (or "empty"). With ``centers``, the
        row starts with the representative (column title "mean") and a wider gap; then come
        the cluster's members, nearest first (column titles 1, 2, ...). There are
        ``min(nearest.n, largest cluster size)`` member columns (no column that every cluster
        leaves blank); slots beyond a short cluster's members stay white. All tiles share one
        gray scale; a red frame around a tile marks a member of another digit than its
        cluster's majority.

    Raises
    ------
    ValueError
        If ``nearest.n`` exceeds :data:`MAX_NEAREST_SHOWN`, or the inputs do not match.
    """
    if not isinstance(nearest, NearestMembers):
        raise ValueError(f"nearest must be a NearestMembers, got {type(nearest).__name__}")
    if nearest.n > MAX_NEAREST_SHOWN:
        raise ValueError(
            f"nearest holds {nearest.n} members per cluster; a figure row shows at most "
            f"{MAX_NEAREST_SHOWN}"
        )
    images = _images(X, "X", image_shape)
    k = nearest.n_clusters
    n = max(1, min(nearest.n, int(nearest.n_members.max())))
    if np.any(nearest.indices >= images.shape[0]):
        raise ValueError(f"nearest refers to samples beyond the {images.shape[0]} rows of X")
    means = None if centers is None else _images(centers, "centers", image_shape)
    if means is not None and means.shape[0] != k:
        raise ValueError(f"centers has {means.shape[0]} rows, nearest has {k} clusters")
    digits = None if y_true is None else check_vector(y_true, images.shape[0], "y_true")
    majority_values = _optional_vector(majority, k, "majority")

    lead = means is not None
    shown = nearest.indices[nearest.indices >= 0]
    low, high = _gray_range(images[shown]) if shown.size else (0.0, 1.0)
    last = nearest_tile(k - 1, n - 1, image_shape, lead=lead)
    gap = _tile_gap(image_shape)
    mosaic = np.ones((last[0].stop + gap, last[1].stop + gap, 3))  # white

    def put(rows: slice, cols: slice, image: np.ndarray) -> None:
        gray = np.clip((image.astype(np.float64) - low) / (high - low), 0.0, 1.0)
        mosaic[rows, cols] = gray[:, :, None]

    for c in range(k):
        if lead:
            put(*nearest_tile(c, -1, image_shape, lead=True), means[c])
        for j in range(n):
            index = int(nearest.indices[c, j])
            if index < 0:
                continue
            rows, cols = nearest_tile(c, j, image_shape, lead=lead)
            odd = (
                digits is not None
                and majority_values is not None
                and majority_values[c] >= 0
                and digits[index] != majority_values[c]
            )
            if odd:  # a frame in the gap around the tile, apart from a neighbour's
                edge = _frame_width(image_shape)
                mosaic[rows.start - edge : rows.stop + edge,
                       cols.start - edge : cols.stop + edge] = _OUTLINE_RGB
            put(rows, cols, images[index])

    fig = Figure(figsize=(0.85 * (n + 1.4 * lead) + 1.3, 0.85 * k + 0.5), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(mosaic, interpolation="nearest")
    row_centers = [(tile[0].start + tile[0].stop - 1) / 2
                   for tile in (nearest_tile(c, 0, image_shape, lead=lead) for c in range(k))]
    ax.set_yticks(row_centers, labels=[
        _row_label(c, majority_values, int(nearest.n_members[c])) for c in range(k)
    ], fontsize=9)
    columns = ([-1] if lead else []) + list(range(n))
    col_centers = [(tile[1].start + tile[1].stop - 1) / 2
                   for tile in (nearest_tile(0, j, image_shape, lead=lead) for j in columns)]
    ax.set_xticks(col_centers, labels=[("mean" if j < 0 else str(j + 1)) for j in columns],
                  fontsize=9)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def nearest_tile(
    row: int, column: int, image_shape: tuple[int, int] = (28, 28), *, lead: bool = False
) -> tuple[slice, slice]:
    """Where a tile lies in the picture of :func:`plot_nearest_members`.

    Parameters
    ----------
    row : int
        The cluster.
    column : int
        The member's rank (0 for the nearest); -1 for the representative, with ``lead``.
    image_shape : tuple of int, default=(28, 28)
    lead : bool, default=False
        Whether the rows start with the representatives.

    Returns
    -------
    tuple of slice
        The tile's rows and columns in the picture (in image pixels).
    """
    height, width = image_shape
    gap = _tile_gap(image_shape)
    top = gap + row * (height + gap)
    left = gap
    if lead:
        # the representative, then a wider gap before the members
        left += width + 3 * gap
        if column < 0:
            left = gap
            column = 0
    left += column * (width + gap)
    return slice(top, top + height), slice(left, left + width)


def _tile_gap(image_shape: tuple[int, int]) -> int:
    """Pixels between tiles: room for two frames and white between them (6 for 28-pixel
    images)."""
    return max(3, 3 * round(max(image_shape) / 14))


def _frame_width(image_shape: tuple[int, int]) -> int:
    """Width of the red frame, a third of the gap (2 pixels for 28-pixel images)."""
    return _tile_gap(image_shape) // 3


def plot_contingency(
    table: ArrayLike,
    *,
    class_names: Sequence[object] | None = None,
    annotate: bool | None = None,
) -> Figure:
    """Show a clusters-by-digits contingency table as a heatmap.

    Parameters
    ----------
    table : array-like of shape (n_clusters, n_classes)
        Counts, e.g. :attr:`ClusterEvaluation.contingency
        <mnist_kmeans.evaluation.ClusterEvaluation.contingency>`.
    class_names : sequence of length n_classes, optional
        Column labels, e.g. ``ClusterEvaluation.classes``; by default
        ``0 .. n_classes - 1``.
    annotate : bool, optional
        Whether to write the count in each cell; by default only when the
        table has at most 400 cells.

    Returns
    -------
    Figure
        The heatmap axes (clusters as rows, digits as columns) and its
        colorbar axes.
    """
    counts = np.asarray(table)
    if counts.ndim != 2 or counts.size == 0:
        raise ValueError(f"table must be a non-empty 2-D array, got shape {counts.shape}")
    if not np.issubdtype(counts.dtype, np.number) or np.iscomplexobj(counts):
        raise ValueError(f"table must be real-valued, got dtype {counts.dtype}")
    k, n_classes = counts.shape
    names = list(range(n_classes)) if class_names is None else list(class_names)
    if len(names) != n_classes:
        raise ValueError(f"class_names has {len(names)} entries, expected {n_classes}")
    if annotate is None:
        annotate = counts.size <= _MAX_ANNOTATED_CELLS

    fig = Figure(figsize=(0.55 * n_classes + 2.2, 0.35 * k + 1.4), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues", aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="images", format=NumberFormatter("count"))
    ax.set_xticks(np.arange(n_classes), labels=[str(name) for name in names])
    ax.set_yticks(np.arange(k), labels=[str(c) for c in range(k)])  # every cluster
    ax.set_xlabel("digit")
    ax.set_ylabel("cluster")
    if annotate:
        # Light text on dark cells, dark text on light ones.
        threshold = 0.5 * float(np.max(counts))
        for (c, j), value in np.ndenumerate(counts):
            ax.text(
                j,
                c,
                format_number(value, "count" if np.issubdtype(counts.dtype, np.integer) else "g"),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value > threshold else "black",
            )
    return fig


def plot_restart_distribution(
    j_values: ArrayLike,
    *,
    best: float | None = None,
    worst: float | None = None,
    label: str = "J_clust",
) -> Figure:
    """Show how the final objective varies over restarts.

    Parameters
    ----------
    j_values : array-like of shape (n_restarts,)
        Final objective value of each restart.
    best, worst : float, optional
        Values to mark as the best and worst run; by default the minimum and
        maximum of ``j_values``.
    label : str, default="J_clust"
        Name of the objective, used for the axis and legend.

    Returns
    -------
    Figure
        One axes with a histogram of ``j_values``, a tick per restart along
        the bottom, and vertical lines at ``best`` and ``worst``; the legend
        sits below the axes, off the bars.
    """
    values = _finite_vector(j_values, "j_values")
    best = float(values.min()) if best is None else float(best)
    worst = float(values.max()) if worst is None else float(worst)
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    bins = min(30, max(5, math.ceil(math.sqrt(values.size))))
    ax.hist(values, bins=bins, color="0.75", edgecolor="0.4")
    # A rug shows every restart, which a coarse histogram can hide.
    ax.plot(values, np.zeros_like(values), "|", color="black", markersize=12)
    ax.axvline(best, color="tab:green", linewidth=2,
               label=f"best: {format_number(best, 'obj')}")
    ax.axvline(worst, color="tab:red", linewidth=2, linestyle="--",
               label=f"worst: {format_number(worst, 'obj')}")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.xaxis.set_major_formatter(NumberFormatter("obj"))
    ax.set_xlabel(f"final {label}")
    ax.set_ylabel("restarts")
    ax.set_title(f"final {label} over {values.size} restarts")
    # Below the axes: inside, it would cover a bar.
    fig.legend(loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: float = 150) -> Path:
    """Write a figure to ``path`` atomically, then close it.

    The figure is first written to a temporary file in the same folder and
    then moved over ``path`` with :func:`os.replace`, so a reader never sees
    a half-written file. The format follows the suffix of ``path`` (PNG when
    there is none).

    Parameters
    ----------
    fig : Figure
        The figure to save.
    path : str or path-like
        Destination file; its folder must exist.
    dpi : float, default=150
        Resolution in dots per inch.

    Returns
    -------
    Path
        ``path``, as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        # O_EXCL makes sure an existing file is never clobbered; mode 0o666
        # lets the umask decide the permissions, as for an ordinary file.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as stream:
            fig.savefig(stream, format=fmt, dpi=dpi)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        _close(fig)
    return path


def _close(fig: Figure) -> None:
    """Release ``fig``, also from pyplot's registry if it was made there."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        # Importing pyplot here would select a backend; only use it if loaded.
        pyplot.close(fig)
    fig.clear()


def _images(values: ArrayLike, name: str, image_shape: tuple[int, int]) -> np.ndarray:
    """``values`` of shape (m, h*w) as an (m, h, w) array of images."""
    array = np.asarray(values)
    if len(image_shape) != 2 or min(image_shape) < 1:
        raise ValueError(f"image_shape must be two positive sizes, got {image_shape}")
    height, width = (int(size) for size in image_shape)
    if array.ndim != 2 or array.shape[1] != height * width:
        raise ValueError(
            f"{name} must have shape (n, {height * width}) for images of shape "
            f"{(height, width)}, got {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} must not be empty")
    return array.reshape(-1, height, width)


def _optional_vector(values: ArrayLike | None, k: int, name: str) -> np.ndarray | None:
    return None if values is None else check_vector(values, k, name)


def _finite_vector(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains nan or inf")
    return array


def _gray_range(images: np.ndarray) -> tuple[float, float]:
    """One intensity scale for all images, so that they compare."""
    finite = images[np.isfinite(images)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    # Equal limits would make imshow divide by zero; widen them.
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _no_ticks(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _center_title(c: int, majority: np.ndarray | None, share: np.ndarray | None) -> str:
    if majority is None:
        title = f"cluster {c}"
    elif majority[c] < 0:
        return "empty"
    else:
        title = str(majority[c])
    if share is not None and np.isfinite(share[c]):
        title += f" ({format_number(float(share[c]), 'pct')})"
    return title


def _row_label(c: int, majority: np.ndarray | None, size: int) -> str:
    """'cluster 12' over 'majority 8' (or 'empty'): what each number is, spelt out."""
    if size == 0:
        return f"cluster {c}\nempty"
    if majority is None or majority[c] < 0:
        return f"cluster {c}"
    return f"cluster {c}\nmajority {majority[c]}"
