"""The report folder as a transaction: built aside, moved into place whole, never over the user's
own files.

:func:`building` yields a temporary sibling folder to write into; when the block ends normally
the folder is renamed to its destination, and when it fails (Ctrl-C included) it is removed, so
that no half-written report is ever left. An existing report is replaced only when asked
(``force``), by swapping whole folders; a folder that does not hold a report (``report.html``
and ``summary.json``) is never replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["REPORT_FILES", "building", "check_output_dir"]

#: Files every report folder holds (besides ``figures/``); used to recognise a report.
REPORT_FILES: tuple[str, str] = ("report.html", "summary.json")


def check_output_dir(out_dir: str | os.PathLike[str], force: bool = False) -> Path:
    """Check that a report can be written to ``out_dir``; nothing is left behind.

    Meant to be called before a long study, so that a bad destination fails at once;
    :func:`building` checks again when it moves the report into place. Whether a folder can be
    created is tried, not guessed from permission bits (which say nothing about read-only or
    special file systems such as /proc, nor about root): an empty probe folder is made in the
    nearest existing parent and removed at once.

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
    NotADirectoryError
        The nearest existing parent is not a folder.
    OSError
        No folder can be created there (PermissionError, a read-only file system, ...); the
        message names ``out_dir``, never the probe.
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
    try:
        probe = tempfile.mkdtemp(prefix=f".{path.name}.probe-", dir=ancestor)
    except OSError as exc:
        raise _cannot_create(exc, path) from exc
    os.rmdir(probe)
    return path


def _cannot_create(exc: OSError, out: Path) -> OSError:
    """``exc`` (about a temporary or probe folder) as the same kind of error about ``out``."""
    reason = exc.strerror or str(exc)
    error = OSError(exc.errno, f"cannot create the report folder ({reason})", str(out))
    # OSError(errno, ...) picks the subclass (PermissionError, FileNotFoundError, ...) itself.
    return error


@contextlib.contextmanager
def building(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``out``; move it to ``out`` when the block ends.

    ``out`` must be an absolute path that :func:`check_output_dir` accepted. On any exception
    in the block the temporary folder is removed and ``out`` is left as it was.
    """
    tmp = out.parent / f".{out.name}.tmp-{secrets.token_hex(4)}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:  # the user knows out, not the temporary folder
        raise _cannot_create(exc, out) from exc
    try:
        yield tmp
        try:
            _move_into_place(tmp, out, force)
        except OSError as exc:
            if isinstance(exc, FileExistsError):  # check_output_dir's, about out already
                raise
            raise _cannot_create(exc, out) from exc
    except BaseException:
        # KeyboardInterrupt included: no half-written report is left behind.
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
