"""The layout of ``summary.json``: every number of a report, for programs to read.

Top level: ``summary_format`` (raised when a key changes meaning), ``created`` (UTC, ISO 8601),
``parameters`` (as given, e.g. the command line's arguments), ``environment``
(:func:`mnist_kmeans.environment.environment`), ``data`` (``n_samples``, ``n_features``,
``image_shape``, ``labels_known``), ``n_nearest``, ``comparison`` (one row per study, see
:class:`mnist_kmeans.analysis.StudyAnalysis`) and ``studies``: per study
:meth:`StudyResult.to_dict <mnist_kmeans.study.StudyResult.to_dict>`, its ``id`` (the prefix of
its figures and its anchor in the HTML), ``figures`` (key -> path in the report folder), and for
the best and worst run their ``nearest_members``, ``evaluation``, ``j_clust_rises`` and
``inertia_rises`` (iterations after which the value went up).

Format history: 1, the first; 2, the number of clusters is ``n_clusters`` (was ``k``) in the
comparison rows and study entries, as in the Python API (``parameters`` keep the command line's
``k``).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .analysis import Analysis, RunAnalysis
from .neighbors import NearestMembers

__all__ = ["SUMMARY_FORMAT", "build_summary"]

#: Version of the summary.json layout.
SUMMARY_FORMAT = 2


def build_summary(
    analysis: Analysis,
    ids: Sequence[str],
    figures: Sequence[Mapping[str, str]],
    params: Mapping[str, Any],
    environment: Mapping[str, Any],
) -> dict[str, Any]:
    """The summary of a report, JSON-serialisable (strict JSON: no nan).

    Parameters
    ----------
    analysis : Analysis
    ids : sequence of str
        Each study's id.
    figures : sequence of mapping
        Each study's figures: key -> path relative to the report folder.
    params, environment : mapping
        Recorded as they are.
    """
    entries = []
    for study_id, sa, figs in zip(ids, analysis.studies, figures):
        entry = sa.study.to_dict()
        entry["id"] = study_id
        entry["best"].update(_run_dict(sa.best))
        entry["worst"].update(_run_dict(sa.worst))
        entry["figures"] = dict(figs)
        entries.append(entry)
    return {
        "summary_format": SUMMARY_FORMAT,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "parameters": dict(params),
        "environment": dict(environment),
        "data": {
            "n_samples": int(analysis.X.shape[0]),
            "n_features": int(analysis.X.shape[1]),
            "image_shape": list(analysis.image_shape),
            "labels_known": analysis.y_true is not None,
        },
        "n_nearest": analysis.n_nearest,
        "comparison": analysis.comparison,
        "studies": entries,
    }


def _nearest_dict(nearest: NearestMembers) -> dict[str, Any]:
    return {
        "n": nearest.n,
        "indices": [[int(v) for v in row] for row in nearest.indices],
        "sq_distances": [
            [None if math.isnan(v) else float(v) for v in row] for row in nearest.sq_distances
        ],
    }


def _run_dict(ra: RunAnalysis) -> dict[str, Any]:
    return {
        "j_clust_rises": ra.j_clust_rises,
        "inertia_rises": ra.inertia_rises,
        "nearest_members": _nearest_dict(ra.nearest),
        "evaluation": None if ra.evaluation is None else ra.evaluation.to_dict(),
    }
