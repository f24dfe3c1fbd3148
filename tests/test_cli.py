"""Tests for the mnist-kmeans command line, run in-process through cli.main."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_kmeans import plotting
from mnist_kmeans import study as study_module
from mnist_kmeans.cli import build_parser, main
from mnist_kmeans.datasets import load_mnist
from mnist_kmeans.idx import write_idx
from mnist_kmeans.study import run_study

# Small runs: a few hundred images, k = 3, two restarts.
LIMIT = 600
SMALL = ["--limit", str(LIMIT), "--k", "3", "--restarts", "2", "--nearest", "3", "--quiet"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_one_line_error(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mnist-kmeans: error: "), err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "report"
    assert main(["study", *SMALL, "--seed", "7", "--out", str(out)]) == 0
    return out


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def test_study_writes_a_report(report_dir: Path) -> None:
    assert (report_dir / "report.html").is_file()
    assert any((report_dir / "figures").glob("k3_centers_best.png"))
    summary = _summary(report_dir)
    params = summary["parameters"]
    assert params["command"] == "study" and params["k"] == 3 and params["restarts"] == 2
    assert params["seed"] == 7 and params["init"] == "random"
    assert params["data"]["split"] == "test" and params["data"]["n_samples"] == LIMIT


def test_summary_agrees_with_run_study(report_dir: Path) -> None:
    entry = _summary(report_dir)["studies"][0]
    images, _ = load_mnist("test")
    expected = run_study(images[:LIMIT].reshape(LIMIT, -1), 3, 2, random_state=7)
    assert entry["runs"]["j_clust"] == expected.j_clust.tolist()
    assert entry["runs"]["seed"] == expected.seeds.tolist()
    assert entry["best"]["index"] == expected.best_index
    j = entry["runs"]["j_clust"]
    assert entry["best"]["j_clust"] <= min(j) and max(j) <= entry["worst"]["j_clust"]


def test_same_seed_same_numbers(report_dir: Path, tmp_path: Path, capsys) -> None:
    code, out, _ = _run(capsys, "study", *SMALL, "--seed", "7", "--out", str(tmp_path / "again"))
    assert code == 0
    first, again = _summary(report_dir), _summary(tmp_path / "again")
    assert first["studies"][0]["runs"]["j_clust"] == again["studies"][0]["runs"]["j_clust"]
    assert first["comparison"] == [
        dict(row, elapsed_seconds=first["comparison"][0]["elapsed_seconds"])
        for row in again["comparison"]
    ]


def test_stdout_summary(tmp_path: Path, capsys) -> None:
    code, out, err = _run(capsys, "study", *SMALL, "--out", str(tmp_path / "r"))
    assert code == 0 and err == ""
    assert "J_clust: best" in out and "3-nearest accuracy" in out
    assert out.rstrip().endswith(str(tmp_path / "r" / "report.html"))


# on the first 1,000 images the worst run of k = 8 matches the digits better, that of k = 5 not
@pytest.mark.parametrize("k", [8, 5])
def test_terminal_notes_when_the_worst_run_matches_the_digits_better(k: int, tmp_path: Path,
                                                                     capsys) -> None:
    code, out, _ = _run(capsys, "study", "--limit", "1000", "--k", str(k), "--restarts", "4",
                        "--nearest", "3", "--quiet", "--out", str(tmp_path / "r"))
    assert code == 0
    row = _summary(tmp_path / "r")["comparison"][0]
    noted = [line for line in out.splitlines() if line.startswith("note: ")]
    if row["best_purity"] < row["worst_purity"]:
        assert len(noted) == 1 and f"purity {row['worst_purity']:.4f}" in noted[0]
        assert "minimises the sum of squares, not J_clust" in noted[0]
    else:
        assert noted == []


def test_existing_report_needs_force(report_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    assert _run(capsys, "study", *SMALL, "--out", str(out))[0] == 0
    before = (out / "summary.json").read_bytes()
    code, _, err = _run(capsys, "study", *SMALL, "--seed", "1", "--out", str(out))
    assert code == 2
    _assert_one_line_error(err)
    assert "--force" in err
    assert (out / "summary.json").read_bytes() == before
    code, _, _ = _run(capsys, "study", *SMALL, "--seed", "1", "--out", str(out), "--force")
    assert code == 0
    assert _summary(out)["parameters"]["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_bad_idx_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01")
    code, out, err = _run(capsys, "study", "--data", str(tmp_path), "--out", str(tmp_path / "r"))
    assert code == 2 and out == ""
    _assert_one_line_error(err)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("case", ["missing", "empty"])
def test_missing_data(tmp_path: Path, capsys, case: str) -> None:
    folder = tmp_path / "nowhere" if case == "missing" else tmp_path
    code, _, err = _run(capsys, "study", "--data", str(folder), "--out", str(tmp_path / "r"))
    assert code == 2
    _assert_one_line_error(err)


def test_data_folder_prefers_train(tmp_path: Path, capsys) -> None:
    images, labels = load_mnist("test")
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images[:300])
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels[:300])
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[300:500])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[300:500])
    out = tmp_path / "r"
    code, _, _ = _run(capsys, "study", "--data", str(tmp_path), "--k", "2", "--restarts", "1",
                      "--nearest", "2", "--quiet", "--out", str(out))
    assert code == 0
    data = _summary(out)["parameters"]["data"]
    assert data["split"] == "train" and data["n_samples"] == 300


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["cluster"],
        ["study", "--k", "0"],
        ["study", "--k", "many"],
        ["study", "--restarts", "-1"],
        ["study", "--init", "kmeans"],
        ["study", "--bogus"],
        ["study", "--data", "x", "--download"],
        ["notebook", "--k", "3"],
    ],
)
def test_wrong_arguments(argv: list[str], capsys) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    _assert_one_line_error(err)


def test_k_larger_than_the_data(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "r")
    code, _, err = _run(capsys, "study", "--limit", "5", "--k", "10", "--quiet", "--out", out)
    assert code == 2
    _assert_one_line_error(err)
    assert not (tmp_path / "r").exists()


def test_unwritable_report_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    code, _, err = _run(capsys, "study", *SMALL, "--out", str(tmp_path / "file" / "r"))
    assert code == 2
    _assert_one_line_error(err)


@pytest.mark.parametrize("command", [None, "study", "notebook"])
def test_help(command: str | None, capsys) -> None:
    argv = [command, "--help"] if command else ["--help"]
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    assert out.startswith("usage: mnist-kmeans")


@pytest.mark.parametrize(
    ("module", "name"),
    [(study_module, "lloyd"), (plotting, "save_figure")],
    ids=["during-runs", "while-writing"],
)
def test_interrupt(tmp_path: Path, capsys, monkeypatch, module, name: str) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, name, interrupted)
    code, _, err = _run(capsys, "study", *SMALL, "--out", str(tmp_path / "r"))
    assert code == 130
    assert "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no report, no temporary folder


def test_notebook(tmp_path: Path, capsys) -> None:
    out = tmp_path / "nb"
    code, stdout, _ = _run(capsys, "notebook", "--limit", "300", "--nearest", "1", "--quiet",
                           "--out", str(out))
    assert code == 0
    summary = _summary(out)
    assert [(r["n_clusters"], r["restarts"]) for r in summary["comparison"]] == [
        (20, 30), (10, 20), (5, 10)
    ]
    header = stdout.splitlines()[1].split()
    assert header == ["k", "=", "20", "k", "=", "10", "k", "=", "5"]
    for row in summary["comparison"]:
        assert row["j_clust_min"] <= row["j_clust_max"]
        assert f"{row['j_clust_min']:,.1f}" in stdout
    assert summary["parameters"]["command"] == "notebook"


def test_python_m(tmp_path: Path) -> None:
    env = dict(os.environ)
    src = Path(__file__).resolve().parents[1] / "python"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "mnist_kmeans", "--version"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mnist-kmeans ")
    result = subprocess.run(
        [sys.executable, "-m", "mnist_kmeans", "study", "--k", "0"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert result.returncode == 2
    _assert_one_line_error(result.stderr)


def test_limit_is_applied(report_dir: Path) -> None:
    summary = _summary(report_dir)
    assert summary["data"]["n_samples"] == LIMIT
    assert np.sum(summary["studies"][0]["best"]["cluster_sizes"]) == LIMIT


def _forbid_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any study run fail the test: the error must come before the work."""

    def no_runs(*args, **kwargs):
        raise AssertionError("the study ran before the bad argument was reported")

    monkeypatch.setattr(study_module, "run_study", no_runs)
    monkeypatch.setattr(study_module, "run_notebook", no_runs)


@pytest.mark.parametrize("command", ["study", "notebook"])
def test_nearest_beyond_what_a_figure_shows_is_refused(command: str, tmp_path: Path, capsys,
                                                       monkeypatch) -> None:
    _forbid_runs(monkeypatch)
    code, out, err = _run(capsys, command, "--nearest", "5000", "--out", str(tmp_path / "r"))
    assert code == 2 and out == ""
    _assert_one_line_error(err)
    assert "--nearest" in err and f"at most {plotting.MAX_NEAREST_SHOWN}" in err and "5000" in err
    assert not (tmp_path / "r").exists()
    # the largest accepted value is the figure's limit, and the help says it
    help_text = build_parser()._subparsers._group_actions[0].choices[command].format_help()
    assert f"1 to {plotting.MAX_NEAREST_SHOWN}" in " ".join(help_text.split())


def test_nearest_beyond_what_a_cluster_can_hold_is_refused(tmp_path: Path, capsys,
                                                           monkeypatch) -> None:
    _forbid_runs(monkeypatch)
    # 30 images in 3 clusters that each hold one at least: 28 at most in any cluster
    code, _, err = _run(capsys, "study", "--limit", "30", "--k", "3", "--nearest", "29",
                        "--quiet", "--out", str(tmp_path / "r"))
    assert code == 2
    _assert_one_line_error(err)
    assert "--nearest 29" in err and "28" in err
    assert not (tmp_path / "r").exists()


def test_nearest_at_the_bound_draws_no_blank_columns(tmp_path: Path, capsys) -> None:
    # every cluster is smaller than --nearest: the figure stops at the largest one
    out = tmp_path / "r"
    code, _, _ = _run(capsys, "study", "--limit", "30", "--k", "3", "--restarts", "1",
                      "--nearest", "28", "--quiet", "--out", str(out))
    assert code == 0
    sizes = _summary(out)["studies"][0]["best"]["cluster_sizes"]
    from matplotlib.image import imread

    image = imread(out / "figures" / "k3_nearest_best.png")
    # about 0.85 inch per tile: far narrower than 28 tiles when the largest cluster is small
    dpi = 150
    assert max(sizes) < 28
    assert image.shape[1] < (0.85 * (max(sizes) + 2) + 2) * dpi


def test_corrupt_gzip_in_the_data_folder_is_named_as_corrupt(tmp_path: Path, capsys) -> None:
    images, labels = load_mnist("test")
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images[:2000])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[:2000])
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    for position in range(len(data) // 3, len(data) // 3 + 8):  # bytes flipped mid-stream
        data[position] ^= 0xFF
    path.write_bytes(bytes(data))
    code, out, err = _run(capsys, "study", "--data", str(tmp_path), "--quiet",
                          "--out", str(tmp_path / "r"))
    assert code == 2 and out == ""
    _assert_one_line_error(err)
    assert str(path) in err and "the file is corrupt" in err and "trailing" not in err
    assert not (tmp_path / "r").exists()


def test_data_given_a_file_says_it_is_not_a_folder(tmp_path: Path, capsys) -> None:
    a_file = tmp_path / "train-images-idx3-ubyte.gz"
    a_file.write_bytes(b"\x1f\x8b")
    code, _, err = _run(capsys, "study", "--data", str(a_file), "--out", str(tmp_path / "r"))
    assert code == 2
    _assert_one_line_error(err)
    assert f"--data {a_file} is a file, not a folder" in err
    assert str(tmp_path.resolve()) in err  # the folder to give instead
    assert "no such" not in err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", ["study", "notebook"])
def test_out_that_cannot_be_created_fails_before_the_work(command: str, capsys,
                                                          monkeypatch) -> None:
    # /proc refuses new folders even to root, whom permission bits do not stop
    _forbid_runs(monkeypatch)
    code, out, err = _run(capsys, command, "--quiet", "--out", "/proc/nope/report")
    assert code == 2 and out == ""
    _assert_one_line_error(err)
    assert "/proc/nope/report: cannot create the report folder" in err
    assert ".tmp" not in err and ".probe" not in err  # the user's path, not ours


def test_out_probe_leaves_nothing_behind(tmp_path: Path, capsys) -> None:
    out = tmp_path / "a" / "b" / "report"
    code, _, _ = _run(capsys, "study", "--limit", "5", "--k", "10", "--quiet", "--out", str(out))
    assert code == 2  # k > images: fails after the output check, before any run
    assert list(tmp_path.iterdir()) == []


def test_runs_stopped_by_max_iter_are_warned_about(tmp_path: Path, capsys) -> None:
    code, out, err = _run(capsys, "study", *SMALL, "--max-iter", "1", "--out",
                          str(tmp_path / "r"))
    assert code == 0  # a warning, not an error: the report is written
    summary = _summary(tmp_path / "r")
    stopped = summary["studies"][0]["runs"]["converged"].count(False)
    assert stopped > 0
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1, err  # even with --quiet
    assert lines[0].startswith("mnist-kmeans: warning: ")
    assert f"{stopped} of 2 runs" in lines[0] and "--max-iter 1" in lines[0]
    assert "warning" not in out
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "before converging" in page
    # converged runs: no warning
    code, _, err = _run(capsys, "study", *SMALL, "--out", str(tmp_path / "r2"))
    assert code == 0 and "warning" not in err


def test_notebook_warns_per_experiment(tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, "notebook", "--limit", "300", "--nearest", "1", "--max-iter",
                        "1", "--quiet", "--out", str(tmp_path / "nb"))
    assert code == 0
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1
    for k, restarts in ((20, 30), (10, 20), (5, 10)):
        assert f"k = {k}: " in warning[0] and f" of {restarts}" in warning[0]
