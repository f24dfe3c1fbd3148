"""Ctrl-C: a real SIGINT stops a long fit, and the command line, within about a second.

Each test starts a child Python process, waits until it reports that the long part has begun,
sends SIGINT and measures, on the shared monotonic clock, how long the child took to notice:

* a KMeans fit on a big random array (hundreds of passes) raises KeyboardInterrupt from the
  kernel call (the kernel checks for signals between passes) well within a second;
* ``python -m mnist_kmeans study`` interrupted during the runs, or while writing the report,
  exits with status 130 and leaves neither the report folder nor a temporary folder behind;
* the heaviest report the command line allows for k = 20 (``--nearest 50``), interrupted at
  several points of its writing, returns within a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import mnist_kmeans

# Child processes import the same package as this one: the source tree in development, the
# installed copy in CI (where the source tree has no compiled module).
PACKAGE_PARENT = Path(mnist_kmeans.__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(PACKAGE_PARENT), env.get("PYTHONPATH", "")] if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


def default_sigint() -> None:
    # A job started in the background by a non-interactive shell inherits SIGINT ignored, and
    # Python then installs no KeyboardInterrupt handler: give the child the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_line(stream, marker: str, timeout: float) -> str:
    """Read lines until one contains marker (the child is killed by the caller on failure)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return line
    raise AssertionError(f"the child never printed {marker!r}; it printed: {''.join(seen)!r}")


def interrupt_child(
    argv: list[str], stream: str, marker: str, timeout: float, delay: float, what: str
) -> tuple[int, str, str, float, float]:
    """Start a child Python with argv, SIGINT it delay s after marker shows on stream.

    Returns (status, stdout, stderr, time the signal was sent, time the child had exited), the
    times on the monotonic clock; the child is killed if anything goes wrong on the way.
    """
    proc = subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        preexec_fn=default_sigint,
    )
    try:
        wait_for_line(getattr(proc, stream), marker, timeout=timeout)
        time.sleep(delay)
        assert proc.poll() is None, f"the {what} ended before it could be interrupted"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        exited = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err, sent, exited


FIT_CHILD = """
    import sys, time
    import numpy as np
    from mnist_kmeans.kmeans import KMeans

    n_threads = None if sys.argv[1] == "default" else int(sys.argv[1])
    X = np.random.default_rng(0).random((100_000, 16), dtype=np.float32)
    km = KMeans(
        100, init="random", n_init=1, max_iter=1_000_000, random_state=0, n_threads=n_threads
    )
    print("started", flush=True)
    try:
        km.fit(X)
    except KeyboardInterrupt as exc:
        caught = time.monotonic()
        tb = exc.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        # the innermost Python frame: the one that called into the kernel
        print("interrupted", caught, tb.tb_frame.f_code.co_name, flush=True)
        sys.exit(42)
    print("finished", km.n_iter_, flush=True)
"""


@pytest.mark.parametrize(
    ("n_threads", "bound"),
    [
        # one thread: a pass takes about 25 ms, so the answer must come well within a second
        ("1", 1.0),
        # OpenMP's default team: passes are as short on an idle machine, but where the cores
        # are busy with other work, the per-chunk ordered hand-off with libgomp's spinning
        # waits can stretch one pass past a second (a known issue), hence the slack
        ("default", 5.0),
    ],
)
def test_sigint_stops_a_long_fit(n_threads, bound):
    status, out, err, sent, exited = interrupt_child(
        ["-c", textwrap.dedent(FIT_CHILD), n_threads], "stdout", "started", timeout=60,
        delay=0.5,  # past the initialisation, into the kernel's passes
        what="fit",
    )
    assert status == 42, f"status {status}; stdout {out!r}; stderr {err!r}"
    word, caught, where = out.split()
    assert word == "interrupted"
    assert where == "lloyd", f"interrupted in {where}(), not in the kernel call"
    latency = float(caught) - sent
    assert 0 <= latency < bound, f"KeyboardInterrupt came {latency:.2f} s after SIGINT"
    assert exited - sent < bound + 2.0, f"the process took {exited - sent:.2f} s to exit"


def interrupt_study(folder: Path, marker: str, delay: float, args: tuple[str, ...]):
    """Start a study writing to folder/report, SIGINT it delay s after marker on stderr.

    Returns (status, stdout, stderr, seconds from the signal to the exit).
    """
    status, out, err, sent, exited = interrupt_child(
        ["-m", "mnist_kmeans", "study", "--out", str(folder / "report"), *args],
        "stderr", marker, timeout=120, delay=delay, what="study",
    )
    return status, out, err, exited - sent


def run_study_and_interrupt(tmp_path: Path, marker: str, delay: float, *args: str) -> None:
    """Either status 130 and nothing on disk, or (signal too late) 0 and a complete report.

    The second outcome is legitimate but proves nothing, so it is retried with no delay; on a
    busy machine this process can oversleep past the end of a short child.
    """
    for attempt, wait in enumerate([delay, 0.0, 0.0]):
        folder = tmp_path / f"attempt{attempt}"
        folder.mkdir()
        status, out, err, took = interrupt_study(folder, marker, wait, args)
        if status == 0:  # finished before the signal could act: all or nothing still holds
            assert sorted(p.name for p in folder.iterdir()) == ["report"], list(folder.iterdir())
            assert (folder / "report" / "summary.json").is_file()
            assert "report:" in out
            continue
        assert status == 130, f"status {status}; stderr {err!r}"
        assert "interrupted" in err and "Traceback" not in err, err
        assert took < 3.0, f"the command took {took:.2f} s to stop"
        assert list(folder.iterdir()) == [], f"left behind: {list(folder.iterdir())}"
        return
    pytest.fail("the study finished before SIGINT took effect, three times")


@pytest.mark.parametrize(
    "args",
    [
        # many short runs: the signal lands in the kernel or between runs
        ("--limit", "2000", "--k", "5", "--restarts", "500", "--threads", "1"),
        # two runs at once in worker threads, which SIGINT does not reach: the main thread
        # stops them through their stop flag
        ("--limit", "2000", "--k", "5", "--restarts", "500", "--threads", "2"),
        ("--limit", "20000", "--k", "20", "--restarts", "100", "--threads", "2"),
    ],
)
def test_sigint_during_study_runs_exits_130_and_writes_nothing(tmp_path, args):
    run_study_and_interrupt(tmp_path, "images", 0.5, *args)


def test_sigint_while_writing_the_report_exits_130_and_writes_nothing(tmp_path):
    # one quick run, then the figures and HTML take a while: the signal lands in the writing
    run_study_and_interrupt(
        tmp_path, "writing the report", 0.2,
        "--limit", "500", "--k", "3", "--restarts", "1", "--max-iter", "5",
    )


REPORT_CHILD = """
    import sys, time
    from mnist_kmeans.cli import main

    status = main(sys.argv[1:])
    print("returned", status, time.monotonic(), flush=True)
"""


@pytest.mark.parametrize("delay", [0.3, 1.5, 3.0])
def test_sigint_at_any_point_of_a_heavy_report_step_stops_within_a_second(tmp_path, delay):
    """The largest report the command line allows for k = 20 (--nearest 50: 2,000 tiles in
    the nearest-members figures): wherever the signal lands - the figures, their PNG files, the
    page - the command returns within a second, leaving nothing behind."""
    argv = ["--limit", "3000", "--k", "20", "--restarts", "2", "--nearest", "50",
            "--out", str(tmp_path / "report")]
    status, out, err, sent, _ = interrupt_child(
        ["-c", textwrap.dedent(REPORT_CHILD), "study", *argv], "stderr",
        "writing the report", timeout=120, delay=delay, what="report step",
    )
    assert status == 0, f"the child failed: {err!r}"
    word, returned_status, returned = out.split()[-3:]
    if returned_status == "0":
        pytest.fail(f"the report was finished {delay} s after it began: make it heavier")
    assert (word, returned_status) == ("returned", "130"), out
    assert "interrupted" in err and "Traceback" not in err, err
    latency = float(returned) - sent
    assert 0 <= latency < 1.0, f"the command returned {latency:.2f} s after SIGINT"
    assert list(tmp_path.iterdir()) == [], f"left behind: {list(tmp_path.iterdir())}"
