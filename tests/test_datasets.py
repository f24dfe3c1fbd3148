"""Tests for loading MNIST from the bundled sample, folders and the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist_kmeans.datasets import MNIST_FILES, find_mnist_files, load_mnist
from mnist_kmeans.idx import IDXError, write_idx

T10K_FIRST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


@pytest.fixture(scope="module")
def test_split() -> tuple[np.ndarray, np.ndarray]:
    return load_mnist("test")


@pytest.fixture()
def small(test_split: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = test_split
    return images[:50], labels[:50]


def write_split(
    folder: Path, split: str, images: np.ndarray, labels: np.ndarray, *, gz: bool, dotted: bool
) -> tuple[Path, Path]:
    paths = []
    for base, arr in zip(MNIST_FILES[split], (images, labels)):
        name = base.replace("-idx", ".idx") if dotted else base
        path = folder / (name + (".gz" if gz else ""))
        write_idx(path, arr)
        paths.append(path)
    return paths[0], paths[1]


def test_bundled_test_split(test_split: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = test_split
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == T10K_FIRST_LABELS
    assert set(np.unique(labels).tolist()) == set(range(10))
    # Every image has ink, none is saturated everywhere.
    ink = images.reshape(len(images), -1).astype(bool).sum(axis=1)
    assert ink.min() > 0 and ink.max() < 28 * 28


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dotted", [False, True], ids=["canonical", "dotted"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_folder_loading(
    tmp_path: Path, small: tuple[np.ndarray, np.ndarray], gz: bool, dotted: bool, split: str
) -> None:
    images, labels = small
    expected = write_split(tmp_path, split, images, labels, gz=gz, dotted=dotted)
    assert find_mnist_files(tmp_path) == {split: expected}
    got_images, got_labels = load_mnist(split, path=tmp_path)
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)
    assert got_images.dtype == np.uint8 and got_labels.dtype == np.uint8
    assert load_mnist(split, path=str(tmp_path))[1].shape == (50,)


def test_find_prefers_raw_canonical(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = small
    write_split(tmp_path, "test", images, labels, gz=True, dotted=True)
    raw = write_split(tmp_path, "test", images, labels, gz=False, dotted=False)
    write_split(tmp_path, "train", images, labels, gz=True, dotted=False)
    found = find_mnist_files(tmp_path)
    assert found["test"] == raw
    assert sorted(found) == ["test", "train"]
    assert find_mnist_files(tmp_path / "missing") == {}


def test_half_a_split_is_not_listed(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", small[0])
    assert find_mnist_files(tmp_path) == {}
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte.*splits found: none"):
        load_mnist("train", path=tmp_path)


def test_mismatched_counts(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = small
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:49])
    with pytest.raises(ValueError, match="50 images but .* 49 labels") as info:
        load_mnist("test", path=tmp_path)
    assert "t10k-images-idx3-ubyte" in str(info.value)


@pytest.mark.parametrize(
    "images, labels, bad, pattern",
    [
        (np.zeros((3, 28, 27), np.uint8), np.zeros(3, np.uint8), "images", r"\(3, 28, 27\)"),
        (np.zeros((3, 784), np.uint8), np.zeros(3, np.uint8), "images", "N, 28, 28"),
        (np.zeros((3, 28, 28), np.float32), np.zeros(3, np.uint8), "images", "float32"),
        (np.zeros((3, 28, 28), np.uint8), np.zeros((3, 1), np.uint8), "labels", r"\(N,\)"),
        (np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.int16), "labels", "int16"),
        (np.zeros((3, 28, 28), np.uint8), np.array([1, 10, 2], np.uint8), "labels", "0..9"),
    ],
)
def test_inconsistent_files(
    tmp_path: Path, images: np.ndarray, labels: np.ndarray, bad: str, pattern: str
) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(IDXError, match=pattern) as info:
        load_mnist("test", path=tmp_path)
    assert f"t10k-{bad}-idx" in str(info.value)


def test_empty_split_is_refused(tmp_path: Path) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((0, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(0, np.uint8))
    with pytest.raises(ValueError, match="no samples"):
        load_mnist("test", path=tmp_path)


def test_corrupt_file_in_folder_names_it(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    write_split(tmp_path, "test", *small, gz=True, dotted=False)
    images_path = tmp_path / "t10k-images-idx3-ubyte.gz"
    images_path.write_bytes(images_path.read_bytes()[:-20])
    with pytest.raises(IDXError, match="truncated gzip") as info:
        load_mnist("test", path=tmp_path)
    assert str(images_path) in str(info.value)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split must be"):
        load_mnist("validation")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist("test", path=tmp_path / "nowhere")
    # an MNIST file given where its folder was meant
    a_file = tmp_path / "t10k-images-idx3-ubyte.gz"
    a_file.write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder") as info:
        load_mnist("test", path=a_file)
    assert str(a_file) in str(info.value) and f"folder is {tmp_path.resolve()}" in str(info.value)


def test_train_without_path_uses_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: tuple[np.ndarray, np.ndarray]
) -> None:
    monkeypatch.setenv("MNIST_KMEANS_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="fetch_mnist"):
        load_mnist("train")
    write_split(tmp_path, "train", *small, gz=True, dotted=False)
    images, labels = load_mnist("train")
    assert images.shape == (50, 28, 28) and np.array_equal(labels, small[1])


# --------------------------------------------------------------------------
# the full training set, where a copy is available
# --------------------------------------------------------------------------


def test_training_set_facts(mnist_dir: Path) -> None:
    images, labels = load_mnist("train", path=mnist_dir)
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    assert np.bincount(labels, minlength=10).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert round(float(images.mean(dtype=np.float64)), 4) == 33.3184


def test_folder_test_split_matches_bundled(
    mnist_dir: Path, test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    images, labels = load_mnist("test", path=mnist_dir)
    assert np.array_equal(images, test_split[0]) and np.array_equal(labels, test_split[1])
