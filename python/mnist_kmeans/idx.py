"""Read and write IDX files, the format the MNIST database is published in.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian ``uint32`` size per dimension, then the array
data in C order, big-endian. MNIST ships it gzip-compressed.

The reader trusts nothing in the header: the size it claims is checked against
what the file can hold *before* any large allocation, and every malformed input
raises :class:`IDXError` naming the file and the problem.

Over 500 lines on purpose: reading and writing one format, kept together so that the hardening
of the reader (sizes checked before allocation, gzip and streams) sits beside the writer it mirrors.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import secrets
import stat
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["IDX_TYPE_CODES", "IDXError", "read_idx", "write_idx"]

PathOrFile: TypeAlias = str | os.PathLike[str] | IO[bytes]

#: IDX type code -> dtype of the returned (native-endian) array.
IDX_TYPE_CODES: Final[dict[int, np.dtype[Any]]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(np.int16),
    0x0C: np.dtype(np.int32),
    0x0D: np.dtype(np.float32),
    0x0E: np.dtype(np.float64),
}
_CODE_NAMES: Final = {
    0x08: "ubyte",
    0x09: "byte",
    0x0B: "short",
    0x0C: "int",
    0x0D: "float",
    0x0E: "double",
}
_KIND_TO_CODE: Final = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPE_CODES.items()}

# Deflate cannot expand its input more than about 1032:1 (a 258-byte match
# costs at least 2 bits), so a gzip file of C bytes never holds more than
# ~1032*C bytes; the slack covers tiny files and gzip's own framing.
_MAX_DEFLATE_RATIO: Final = 1032
_GZIP_SLACK: Final = 64 * 1024

# Read in pieces of this size: bounds the temporary bytes objects that
# GzipFile.readinto creates, and the over-read on non-seekable streams.
_CHUNK: Final = 1 << 20
# Decompressed bytes read past the data, at most, to reach the CRC at the end of a gzip stream
# (a damaged stream can decompress to more than its header claims).
_MAX_TRAILING_READ: Final = 64 << 20
# ... read in small pieces: what is read there is thrown away.
_DRAIN_CHUNK: Final = 64 << 10

_MAX_NDIM: Final = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32

_GZIP_MAGIC: Final = b"\x1f\x8b"


class IDXError(ValueError):
    """A file is not a valid IDX file (or not valid gzip around one).

    The message names the file and says what is wrong with it.
    """


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------


def read_idx(source: PathOrFile) -> npt.NDArray[Any]:
    """Read an IDX file into a NumPy array.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        A path, or a file object opened in binary mode (read from its current
        position). Gzip compression is detected from the magic bytes
        ``1f 8b``, never from the file name.

    Returns
    -------
    numpy.ndarray
        A writable, C-contiguous, native-endian array whose dtype matches the
        type code (``uint8``, ``int8``, ``int16``, ``int32``, ``float32``,
        ``float64``) and whose shape is the one in the header. Arrays with a
        zero-length dimension are valid IDX and are returned as empty arrays.

    Raises
    ------
    IDXError
        If the data is not a well-formed IDX file: wrong magic number (with a
        specific hint for HTML/text, double gzip and other compressors),
        unknown type code, zero dimensions, a header that claims more or less
        data than there is (trailing bytes included), or truncated or corrupt
        gzip data.
    FileNotFoundError, PermissionError
        If a path cannot be opened; these are not file-format problems.

    Notes
    -----
    Memory: exactly one array of the data's size is allocated and filled in
    place (byte-swapped in place on little-endian machines). Before
    allocating, the size the header claims is checked against the bytes left
    in the file (raw) or against 1032 times the compressed size (gzip, the
    most deflate can expand). For non-seekable streams the size is unknown,
    so nothing is preallocated on the header's word: the data is read in
    pieces (64 KiB, growing to 1 MiB) into one buffer that grows only as
    bytes arrive, and the array is a view of that buffer. Memory thus stays
    proportional to the bytes actually received; growing may briefly need
    more than one copy of the partial buffer if the allocator has to move it.
    """
    with _open_for_read(source) as (f, name, remaining):
        head = _read_upto(f, 2)
        if head == _GZIP_MAGIC:
            return _read_gzip(_Prefixed(head, f), name, remaining)
        return _read_payload(_Prefixed(head, f), name, exact=remaining)


@contextlib.contextmanager
def _open_for_read(source: PathOrFile) -> Iterator[tuple[IO[bytes], str, int | None]]:
    """Yield ``(file, display name, bytes left or None if unknown)``."""
    if isinstance(source, (str, bytes, os.PathLike)):
        name = os.fsdecode(source)
        with open(source, "rb") as f:
            # Only a regular file has a size we can trust (not a FIFO or a
            # character device that happens to be seekable).
            regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
            yield f, name, _remaining_size(f) if regular else None
    elif hasattr(source, "read"):
        yield source, _stream_name(source), _remaining_size(source)
    else:
        raise TypeError(
            f"read_idx needs a path or a binary file object, not {type(source).__name__}"
        )


def _stream_name(f: Any) -> str:
    name = getattr(f, "name", None)
    if isinstance(name, (str, bytes)):
        return os.fsdecode(name)
    return f"<{type(f).__name__}>"


def _remaining_size(f: Any) -> int | None:
    """Bytes between the current position and the end, or None if unknown."""
    try:
        if not f.seekable():
            return None
        pos = f.tell()
        end = f.seek(0, os.SEEK_END)
        f.seek(pos)
    except (AttributeError, OSError, ValueError):
        return None
    return max(end - pos, 0)


class _Prefixed:
    """A reader that yields already-consumed bytes before the rest of a file.

    Lets us sniff the magic bytes of non-seekable streams without seeking.
    """

    def __init__(self, prefix: bytes, f: Any) -> None:
        self._prefix = prefix
        self._f = f

    def read(self, n: int | None = -1) -> bytes:
        if not self._prefix:
            return self._f.read(n) or b""
        if n is None or n < 0:
            data, self._prefix = self._prefix + (self._f.read() or b""), b""
            return data
        data, self._prefix = self._prefix[:n], self._prefix[n:]
        return data

    def readinto(self, buf: memoryview) -> int:
        if self._prefix:
            data = self.read(len(buf))
            buf[: len(data)] = data
            return len(data)
        return _readinto(self._f, buf)


def _readinto(f: Any, buf: memoryview) -> int:
    """One ``readinto`` call, falling back to ``read`` for minimal objects."""
    readinto = getattr(f, "readinto", None)
    if readinto is not None:
        return readinto(buf) or 0
    data = f.read(len(buf))
    if not data:
        return 0
    buf[: len(data)] = data
    return len(data)


def _read_upto(f: Any, n: int) -> bytes:
    """Read *n* bytes (fewer only at end of file); for small headers only."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        piece = f.read(n - got)
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


def _read_gzip(f: _Prefixed, name: str, compressed_size: int | None) -> npt.NDArray[Any]:
    limit = None
    if compressed_size is not None:
        limit = compressed_size * _MAX_DEFLATE_RATIO + _GZIP_SLACK
    try:
        with gzip.GzipFile(filename="", fileobj=f, mode="rb") as gz:  # type: ignore[arg-type]
            return _read_payload(
                gz, name, gzip_limit=limit, compressed_size=compressed_size
            )
    except EOFError as exc:
        raise IDXError(f"{name}: truncated gzip data (the compressed stream ends early)") from exc
    except (zlib.error, gzip.BadGzipFile) as exc:
        # A failed CRC, bad deflate data, a bad member header: the bytes are damaged.
        raise IDXError(f"{name}: the file is corrupt (gzip: {exc})") from exc


def _read_payload(
    f: Any,
    name: str,
    *,
    exact: int | None = None,
    gzip_limit: int | None = None,
    compressed_size: int | None = None,
) -> npt.NDArray[Any]:
    """Parse header and data from *f* (raw IDX bytes, possibly decompressed).

    *exact* is the total number of bytes *f* holds when known (raw files);
    *gzip_limit* the most a gzip stream of *compressed_size* bytes can hold.
    """
    compressed = isinstance(f, gzip.GzipFile)
    magic = _read_upto(f, 4)
    if not magic:
        what = "the gzip stream decompresses to nothing" if compressed else "the file is empty"
        raise IDXError(f"{name}: {what}, not an IDX file")
    if magic[:2] != b"\0\0"[: len(magic[:2])]:
        sniff = magic + _read_upto(f, 60)
        raise IDXError(f"{name}: {_describe_bad_magic(sniff, compressed)}")
    if len(magic) < 4:
        raise IDXError(
            f"{name}: truncated header: {len(magic)} bytes, an IDX header needs at least 4"
        )

    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPE_CODES:
        known = ", ".join(f"0x{c:02X} {n}" for c, n in _CODE_NAMES.items())
        raise IDXError(f"{name}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise IDXError(f"{name}: the header declares zero dimensions; IDX arrays have at least one")
    if ndim > _MAX_NDIM:
        raise IDXError(
            f"{name}: the header declares {ndim} dimensions; NumPy supports at most {_MAX_NDIM}"
        )
    dims = _read_upto(f, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise IDXError(
            f"{name}: truncated header: {ndim} dimensions need {4 * ndim} bytes of sizes, "
            f"only {len(dims)} present"
        )
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_TYPE_CODES[code]
    nbytes = math.prod(shape) * dtype.itemsize
    header_len = 4 + 4 * ndim
    claim = f"the header claims shape {shape} of {_CODE_NAMES[code]} = {nbytes} data bytes"

    # Refuse impossible sizes before allocating anything.
    if exact is not None:
        have = exact - header_len
        if have < nbytes:
            raise IDXError(f"{name}: file is truncated: {claim}, but only {have} follow")
        if have > nbytes:
            raise IDXError(
                f"{name}: {have - nbytes} unexpected trailing bytes: {claim}, "
                f"but {have} follow the header"
            )
    elif gzip_limit is not None and header_len + nbytes > gzip_limit:
        raise IDXError(
            f"{name}: {claim}, more than a gzip file of {compressed_size} bytes can hold "
            f"(deflate expands at most ~{_MAX_DEFLATE_RATIO}:1); the file is corrupt or truncated"
        )

    native = dtype.newbyteorder("=")
    count = nbytes // dtype.itemsize
    where = "gzip stream" if compressed else "file"
    if exact is not None or gzip_limit is not None:
        out = np.empty(count, dtype=native)
        got = _fill(f, memoryview(out.view(np.uint8)))
    else:
        # Size unknown (pipe, socket): the header alone justifies nothing.
        buf = _read_growing(f, nbytes)
        got = len(buf)
        out = np.frombuffer(buf, dtype=native, count=got // dtype.itemsize)
    if got < nbytes:
        raise IDXError(f"{name}: {where} is truncated: {claim}, but only {got} follow")
    # Reading past the end also makes GzipFile verify the CRC and length.
    if f.read(1):
        if not compressed:
            raise IDXError(
                f"{name}: unexpected trailing bytes in the {where}: {claim}, but more data follows"
            )
        # Damaged deflate data often decompresses to more bytes than the header claims; only
        # the CRC at the end of the stream tells that apart from real trailing bytes, so read
        # on (bounded) to let GzipFile check it: a failed check is raised as a corrupt file.
        extra = 1 + _drain(f, _MAX_TRAILING_READ)
        count = f"{extra}" if extra <= _MAX_TRAILING_READ else f"more than {_MAX_TRAILING_READ}"
        raise IDXError(
            f"{name}: {count} unexpected trailing bytes in the {where}: {claim}, "
            "but more data follows"
        )

    if dtype.itemsize > 1 and sys.byteorder == "little":
        out.byteswap(inplace=True)
    try:
        return out.reshape(shape)
    except ValueError as exc:  # e.g. (0, 2**32-1, 2**32-1): empty but too big a shape
        raise IDXError(f"{name}: shape {shape} cannot be represented: {exc}") from exc


def _drain(f: Any, limit: int) -> int:
    """Read and discard what is left of *f*, at most about *limit* bytes; return the count."""
    buf = memoryview(bytearray(_DRAIN_CHUNK))
    total = 0
    while total <= limit:
        n = _readinto(f, buf)
        if n == 0:
            break
        total += n
    return total


def _fill(f: Any, buf: memoryview) -> int:
    """Fill *buf* from *f* in bounded pieces; return the bytes read."""
    got = 0
    total = len(buf)
    while got < total:
        n = _readinto(f, buf[got : min(total, got + _CHUNK)])
        if n <= 0:
            break
        got += n
    return got


def _read_growing(f: Any, nbytes: int) -> bytearray:
    """Read up to *nbytes* into a buffer that grows only as data arrives."""
    buf = bytearray()
    while len(buf) < nbytes:
        # Ask for at most as much as already arrived (64 KiB to 1 MiB), so
        # even the stream's own read buffer stays proportional to the data.
        want = min(_CHUNK, max(64 * 1024, len(buf)), nbytes - len(buf))
        piece = f.read(want)
        if not piece:
            break
        buf += piece
    return buf


def _describe_bad_magic(head: bytes, compressed: bool) -> str:
    """Say what *head* looks like, for an error about a wrong magic number."""
    got = head[:4].hex(" ")
    base = f"not an IDX file: bad magic number {got} (expected 00 00 <type> <ndim>)"
    if head.startswith(_GZIP_MAGIC):
        return f"{base}; the data is gzip-compressed (twice?): decompress it first"
    for prefix, kind in (
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"PK\x03\x04", "a zip archive"),
        (b"\x28\xb5\x2f\xfd", "zstandard"),
        (b"\x93NUMPY", "a NumPy .npy file"),
    ):
        if head.startswith(prefix):
            return f"{base}; the data looks like {kind}, not IDX"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return f"{base}; the data looks like a zlib stream, not IDX"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<")):
        return (
            f"{base}; the data looks like HTML/XML text, probably an error page "
            "saved in place of the download"
        )
    if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return f"{base}; the data looks like plain text, not a binary IDX file"
    if compressed:
        return f"{base}; the gzip file does not contain IDX data"
    return base


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------


def write_idx(
    target: PathOrFile, array: npt.ArrayLike, *, compress: bool | None = None
) -> None:
    """Write an array as an IDX file.

    Parameters
    ----------
    target : str, os.PathLike or binary file object
        Destination. A path is written atomically: the data goes to a
        temporary file in the same folder, is flushed and fsynced, then
        renamed over *target*, so a crash never leaves a partial file.
        A file object is written at its current position, not atomically.
    array : array_like
        Data of dtype ``uint8``, ``int8``, ``int16``, ``int32``, ``float32``
        or ``float64`` (either byte order) with at least one dimension and
        every dimension below 2**32. Other dtypes are refused rather than
        silently cast.
    compress : bool, optional
        Gzip the output. Default: for paths, gzip when the name ends in
        ``.gz``; for file objects, no compression. The gzip header carries no
        file name or time stamp, so equal arrays give equal bytes.

    Raises
    ------
    TypeError
        If the dtype has no IDX type code.
    ValueError
        If the array has zero dimensions or a dimension of 2**32 or more.
    """
    arr = np.asarray(array)
    code = _KIND_TO_CODE.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        supported = ", ".join(str(dt) for dt in IDX_TYPE_CODES.values())
        raise TypeError(f"IDX cannot store dtype {arr.dtype}; supported: {supported}")
    if arr.ndim == 0:
        raise ValueError("IDX needs an array with at least one dimension, got a scalar")
    if any(d > 0xFFFFFFFF for d in arr.shape):
        raise ValueError(f"IDX sizes are uint32, shape {arr.shape} does not fit")
    header = struct.pack(f">4B{arr.ndim}I", 0, 0, code, arr.ndim, *arr.shape)

    def write(f: IO[bytes], gz: bool) -> None:
        if gz:
            # filename="" and mtime=0 keep the output reproducible.
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=6, mtime=0) as g:
                _write_payload(g, header, arr)
        else:
            _write_payload(f, header, arr)

    if isinstance(target, (str, bytes, os.PathLike)):
        path = Path(os.fsdecode(target))
        gz = path.name.lower().endswith(".gz") if compress is None else bool(compress)
        _atomic_write(path, lambda f: write(f, gz))
    else:
        write(target, bool(compress))


def _write_payload(f: Any, header: bytes, arr: npt.NDArray[Any]) -> None:
    f.write(header)
    if arr.size == 0:
        return
    # Stream big-endian C-order chunks: no full byte-swapped or contiguous
    # copy of a large array is ever made.
    big = arr.dtype.newbyteorder(">")
    it = np.nditer(
        arr,
        flags=["external_loop", "buffered", "zerosize_ok"],
        op_flags=[["readonly", "contig"]],
        op_dtypes=[big],
        casting="equiv",
        order="C",
        buffersize=max(1, _CHUNK // arr.dtype.itemsize),
    )
    for chunk in it:
        f.write(chunk.view(np.uint8))


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write via a same-folder temporary file, fsync, then ``os.replace``."""
    folder = path.parent
    tmp = folder / f".{path.name}.{secrets.token_hex(8)}.tmp"
    # os.open with 0o666 lets the umask apply, as for a normal open().
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; best effort, POSIX only."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
