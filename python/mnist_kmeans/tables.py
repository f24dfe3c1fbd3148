"""How numbers are written, everywhere, and the one specification of the comparison table.

Every number the package shows - in the HTML report's tables and captions, in the figures'
legends, titles and axes (:mod:`mnist_kmeans.plotting`), and on the terminal
(:mod:`mnist_kmeans.cli`) - is written by :func:`format_number`: plain decimal notation with
thousands separators (14,755,475.1; 5,923), never an exponent or an axis offset, percentages
with one decimal. The HTML report (:mod:`mnist_kmeans.report_html`) and the command line both
show the studies side by side, one column per study and one line per :data:`COMPARISON_ROWS`
entry, from the comparison rows of :mod:`mnist_kmeans.analysis`. A new line of that table is
one more :class:`Row` here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["COMPARISON_ROWS", "Row", "comparison_lines", "format_number", "study_headers"]


def format_number(value: Any, kind: str = "g", *, decimals: int | None = None) -> str | None:
    """A number as the package writes it; None for a missing value (None or nan).

    Parameters
    ----------
    value : number, bool or None
    kind : {'g', 'obj', 'count', 'pct', 'score', 's'}, default='g'
        'obj': an objective (J_clust, inertia) or any real quantity, thousands separated, one
        decimal (14,755,475.1); 'count': an integer, thousands separated (5,923); 'pct': a
        share as a percentage, one decimal (12.3%); 'score': four decimals (0.7192); 's':
        seconds, two decimals; 'g': an integer as it is (seeds, indices), any other number
        with six significant digits. Booleans are written 'yes' or 'no' whatever the kind.
    decimals : int, optional
        Decimals for 'obj', 'pct' and 's' instead of their default, e.g. 0 for the ticks of an
        axis whose steps are whole numbers.
    """
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if kind == "obj":
        return f"{float(value):,.{1 if decimals is None else decimals}f}"
    if kind == "count":
        return f"{round(float(value)):,d}"
    if kind == "pct":
        return f"{100 * float(value):.{1 if decimals is None else decimals}f}%"
    if kind == "score":
        return f"{float(value):.4f}"
    if kind == "s":
        return f"{float(value):.{2 if decimals is None else decimals}f}"
    if kind != "g":
        raise ValueError(f"unknown number kind {kind!r}")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.6g}"


@dataclass(frozen=True)
class Row:
    """One line of the comparison table.

    Attributes
    ----------
    key : str
        The comparison row's key (see :class:`mnist_kmeans.analysis.StudyAnalysis`).
    label : str
        Its name in the HTML report; ``{n}`` stands for the n of the n-nearest accuracy.
    kind : str
        How :func:`format_number` writes the values.
    short : str or None
        A shorter name for the terminal, where the table must fit in about 80 columns
        (None: the label).
    """

    key: str
    label: str
    kind: str
    short: str | None = None


def _nearest_rows() -> list[Row]:
    rows = []
    for run in ("best", "worst"):
        for form, key, short in (("majority digit", "majority", "majority"),
                                 ("most common digit", "mode", "most common")):
            rows.append(Row(
                f"{run}_nearest_{key}_accuracy",
                f"{{n}}-nearest accuracy, {run} run, {form}",
                "pct",
                f"{{n}}-nearest acc. {run}, {short}",
            ))
    return rows


#: The lines of the comparison table, in order.
COMPARISON_ROWS: tuple[Row, ...] = (
    Row("restarts", "restarts", "count"),
    Row("j_clust_min", "J_clust min (best run)", "obj"),
    Row("j_clust_max", "J_clust max (worst run)", "obj"),
    Row("j_clust_spread", "spread (max - min)", "obj"),
    Row("j_clust_spread_relative", "spread / min", "pct"),
    Row("best_j_clust_rises", "iterations where J_clust rose, best run", "count",
        "J_clust rises best"),
    Row("worst_j_clust_rises", "iterations where J_clust rose, worst run", "count",
        "J_clust rises worst"),
    *_nearest_rows(),
    Row("best_purity", "purity, best run", "score", "purity best"),
    Row("worst_purity", "purity, worst run", "score", "purity worst"),
    Row("best_nmi", "NMI, best run", "score", "NMI best"),
    Row("best_ari", "ARI, best run", "score", "ARI best"),
    Row("elapsed_seconds", "wall time (s)", "s"),
)


def study_headers(comparison: Sequence[Mapping[str, Any]]) -> list[str]:
    """The column headers: one per study, by its number of clusters (the notebook's k)."""
    return [f"k = {row['n_clusters']}" for row in comparison]


def comparison_lines(
    comparison: Sequence[Mapping[str, Any]], n_nearest: int, *, short: bool = False
) -> list[tuple[str, list[str | None]]]:
    """The comparison table's lines: (label, one formatted value per study; None if missing).

    Parameters
    ----------
    comparison : sequence of mapping
        The comparison rows, one per study (``Analysis.comparison``, or ``summary.json``'s).
    n_nearest : int
        The n of the n-nearest accuracy, for the labels.
    short : bool, default=False
        Use the short labels (for the terminal).
    """
    lines = []
    for row in COMPARISON_ROWS:
        label = (row.short if short and row.short else row.label).format(n=n_nearest)
        lines.append((label, [format_number(values[row.key], row.kind) for values in comparison]))
    return lines
