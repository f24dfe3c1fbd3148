"""The ``mnist-kmeans`` command: restart studies on MNIST, written as a report folder.

``mnist-kmeans study`` runs k-means several times on the MNIST digits (by default the 10,000
images bundled with the package) and writes a report; ``mnist-kmeans notebook`` repeats the
course notebook's experiments (k = 20, 10, 5 with 30, 20, 10 restarts) and tabulates them side
by side. This is the only module of the package that prints or draws progress bars.

Exit status: 0 on success; 2 for wrong arguments, missing or bad data files, or a report folder
that exists (without ``--force``) or cannot be written, with a one-line message on stderr;
130 when interrupted with Ctrl-C (no report is left half-written).

Just over 500 lines: the argument parser, the error-to-exit-status mapping and the two commands'
drivers, which share all three; the work itself lives in study.py, analysis.py and report*.py.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from . import __version__

if TYPE_CHECKING:  # numpy and the rest load only when a command runs: --help stays quick
    import numpy as np

    from .analysis import Analysis

__all__ = ["main"]

PROG = "mnist-kmeans"
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as for every other failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= minimum, with a message naming what was expected."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


# argparse types (parsing text; the library's own checks are in _validation)
_positive_int_arg = _int_at_least(1, "a positive integer")
_non_negative_int_arg = _int_at_least(0, "an integer >= 0")


def _nearest_arg(text: str) -> int:
    """--nearest: at most the images one row of the nearest-members figure can show."""
    from .plotting import MAX_NEAREST_SHOWN  # only when the option is given: --help stays quick

    value = _positive_int_arg(text)
    if value > MAX_NEAREST_SHOWN:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_NEAREST_SHOWN} (the images a row of the nearest-members "
            f"figure can show), got {value}"
        )
    return value


def _add_common(parser: argparse.ArgumentParser, out_default: str) -> None:
    data = parser.add_argument_group("data")
    source = data.add_mutually_exclusive_group()
    source.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        help="folder of MNIST IDX files (train-images-idx3-ubyte and train-labels-idx1-ubyte, "
        "or the t10k-* pair; gzip or raw); the training split is used when both are there. "
        "Default: the 10,000 test images bundled with the package",
    )
    source.add_argument(
        "--download",
        action="store_true",
        help="download the 60,000 training images (checksums verified, cached for next time) "
        "and use them",
    )
    data.add_argument(
        "--limit",
        metavar="N",
        type=_positive_int_arg,
        help="use only the first N images (quick trials)",
    )
    run = parser.add_argument_group("k-means")
    run.add_argument(
        "--init",
        choices=("random", "k-means++"),
        default="random",
        help="initial centers: k distinct random images (the notebook's choice) or greedy "
        "k-means++ (default: %(default)s)",
    )
    run.add_argument(
        "--seed",
        type=_non_negative_int_arg,
        default=0,
        help="seed of the restarts; the same seed gives the same results (default: %(default)s)",
    )
    run.add_argument(
        "--max-iter",
        type=_positive_int_arg,
        default=300,
        metavar="N",
        help="iteration limit of each run (default: %(default)s)",
    )
    run.add_argument(
        "--threads",
        type=_positive_int_arg,
        metavar="N",
        help="kernel threads (default: OpenMP's, e.g. OMP_NUM_THREADS); results do not "
        "depend on it",
    )
    dask = run.add_mutually_exclusive_group()
    dask.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run each restart on this Dask cluster (e.g. tcp://host:8786; needs the [dask] "
        "extra); results are those of a local run",
    )
    dask.add_argument(
        "--dask-workers",
        metavar="N",
        type=_positive_int_arg,
        help="run each restart on a local Dask cluster of N in-process workers (needs the "
        "[dask] extra)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path(out_default),
        help="report folder to write (default: %(default)s)",
    )
    output.add_argument(
        "--force",
        action="store_true",
        help="replace an existing report folder",
    )
    output.add_argument(
        "--nearest",
        type=_nearest_arg,
        default=10,
        metavar="N",
        help="images shown nearest each center, and the n of the n-nearest accuracy: 1 to 50, "
        "and no more than a cluster can hold (default: %(default)s)",
    )
    output.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars or status messages (the summary is still printed)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mnist-kmeans`` and its subcommands."""
    parser = _Parser(
        prog=PROG,
        description="Exact k-means (OpenMP C++ kernel) on the MNIST digits: restart studies "
        "written as a self-contained HTML report with figures and summary.json.",
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    study = commands.add_parser(
        "study",
        help="run k-means several times and report the best and worst runs",
        description="Run k-means --restarts times from random initial centers, keep the runs "
        "with the lowest and highest J_clust (sum of distances to the centers), and write a "
        "report: representatives, the images nearest them, scores against the true digits, "
        "and every restart's numbers.",
    )
    study.add_argument(
        "--k",
        dest="n_clusters",
        metavar="K",
        type=_positive_int_arg,
        default=20,
        help="number of clusters, the notebook's k (n_clusters in the Python API; default: "
        "%(default)s)",
    )
    study.add_argument(
        "--restarts",
        type=_positive_int_arg,
        default=10,
        help="number of runs (default: %(default)s)",
    )
    _add_common(study, "mnist-kmeans-report")
    study.set_defaults(handler=_run_study)
    notebook = commands.add_parser(
        "notebook",
        help="the course notebook's experiments: k = 20, 10, 5 side by side",
        description="Repeat the course notebook's experiments - k = 20, 10 and 5 with 30, 20 "
        "and 10 restarts - write one report with all three, and tabulate them side by side.",
    )
    _add_common(notebook, "mnist-kmeans-notebook")
    notebook.set_defaults(handler=_run_notebook)
    return parser


# --------------------------------------------------------------------------
# terminal output
# --------------------------------------------------------------------------


def _status(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _progress(args: argparse.Namespace, total: int, desc: str) -> Iterator[Any]:
    """A ``progress(done, total)`` callback drawing a tqdm bar, or None when quiet."""
    stream: TextIO = sys.stderr
    # No bar when quiet or when stderr is not a terminal (a log file would fill with them).
    if args.quiet or not stream.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="run", file=stream, dynamic_ncols=True) as bar:

        def update(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        yield update


def _one_line(exc: BaseException) -> str:
    """An exception as one line: "path: reason" for OSErrors with a file name."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def _warn(message: str) -> None:
    """A warning on stderr, shown even with --quiet (which silences progress, not problems)."""
    print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


def _warn_unconverged(studies: Sequence[Any], max_iter: int) -> None:
    """Say when runs stopped at --max-iter with labels still changing."""
    counts = [(s.n_clusters, int(s.n_restarts - s.converged.sum()), s.n_restarts) for s in studies]
    stopped = [(k, n, total) for k, n, total in counts if n]
    if not stopped:
        return
    if len(studies) == 1:
        _, n, total = stopped[0]
        which = f"{n} of {total} runs"
    else:
        which = "runs (" + ", ".join(f"k = {k}: {n} of {total}" for k, n, total in stopped) + ")"
    _warn(
        f"{which} stopped at --max-iter {max_iter} before converging (labels were still "
        "changing): their J_clust and scores are not those of a finished k-means; raise --max-iter"
    )


def _check_nearest_fits(nearest: int, n_samples: int, n_clusters: int) -> None:
    """--nearest against the data: k clusters that each hold an image leave at most
    n_samples - k + 1 images to the largest (k > n_samples is refused by the study)."""
    largest = n_samples - n_clusters + 1
    if n_clusters <= n_samples and nearest > largest:
        raise ValueError(
            f"--nearest {nearest}: k = {n_clusters} clusters of {n_samples} images leave at most "
            f"{largest} images to one cluster; choose --nearest {largest} or less"
        )


def _fmt(value: Any, kind: str) -> str:
    """A number as the tables write it (:func:`mnist_kmeans.tables.format_number`); '-' when
    missing."""
    from .tables import format_number

    text = format_number(value, kind)
    return "-" if text is None else text


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------


def _load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Images (N, 28, 28), labels (N,) and a description of where they came from."""
    from .datasets import (
        MNIST_FILES,
        check_data_folder,
        fetch_mnist,
        find_mnist_files,
        load_mnist,
    )

    if args.download:
        _status(args, "downloading the MNIST training set (cached after the first time) ...")
        folder = fetch_mnist(progress=not args.quiet)
        split, origin = "train", f"MNIST training set from the download cache {folder}"
    elif args.data is not None:
        folder = check_data_folder(args.data, f"--data {args.data}")
        found = find_mnist_files(folder)
        if not found:
            train, test = MNIST_FILES["train"], MNIST_FILES["test"]
            raise FileNotFoundError(
                f"--data {folder}: no MNIST IDX files there (expected {train[0]} and "
                f"{train[1]}, or {test[0]} and {test[1]}, raw or .gz)"
            )
        split = "train" if "train" in found else "test"
        origin = f"MNIST {'training' if split == 'train' else 'test'} set from {folder}"
    else:
        folder, split, origin = None, "test", "bundled MNIST t10k sample"
    images, labels = load_mnist(split, path=folder)
    if args.limit is not None and args.limit < len(images):
        images, labels = images[: args.limit], labels[: args.limit]
        origin += f", first {args.limit} images"
    source = {
        "origin": origin,
        "folder": None if folder is None else str(Path(folder).resolve()),
        "split": split,
        "n_samples": int(len(images)),
        "limit": args.limit,
    }
    return images, labels, source


def _params(args: argparse.Namespace, source: dict[str, Any], argv: Sequence[str]) -> dict:
    params: dict[str, Any] = {"command": args.command}
    if args.command == "study":
        params.update(k=args.n_clusters, restarts=args.restarts)  # as typed: --k
    params.update(
        init=args.init,
        seed=args.seed,
        max_iter=args.max_iter,
        threads=args.threads,
        n_nearest=args.nearest,
        data=source,
        argv=[PROG, *argv],
    )
    return params


# --------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------


def _write(args: argparse.Namespace, studies: list, images: np.ndarray, labels: np.ndarray,
           source: dict[str, Any], argv: Sequence[str]) -> Analysis:
    """Analyse the studies and write the report; the analysis holds the printed numbers."""
    from .analysis import analyze_studies
    from .report import write_report

    # MNIST's classes are the ten digits: every digit has its column, even when absent.
    analysis = analyze_studies(
        studies, images, labels, classes=range(10), n_nearest=args.nearest
    )
    _status(args, f"writing the report to {args.out} ...")
    write_report(args.out, analysis, params=_params(args, source, argv), force=args.force)
    return analysis


@contextlib.contextmanager
def _dask_runner(args: argparse.Namespace) -> Iterator[Any]:
    """The runner of --scheduler / --dask-workers (None without them), its client closed after."""
    address, workers = getattr(args, "scheduler", None), getattr(args, "dask_workers", None)
    if address is None and workers is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster

        from .dask import DaskRunner
    except ImportError as exc:
        # a ValueError: main() prints it on one line and exits with status 2
        raise ValueError(f"--scheduler and --dask-workers need the [dask] extra: {exc}") from None
    with contextlib.ExitStack() as stack:
        if address is not None:
            client = stack.enter_context(Client(address, set_as_default=False))
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=False,
                dashboard_address="127.0.0.1:0"))
            client = stack.enter_context(Client(cluster, set_as_default=False))
        yield DaskRunner(client)


def _run_study(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .report_folder import check_output_dir
    from .study import run_study

    start = time.perf_counter()
    check_output_dir(args.out, args.force)  # fail now, not after the runs
    images, labels, source = _load_data(args)
    _status(args, f"{source['origin']}: {_fmt(len(images), 'count')} images")
    _check_nearest_fits(args.nearest, len(images), args.n_clusters)
    X = images.reshape(len(images), -1)
    with _dask_runner(args) as runner, _progress(
            args, args.restarts, f"k={args.n_clusters}") as progress:
        study = run_study(
            X,
            args.n_clusters,
            args.restarts,
            init=args.init,
            random_state=args.seed,
            max_iter=args.max_iter,
            n_threads=args.threads,
            progress=progress,
            runner=runner,
        )
    _warn_unconverged([study], args.max_iter)
    analysis = _write(args, [study], images, labels, source, argv)
    row = analysis.comparison[0]
    n = analysis.n_nearest
    print(
        f"k = {study.n_clusters}, {study.n_restarts} restart{'s' if study.n_restarts != 1 else ''} "
        f"(init {study.init}, seed {args.seed}) "
        f"on {_fmt(len(images), 'count')} images: {source['origin']}"
    )
    print(
        f"J_clust: best {_fmt(row['j_clust_min'], 'obj')} (restart {study.best_index}), "
        f"worst {_fmt(row['j_clust_max'], 'obj')} (restart {study.worst_index}), "
        f"spread {_fmt(row['j_clust_spread'], 'obj')} "
        f"({_fmt(row['j_clust_spread_relative'], 'pct')})"
    )
    print(
        f"{n}-nearest accuracy, majority digit / most common digit: best run "
        f"{_fmt(row['best_nearest_majority_accuracy'], 'pct')} / "
        f"{_fmt(row['best_nearest_mode_accuracy'], 'pct')}, worst run "
        f"{_fmt(row['worst_nearest_majority_accuracy'], 'pct')} / "
        f"{_fmt(row['worst_nearest_mode_accuracy'], 'pct')}"
    )
    print(
        f"best run: purity {_fmt(row['best_purity'], 'score')}, NMI "
        f"{_fmt(row['best_nmi'], 'score')}, ARI {_fmt(row['best_ari'], 'score')}"
    )
    if (row["best_purity"] is not None and row["worst_purity"] is not None
            and row["best_purity"] < row["worst_purity"]):
        print(
            f"note: the worst run matches the digits better (purity "
            f"{_fmt(row['worst_purity'], 'score')}): k-means minimises the sum of squares, not "
            "J_clust, and never sees the digits (the report explains)"
        )
    print(
        f"wall time: {_fmt(study.elapsed, 's')} s for the runs, "
        f"{_fmt(time.perf_counter() - start, 's')} s in all"
    )
    print(f"report: {args.out / 'report.html'}")
    return EXIT_OK


def notebook_table(comparison: Sequence[dict[str, Any]], n_nearest: int) -> str:
    """The side-by-side text table of the notebook experiments.

    Parameters
    ----------
    comparison : sequence of dict
        The comparison rows, one per experiment (``Analysis.comparison``, or ``summary.json``'s
        ``comparison``).
    n_nearest : int
        The ``n`` of the n-nearest accuracy, for the row labels.

    Returns
    -------
    str
        One line per :data:`mnist_kmeans.tables.COMPARISON_ROWS` entry (short labels), one
        column per experiment (without a final newline).
    """
    from .tables import comparison_lines, study_headers

    lines = comparison_lines(comparison, n_nearest, short=True)
    headers = study_headers(comparison)
    width = max(len(label) for label, _ in lines) + 2
    # each column as wide as its widest cell, two spaces apart
    columns = [
        2 + max([len(header)] + [len(values[j] or "-") for _, values in lines])
        for j, header in enumerate(headers)
    ]
    out = [" " * width + "".join(f"{h:>{w}}" for h, w in zip(headers, columns))]
    for label, values in lines:
        cells = "".join(f"{'-' if v is None else v:>{w}}" for v, w in zip(values, columns))
        out.append(f"{label:<{width}}{cells}")
    return "\n".join(out)


def _run_notebook(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .report_folder import check_output_dir
    from .study import NOTEBOOK_EXPERIMENTS, run_notebook

    start = time.perf_counter()
    check_output_dir(args.out, args.force)
    images, labels, source = _load_data(args)
    _status(args, f"{source['origin']}: {_fmt(len(images), 'count')} images")
    _check_nearest_fits(args.nearest, len(images), min(k for k, _ in NOTEBOOK_EXPERIMENTS))
    X = images.reshape(len(images), -1)
    total = sum(restarts for _, restarts in NOTEBOOK_EXPERIMENTS)
    with _dask_runner(args) as runner, _progress(args, total, "notebook") as progress:
        studies = run_notebook(
            X,
            init=args.init,
            random_state=args.seed,
            max_iter=args.max_iter,
            n_threads=args.threads,
            progress=progress,
            runner=runner,
        )
    _warn_unconverged(studies, args.max_iter)
    analysis = _write(args, studies, images, labels, source, argv)
    print(
        f"course notebook experiments (init {args.init}, seed {args.seed}) on "
        f"{_fmt(len(images), 'count')} images: {source['origin']}"
    )
    print(notebook_table(analysis.comparison, analysis.n_nearest))
    print(
        f"wall time: {_fmt(sum(s.elapsed for s in studies), 's')} s for the runs, "
        f"{_fmt(time.perf_counter() - start, 's')} s in all"
    )
    print(f"report: {args.out / 'report.html'}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mnist-kmeans`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 success, 2 usage or input/output error (one line on stderr),
        130 interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already reported
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return args.handler(args, argv)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; no report was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (OSError, ValueError) as exc:
        # Missing or bad files (IDXError is a ValueError), unwritable or existing report
        # folders, failed downloads, parameters that do not fit the data (k > images).
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
