"""Load the MNIST digits: bundled test split, local folders and a download cache.

The test split (10,000 images) ships inside the package; the training split
(60,000 images) is downloaded on request by :func:`fetch_mnist` or read from a
folder the user already has.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from .idx import IDXError, read_idx

__all__ = [
    "DEFAULT_MIRRORS",
    "MNIST_FILES",
    "DownloadError",
    "check_data_folder",
    "default_cache_dir",
    "fetch_mnist",
    "find_mnist_files",
    "load_mnist",
]

Split: TypeAlias = Literal["train", "test"]

#: Canonical base names (no ``.gz``) of the images and labels file per split.
MNIST_FILES: Final[dict[str, tuple[str, str]]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: Public mirrors tried in order by :func:`fetch_mnist`. Both serve the
#: canonical upstream ``.gz`` files (see ``_SHA256``).
DEFAULT_MIRRORS: Final[tuple[str, ...]] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# Accepted SHA-256 of each .gz file. Two byte-wise different files are
# accepted per name, both with the same decompressed content:
# - first: the project's reference copies (shared/data/mnist/SHA256SUMS);
#   these were *recompressed* with ``gzip -9 -n``, so no public mirror
#   serves them — only a mirror that hosts these exact files matches;
# - second: the canonical upstream .gz files as served by the public
#   mirrors above (the well-known hashes used by torchvision and others).
_SHA256: Final[dict[str, tuple[str, ...]]] = {
    "train-images-idx3-ubyte.gz": (
        "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    "train-labels-idx1-ubyte.gz": (
        "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    "t10k-images-idx3-ubyte.gz": (
        "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
}

_CACHE_ENV: Final = "MNIST_KMEANS_CACHE"


class DownloadError(OSError):
    """No mirror delivered a file with an accepted checksum."""


# --------------------------------------------------------------------------
# finding and loading
# --------------------------------------------------------------------------


def _candidates(base: str) -> list[str]:
    """File names accepted for *base*, in order of preference."""
    # "train-images-idx3-ubyte" -> dotted variant "train-images.idx3-ubyte"
    stem, _, rest = base.rpartition("-idx")
    dotted = f"{stem}.idx{rest}"
    return [base, base + ".gz", dotted, dotted + ".gz"]


def check_data_folder(path: str | os.PathLike[str], name: str | None = None) -> Path:
    """``path`` as a Path, when it is a folder; a clear error naming it when it is not.

    Parameters
    ----------
    path : str or os.PathLike
        The folder that should hold the MNIST files.
    name : str, optional
        How messages name it (default "MNIST folder <path>"), e.g. "--data <path>".

    Raises
    ------
    FileNotFoundError
        Nothing exists at ``path``.
    NotADirectoryError
        ``path`` is a file (an MNIST file itself, say), not a folder; the message names the
        folder that holds it.
    """
    folder = Path(path)
    name = f"MNIST folder {folder}" if name is None else name
    if folder.is_dir():
        return folder
    if folder.exists():
        raise NotADirectoryError(
            f"{name} is a file, not a folder: give the folder that holds the MNIST files "
            f"(this file's folder is {folder.resolve().parent})"
        )
    raise FileNotFoundError(f"{name} does not exist")


def find_mnist_files(folder: str | os.PathLike[str]) -> dict[str, tuple[Path, Path]]:
    """List the MNIST splits a folder holds.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder to look in (not recursively).

    Returns
    -------
    dict
        ``{"train": (images_path, labels_path), "test": (...)}`` holding only
        the splits for which both files exist. Accepted names are the
        canonical ones (``train-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
        ...), their dotted variants (``train-images.idx3-ubyte``), each raw or
        with ``.gz``; when several exist the raw canonical name wins, then
        canonical ``.gz``, then the dotted ones.
    """
    root = Path(folder)
    found: dict[str, tuple[Path, Path]] = {}
    for split, (images, labels) in MNIST_FILES.items():
        pair = [_first_existing(root, _candidates(base)) for base in (images, labels)]
        if pair[0] is not None and pair[1] is not None:
            found[split] = (pair[0], pair[1])
    return found


def _first_existing(root: Path, names: list[str]) -> Path | None:
    for name in names:
        if (root / name).is_file():
            return root / name
    return None


def load_mnist(
    split: Split = "train", path: str | os.PathLike[str] | None = None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Load one MNIST split.

    Parameters
    ----------
    split : {"train", "test"}
        Which split to load.
    path : str or os.PathLike, optional
        Folder holding the IDX files (see :func:`find_mnist_files` for the
        names accepted, gzip or raw). If None, ``"test"`` comes from the copy
        bundled with the package and ``"train"`` from the download cache
        filled by :func:`fetch_mnist` (nothing is downloaded implicitly).

    Returns
    -------
    images : numpy.ndarray
        ``(N, 28, 28)`` ``uint8``.
    labels : numpy.ndarray
        ``(N,)`` ``uint8`` with values 0..9.

    Raises
    ------
    FileNotFoundError
        If the folder or the split's files are missing (the message says how
        to get them).
    NotADirectoryError
        If *path* is a file, not a folder.
    IDXError
        If a file is not valid IDX or does not hold MNIST-shaped data.
    ValueError
        If *split* is unknown or images and labels do not match in number.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    images_name, labels_name = MNIST_FILES[split]

    if path is None and split == "test":
        data = resources.files("mnist_kmeans") / "data"
        img_res = data / f"{images_name}.gz"
        lbl_res = data / f"{labels_name}.gz"
        with img_res.open("rb") as fi, lbl_res.open("rb") as fl:
            images, labels = read_idx(fi), read_idx(fl)
        return _check_pair(images, labels, f"bundled {img_res.name}", f"bundled {lbl_res.name}")

    if path is None:
        folder = default_cache_dir()
        found = find_mnist_files(folder) if folder.is_dir() else {}
        if split not in found:
            raise FileNotFoundError(
                f"the MNIST training split is not in the download cache {folder}. "
                "Download it with mnist_kmeans.datasets.fetch_mnist() (needs internet), "
                f"or pass path= a folder holding {images_name}(.gz) and {labels_name}(.gz)"
            )
    else:
        folder = check_data_folder(path)
        found = find_mnist_files(folder)
        if split not in found:
            have = ", ".join(sorted(found)) or "none"
            raise FileNotFoundError(
                f"{folder} does not hold the MNIST {split} split: expected "
                f"{images_name} and {labels_name} (raw or .gz, or the dotted variants "
                f"like {_candidates(images_name)[2]}); splits found: {have}"
            )
    images_path, labels_path = found[split]
    return _check_pair(read_idx(images_path), read_idx(labels_path), images_path, labels_path)


def _check_pair(
    images: npt.NDArray[np.generic],
    labels: npt.NDArray[np.generic],
    images_name: str | os.PathLike[str],
    labels_name: str | os.PathLike[str],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Check that two decoded arrays form an MNIST split."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IDXError(
            f"{images_name}: expected MNIST images, (N, 28, 28) uint8, "
            f"got shape {images.shape} {images.dtype}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IDXError(
            f"{labels_name}: expected MNIST labels, (N,) uint8, "
            f"got shape {labels.shape} {labels.dtype}"
        )
    if labels.size and labels.max() > 9:
        raise IDXError(f"{labels_name}: labels must be digits 0..9, found {int(labels.max())}")
    if len(images) != len(labels):
        raise ValueError(
            f"{images_name} holds {len(images)} images but {labels_name} holds "
            f"{len(labels)} labels; the files do not belong together"
        )
    if len(images) == 0:
        raise ValueError(f"{images_name} and {labels_name} hold no samples")
    return images, labels  # type: ignore[return-value]  # dtypes checked above


# --------------------------------------------------------------------------
# downloading
# --------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Folder :func:`fetch_mnist` downloads into by default.

    ``$MNIST_KMEANS_CACHE`` if set, else ``pooch.os_cache("mnist-kmeans")``
    (e.g. ``~/.cache/mnist-kmeans`` on Linux).
    """
    env = os.environ.get(_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import pooch  # imported here so that loading never needs pooch

    return Path(pooch.os_cache("mnist-kmeans"))


def fetch_mnist(
    cache_dir: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] | None = None,
    progress: bool = False,
    *,
    timeout: float = 30.0,
) -> Path:
    """Download the four MNIST ``.gz`` files into a cache folder.

    Files already in the cache with an accepted SHA-256 are not downloaded
    again. Each missing file is downloaded (with pooch's HTTP downloader) to
    a temporary file in the cache folder, its SHA-256 checked, and only then
    renamed to its final name, so the cache never holds a partial or corrupt
    file under a real name. A mirror that is unreachable, answers with an
    HTTP error or serves a file with a wrong checksum is skipped for the
    next one.

    Parameters
    ----------
    cache_dir : str or os.PathLike, optional
        Where to put the files. Default: ``$MNIST_KMEANS_CACHE`` if set, else
        ``pooch.os_cache("mnist-kmeans")``.
    mirrors : sequence of str, optional
        Base URLs tried in order; the file name is appended. Default
        :data:`DEFAULT_MIRRORS`. A mirror must serve files whose SHA-256 is
        one of the accepted ones: the canonical upstream ``.gz`` files, or the
        project's recompressed reference copies (``gzip -9 -n``).
    progress : bool
        Show a progress bar (tqdm) per file.
    timeout : float
        Seconds to wait for a server before giving up on it.

    Returns
    -------
    pathlib.Path
        The cache folder; ``load_mnist(split, path=...)`` reads from it.

    Raises
    ------
    DownloadError
        If some file could not be obtained from any mirror; the message
        names every mirror tried and why it failed.
    """
    import pooch
    import requests

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    bases = list(DEFAULT_MIRRORS if mirrors is None else mirrors)
    if not bases:
        raise ValueError("mirrors must name at least one base URL")
    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=timeout, chunk_size=65536)
    unreachable: set[str] = set()

    for fname, accepted in _SHA256.items():
        final = folder / fname
        if final.is_file():
            if _sha256(final) in accepted:
                continue
            final.unlink()  # a corrupt cached copy must not survive
        failures: list[str] = []
        # Mirrors that could not be reached for an earlier file go last.
        order = [b for b in bases if b not in unreachable] + [b for b in bases if b in unreachable]
        for base in order:
            url = base.rstrip("/") + "/" + fname
            tmp = folder / f".{fname}.{secrets.token_hex(8)}.part"
            try:
                downloader(url, str(tmp), None)
                digest = _sha256(tmp)
                if digest not in accepted:
                    failures.append(f"{url}: SHA-256 mismatch (got {digest})")
                    continue
                os.replace(tmp, final)
                break
            except requests.ConnectionError as exc:
                unreachable.add(base)
                failures.append(f"{url}: cannot connect ({_short(exc)})")
            except (requests.RequestException, OSError) as exc:
                failures.append(f"{url}: {type(exc).__name__}: {_short(exc)}")
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        else:
            raise DownloadError(
                f"could not download {fname} from any of {len(order)} mirror(s):\n  "
                + "\n  ".join(failures)
            )
    return folder


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[: limit - 3] + "..."
