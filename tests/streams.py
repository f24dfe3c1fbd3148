"""Test helper shared by the IDX tests: a stream that cannot seek, like a pipe or a socket."""

from __future__ import annotations

import io


class Unseekable(io.RawIOBase):
    """A pipe-like stream: no seek, no tell, no name."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        return self._f.readinto(buf)
