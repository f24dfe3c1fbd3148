#!/usr/bin/env python
"""Long, on-demand fuzzing of ``mnist_kmeans.idx.read_idx``.

Run from the repository root::

    PYTHONPATH=python python scripts/fuzz_idx.py --seconds 600 [-- libFuzzer flags]

Engine: atheris (coverage-guided libFuzzer) when it is installed, otherwise a
hypothesis-based random run with the same checks (``--engine`` forces one).
The corpus is written to a temporary folder: a small IDX file for every type
code and several ranks, the first images and labels of the bundled MNIST
sample and the first bytes of the sample files, each raw and gzip.

Every input is read twice, as a seekable ``BytesIO`` and as a non-seekable
stream, and the run fails on:

* any exception other than ``IDXError``;
* a successful read that differs from an independent decode of the bytes;
* a read taking more than 1 s (libFuzzer ``-timeout=1`` and a wall-clock
  check per read);
* a read whose peak traced allocation exceeds ``2 * justified + 1 MiB``,
  where ``justified`` is the input length for raw data and 1032 times it
  for gzip (deflate's maximum expansion). Memory is measured with
  ``tracemalloc`` (NumPy reports its buffers to it) rather than with
  ``-malloc_limit_mb`` or an rlimit: libFuzzer's malloc hooks need a
  sanitizer runtime CPython lacks, and a fixed limit could not scale with
  each input.

Crashing inputs are saved by libFuzzer under ``--artifacts`` (default
``$TMPDIR/fuzz_idx``, which also holds the growing corpus) or printed
(hypothesis); turn each into a regression test in tests/test_idx.py.
"""

from __future__ import annotations

try:
    import atheris
except ImportError:  # the hypothesis engine below needs no extra package
    atheris = None

# Imported first, so that atheris can instrument gzip's pure-Python parts
# too (a module already imported elsewhere would not be instrumented).
if atheris is not None:
    with atheris.instrument_imports(include=["mnist_kmeans", "gzip", "_compression"]):
        import gzip

        from mnist_kmeans.idx import IDX_TYPE_CODES, IDXError, read_idx, write_idx
else:
    import gzip

    from mnist_kmeans.idx import IDX_TYPE_CODES, IDXError, read_idx, write_idx

import argparse
import io
import struct
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

TIME_LIMIT_S = 1.0
MIB = 1 << 20


class FuzzFailure(AssertionError):
    """A check other than 'raises only IDXError' failed."""


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        return self._f.readinto(buf)


def _reference_decode(raw: bytes) -> tuple[np.dtype, tuple[int, ...], bytes]:
    code, ndim = raw[2], raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return IDX_TYPE_CODES[code], shape, raw[4 + 4 * ndim :]


def check_one(data: bytes) -> bool:
    """Apply every check to one input; return True if read_idx accepted it."""
    is_gzip = data[:2] == b"\x1f\x8b"
    limit = 2 * len(data) * (1032 if is_gzip else 1) + MIB
    accepted = []
    for src in (io.BytesIO(data), _Unseekable(data)):
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        try:
            arr = read_idx(src)
        except IDXError:
            arr = None
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] - base
        kind = type(src).__name__
        if elapsed > TIME_LIMIT_S:
            raise FuzzFailure(f"{kind}: read took {elapsed:.2f} s for {len(data)} bytes")
        if peak > limit:
            raise FuzzFailure(f"{kind}: peak {peak} bytes for {len(data)} input bytes")
        if arr is not None:
            raw = gzip.decompress(data) if is_gzip else data
            dtype, shape, body = _reference_decode(raw)
            if arr.dtype != dtype or arr.shape != shape:
                raise FuzzFailure(f"{kind}: got {arr.dtype} {arr.shape}, header says {dtype} {shape}")
            if arr.astype(dtype.newbyteorder(">")).tobytes() != body:
                raise FuzzFailure(f"{kind}: data differs from the bytes")
        accepted.append(arr is not None)
        del arr
    if accepted[0] != accepted[1]:
        raise FuzzFailure(f"seekable and stream verdicts differ: {accepted}")
    return accepted[0]


def write_corpus(folder: Path) -> int:
    """Write seed inputs into *folder*; return how many."""
    data_dir = Path(__file__).resolve().parents[1] / "python" / "mnist_kmeans" / "data"
    arrays = []
    for dtype in IDX_TYPE_CODES.values():
        for shape in [(5,), (2, 3), (2, 2, 3)]:
            arrays.append(np.arange(int(np.prod(shape))).astype(dtype).reshape(shape))
    sample_gz = {p.name: p.read_bytes() for p in sorted(data_dir.glob("*.gz"))}
    seeds: list[bytes] = []
    for arr in arrays:
        buf = io.BytesIO()
        write_idx(buf, arr)
        seeds.append(buf.getvalue())
    images = read_idx(io.BytesIO(sample_gz["t10k-images-idx3-ubyte.gz"]))
    labels = read_idx(io.BytesIO(sample_gz["t10k-labels-idx1-ubyte.gz"]))
    for arr in (images[:2], labels[:32]):
        buf = io.BytesIO()
        write_idx(buf, arr)
        seeds.append(buf.getvalue())
    for blob in sample_gz.values():
        seeds.append(gzip.decompress(blob)[:2048])  # a header claiming far more
        seeds.append(blob[:2048])  # a gzip stream cut short
    seeds += [gzip.compress(s, mtime=0) for s in list(seeds)]
    for i, seed in enumerate(seeds):
        (folder / f"seed-{i:03d}").write_bytes(seed)
    return len(seeds)


def run_atheris(seconds: int, corpus: Path, artifacts: Path, extra: list[str]) -> None:
    def one_input(data: bytes) -> None:
        check_one(data)

    argv = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={seconds}",
        f"-timeout={int(TIME_LIMIT_S) + 1}",  # whole input, read twice
        "-max_len=8192",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
        *extra,
    ]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def run_hypothesis(seconds: int, corpus: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = [p.read_bytes() for p in sorted(corpus.iterdir())]
    stats = {"inputs": 0, "accepted": 0}

    edit = st.tuples(st.sampled_from("fsti"), st.integers(0, 2**16), st.binary(max_size=8))

    def mutate(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
        b = bytearray(data)
        for kind, pos, blob in edits:
            at = pos % (len(b) + 1)
            if kind == "f" and b:
                b[at % len(b)] ^= 1 << (pos % 8)
            elif kind == "s" and b and blob:
                b[at % len(b)] = blob[0]
            elif kind == "t":
                del b[at:]
            else:
                b[at:at] = blob
        return bytes(b)

    @settings(
        max_examples=2000,
        deadline=None,  # time is checked inside check_one
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(seed=st.sampled_from(seeds), edits=st.lists(edit, max_size=6), regz=st.booleans())
    def run(seed: bytes, edits: list[tuple[str, int, bytes]], regz: bool) -> None:
        data = mutate(seed, edits)
        if regz:
            data = gzip.compress(data, compresslevel=1, mtime=0)
        stats["inputs"] += 1
        stats["accepted"] += check_one(data)

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        run()
    print(f"hypothesis engine: {stats['inputs']} inputs, {stats['accepted']} accepted, no failures")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="how long to fuzz")
    parser.add_argument("--engine", choices=["atheris", "hypothesis"], default=None)
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path(tempfile.gettempdir()) / "fuzz_idx",
        help="crash files and the working corpus go here",
    )
    args, extra = parser.parse_known_args()
    engine = args.engine or ("atheris" if atheris is not None else "hypothesis")
    if engine == "atheris" and atheris is None:
        parser.error("atheris is not installed; use --engine hypothesis")

    tracemalloc.start()
    # libFuzzer exits the process without unwinding, so the corpus lives in
    # the (persistent, reusable) artifacts folder rather than a temp dir.
    corpus = args.artifacts / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    n = write_corpus(corpus)
    print(f"corpus: {n} seed files in {corpus}; engine: {engine}", flush=True)
    if engine == "atheris":
        run_atheris(args.seconds, corpus, args.artifacts, [e for e in extra if e != "--"])
    else:
        run_hypothesis(args.seconds, corpus)


if __name__ == "__main__":
    main()
