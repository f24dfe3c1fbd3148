"""What the command line writes to disk: its report folder and nothing else, whole or not at all."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path


import mnist_kmeans
from mnist_kmeans import plotting
from mnist_kmeans.cli import main

SMALL = ["--limit", "400", "--k", "3", "--restarts", "2", "--nearest", "3", "--quiet"]


def test_a_full_disk_gives_one_line_and_no_partial_report(tmp_path: Path, capsys, monkeypatch):
    save = plotting.save_figure
    calls = []

    def disk_full(fig, path, **kwargs):
        calls.append(path)
        if len(calls) == 3:  # after two figures were written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return save(fig, path, **kwargs)

    monkeypatch.setattr(plotting, "save_figure", disk_full)
    code = main(["study", *SMALL, "--out", str(tmp_path / "report")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("mnist-kmeans: error: ")
    assert "No space left on device" in err[0]
    assert list(tmp_path.iterdir()) == []  # no report, no temporary folder


def test_nothing_is_written_outside_the_output_folder(tmp_path: Path):
    """A real run in a fresh process, with HOME and the working folder pointed at tmp_path."""
    work = tmp_path / "work"
    home = tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = dict(os.environ, HOME=str(home), MPLCONFIGDIR=str(tmp_path / "mplconfig"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), TMPDIR=str(tmp_path / "tmp"))
    # the child imports the same package as this test (installed, or the source tree)
    package_parent = str(Path(mnist_kmeans.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    (tmp_path / "tmp").mkdir()
    out = subprocess.run([sys.executable, "-m", "mnist_kmeans", "study", *SMALL, "--out", "r"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in work.iterdir()) == ["r"]
    assert list(home.iterdir()) == []
    assert list((tmp_path / "tmp").iterdir()) == []  # temporary files are cleaned up
    # matplotlib may keep its font cache in MPLCONFIGDIR: a cache, the only other place
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.png"))
