"""Seeded fuzzing of read_idx: mutated real IDX files, raw and gzip.

read_idx must either return an array consistent with the (decompressed)
bytes or raise IDXError: never another exception, never a hang, never a
large allocation the input does not justify. The long, on-demand version of
this is ``scripts/fuzz_idx.py``.
"""

from __future__ import annotations

import gzip
import io
import signal
import struct
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import mnist_kmeans
from mnist_kmeans.idx import IDX_TYPE_CODES, IDXError, read_idx, write_idx
from streams import Unseekable  # tests/streams.py

DATA = Path(mnist_kmeans.__file__).parent / "data"


def _idx_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    write_idx(buf, arr)
    return buf.getvalue()


def _seeds() -> list[bytes]:
    images = read_idx(DATA / "t10k-images-idx3-ubyte.gz")[:2]
    labels = read_idx(DATA / "t10k-labels-idx1-ubyte.gz")[:16]
    seeds = [_idx_bytes(images), _idx_bytes(labels)]
    for dtype in IDX_TYPE_CODES.values():
        seeds.append(_idx_bytes(np.arange(6).astype(dtype).reshape(2, 3)))
    return seeds


SEEDS = _seeds()
INTERESTING_U32 = [0, 1, 2, 3, 28, 255, 256, 2**16, 2**31 - 1, 2**31, 2**32 - 1]


def mutate(data: bytes, ops: list[tuple[str, int, int, bytes]]) -> bytes:
    b = bytearray(data)
    for kind, pos, value, blob in ops:
        at = pos % (len(b) + 1)
        if kind == "flip" and b:
            b[at % len(b)] ^= 1 << (value % 8)
        elif kind == "set" and b:
            b[at % len(b)] = value % 256
        elif kind == "truncate":
            del b[at:]
        elif kind == "insert":
            b[at:at] = blob
        elif kind == "u32":  # a header field (type/ndim or a size) gets a boundary value
            off = 4 * (pos % 4)
            if len(b) >= off + 4:
                b[off : off + 4] = struct.pack(">I", INTERESTING_U32[value % len(INTERESTING_U32)])
    return bytes(b)


ops_strategy = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "truncate", "insert", "u32"]),
        st.integers(0, 2**16),
        st.integers(0, 2**8),
        st.binary(max_size=8),
    ),
    max_size=4,
)


@contextmanager
def alarm(seconds: int) -> Iterator[None]:
    """Turn a hang into an exception (pytest runs tests in the main thread)."""

    def fail(*_: object) -> None:
        raise TimeoutError(f"read_idx took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_consistent(arr: np.ndarray, raw: bytes) -> None:
    """*arr* must be exactly what the IDX bytes *raw* describe."""
    code, ndim = raw[2], raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = IDX_TYPE_CODES[code]
    assert arr.dtype == dtype and arr.shape == shape
    assert arr.astype(dtype.newbyteorder(">")).tobytes() == raw[4 + 4 * ndim :]


@settings(
    max_examples=300,
    derandomize=True,
    deadline=1000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.sampled_from(SEEDS),
    compress=st.booleans(),
    before=ops_strategy,
    after=ops_strategy,
    seekable=st.booleans(),
)
def test_read_idx_on_mutated_files(
    seed: bytes,
    compress: bool,
    before: list[tuple[str, int, int, bytes]],
    after: list[tuple[str, int, int, bytes]],
    seekable: bool,
) -> None:
    # "before" mutates the IDX structure, "after" the bytes as stored.
    raw = mutate(seed, before)
    data = mutate(gzip.compress(raw, compresslevel=1, mtime=0) if compress else raw, after)
    src = io.BytesIO(data) if seekable else Unseekable(data)
    justified = len(data) * (1032 if data[:2] == b"\x1f\x8b" else 1)

    tracemalloc.start()
    try:
        with alarm(5):
            arr = read_idx(src)
    except IDXError:
        event("IDXError")
        return
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak <= 2 * justified + (1 << 20), f"peak {peak} for {len(data)} input bytes"
    # Success: the input must decode to exactly this array.
    event("decoded")
    decoded = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    check_consistent(arr, decoded)
