"""report.html: the report as one self-contained page (figures embedded, nothing fetched).

It writes what it is given - the analysis, the summary's recorded facts and the figure files -
and computes nothing: the numbers come from :mod:`mnist_kmeans.analysis`, their format and the
comparison table's lines from :mod:`mnist_kmeans.tables`.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analysis import Analysis, RunAnalysis, StudyAnalysis
from .evaluation import ClusterEvaluation
from .study import StudyResult
from .tables import comparison_lines, format_number, study_headers

__all__ = ["FigureFile", "html_page"]


@dataclass(frozen=True)
class FigureFile:
    """A figure written into the report folder.

    Attributes
    ----------
    name : str
        Path relative to the report folder.
    caption : str
    dpi : float
        The resolution it was saved at.
    """

    name: str
    caption: str
    dpi: float


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.4; }
h1, h2, h3 { line-height: 1.2; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f2f2f2; }
td.text, th.text { text-align: left; }
/* long values (paths, lists) may break anywhere rather than widen the table */
table.values td:last-child { overflow-wrap: anywhere; }
tr.best td { background: #e8f5e9; }
tr.worst td { background: #fdecea; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
details { margin: 0.8em 0; }
summary { cursor: pointer; font-weight: 600; }
code { background: #f6f6f6; padding: 0 0.2em; overflow-wrap: anywhere; }
p.note { background: #fff8e1; border-left: 4px solid #e0a800; padding: 0.5em 0.8em; }
p.warning { background: #fdecea; border-left: 4px solid #c62828; padding: 0.5em 0.8em; }
/* A table wider than the page scrolls sideways inside its box (never cut off); a shadow on
   the side where more columns wait says so. */
.scroll { overflow-x: auto; max-width: 100%;
  background: linear-gradient(to right, #fff 40%, rgba(255, 255, 255, 0)) left / 1.5em 100%,
              linear-gradient(to left, #fff 40%, rgba(255, 255, 255, 0)) right / 1.5em 100%,
              radial-gradient(farthest-side at 0 50%, rgba(0, 0, 0, 0.25), transparent)
                left / 0.7em 100%,
              radial-gradient(farthest-side at 100% 50%, rgba(0, 0, 0, 0.25), transparent)
                right / 0.7em 100%;
  background-repeat: no-repeat; background-attachment: local, local, scroll, scroll; }
.scroll table { margin: 0.2em 0; }
.scroll::-webkit-scrollbar { height: 0.5em; }
.scroll::-webkit-scrollbar-thumb { background: #bbb; border-radius: 0.25em; }
@media (max-width: 600px) {
  body { margin: 1em auto; padding: 0 0.5em; }
  table { font-size: 0.75em; }
  th, td { padding: 0.1em 0.25em; }
}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, kind: str = "g") -> str:
    """A number for a table cell (see :func:`~mnist_kmeans.tables.format_number`); None and nan
    become an en dash."""
    text = format_number(value, kind)
    return "&ndash;" if text is None else _esc(text)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, text_cols: int = 0,
           row_classes: Sequence[str] | None = None, table_class: str = "") -> str:
    """An HTML table; cells are already formatted and escaped, the header is escaped here."""

    def cls(j: int) -> str:
        return ' class="text"' if j < text_cols else ""

    head = "".join(f"<th{cls(j)}>{_esc(h)}</th>" for j, h in enumerate(header))
    body = []
    for i, row in enumerate(rows):
        rc = row_classes[i] if row_classes else ""
        attr = f' class="{rc}"' if rc else ""
        cells = "".join(f"<td{cls(j)}>{c}</td>" for j, c in enumerate(row))
        body.append(f"<tr{attr}>{cells}</tr>")
    table = f'<table class="{table_class}">' if table_class else "<table>"
    return (
        f'<div class="scroll">{table}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _key_value_table(items: Mapping[str, Any]) -> str:
    rows = [
        [_esc(key), _esc(json.dumps(value) if not isinstance(value, str) else value)]
        for key, value in items.items()
    ]
    return _table(["name", "value"], rows, text_cols=2, table_class="values")


def _img(folder: Path, fig: FigureFile) -> str:
    png = (folder / fig.name).read_bytes()
    data = base64.b64encode(png).decode("ascii")
    # Shown at the figure's size in inches (96 CSS px per inch), not at one pixel per dot:
    # the PNGs are saved at a higher resolution for sharpness. The width sits in the IHDR chunk.
    width = int(int.from_bytes(png[16:20], "big") * 96 // fig.dpi)
    return (
        f'<figure><img src="data:image/png;base64,{data}" style="width: {width}px" '
        f'alt="{_esc(fig.caption)}">'
        f"<figcaption>{_esc(fig.caption)}</figcaption></figure>"
    )


def _comparison_html(comparison: Sequence[Mapping[str, Any]], n: int) -> str:
    header = [""] + study_headers(comparison)
    body = [
        [_esc(label)] + ["&ndash;" if v is None else _esc(v) for v in values]
        for label, values in comparison_lines(comparison, n)
    ]
    return _table(header, body, text_cols=1)


def _comparison_note(comparison: Sequence[Mapping[str, Any]]) -> str:
    """Below the side-by-side table: where the lowest J_clust did not match the digits best."""
    worse = [row for row in comparison
             if row["best_purity"] is not None and row["worst_purity"] is not None
             and row["best_purity"] < row["worst_purity"]]
    if not worse:
        return ""
    cases = "; ".join(
        f"k = {row['n_clusters']}: purity {_num(row['best_purity'], 'score')} against "
        f"{_num(row['worst_purity'], 'score')}" for row in worse
    )
    return (
        '<p class="note">The run with the lowest J_clust matches the digits worse than the one '
        f"with the highest in {len(worse)} of {len(comparison)} studies ({cases}). k-means "
        "minimises the inertia (the sum of squared distances), not J_clust, and never sees the "
        "digits: a lower J_clust means tighter clusters, not truer ones. Each study's section "
        "says more.</p>"
    )


def _scores_html(best: RunAnalysis, worst: RunAnalysis) -> str:
    if best.evaluation is None or worst.evaluation is None:
        return "<p>No true labels were given: label-based scores are not available.</p>"
    n = best.nearest.n
    lines = [
        ("purity", "purity", "score"),
        ("NMI", "nmi", "score"),
        ("ARI", "ari", "score"),
        (f"{n}-nearest accuracy, majority digit (a)", "nearest_majority_accuracy", "pct"),
        (f"{n}-nearest accuracy, most common digit (b)", "nearest_mode_accuracy", "pct"),
    ]
    body = [
        [_esc(label)]
        + [_num(getattr(ev.evaluation, key), kind) for ev in (best, worst)]
        for label, key, kind in lines
    ]
    note = (
        "<p>n-nearest accuracy: the share of the images nearest each representative that show "
        "(a) the cluster's majority digit, or (b) the digit most common among those images "
        "themselves (what one counts by eye).</p>"
    )
    return _table(["score", "best run", "worst run"], body, text_cols=1) + note


def _clusters_html(ev: RunAnalysis) -> str:
    sizes = ev.nearest.n_members
    if ev.evaluation is None:
        rows = [[str(c), _num(int(sizes[c]), "count")] for c in range(len(sizes))]
        return _table(["cluster", "size"], rows)
    e = ev.evaluation
    rows = []
    for c in range(e.n_clusters):
        rows.append([
            str(c),
            _num(int(e.sizes[c]), "count"),
            "&ndash;" if e.majority[c] < 0 else str(int(e.majority[c])),
            _num(float(e.majority_share[c]), "pct"),
            f"{int(e.nearest_majority_hits[c])}/{int(e.nearest_valid[c])}",
            "&ndash;" if e.nearest_mode[c] < 0 else str(int(e.nearest_mode[c])),
            f"{int(e.nearest_mode_hits[c])}/{int(e.nearest_valid[c])}",
        ])
    header = ["cluster", "size", "majority digit", "majority share",
              "nearest: majority digit", "nearest: most common digit", "nearest: its count"]
    return _table(header, rows)


def _contingency_html(e: ClusterEvaluation) -> str:
    header = ["cluster"] + [str(int(v)) for v in e.classes] + ["size"]
    rows = [
        [str(c)] + [_num(int(v), "count") for v in e.contingency[c]]
        + [_num(int(e.sizes[c]), "count")]
        for c in range(e.n_clusters)
    ]
    return _table(header, rows)


def _runs_html(study: StudyResult) -> str:
    rows, classes = [], []
    for i in range(study.n_restarts):
        mark = "best" if i == study.best_index else "worst" if i == study.worst_index else ""
        classes.append(mark)
        rows.append([
            str(i) + (f" ({mark})" if mark else ""),
            str(int(study.seeds[i])),
            _num(float(study.j_clust[i]), "obj"),
            _num(float(study.inertia[i]), "obj"),
            _num(int(study.n_iter[i]), "count"),
            _num(bool(study.converged[i])),
            _num(int(study.n_relocated[i]), "count"),
            _num(float(study.run_seconds[i]), "s"),
        ])
    header = ["restart", "seed", "J_clust", "inertia", "iterations", "converged",
              "relocated", "seconds"]
    return _table(header, rows, row_classes=classes)


def _history_html(study: StudyResult) -> str:
    best, worst = study.best.j_clust_history, study.worst.j_clust_history
    rows = []
    for i in range(max(best.size, worst.size)):
        rows.append([
            str(i + 1),
            _num(float(best[i]), "obj") if i < best.size else "",
            _num(float(worst[i]), "obj") if i < worst.size else "",
        ])
    return _table(["iteration", "J_clust, best run", "J_clust, worst run"], rows)


def _objectives_note(sa: StudyAnalysis) -> str:
    """Why J_clust can rise and why the lowest J_clust need not match the digits best, told
    with this study's own numbers, next to them."""
    study, best, worst = sa.study, sa.best, sa.worst
    if best is worst:
        return ""
    inertia_rises = best.inertia_rises + worst.inertia_rises
    never = ("it never rose in these two runs" if inertia_rises == 0 else
             f"it rose {_num(inertia_rises, 'count')} times here, by rounding alone")
    parts = [
        "<strong>k-means minimises the inertia, not J_clust.</strong> Each iteration of "
        "Lloyd's algorithm (give every image to its nearest representative, then move each "
        "representative to the mean of its images) can only lower the inertia, the sum of the "
        f"<em>squared</em> distances: {never}. J_clust, the sum of the distances themselves, "
        "is another objective, which no step of k-means minimises, so it can rise from one "
        f"iteration to the next: it rose at {_num(best.j_clust_rises, 'count')} of the "
        f"best run's {_num(best.run.n_iter, 'count')} iterations and at "
        f"{_num(worst.j_clust_rises, 'count')} of the worst run's "
        f"{_num(worst.run.n_iter, 'count')}. That is not a bug."
    ]
    by_inertia = sa.lowest_inertia_index
    if by_inertia != best.index:
        parts.append(
            f"The runs are ranked by their final J_clust, as in the course notebook; ranked by "
            f"inertia, the best would be restart {by_inertia} (inertia "
            f"{_num(float(study.inertia[by_inertia]), 'obj')}, against "
            f"{_num(best.run.inertia, 'obj')} for restart {best.index})."
        )
    best_purity, worst_purity = best.score("purity"), worst.score("purity")
    if best_purity is not None and worst_purity is not None:
        numbers = (f"purity {_num(best_purity, 'score')} for the run with the lowest J_clust "
                   f"(restart {best.index}), {_num(worst_purity, 'score')} for the one "
                   f"with the highest (restart {worst.index})")
        if best_purity < worst_purity:
            parts.append(
                "Neither objective sees the digits, so the run with the lowest J_clust can "
                f"match them worse, and here it does: {numbers}. A lower J_clust means tighter "
                "clusters, not clusters closer to the ten digits."
            )
        else:
            parts.append(
                f"Neither objective sees the digits: here the lower J_clust goes with the "
                f"better match ({numbers}), but nothing guarantees it."
            )
    return f'<p class="note">{" ".join(parts)}</p>'


def _convergence_warning(study: StudyResult) -> str:
    stopped = int(study.n_restarts - study.converged.sum())
    if stopped == 0:
        return ""
    return (
        f'<p class="warning">{_num(stopped, "count")} of {_num(study.n_restarts, "count")} '
        f"restarts stopped at max_iter = {study.max_iter} before converging (their labels were "
        "still changing): their numbers are not those of a finished k-means.</p>"
    )


def _study_html(
    prefix: str, sa: StudyAnalysis, figs: Mapping[str, FigureFile], folder: Path
) -> str:
    study, best, worst = sa.study, sa.best, sa.worst

    def fig(key: str) -> str:
        return _img(folder, figs[key]) if key in figs else ""

    seed_best, seed_worst = study.seeds[study.best_index], study.seeds[study.worst_index]
    overview = [
        ["restarts", _num(study.n_restarts, "count"), "", ""],
        ["init", _esc(study.init), "", ""],
        ["restart index", "", str(study.best_index), str(study.worst_index)],
        ["seed", "", str(int(seed_best)), str(int(seed_worst))],
        ["J_clust", "", _num(study.best.j_clust, "obj"), _num(study.worst.j_clust, "obj")],
        ["inertia (sum of squares)", "",
         _num(study.best.inertia, "obj"), _num(study.worst.inertia, "obj")],
        ["iterations", "", _num(study.best.n_iter, "count"), _num(study.worst.n_iter, "count")],
        ["iterations where J_clust rose", "", _num(best.j_clust_rises, "count"),
         _num(worst.j_clust_rises, "count")],
        ["converged", "", _num(study.best.converged), _num(study.worst.converged)],
        ["empty clusters relocated", "", _num(study.best.n_relocated, "count"),
         _num(study.worst.n_relocated, "count")],
        ["J_clust spread (worst - best)", _num(study.j_clust_spread, "obj"), "", ""],
        ["J_clust mean over restarts", _num(float(study.j_clust.mean()), "obj"), "", ""],
        ["J_clust std over restarts", _num(float(study.j_clust.std()), "obj"), "", ""],
        ["wall time (s)", _num(study.elapsed, "s"), "", ""],
    ]
    parts = [
        f'<section id="{_esc(prefix)}">',
        f"<h2>k = {study.n_clusters}: {_num(study.n_restarts, 'count')} restarts</h2>",
        _convergence_warning(study),
        _table(["", "study", "best run", "worst run"],
               [[_esc(r[0])] + r[1:] for r in overview], text_cols=1),
        "<h3>Scores</h3>",
        _scores_html(best, worst),
        _objectives_note(sa),
        "<h3>Representatives</h3>",
        fig("centers_best"),
        fig("centers_worst"),
        "<h3>Objective</h3>",
        fig("j_clust_history"),
        fig("restarts"),
        "<h3>Nearest members</h3>",
        fig("nearest_best"),
        fig("nearest_worst"),
    ]
    if "contingency_best" in figs:
        parts += ["<h3>Clusters by digits</h3>", fig("contingency_best")]
    for which, ev in (("best", best), ("worst", worst)):
        parts += [
            f"<details><summary>Clusters of the {which} run</summary>",
            _clusters_html(ev),
            "</details>",
        ]
    if best.evaluation is not None and worst.evaluation is not None:
        parts += [
            "<details><summary>Contingency table, best run</summary>",
            _contingency_html(best.evaluation), "</details>",
            "<details><summary>Contingency table, worst run</summary>",
            _contingency_html(worst.evaluation), "</details>",
        ]
    parts += [
        "<details><summary>Every restart</summary>", _runs_html(study), "</details>",
        "<details><summary>J_clust per iteration</summary>", _history_html(study), "</details>",
        "</section>",
    ]
    return "\n".join(part for part in parts if part)


def html_page(
    analysis: Analysis,
    ids: Sequence[str],
    figures: Sequence[Mapping[str, FigureFile]],
    summary: Mapping[str, Any],
    folder: Path,
) -> str:
    """The report page.

    Parameters
    ----------
    analysis : Analysis
        What the page shows.
    ids : sequence of str
        Each study's id (its section's anchor).
    figures : sequence of mapping
        Each study's figures by key, written in ``folder`` (they are embedded).
    summary : mapping
        The report's summary (see :mod:`mnist_kmeans.report_summary`), for what it records
        besides the analysis: ``created``, ``parameters`` and ``environment``.
    folder : Path
        The folder the figures are in.

    Returns
    -------
    str
        The HTML document.
    """
    n_samples = analysis.X.shape[0]
    height, width = analysis.image_shape
    nav = " &middot; ".join(
        f'<a href="#{_esc(i)}">k = {sa.study.n_clusters}</a>'
        for i, sa in zip(ids, analysis.studies)
    )
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>mnist-kmeans report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>mnist-kmeans report</h1>",
        f"<p>{_num(n_samples, 'count')} images of {height}&times;{width}"
        f" pixels; created {_esc(summary['created'])}. Every number is also in "
        "<code>summary.json</code>.</p>",
        "<p>Each study runs k-means several times from different random starts. Two sums "
        "measure a clustering: <strong>J_clust</strong>, the sum of the distances of the images "
        "to their cluster representatives (the course notebook's measure, by which the best "
        "and worst runs are chosen here), and the <strong>inertia</strong>, the sum of the "
        "<em>squared</em> distances, which is what k-means minimises. So J_clust can rise "
        "between iterations, and the run with the lowest J_clust need not match the digits "
        "best: each study below says how often, with its own numbers.</p>",
        f"<p>{nav}</p>",
    ]
    if len(analysis.studies) > 1:
        comparison = _comparison_html(analysis.comparison, analysis.n_nearest)
        head += ["<h2>Side by side</h2>", comparison, _comparison_note(analysis.comparison)]
    body = [
        _study_html(prefix, sa, figs, folder)
        for prefix, sa, figs in zip(ids, analysis.studies, figures)
    ]
    tail = [
        "<h2>Parameters</h2>",
        _key_value_table(summary["parameters"]),
        "<h2>Environment</h2>",
        _key_value_table(summary["environment"]),
        "</body></html>",
    ]
    return "\n".join(head + body + tail) + "\n"
