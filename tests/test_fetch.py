"""Tests for fetch_mnist against local HTTP servers (no external network)."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mnist_kmeans.datasets import DownloadError, fetch_mnist, load_mnist

FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


class Mirror(http.server.ThreadingHTTPServer):
    """Serves MNIST_DATA_DIR under prefixes that choose a behaviour.

    ``/good/<file>`` the file; ``/corrupt/<file>`` one byte flipped;
    ``/truncated/<file>`` a full Content-Length but half the body;
    ``/missing/<file>`` 404. ``watch`` is called mid-body of every download.
    """

    daemon_threads = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: list[str] = []
        self.watch: list = []  # type: ignore[type-arg]
        super().__init__(("127.0.0.1", 0), _Handler)

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{mode}/"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Mirror

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        self.server.requests.append(self.path)
        _, mode, name = self.path.split("/", 2)
        path = self.server.folder / name
        if mode == "missing" or name not in FILES or not path.is_file():
            self.send_error(404)
            return
        body = bytearray(path.read_bytes())
        if mode == "corrupt":
            body[len(body) // 2] ^= 0xFF
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        half = len(body) // 2
        self.wfile.write(body[:half])
        self.wfile.flush()
        for check in self.server.watch:
            check(name)
        if mode != "truncated":
            self.wfile.write(body[half:])
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass  # keep test output quiet


@pytest.fixture()
def mirror(mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirror]:
    # A proxy from the environment must not intercept 127.0.0.1.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = Mirror(mnist_dir)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_good_mirror(tmp_path: Path, mirror: Mirror, mnist_dir: Path) -> None:
    cache = tmp_path / "cache"
    seen_during_download: list[bool] = []
    mirror.watch.append(lambda name: seen_during_download.append((cache / name).exists()))
    assert fetch_mnist(cache_dir=cache, mirrors=[mirror.url("good")], timeout=10) == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)
    for name in FILES:
        assert sha256(cache / name) == sha256(mnist_dir / name)
    # No file ever appeared under its final name before it was complete.
    assert seen_during_download == [False] * 4
    images, labels = load_mnist("train", path=cache)
    assert images.shape == (60000, 28, 28) and labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    # A second call finds everything cached and downloads nothing.
    count = len(mirror.requests)
    fetch_mnist(cache_dir=cache, mirrors=[mirror.url("good")])
    assert len(mirror.requests) == count


@pytest.mark.parametrize("mode, reason", [("corrupt", "SHA-256 mismatch"), ("truncated", "")])
def test_bad_download_leaves_nothing(tmp_path: Path, mirror: Mirror, mode: str, reason: str) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="could not download train-images-idx3-ubyte.gz") as info:
        fetch_mnist(cache_dir=cache, mirrors=[mirror.url(mode)], timeout=10)
    assert mirror.url(mode) + "train-images-idx3-ubyte.gz" in str(info.value)
    assert reason in str(info.value)
    assert list(cache.iterdir()) == []  # neither the final file nor a temporary one


def test_down_then_good_mirror(tmp_path: Path, mirror: Mirror) -> None:
    cache = tmp_path / "cache"
    mirrors = [closed_port_url(), mirror.url("missing"), mirror.url("corrupt"), mirror.url("good")]
    fetch_mnist(cache_dir=cache, mirrors=mirrors, timeout=10)
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)
    assert load_mnist("test", path=cache)[1][:3].tolist() == [7, 2, 1]


def test_all_mirrors_down(tmp_path: Path) -> None:
    down = [closed_port_url(), closed_port_url()]
    with pytest.raises(DownloadError) as info:
        fetch_mnist(cache_dir=tmp_path, mirrors=down, timeout=5)
    message = str(info.value)
    for url in down:
        assert url + "train-images-idx3-ubyte.gz: cannot connect" in message
    assert list(tmp_path.iterdir()) == []


def test_corrupt_cached_file_is_replaced(tmp_path: Path, mirror: Mirror, mnist_dir: Path) -> None:
    name = "t10k-labels-idx1-ubyte.gz"
    (tmp_path / name).write_bytes(b"<html>not the file</html>")
    fetch_mnist(cache_dir=tmp_path, mirrors=[mirror.url("good")])
    assert sha256(tmp_path / name) == sha256(mnist_dir / name)


def test_env_var_chooses_cache(tmp_path: Path, mirror: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_KMEANS_CACHE", str(tmp_path / "env-cache"))
    assert fetch_mnist(mirrors=[mirror.url("good")]) == tmp_path / "env-cache"
    images, labels = load_mnist("train")  # path=None reads the cache
    assert len(images) == len(labels) == 60000
    assert np.bincount(labels).tolist()[:2] == [5923, 6742]
