"""The course notebook, examples/mnist_kmeans_notebook.ipynb, run top to bottom in a Jupyter
kernel (nbclient + ipykernel, from the ``test`` extra) with small settings, so that it never
rots: it must finish without an error or a warning, show the three figures of the course for
every K, and print the numbers the package computes.

The test replaces the notebook's cell tagged "parameters" (as papermill would) with fewer images
and restarts; the committed notebook keeps the course's settings and no outputs.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import mnist_kmeans
from mnist_kmeans.datasets import load_mnist
from mnist_kmeans.study import run_study

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "mnist_kmeans_notebook.ipynb"
# The kernel imports the same package as this process: the source tree in development, the
# installed copy in CI.
PACKAGE_PARENT = Path(mnist_kmeans.__file__).resolve().parents[1]

SMALL = {
    "TRAINING_SET": False,
    "RESTARTS": {20: 2, 10: 3, 5: 2},
    "N_NEAREST": 4,
    "LIMIT": 1500,
    "SEED": 3,
}


def _parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    return cells[0]


def _assignments(source: str) -> dict[str, object]:
    """The constants a parameters cell assigns (it must hold nothing else)."""
    values = {}
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        values[node.targets[0].id] = ast.literal_eval(node.value)  # type: ignore[attr-defined]
    return values


def test_committed_notebook_has_the_course_settings_and_no_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "clear the outputs"
    params = _assignments(_parameters_cell(nb).source)
    # the course: 30, 20, 10 restarts at K = 20, 10, 5; the bundled sample unless asked
    assert params["RESTARTS"] == {20: 30, 10: 20, 5: 10}
    assert params["TRAINING_SET"] is False and params["LIMIT"] is None
    assert params["N_NEAREST"] == 10
    # the 60k training set is one changed line away
    lines = _parameters_cell(nb).source.splitlines()
    assert sum(line.startswith("TRAINING_SET = False") for line in lines) == 1
    assert set(params) == set(SMALL)  # the test sets every parameter


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    _parameters_cell(nb).source = "\n".join(f"{name} = {value!r}" for name, value in SMALL.items())
    folder = tmp_path_factory.mktemp("notebook")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(PACKAGE_PARENT), old] if p)
    try:
        # a cell that raises fails the test here (CellExecutionError, with the traceback)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    assert list(folder.iterdir()) == []  # the notebook writes nothing
    return nb


def _outputs(nb: nbformat.NotebookNode, source: str) -> list[nbformat.NotebookNode]:
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.strip() == source]
    assert len(cells) == 1, source
    return cells[0].outputs


def _pictures(outputs: list[nbformat.NotebookNode]) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs if o.output_type == "display_data")


def _text(outputs: list[nbformat.NotebookNode]) -> str:
    return "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")


def test_notebook_shows_the_three_figures_of_every_k(executed: nbformat.NotebookNode) -> None:
    for k in (20, 10, 5):
        assert _pictures(_outputs(executed, f"show_representatives({k})")) == 2  # best, worst
        assert _pictures(_outputs(executed, f"show_j_clust({k})")) == 1
        assert _pictures(_outputs(executed, f"show_nearest({k})")) == 1
        scores = _text(_outputs(executed, f"show_scores({k})"))
        for name in ("J_clust", "inertia", "purity", "NMI", "ARI", "4-nearest accuracy"):
            assert name in scores, scores
    # no cell wrote to stderr (warnings included)
    for cell in executed.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "stream"
                        and o.name == "stderr"], cell.source


def test_notebook_prints_the_numbers_of_the_package(executed: nbformat.NotebookNode) -> None:
    images, digits = load_mnist("test")
    limit = SMALL["LIMIT"]
    X, digits = images[:limit].reshape(limit, -1), digits[:limit]
    printed = _text(next(c.outputs for c in executed.cells
                         if c.cell_type == "code" and "run_study(" in c.source))
    for k, restarts in SMALL["RESTARTS"].items():
        study = run_study(X, k, restarts, init="random", random_state=SMALL["SEED"])
        assert (f"K = {k}: {restarts} restarts" in printed
                and f"J_clust best {study.best.j_clust:,.1f} (restart {study.best_index})"
                in printed and f"worst {study.worst.j_clust:,.1f} (restart {study.worst_index})"
                in printed), printed
        # purity counted here: each cluster's most common digit, over all images
        purity = []
        for run in (study.best, study.worst):
            counts = np.zeros((k, 10), dtype=int)
            np.add.at(counts, (run.labels, digits), 1)
            purity.append(counts.max(axis=1).sum() / limit)
        scores = _text(_outputs(executed, f"show_scores({k})"))
        line = next(line for line in scores.splitlines() if line.startswith("purity"))
        assert line.split()[1:] == [f"{purity[0]:.4f}", f"{purity[1]:.4f}"], line
