"""Tests for the IDX reader and writer."""

from __future__ import annotations

import gzip
import io
import os
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import mnist_kmeans
from mnist_kmeans import idx
from mnist_kmeans.idx import IDX_TYPE_CODES, IDXError, read_idx, write_idx
from streams import Unseekable  # tests/streams.py

DATA = Path(mnist_kmeans.__file__).parent / "data"
T10K_IMAGES = DATA / "t10k-images-idx3-ubyte.gz"
T10K_LABELS = DATA / "t10k-labels-idx1-ubyte.gz"


def header(code: int, shape: tuple[int, ...]) -> bytes:
    return struct.pack(f">4B{len(shape)}I", 0, 0, code, len(shape), *shape)


def sample_array(code: int, shape: tuple[int, ...]) -> np.ndarray:
    """Values covering each dtype's extremes (and NaN/inf/-0.0 for floats)."""
    dtype = IDX_TYPE_CODES[code]
    n = int(np.prod(shape))
    if dtype.kind == "f":
        special = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-30, -3.5], dtype=dtype)
    else:
        info = np.iinfo(dtype)
        special = np.array([info.min, info.max, 0, 1, -1 if info.min else 2], dtype=dtype)
    values = np.resize(special, n) + np.arange(n).astype(dtype) * 0
    return values.reshape(shape)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------

SHAPES = [(7,), (3, 5), (2, 3, 4), (1, 2, 1, 3, 2)]


@pytest.mark.parametrize("code", sorted(IDX_TYPE_CODES))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"ndim{len(s)}")
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_round_trip_path(tmp_path: Path, code: int, shape: tuple[int, ...], compress: bool) -> None:
    a = sample_array(code, shape)
    target = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_idx(target, a)
    data = target.read_bytes()
    assert (data[:2] == b"\x1f\x8b") == compress
    raw = gzip.decompress(data) if compress else data
    assert raw[: 4 + 4 * len(shape)] == header(code, shape)
    b = read_idx(target)
    assert same(a, b)
    assert b.dtype.isnative and b.flags.writeable and b.flags.c_contiguous
    assert read_idx(str(target)).shape == shape


@pytest.mark.parametrize("code", sorted(IDX_TYPE_CODES))
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_round_trip_file_objects(code: int, compress: bool) -> None:
    a = sample_array(code, (4, 3))
    buf = io.BytesIO()
    write_idx(buf, a, compress=compress)
    assert same(read_idx(io.BytesIO(buf.getvalue())), a)
    # Non-seekable stream, and a file object not at position 0.
    assert same(read_idx(Unseekable(buf.getvalue())), a)
    shifted = io.BytesIO(b"junk" + buf.getvalue())
    shifted.seek(4)
    assert same(read_idx(shifted), a)


def test_big_endian_and_strided_input() -> None:
    a = np.arange(60, dtype="<i4").reshape(3, 4, 5)
    outs = []
    for src in (a, a.astype(">i4"), np.asfortranarray(a), a.T.copy().T):
        buf = io.BytesIO()
        write_idx(buf, src)
        outs.append(buf.getvalue())
    assert len(set(outs)) == 1
    strided = a[:, ::2, ::-1]
    buf = io.BytesIO()
    write_idx(buf, strided, compress=True)
    buf.seek(0)
    assert np.array_equal(read_idx(buf), strided)


def test_compression_decided_by_magic_not_name(tmp_path: Path) -> None:
    a = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "looks-raw.idx", a, compress=True)
    write_idx(tmp_path / "looks-gz.gz", a, compress=False)
    assert (tmp_path / "looks-raw.idx").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "looks-gz.gz").read_bytes()[:2] == b"\0\0"
    assert same(read_idx(tmp_path / "looks-raw.idx"), a)
    assert same(read_idx(tmp_path / "looks-gz.gz"), a)


def test_gzip_output_is_reproducible(tmp_path: Path) -> None:
    a = np.arange(100, dtype=np.int16)
    write_idx(tmp_path / "a.gz", a)
    data = (tmp_path / "a.gz").read_bytes()
    # FLG without FNAME (0x08) and MTIME zero: no name or time stamp inside.
    assert data[3] & 0x08 == 0 and data[4:8] == bytes(4)
    write_idx(tmp_path / "b.gz", a)
    assert (tmp_path / "b.gz").read_bytes() == data


def test_multi_member_gzip_is_read() -> None:
    raw = header(0x08, (6,)) + bytes(range(6))
    data = gzip.compress(raw[:5]) + gzip.compress(raw[5:])
    assert list(read_idx(io.BytesIO(data))) == list(range(6))


def test_zero_size_arrays_round_trip() -> None:
    # A zero-length dimension is valid IDX; an empty array comes back.
    for shape in [(0,), (0, 28, 28), (3, 0)]:
        buf = io.BytesIO()
        write_idx(buf, np.zeros(shape, np.float32))
        buf.seek(0)
        out = read_idx(buf)
        assert out.shape == shape and out.dtype == np.float32


def test_write_rejects_unsupported(tmp_path: Path) -> None:
    for bad in (np.zeros(3, np.int64), np.zeros(3, bool), np.zeros(3, np.uint16), ["a"]):
        with pytest.raises(TypeError, match="IDX cannot store dtype"):
            write_idx(tmp_path / "x.idx", bad)
    with pytest.raises(ValueError, match="at least one dimension"):
        write_idx(tmp_path / "x.idx", np.uint8(3))
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.idx"
    write_idx(target, np.arange(5, dtype=np.uint8))
    before = target.read_bytes()

    def crash(f, header, arr):  # type: ignore[no-untyped-def]
        f.write(header)
        f.write(b"partial")
        raise RuntimeError("simulated crash mid-write")

    monkeypatch.setattr(idx, "_write_payload", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_idx(target, np.arange(100, dtype=np.uint8))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.idx"]


def test_write_fsyncs_before_replace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1]
    )
    write_idx(tmp_path / "a.idx.gz", np.arange(5, dtype=np.uint8))
    assert events[:2] == ["fsync", "replace"]
    assert same(read_idx(tmp_path / "a.idx.gz"), np.arange(5, dtype=np.uint8))


# --------------------------------------------------------------------------
# errors: one exception class, message names the file and the problem
# --------------------------------------------------------------------------

GOOD = header(0x08, (2, 3)) + bytes(range(6))


def write_bytes(tmp_path: Path, data: bytes, name: str = "bad.idx") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


BAD_RAW = {
    "empty": (b"", "file is empty"),
    "short": (b"\0\0", "truncated header"),
    "magic": (b"\x01\x02\x08\x01" + bytes(8), "bad magic number 01 02 08 01"),
    "html": (
        b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>",
        "HTML.*error page",
    ),
    "html-bom": (b"\xef\xbb\xbf  <html><head></head></html>", "HTML"),
    "text": (b"this is not an idx file, just text\n", "plain text"),
    "double-gzip": (gzip.compress(gzip.compress(GOOD)), "gzip-compressed \\(twice\\?\\)"),
    "bzip2": (b"BZh91AY&SY" + bytes(20), "bzip2"),
    "zip": (b"PK\x03\x04" + bytes(20), "zip archive"),
    "zlib": (b"\x78\x9c" + bytes(20), "zlib stream"),
    "type": (b"\0\0\x0a\x01" + struct.pack(">I", 1) + b"x", "unknown IDX type code 0x0A"),
    "type-ff": (b"\0\0\xff\x01", "unknown IDX type code 0xFF"),
    "ndim0": (b"\0\0\x08\x00", "zero dimensions"),
    "ndim-huge": (b"\0\0\x08\xc8" + bytes(800), "200 dimensions"),
    "dims-cut": (b"\0\0\x08\x03" + struct.pack(">2I", 2, 2), "truncated header.*12 bytes"),
    "data-short": (header(0x0B, (2, 3)) + bytes(11), "truncated.*12 data bytes.*only 11"),
    "trailing": (GOOD + b"\n", "1 unexpected trailing bytes"),
    "zero-unrepr": (header(0x08, (0, 2**32 - 1, 2**32 - 1)), "cannot be represented"),
}


@pytest.mark.parametrize("case", sorted(BAD_RAW))
def test_bad_raw_files(tmp_path: Path, case: str) -> None:
    data, pattern = BAD_RAW[case]
    p = write_bytes(tmp_path, data)
    with pytest.raises(IDXError, match=pattern) as info:
        read_idx(p)
    assert str(p) in str(info.value)
    assert isinstance(info.value, ValueError)
    # Same verdict from a non-seekable stream (no size known up front).
    stream_pattern = "unexpected trailing bytes" if case == "trailing" else pattern
    with pytest.raises(IDXError, match=f"^<Unseekable>: .*{stream_pattern}"):
        read_idx(Unseekable(data))


def gz_cases() -> dict[str, tuple[bytes, str]]:
    full = gzip.compress(GOOD)
    body_flipped = bytearray(full)
    body_flipped[12] ^= 0xFF
    crc_bad = bytearray(full)
    crc_bad[-8] ^= 0x01
    return {
        "truncated-stream": (full[:-10], "truncated gzip data"),
        "truncated-trailer": (full[:-3], "truncated gzip data"),
        "corrupt-deflate": (bytes(body_flipped), "the file is corrupt|truncated gzip|bad magic"),
        "crc": (bytes(crc_bad), "the file is corrupt \\(gzip: CRC check failed"),
        "garbage-after": (
            full + b"garbage!", "the file is corrupt \\(gzip: Not a gzipped file"
        ),
        "header-only": (b"\x1f\x8b", "truncated gzip data"),
        "bad-method": (
            b"\x1f\x8b\x07" + bytes(20), "the file is corrupt \\(gzip: Unknown compression"
        ),
        "empty-content": (gzip.compress(b""), "decompresses to nothing"),
        "content-short": (gzip.compress(GOOD[:-1]), "gzip stream is truncated"),
        "content-trailing": (
            gzip.compress(GOOD + b"x"), "1 unexpected trailing bytes in the gzip stream"
        ),
        "html-inside": (gzip.compress(b"<html>oops</html>"), "HTML"),
        "not-idx-inside": (gzip.compress(b"\x05" * 30), "does not contain IDX data"),
    }


@pytest.mark.parametrize("case", sorted(gz_cases()))
@pytest.mark.parametrize("seekable", [True, False], ids=["file", "stream"])
def test_bad_gzip_files(tmp_path: Path, case: str, seekable: bool) -> None:
    data, pattern = gz_cases()[case]
    if seekable:
        p = write_bytes(tmp_path, data, "bad.gz")
        with pytest.raises(IDXError, match=pattern) as info:
            read_idx(p)
        assert str(p) in str(info.value)
    else:
        with pytest.raises(IDXError, match=pattern) as info:
            read_idx(Unseekable(data))
        assert "<Unseekable>" in str(info.value)


def test_flipped_bytes_in_a_real_gzip_file_are_reported_as_corrupt(tmp_path: Path) -> None:
    """Damaged deflate data can decompress to more bytes than the header claims: the reader
    must not call that "trailing bytes" but check the CRC and say the file is corrupt."""
    original = (Path(mnist_kmeans.__file__).parent / "data" / "t10k-labels-idx1-ubyte.gz")
    data = original.read_bytes()
    body = range(20, len(data) - 8)  # past the gzip header, before the CRC and size trailer
    trailing = 0
    for position in body[:: max(1, len(body) // 40)]:
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        path = tmp_path / "t10k-labels-idx1-ubyte.gz"
        path.write_bytes(bytes(damaged))
        with pytest.raises(IDXError) as info:
            read_idx(path)
        message = str(info.value)
        assert message.startswith(f"{path}: "), message
        assert "the file is corrupt" in message or "truncated gzip" in message, message
        # the length of the decompressed data is right in the original: a longer one is a
        # symptom of the damage, never reported as trailing bytes
        trailing += "trailing" in message
    assert trailing == 0


def test_file_object_errors_use_its_name(tmp_path: Path) -> None:
    p = write_bytes(tmp_path, b"\0\0\x08\x00")
    with open(p, "rb") as f, pytest.raises(IDXError, match=f"^{p}: "):
        read_idx(f)
    with pytest.raises(IDXError, match="^<BytesIO>: "):
        read_idx(io.BytesIO(b"\0\0\x08\x00"))


def test_missing_path_is_not_an_idx_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")
    with pytest.raises(TypeError):
        read_idx(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# hostile sizes fail before any large allocation
# --------------------------------------------------------------------------

HUGE = header(0x08, (2**20, 2**20))  # claims 2**40 bytes


def peak_while(fn) -> int:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: io.BytesIO(HUGE + bytes(100)), "truncated.*1099511627776 data bytes"),
        (lambda: io.BytesIO(gzip.compress(HUGE + bytes(100))), "more than a gzip file of"),
        (lambda: Unseekable(HUGE + bytes(100)), "truncated"),
        (lambda: Unseekable(gzip.compress(HUGE + bytes(100))), "truncated"),
        (lambda: io.BytesIO(header(0x0E, (2**31, 2**31, 2**31)) + bytes(8)), "truncated"),
    ],
    ids=["raw", "gzip", "raw-stream", "gzip-stream", "float64-2**93"],
)
def test_huge_header_fails_fast_without_allocating(make, pattern: str) -> None:  # type: ignore[no-untyped-def]
    src = make()
    t0 = time.perf_counter()

    def run() -> None:
        with pytest.raises(IDXError, match=pattern):
            read_idx(src)

    peak = peak_while(run)
    assert peak < 1 << 20, f"peak {peak} bytes"
    assert time.perf_counter() - t0 < 1.0


def test_gzip_bomb_claim_in_file_is_refused_up_front(tmp_path: Path) -> None:
    # 8 MiB of zeros compresses to ~8 KiB: a plausible file. Claiming 64 GiB
    # from it is impossible for deflate and must be refused before reading.
    claim = header(0x08, (2**16, 2**20)) + bytes(8 << 20)
    p = write_bytes(tmp_path, gzip.compress(claim), "bomb.gz")

    def run() -> None:
        with pytest.raises(IDXError, match="more than a gzip file of"):
            read_idx(p)

    assert peak_while(run) < 1 << 20


def test_read_allocates_one_array(tmp_path: Path) -> None:
    a = np.arange(1 << 19, dtype=np.float64)  # 4 MiB, needs byte swapping
    write_idx(tmp_path / "big.idx", a)
    raw = (tmp_path / "big.idx").read_bytes()
    (tmp_path / "big.idx.gz").write_bytes(gzip.compress(raw, compresslevel=1))
    for name in ("big.idx", "big.idx.gz"):
        out: list[np.ndarray] = []
        peak = peak_while(lambda: out.append(read_idx(tmp_path / name)))
        assert np.array_equal(out[0], a)
        # One 4 MiB array plus bounded (~1 MiB) pieces, never a second copy.
        assert peak < a.nbytes + (2 << 20), f"{name}: peak {peak}"
        out.clear()


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_stream_reads_into_growing_buffer(compress: bool) -> None:
    a = np.arange(1 << 20, dtype=np.int32)  # 4 MiB: many pieces
    buf = io.BytesIO()
    write_idx(buf, a)
    data = gzip.compress(buf.getvalue(), compresslevel=1) if compress else buf.getvalue()
    stream = Unseekable(data)
    out: list[np.ndarray] = []
    peak = peak_while(lambda: out.append(read_idx(stream)))
    assert np.array_equal(out[0], a) and out[0].flags.writeable
    assert peak < 1.5 * a.nbytes + (2 << 20), f"peak {peak}"


# --------------------------------------------------------------------------
# the real MNIST sample
# --------------------------------------------------------------------------


def test_mnist_sample_decodes(tmp_path: Path) -> None:
    labels = read_idx(T10K_LABELS)
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    images = read_idx(T10K_IMAGES)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert images.max() == 255 and images.min() == 0
    # Raw (decompressed) form gives the same array.
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress(T10K_LABELS.read_bytes()))
    assert same(read_idx(raw), labels)
    # And rewriting it gives the same IDX bytes.
    write_idx(tmp_path / "again", labels)
    assert (tmp_path / "again").read_bytes() == raw.read_bytes()
