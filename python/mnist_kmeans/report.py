"""Write a restart study to disk: PNG figures, a self-contained HTML report and summary.json.

The report folder is built in a temporary sibling folder and moved into place only when it is
complete, so that an interrupted or failed run never leaves a half-written report, and an
existing report is replaced only when asked (``force=True``), by swapping whole folders.

Evaluation (:mod:`~mnist_kmeans.neighbors`, :mod:`~mnist_kmeans.evaluation`) and figures
(:mod:`~mnist_kmeans.plotting`, the only module that imports matplotlib) stay separate: this
module computes the numbers first, then asks plotting for the figures.
"""

from __future__ import annotations

import base64
import datetime as _dt
import errno
import html
import json
import math
import os
import platform
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from . import plotting
from .evaluation import ClusterEvaluation, evaluate_clusters
from .kmeans import RunResult
from .neighbors import NearestMembers, nearest_members
from .study import StudyResult

__all__ = [
    "REPORT_FILES",
    "check_output_dir",
    "environment",
    "write_report",
]

#: Files every report folder holds (besides ``figures/``); used to recognise a report.
REPORT_FILES: tuple[str, str] = ("report.html", "summary.json")

# Version of the summary.json layout, raised when a key changes meaning.
_SUMMARY_FORMAT = 1
_FIGURES = "figures"
# Resolution of the PNG figures.
_DPI = 150


@dataclass(frozen=True)
class _RunEval:
    """The label-free and label-based numbers of one kept run."""

    run: RunResult
    nearest: NearestMembers
    evaluation: ClusterEvaluation | None


@dataclass(frozen=True)
class _Figure:
    name: str  # path relative to the report folder
    caption: str


def check_output_dir(out_dir: str | os.PathLike[str], force: bool = False) -> Path:
    """Check that a report can be written to ``out_dir``; nothing is created.

    Meant to be called before a long study, so that a bad destination fails at once;
    :func:`write_report` checks again when it moves the report into place.

    Parameters
    ----------
    out_dir : str or path-like
        The report folder to be.
    force : bool, default=False
        Whether an existing, non-empty report folder may be replaced.

    Returns
    -------
    Path
        ``out_dir`` as an absolute path.

    Raises
    ------
    FileExistsError
        ``out_dir`` exists and is not a folder; or it is a non-empty folder and ``force`` is
        False; or it is a non-empty folder that is not a report (no ``report.html`` and
        ``summary.json``), which is never replaced, even with ``force``.
    NotADirectoryError, PermissionError
        The nearest existing parent is not a writable folder.
    """
    path = Path(os.path.abspath(out_dir))
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise FileExistsError(errno.EEXIST, "exists and is not a folder", str(path))
        if any(path.iterdir()):
            if not force:
                raise FileExistsError(
                    errno.EEXIST,
                    "the report folder exists and is not empty (use --force / force=True "
                    "to replace it)",
                    str(path),
                )
            if not all((path / name).is_file() for name in REPORT_FILES):
                # force replaces an old report, never a folder of the user's own files.
                raise FileExistsError(
                    errno.EEXIST,
                    "exists and does not hold an mnist-kmeans report "
                    f"({' and '.join(REPORT_FILES)}); not replacing it, even with force",
                    str(path),
                )
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(ancestor))
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "cannot write in this folder", str(ancestor))
    return path


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every report.

    Returns
    -------
    dict
        Package, NumPy, scikit-learn, matplotlib and Python versions, the kernel's SIMD
        instruction set (in use and available), OpenMP support and default thread count,
        platform, machine and CPU count.
    """
    from . import __version__, _kernel

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "mnist_kmeans": __version__,
        "numpy": np.__version__,
        "scikit_learn": version("scikit-learn"),
        "matplotlib": version("matplotlib"),  # without importing it here
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "kernel_isa": _kernel.current_isa(),
        "kernel_isas_available": list(_kernel.available_isas()),
        "openmp": bool(_kernel.has_openmp()),
        "openmp_max_threads": int(_kernel.max_threads()),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def write_report(
    out_dir: str | os.PathLike[str],
    studies: Sequence[StudyResult],
    *,
    images: Any,
    y_true: Any = None,
    params: Mapping[str, Any],
    force: bool = False,
    n_nearest: int = 10,
) -> Path:
    """Evaluate the best and worst runs of each study and write the report folder.

    Parameters
    ----------
    out_dir : str or path-like
        The report folder; created with its parents. It must not exist or be empty, unless
        ``force`` is True and it holds an earlier report.
    studies : sequence of StudyResult
        One or more studies on the same data (e.g. the notebook's k = 20, 10, 5).
    images : array-like of shape (n_samples, height, width) or (n_samples, n_features)
        The data the studies ran on, as images (rows are taken as square images).
    y_true : array-like of shape (n_samples,), optional
        True class (digit) of each image; enables the label-based scores and figures.
    params : mapping
        Run parameters to record (JSON-serialisable), e.g. the command-line arguments.
    force : bool, default=False
        Replace an existing report folder.
    n_nearest : int, default=10
        Members shown per cluster, and the ``n`` of the n-nearest accuracy.

    Returns
    -------
    Path
        The report folder (absolute), holding ``report.html`` (self-contained: figures
        embedded, no external files), ``summary.json`` and ``figures/*.png``.

    Raises
    ------
    FileExistsError, NotADirectoryError, PermissionError
        See :func:`check_output_dir`; nothing is written then.
    ValueError
        If the studies do not match the images or labels.
    OSError
        If writing fails; the temporary folder is removed and ``out_dir`` is untouched.
    """
    out = check_output_dir(out_dir, force)
    if not studies:
        raise ValueError("studies must hold at least one StudyResult")
    rows, image_shape = _image_rows(images)
    labels = _labels(y_true, rows.shape[0])
    for study in studies:
        if study.n_samples != rows.shape[0] or study.n_features != rows.shape[1]:
            raise ValueError(
                f"the study with k={study.n_clusters} ran on data of shape "
                f"({study.n_samples}, {study.n_features}), but images give {rows.shape}"
            )
    prefixes = _prefixes(studies)
    # Numbers first (no matplotlib), figures after.
    evaluations = [
        (_evaluate(s.best, rows, labels, n_nearest), _evaluate(s.worst, rows, labels, n_nearest))
        for s in studies
    ]

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        (tmp / _FIGURES).mkdir()
        figures = [
            _write_figures(tmp, prefix, study, best, worst, rows, labels, image_shape)
            for prefix, study, (best, worst) in zip(prefixes, studies, evaluations)
        ]
        summary = _summary(
            studies, prefixes, evaluations, figures, rows, image_shape, labels, params, n_nearest
        )
        text = json.dumps(summary, indent=2, allow_nan=False)
        (tmp / "summary.json").write_text(text + "\n", encoding="utf-8")
        page = _html_page(summary, studies, evaluations, figures, tmp)
        (tmp / "report.html").write_text(page, encoding="utf-8")
        _move_into_place(tmp, out, force)
    except BaseException:
        # KeyboardInterrupt included: no half-written report is left behind.
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------


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


def _labels(y_true: Any, n_samples: int) -> np.ndarray | None:
    if y_true is None:
        return None
    y = np.asarray(y_true)
    if y.shape != (n_samples,):
        raise ValueError(f"y_true must have shape ({n_samples},), got {y.shape}")
    return y


def _prefixes(studies: Sequence[StudyResult]) -> list[str]:
    ks = [s.n_clusters for s in studies]
    if len(set(ks)) == len(ks):
        return [f"k{k}" for k in ks]
    return [f"s{i + 1}_k{k}" for i, k in enumerate(ks)]


def _evaluate(run: RunResult, rows: np.ndarray, y: np.ndarray | None, n: int) -> _RunEval:
    k = run.centers.shape[0]
    # The kernel's distances rank the members: no second pass over the data.
    nearest = nearest_members(rows, run.labels, run.centers, n, sq_distances=run.sq_distances)
    evaluation = None
    if y is not None:
        digits = int(y.min()) >= 0 and int(y.max()) <= 9
        # All ten digit columns for digit labels, even when a digit is absent.
        classes = np.arange(10) if digits else None
        evaluation = evaluate_clusters(y, run.labels, k, nearest, classes=classes)
    return _RunEval(run, nearest, evaluation)


# --------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------


def _write_figures(
    folder: Path,
    prefix: str,
    study: StudyResult,
    best: _RunEval,
    worst: _RunEval,
    rows: np.ndarray,
    y: np.ndarray | None,
    image_shape: tuple[int, int],
) -> dict[str, _Figure]:
    out: dict[str, _Figure] = {}

    def save(key: str, fig: Any, caption: str) -> None:
        name = f"{_FIGURES}/{prefix}_{key}.png"
        plotting.save_figure(fig, folder / name, dpi=_DPI)
        out[key] = _Figure(name, caption)

    for which, ev, index in (("best", best, study.best_index), ("worst", worst, study.worst_index)):
        majority = share = None
        if ev.evaluation is not None:
            majority, share = ev.evaluation.majority, ev.evaluation.majority_share
        save(
            f"centers_{which}",
            plotting.plot_centers(
                ev.run.centers, majority=majority, share=share, image_shape=image_shape
            ),
            f"Cluster representatives of the {which} run (restart {index}, "
            f"J_clust = {ev.run.j_clust:,.1f})"
            + ("; title: majority digit (its share of the cluster)." if share is not None else "."),
        )
    save(
        "j_clust_history",
        plotting.plot_objective_history(study.best.j_clust_history, study.worst.j_clust_history),
        "J_clust after each iteration, best and worst run.",
    )
    for which, ev in (("best", best), ("worst", worst)):
        majority = ev.evaluation.majority if ev.evaluation is not None else None
        save(
            f"nearest_{which}",
            plotting.plot_nearest_members(
                rows, ev.nearest, y_true=y, majority=majority, image_shape=image_shape
            ),
            f"The {ev.nearest.n} members nearest each representative, {which} run, nearest first"
            + ("; red frame: not the cluster's majority digit." if majority is not None else "."),
        )
    if best.evaluation is not None:
        save(
            "contingency_best",
            plotting.plot_contingency(
                best.evaluation.contingency, class_names=list(best.evaluation.classes)
            ),
            "Clusters by digits, best run: how many images of each digit each cluster holds.",
        )
    save(
        "restarts",
        plotting.plot_restart_distribution(
            study.j_clust, best=study.best.j_clust, worst=study.worst.j_clust
        ),
        f"Final J_clust of each of the {study.n_restarts} restarts.",
    )
    return out


# --------------------------------------------------------------------------
# summary.json
# --------------------------------------------------------------------------


def _nearest_dict(nearest: NearestMembers) -> dict[str, Any]:
    return {
        "n": nearest.n,
        "indices": [[int(v) for v in row] for row in nearest.indices],
        "sq_distances": [
            [None if math.isnan(v) else float(v) for v in row] for row in nearest.sq_distances
        ],
    }


def _run_dict(ev: _RunEval) -> dict[str, Any]:
    return {
        "nearest_members": _nearest_dict(ev.nearest),
        "evaluation": None if ev.evaluation is None else ev.evaluation.to_dict(),
    }


def _score(ev: _RunEval, name: str) -> float | None:
    if ev.evaluation is None:
        return None
    value = getattr(ev.evaluation, name)
    return None if value is None or math.isnan(value) else float(value)


def _comparison_row(study: StudyResult, best: _RunEval, worst: _RunEval) -> dict[str, Any]:
    low = float(study.j_clust.min())
    return {
        "k": study.n_clusters,
        "restarts": study.n_restarts,
        "j_clust_min": low,
        "j_clust_max": float(study.j_clust.max()),
        "j_clust_spread": study.j_clust_spread,
        "j_clust_spread_relative": study.j_clust_spread / low if low > 0 else None,
        "best_nearest_majority_accuracy": _score(best, "nearest_majority_accuracy"),
        "best_nearest_mode_accuracy": _score(best, "nearest_mode_accuracy"),
        "worst_nearest_majority_accuracy": _score(worst, "nearest_majority_accuracy"),
        "worst_nearest_mode_accuracy": _score(worst, "nearest_mode_accuracy"),
        "best_purity": _score(best, "purity"),
        "worst_purity": _score(worst, "purity"),
        "best_nmi": _score(best, "nmi"),
        "best_ari": _score(best, "ari"),
        "elapsed_seconds": study.elapsed,
    }


def _summary(
    studies: Sequence[StudyResult],
    prefixes: Sequence[str],
    evaluations: Sequence[tuple[_RunEval, _RunEval]],
    figures: Sequence[dict[str, _Figure]],
    rows: np.ndarray,
    image_shape: tuple[int, int],
    y: np.ndarray | None,
    params: Mapping[str, Any],
    n_nearest: int,
) -> dict[str, Any]:
    entries = []
    for prefix, study, (best, worst), figs in zip(prefixes, studies, evaluations, figures):
        entry = study.to_dict()
        entry["id"] = prefix
        entry["best"].update(_run_dict(best))
        entry["worst"].update(_run_dict(worst))
        entry["figures"] = {key: fig.name for key, fig in figs.items()}
        entries.append(entry)
    return {
        "summary_format": _SUMMARY_FORMAT,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "parameters": dict(params),
        "environment": environment(),
        "data": {
            "n_samples": int(rows.shape[0]),
            "n_features": int(rows.shape[1]),
            "image_shape": list(image_shape),
            "labels_known": y is not None,
        },
        "n_nearest": n_nearest,
        "comparison": [
            _comparison_row(study, best, worst)
            for study, (best, worst) in zip(studies, evaluations)
        ],
        "studies": entries,
    }


# --------------------------------------------------------------------------
# report.html
# --------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.4; }
h1, h2, h3 { line-height: 1.2; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f2f2f2; }
td.text, th.text { text-align: left; }
tr.best td { background: #e8f5e9; }
tr.worst td { background: #fdecea; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
details { margin: 0.8em 0; }
summary { cursor: pointer; font-weight: 600; }
.scroll { overflow-x: auto; }
code { background: #f6f6f6; padding: 0 0.2em; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, kind: str = "g") -> str:
    """A number for a table cell; None and nan become an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "&ndash;"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if kind == "obj":
        return f"{float(value):,.1f}"
    if kind == "pct":
        return f"{100 * float(value):.1f}%"
    if kind == "score":
        return f"{float(value):.4f}"
    if kind == "s":
        return f"{float(value):.2f}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.6g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, text_cols: int = 0,
           row_classes: Sequence[str] | None = None) -> str:
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
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _key_value_table(items: Mapping[str, Any]) -> str:
    rows = [
        [_esc(key), _esc(json.dumps(value) if not isinstance(value, str) else value)]
        for key, value in items.items()
    ]
    return _table(["name", "value"], rows, text_cols=2)


def _img(folder: Path, fig: _Figure) -> str:
    png = (folder / fig.name).read_bytes()
    data = base64.b64encode(png).decode("ascii")
    # Shown at the figure's size in inches (96 CSS px per inch), not at one pixel per dot:
    # the PNGs are saved at 150 dpi for sharpness. The width sits in the IHDR chunk.
    width = int.from_bytes(png[16:20], "big") * 96 // _DPI
    return (
        f'<figure><img src="data:image/png;base64,{data}" style="width: {width}px" '
        f'alt="{_esc(fig.caption)}">'
        f"<figcaption>{_esc(fig.caption)}</figcaption></figure>"
    )


def _comparison_html(rows: Sequence[Mapping[str, Any]], n: int) -> str:
    lines = [
        ("restarts", "restarts", "g"),
        ("J_clust min (best run)", "j_clust_min", "obj"),
        ("J_clust max (worst run)", "j_clust_max", "obj"),
        ("spread (max - min)", "j_clust_spread", "obj"),
        ("spread / min", "j_clust_spread_relative", "pct"),
        *[
            (f"{n}-nearest accuracy, {run} run, {form}", f"{run}_nearest_{key}_accuracy", "pct")
            for run in ("best", "worst")
            for form, key in (("majority digit", "majority"), ("most common digit", "mode"))
        ],
        ("purity, best run", "best_purity", "score"),
        ("purity, worst run", "worst_purity", "score"),
        ("NMI, best run", "best_nmi", "score"),
        ("ARI, best run", "best_ari", "score"),
        ("wall time (s)", "elapsed_seconds", "s"),
    ]
    header = [""] + [f"k = {row['k']}" for row in rows]
    body = [[_esc(label)] + [_num(row[key], kind) for row in rows] for label, key, kind in lines]
    return _table(header, body, text_cols=1)


def _scores_html(best: _RunEval, worst: _RunEval) -> str:
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


def _clusters_html(ev: _RunEval) -> str:
    sizes = ev.nearest.n_members
    if ev.evaluation is None:
        rows = [[str(c), str(int(sizes[c]))] for c in range(len(sizes))]
        return _table(["cluster", "size"], rows)
    e = ev.evaluation
    rows = []
    for c in range(e.n_clusters):
        rows.append([
            str(c),
            str(int(e.sizes[c])),
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
        [str(c)] + [str(int(v)) for v in e.contingency[c]] + [str(int(e.sizes[c]))]
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
            str(int(study.n_iter[i])),
            _num(bool(study.converged[i])),
            str(int(study.n_relocated[i])),
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


def _study_html(
    prefix: str, study: StudyResult, best: _RunEval, worst: _RunEval,
    figs: Mapping[str, _Figure], folder: Path,
) -> str:
    def fig(key: str) -> str:
        return _img(folder, figs[key]) if key in figs else ""

    seed_best, seed_worst = study.seeds[study.best_index], study.seeds[study.worst_index]
    overview = [
        ["restarts", str(study.n_restarts), "", ""],
        ["init", _esc(study.init), "", ""],
        ["restart index", "", str(study.best_index), str(study.worst_index)],
        ["seed", "", str(int(seed_best)), str(int(seed_worst))],
        ["J_clust", "", _num(study.best.j_clust, "obj"), _num(study.worst.j_clust, "obj")],
        ["inertia (sum of squares)", "",
         _num(study.best.inertia, "obj"), _num(study.worst.inertia, "obj")],
        ["iterations", "", str(study.best.n_iter), str(study.worst.n_iter)],
        ["converged", "", _num(study.best.converged), _num(study.worst.converged)],
        ["empty clusters relocated", "", str(study.best.n_relocated), str(study.worst.n_relocated)],
        ["J_clust spread (worst - best)", _num(study.j_clust_spread, "obj"), "", ""],
        ["J_clust mean over restarts", _num(float(study.j_clust.mean()), "obj"), "", ""],
        ["J_clust std over restarts", _num(float(study.j_clust.std()), "obj"), "", ""],
        ["wall time (s)", _num(study.elapsed, "s"), "", ""],
    ]
    parts = [
        f'<section id="{_esc(prefix)}">',
        f"<h2>k = {study.n_clusters}: {study.n_restarts} restarts</h2>",
        _table(["", "study", "best run", "worst run"],
               [[_esc(r[0])] + r[1:] for r in overview], text_cols=1),
        "<h3>Scores</h3>",
        _scores_html(best, worst),
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
    return "\n".join(parts)


def _html_page(
    summary: Mapping[str, Any],
    studies: Sequence[StudyResult],
    evaluations: Sequence[tuple[_RunEval, _RunEval]],
    figures: Sequence[Mapping[str, _Figure]],
    folder: Path,
) -> str:
    data = summary["data"]
    ids = [entry["id"] for entry in summary["studies"]]
    nav = " &middot; ".join(
        f'<a href="#{_esc(i)}">k = {s.n_clusters}</a>' for i, s in zip(ids, studies)
    )
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>mnist-kmeans report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>mnist-kmeans report</h1>",
        f"<p>{data['n_samples']} images of {data['image_shape'][0]}&times;{data['image_shape'][1]}"
        f" pixels; created {_esc(summary['created'])}. J_clust is the sum of the (non-squared) "
        "distances of the images to their cluster representatives; the inertia is the sum of "
        "the squared distances. Every number is also in <code>summary.json</code>.</p>",
        f"<p>{nav}</p>",
    ]
    if len(studies) > 1:
        comparison = _comparison_html(summary["comparison"], summary["n_nearest"])
        head += ["<h2>Side by side</h2>", comparison]
    body = [
        _study_html(prefix, study, best, worst, figs, folder)
        for prefix, study, (best, worst), figs in zip(ids, studies, evaluations, figures)
    ]
    tail = [
        "<h2>Parameters</h2>",
        _key_value_table(summary["parameters"]),
        "<h2>Environment</h2>",
        _key_value_table(summary["environment"]),
        "</body></html>",
    ]
    return "\n".join(head + body + tail) + "\n"


# --------------------------------------------------------------------------
# moving into place
# --------------------------------------------------------------------------


def _move_into_place(tmp: Path, out: Path, force: bool) -> None:
    """Rename the finished folder ``tmp`` to ``out``; with force, swap out an old report."""
    try:
        # Atomic, and fails rather than merging when out is a non-empty folder.
        os.rename(tmp, out)
        return
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    check_output_dir(out, force)  # raises unless replacing an old report is allowed
    aside = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
    os.rename(out, aside)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(aside, out)  # put the old report back
        raise
    shutil.rmtree(aside, ignore_errors=True)
