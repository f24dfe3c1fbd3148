"""scikit-learn's own KMeans tests, run against our KMeans.

``sklearn/cluster/tests/test_k_means.py`` is read from the installed scikit-learn and run here
with one change: its ``from sklearn.cluster import KMeans`` is rebound to
``mnist_kmeans.KMeans`` (a rewrite of that import statement; every other line is scikit-learn's,
tracebacks point into its file). Its test functions are then collected from this module, with
the two fixtures scikit-learn's conftest.py gives them (``global_random_seed``: 42, or
``SKLEARN_TESTS_GLOBAL_RANDOM_SEED`` read as scikit-learn reads it; ``global_dtype``: float32
and float64, where scikit-learn runs float32 only on request).

Every test runs and must pass except:

* :data:`EXCLUDED`: tests of MiniBatchKMeans, of scikit-learn's private helpers and private
  attributes, and of its functions other than KMeans: not collected, each with its reason.
  Parametrizations that run MiniBatchKMeans (``Estimator=MiniBatchKMeans``) are dropped from
  the tests that also run KMeans.
* :data:`EXPECTED_FAILURES`: our deliberate differences from scikit-learn (README,
  "Differences from scikit-learn's KMeans"; sparse X is computed in float32): strict xfail, so each must fail, and one that starts passing
  fails the run until its entry is removed.

When the file is missing (some distributions strip the tests) or cannot be loaded, the module
is skipped with the reason.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import os
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mnist_kmeans

_ParameterSet = type(pytest.param(None))  # what pytest.param returns (a private class)

# --- what is not run, and why (one place) ----------------------------------------------------

_MINIBATCH = "MiniBatchKMeans is not part of mnist_kmeans"
_PRIVATE = "uses scikit-learn's private {}"
_NOT_KMEANS = "tests scikit-learn's {} function, not the KMeans estimator"

#: Test functions (fnmatch patterns) of test_k_means.py not collected, with the reason.
EXCLUDED: dict[str, str] = {
    "test_minibatch_*": _MINIBATCH,
    "test_relocate_empty_clusters": _PRIVATE.format(
        "_relocate_empty_clusters_dense/_sparse helpers"),
    "test_euclidean_distance": _PRIVATE.format("_euclidean_*_dense_wrapper helpers"),
    "test_inertia": _PRIVATE.format("_inertia_dense/_sparse helpers"),
    "test_is_same_clustering": _PRIVATE.format("_is_same_clustering helper"),
    "test_sample_weight_init": _PRIVATE.format("KMeans._init_centroids method"),
    "test_sample_weight_zero": _PRIVATE.format("KMeans._init_centroids method"),
    "test_kmeans_init_auto_with_initial_centroids": _PRIVATE.format(
        "KMeans._n_init attribute (our n_init='auto' rule for each init is in "
        "tests/test_estimator.py)"),
    "test_n_init_auto": _PRIVATE.format("KMeans._n_init attribute"),
    "test_kmeans_plusplus_*": _NOT_KMEANS.format("kmeans_plusplus"),
    "test_k_means_function": _NOT_KMEANS.format("k_means"),
}

#: Parametrizations running these classes are dropped (the KMeans ones still run).
EXCLUDED_ESTIMATORS = ("MiniBatchKMeans",)

_SPARSE = (
    "deliberate: sparse X is computed in float32 (float32 cluster_centers_) whatever its dtype"
)

#: Collected tests expected to fail, strict xfail: ``"test_name"`` (every parametrization) or
#: ``"test_name[ids]"`` where ids is an fnmatch pattern on the parameter ids (``*`` any text).
#: Remove an entry when what it waits for lands.
EXPECTED_FAILURES: dict[str, str] = {
    # sparse X is computed in float32 whatever its dtype (README, "Choices worth knowing"):
    # these assert float64 cluster_centers_ for float64 or integer CSR input
    "test_integer_input[*sparse*]": _SPARSE,
    "test_float_precision[*sparse*]": _SPARSE,
    # deliberate differences (README, "Differences from scikit-learn's KMeans")
    "test_warning_elkan_1_cluster": (
        "deliberate: algorithm='elkan' with one cluster is exact and runs as asked; "
        "scikit-learn warns and switches to 'lloyd'"),
}

# --- loading scikit-learn's file with our KMeans ---------------------------------------------

_MODULE = "sklearn.cluster.tests.test_k_means"


def _load() -> types.ModuleType:
    try:
        spec = importlib.util.find_spec(_MODULE)
    except ImportError:
        spec = None
    if spec is None or spec.origin is None or not Path(spec.origin).is_file():
        pytest.skip(f"{_MODULE} is not installed with this scikit-learn", allow_module_level=True)
    path = Path(spec.origin)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rebound = False
    for i, node in enumerate(tree.body):
        if isinstance(node, ast.ImportFrom) and node.module == "sklearn.cluster":
            for alias in node.names:
                if alias.name == "KMeans" and alias.asname is None:
                    alias.asname = "_SklearnKMeans"  # keep the name out of the way
                    rebound = True
            if rebound:
                ours = ast.parse("from mnist_kmeans import KMeans").body[0]
                tree.body.insert(i + 1, ast.copy_location(ours, node))
                break
    if not rebound:
        pytest.skip(f"{path} no longer imports KMeans from sklearn.cluster: update this adapter",
                    allow_module_level=True)
    module = types.ModuleType("sklearn_test_k_means_on_mnist_kmeans")
    module.__file__ = str(path)
    try:
        exec(compile(ast.fix_missing_locations(tree), str(path), "exec"), module.__dict__)
    except ImportError as exc:  # a private helper the file imports has moved
        pytest.skip(f"{path} could not be loaded: {exc}", allow_module_level=True)
    assert module.KMeans is mnist_kmeans.KMeans
    return module


def _mentions_excluded(value: Any) -> bool:
    values = value.values if isinstance(value, _ParameterSet) else (
        value if isinstance(value, tuple) else (value,))
    return any(getattr(v, "__name__", None) in EXCLUDED_ESTIMATORS for v in values
               if isinstance(v, type))


def _without_excluded_estimators(func: types.FunctionType) -> types.FunctionType | None:
    """A copy of func whose parametrizations drop the excluded estimators (None: nothing is
    left)."""
    marks = []
    for mark in getattr(func, "pytestmark", []):
        if mark.name == "parametrize":
            argnames, argvalues = mark.args[0], list(mark.args[1])
            keep = [i for i, v in enumerate(argvalues) if not _mentions_excluded(v)]
            if not keep:
                return None
            if len(keep) < len(argvalues):
                ids = mark.kwargs.get("ids")
                kwargs = dict(mark.kwargs)
                if isinstance(ids, (list, tuple)):
                    kwargs["ids"] = [ids[i] for i in keep]
                mark = pytest.mark.parametrize(
                    argnames, [argvalues[i] for i in keep], **kwargs).mark
        marks.append(mark)
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__,
                              func.__defaults__, func.__closure__)
    copy.__dict__.update(func.__dict__)
    copy.__qualname__ = func.__qualname__
    copy.pytestmark = marks
    return copy


def _excluded(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in EXCLUDED)


_sklearn_tests = _load()
for _name, _func in list(vars(_sklearn_tests).items()):
    if _name.startswith("test_") and isinstance(_func, types.FunctionType) and not _excluded(_name):
        _copy = _without_excluded_estimators(_func)
        if _copy is not None:
            globals()[_name] = _copy
del _name, _func, _copy


# --- the fixtures scikit-learn's conftest.py gives these tests --------------------------------


def _random_seeds() -> list[int]:
    # as sklearn/conftest.py reads SKLEARN_TESTS_GLOBAL_RANDOM_SEED: unset 42, "all", "a-b", "a"
    value = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED")
    if value is None:
        return [42]
    if value == "all":
        return list(range(100))
    if "-" in value:
        start, stop = value.split("-")
        return list(range(int(start), int(stop) + 1))
    return [int(value)]


@pytest.fixture(params=_random_seeds())
def global_random_seed(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture(params=[np.float32, np.float64])
def global_dtype(request: pytest.FixtureRequest) -> type:
    return request.param


def _matches(name: str, key: str) -> bool:
    # "test_x" matches test_x with any parameters; "test_x[pattern]" matches the ids by fnmatch
    # (brackets are not character classes here: ids contain none)
    test, _, ids = name.partition("[")
    key_test, bracket, key_ids = key.partition("[")
    if test != key_test:
        return False
    return not bracket or fnmatch.fnmatchcase(ids[:-1], key_ids[:-1])


def _expected_failure(name: str) -> str | None:
    for key, reason in EXPECTED_FAILURES.items():
        if _matches(name, key):
            return reason
    return None


@pytest.fixture(autouse=True)
def _mark_expected_failures(request: pytest.FixtureRequest) -> None:
    reason = _expected_failure(request.node.name)
    if reason is not None:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))


def test_every_listed_expected_failure_names_a_collected_test(request: pytest.FixtureRequest):
    """A pattern of EXPECTED_FAILURES that matches nothing would hide a stale entry."""
    config = request.config
    if config.option.keyword or config.option.markexpr or any("::" in a for a in config.args):
        pytest.skip("only when this module is run whole")
    names = [item.name for item in request.session.items if item.module is request.module]
    unmatched = [key for key in EXPECTED_FAILURES if not any(_matches(n, key) for n in names)]
    assert not unmatched, f"EXPECTED_FAILURES entries matching no test: {unmatched}"
