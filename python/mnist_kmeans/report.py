"""Write a restart study to disk: PNG figures, a self-contained HTML report and summary.json.

The report writes what it is given, an :class:`~mnist_kmeans.analysis.Analysis` (the studies'
best and worst runs with their nearest members and scores; see
:func:`~mnist_kmeans.analysis.analyze_studies`), and evaluates nothing itself. Each job has its
module:

* :mod:`~mnist_kmeans.report_folder` - the folder transaction: built aside, moved into place
  whole, an existing report replaced only with ``force``, the user's own folders never;
* :mod:`~mnist_kmeans.plotting` - the figures (the only module that imports matplotlib), saved
  here;
* :mod:`~mnist_kmeans.report_summary` - the layout of ``summary.json``;
* :mod:`~mnist_kmeans.report_html` - ``report.html``;
* :mod:`~mnist_kmeans.environment` - the versions and machine facts recorded.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import plotting
from .analysis import Analysis, StudyAnalysis
from .environment import environment
from .report_folder import REPORT_FILES, building, check_output_dir
from .report_html import FigureFile, html_page
from .report_summary import build_summary
from .tables import format_number

__all__ = [
    "REPORT_FILES",
    "WrittenReport",
    "check_output_dir",
    "environment",
    "write_report",
]

_FIGURES = "figures"
# Resolution of the PNG figures.
_DPI = 150
# Largest PNG, in pixels: the nearest-members figure of k = 20 and `--nearest 50` at about 100
# dpi (each 28-pixel image still drawn over 80 pixels). Resampling it is one C call that Ctrl-C
# cannot interrupt; at this size it takes about 0.3 s.
_MAX_PIXELS = 8_000_000


@dataclass(frozen=True, eq=False)
class WrittenReport:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    folder : Path
        The report folder (absolute), holding ``report.html``, ``summary.json`` and
        ``figures/*.png``.
    summary : dict
        The content of ``summary.json`` (see :mod:`mnist_kmeans.report_summary`).
    """

    folder: Path
    summary: dict[str, Any]


def write_report(
    out_dir: str | os.PathLike[str],
    analysis: Analysis,
    *,
    params: Mapping[str, Any],
    force: bool = False,
) -> WrittenReport:
    """Write the report folder of an analysis.

    Parameters
    ----------
    out_dir : str or path-like
        The report folder; created with its parents. It must not exist or be empty, unless
        ``force`` is True and it holds an earlier report.
    analysis : Analysis
        The studies and their kept runs, analysed (:func:`~mnist_kmeans.analysis.analyze_studies`).
    params : mapping
        Run parameters to record (JSON-serialisable), e.g. the command-line arguments.
    force : bool, default=False
        Replace an existing report folder.

    Returns
    -------
    WrittenReport
        The report folder (absolute), holding ``report.html`` (self-contained: figures
        embedded, no external files), ``summary.json`` and ``figures/*.png``, and the summary.

    Raises
    ------
    ValueError
        If ``analysis.n_nearest`` exceeds :data:`mnist_kmeans.plotting.MAX_NEAREST_SHOWN`.
    FileExistsError, NotADirectoryError, PermissionError
        See :func:`check_output_dir`; nothing is written then.
    OSError
        If writing fails; the temporary folder is removed and ``out_dir`` is untouched.
    """
    if analysis.n_nearest > plotting.MAX_NEAREST_SHOWN:
        raise ValueError(
            f"n_nearest={analysis.n_nearest}: the report's figures show at most "
            f"{plotting.MAX_NEAREST_SHOWN} nearest images per cluster"
        )
    out = check_output_dir(out_dir, force)
    ids = _ids(analysis)
    with building(out, force) as tmp:
        (tmp / _FIGURES).mkdir()
        figures = [
            _write_figures(tmp, prefix, sa, analysis) for prefix, sa in zip(ids, analysis.studies)
        ]
        summary = build_summary(
            analysis,
            ids,
            [{key: fig.name for key, fig in figs.items()} for figs in figures],
            params,
            environment(),
        )
        text = json.dumps(summary, indent=2, allow_nan=False)
        (tmp / "summary.json").write_text(text + "\n", encoding="utf-8")
        page = html_page(analysis, ids, figures, summary, tmp)
        (tmp / "report.html").write_text(page, encoding="utf-8")
    return WrittenReport(out, summary)


def _num(value: Any, kind: str) -> str:
    return format_number(value, kind) or "-"


def _ids(analysis: Analysis) -> list[str]:
    """Each study's id: the prefix of its figures, its anchor in the page."""
    ks = [sa.study.n_clusters for sa in analysis.studies]
    if len(set(ks)) == len(ks):
        return [f"k{k}" for k in ks]
    return [f"s{i + 1}_k{k}" for i, k in enumerate(ks)]


def _write_figures(
    folder: Path, prefix: str, sa: StudyAnalysis, analysis: Analysis
) -> dict[str, FigureFile]:
    """Draw and save the figures of one study; return them by key."""
    study, best, worst = sa.study, sa.best, sa.worst
    rows, y, image_shape = analysis.X, analysis.y_true, analysis.image_shape
    out: dict[str, FigureFile] = {}

    def save(key: str, fig: Any, caption: str) -> None:
        name = f"{_FIGURES}/{prefix}_{key}.png"
        dpi = _dpi_for(fig)
        plotting.save_figure(fig, folder / name, dpi=dpi)
        out[key] = FigureFile(name, caption, dpi)

    labelled = best.evaluation is not None
    for which, ev in (("best", best), ("worst", worst)):
        majority = share = None
        if ev.evaluation is not None:
            majority, share = ev.evaluation.majority, ev.evaluation.majority_share
        k = ev.run.centers.shape[0]
        grid_rows, grid_cols = plotting.grid_shape(k)
        save(
            f"centers_{which}",
            plotting.plot_centers(
                ev.run.centers, majority=majority, share=share, image_shape=image_shape
            ),
            f"Cluster representatives of the {which} run (restart {ev.index}, J_clust "
            f"{_num(ev.run.j_clust, 'obj')}). Each tile is the mean image of one cluster (its "
            f"representative), in cluster order, {grid_rows} row{'s' if grid_rows > 1 else ''} "
            f"of {grid_cols}, cluster 0 at the top left"
            + ("; its title is the cluster's majority digit and that digit's share of the "
               "cluster's images." if labelled else "."),
        )
    save(
        "j_clust_history",
        plotting.plot_objective_history(study.best.j_clust_history, study.worst.j_clust_history),
        "J_clust after each iteration of the best and worst run: above, the whole runs; below, "
        "their ends zoomed so that the gap between the final values shows. J_clust rose at "
        f"{_num(best.j_clust_rises, 'count')} of the best run's {_num(best.run.n_iter, 'count')} "
        f"iterations and at {_num(worst.j_clust_rises, 'count')} of the worst run's "
        f"{_num(worst.run.n_iter, 'count')}: k-means lowers the sum of squared distances "
        "(inertia), not J_clust.",
    )
    for which, ev in (("best", best), ("worst", worst)):
        majority = ev.evaluation.majority if ev.evaluation is not None else None
        save(
            f"nearest_{which}",
            plotting.plot_nearest_members(
                rows, ev.nearest, centers=ev.run.centers, y_true=y, majority=majority,
                image_shape=image_shape,
            ),
            f"The {ev.nearest.n} images nearest each representative, {which} run: one row per "
            "cluster, labelled with the cluster's number"
            + (" and majority digit" if majority is not None else "")
            + "; the first tile is the representative (the cluster's mean image), then its "
            "members, nearest first"
            + ("; a red frame marks an image that is not the cluster's majority digit."
               if majority is not None else "."),
        )
    if best.evaluation is not None:
        save(
            "contingency_best",
            plotting.plot_contingency(
                best.evaluation.contingency, class_names=list(best.evaluation.classes)
            ),
            "Clusters by digits, best run: how many images of each digit each cluster holds "
            "(one row per cluster, one column per digit).",
        )
    save(
        "restarts",
        plotting.plot_restart_distribution(
            study.j_clust, best=study.best.j_clust, worst=study.worst.j_clust
        ),
        f"Final J_clust of each of the {study.n_restarts} restarts: a histogram, with one tick "
        "per restart along the bottom and the best and worst marked.",
    )
    return out


def _dpi_for(fig: Any) -> float:
    """The report's resolution, lowered for figures so large that their PNG would exceed
    :data:`_MAX_PIXELS` (drawing and encoding a picture are single long C calls that Ctrl-C
    cannot interrupt, and the page embeds every figure)."""
    width, height = fig.get_size_inches()
    return float(min(_DPI, math.sqrt(_MAX_PIXELS / (width * height))))
