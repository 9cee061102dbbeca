"""nnbcd.datasets.load_mnist: small synthetic idx files (both spellings of the
names, gzipped or plain), every kind of damaged file rejected with its name in
the message, then the real MNIST checked against the md5 table of its README.
"""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from nnbcd import datasets

# The repository's parent holds shared/ (CI has it; a user's checkout may not).
MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

# md5 of the uncompressed files, from MNIST_DIR / "README.md"
MNIST_MD5 = {
    "train-images": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels": "a25bea736e30d166cdddb491f175f624",
    "t10k-images": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels": "27ae3e4e09519cfbb04c329615203637",
}


def idx_images(pixels, magic=2051):
    n, rows, cols = pixels.shape
    return struct.pack(">4I", magic, n, rows, cols) + np.asarray(pixels, np.uint8).tobytes()


def idx_labels(labels, magic=2049):
    return struct.pack(">2I", magic, len(labels)) + np.asarray(labels, np.uint8).tobytes()


_rng = np.random.default_rng(0)
TRAIN_PIXELS = _rng.integers(0, 256, (7, 4, 5), dtype=np.uint8)
TRAIN_PIXELS[0, 0, :2] = 0, 255  # both ends of the range
TEST_PIXELS = _rng.integers(0, 256, (3, 4, 5), dtype=np.uint8)
TRAIN_LABELS = np.array([3, 0, 9, 1, 7, 2, 5])
TEST_LABELS = np.array([9, 4, 8])

GOOD = {
    "train-images": idx_images(TRAIN_PIXELS),
    "train-labels": idx_labels(TRAIN_LABELS),
    "t10k-images": idx_images(TEST_PIXELS),
    "t10k-labels": idx_labels(TEST_LABELS),
}


def file_name(stem, style="-"):
    """``style`` "-" gives train-images-idx3-ubyte, "." gives train-images.idx3-ubyte."""
    return f"{stem}{style}idx{3 if stem.endswith('images') else 1}-ubyte"


def write(directory, stem, data, gz=False, style="-"):
    name = file_name(stem, style) + (".gz" if gz else "")
    (directory / name).write_bytes(gzip.compress(data) if gz else data)
    return name


def write_all(directory, contents=GOOD, gz=False, style="-"):
    for stem, data in contents.items():
        write(directory, stem, data, gz, style)


def check_synthetic(loaded, dtype):
    X_train, y_train, X_test, y_test = loaded
    for X, pixels in [(X_train, TRAIN_PIXELS), (X_test, TEST_PIXELS)]:
        assert X.dtype == dtype
        assert X.shape == (len(pixels), 20)
        assert X.flags.c_contiguous
        # Rounding the float64 quotient to float32 gives the correctly rounded
        # float32 quotient (53 >= 2 * 24 + 2 bits), so equality is exact.
        np.testing.assert_array_equal(X, (pixels.reshape(len(pixels), 20) / 255.0).astype(dtype))
    assert X_train.min() == 0 and X_train.max() == 1
    for y, labels in [(y_train, TRAIN_LABELS), (y_test, TEST_LABELS)]:
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("style", ["-", "."])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_synthetic(tmp_path, gz, style, dtype):
    write_all(tmp_path, gz=gz, style=style)
    check_synthetic(datasets.load_mnist(tmp_path, dtype=dtype), dtype)


def test_mixed_names_and_compression_str_path_default_dtype(tmp_path):
    write(tmp_path, "train-images", GOOD["train-images"], gz=True, style="-")
    write(tmp_path, "train-labels", GOOD["train-labels"], gz=False, style=".")
    write(tmp_path, "t10k-images", GOOD["t10k-images"], gz=True, style=".")
    write(tmp_path, "t10k-labels", GOOD["t10k-labels"], gz=False, style="-")
    check_synthetic(datasets.load_mnist(str(tmp_path)), "float32")


def test_plain_dash_spelling_wins(tmp_path):
    write_all(tmp_path)
    # Never opened: the plain dash-spelt file comes first in the documented order.
    (tmp_path / (file_name("train-images", ".") + ".gz")).write_bytes(b"junk")
    check_synthetic(datasets.load_mnist(tmp_path), "float32")


@pytest.mark.parametrize("dtype", ["float16", "int64", None])
def test_bad_dtype(tmp_path, dtype):
    write_all(tmp_path)
    with pytest.raises(ValueError, match="dtype"):
        datasets.load_mnist(tmp_path, dtype=dtype)


# (stem of the damaged file, its content, a word the message must hold)
CORRUPT = {
    "truncated data": ("train-images", GOOD["train-images"][:-1], "truncated"),
    "truncated header": ("t10k-images", GOOD["t10k-images"][:10], "too short"),
    # 2**32 - 1 images of 4x5: must be caught by the size check, not a MemoryError
    "lying header": ("train-images", struct.pack(">4I", 2051, 2**32 - 1, 4, 5) + bytes(20),
                     "truncated"),
    "trailing bytes": ("t10k-labels", GOOD["t10k-labels"] + b"\0", "trailing"),
    "images magic in labels": ("train-labels", idx_labels(TRAIN_LABELS, magic=2051), "magic"),
    "labels magic in images": ("t10k-images", idx_images(TEST_PIXELS, magic=2049), "magic"),
    "count mismatch": ("train-labels", idx_labels(TRAIN_LABELS[:-1]), "6 labels"),
    "label 10": ("t10k-labels", idx_labels([9, 10, 8]), "label 10"),
    "rows*cols mismatch": ("t10k-images", idx_images(np.zeros((3, 5, 5))), "5x5"),
    "transposed images": ("t10k-images", idx_images(np.zeros((3, 5, 4))), "5x4"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("case", CORRUPT)
def test_corrupt_file(tmp_path, case, gz):
    stem, data, word = CORRUPT[case]
    write_all(tmp_path, {**GOOD, stem: data}, gz=gz)
    with pytest.raises(ValueError) as excinfo:
        datasets.load_mnist(tmp_path)
    message = str(excinfo.value)
    assert file_name(stem) in message and word in message, message


def _damaged_deflate():
    data = bytearray(gzip.compress(GOOD["train-images"] * 50))
    data[len(data) // 2] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize("data", [
    b"this is not gzip",
    gzip.compress(GOOD["train-images"])[:-6],  # cut short
    _damaged_deflate(),
], ids=["not gzip", "cut short", "damaged"])
def test_corrupt_gzip(tmp_path, data):
    write_all(tmp_path)
    (tmp_path / file_name("train-images")).unlink()
    name = file_name("train-images") + ".gz"
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ValueError) as excinfo:
        datasets.load_mnist(tmp_path)
    message = str(excinfo.value)
    assert name in message and "gzip" in message, message


def test_missing_file_lists_every_name(tmp_path):
    write_all(tmp_path, {stem: GOOD[stem] for stem in GOOD if stem != "t10k-labels"})
    with pytest.raises(FileNotFoundError) as excinfo:
        datasets.load_mnist(tmp_path)
    message = str(excinfo.value)
    for name in [file_name("t10k-labels", style) + gz for style in "-." for gz in ["", ".gz"]]:
        assert name in message, message


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        datasets.load_mnist(tmp_path / "nowhere")


@pytest.fixture(scope="module")
def mnist():
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST not found at {MNIST_DIR} (shared/data/mnist next to the repository)")
    return datasets.load_mnist(MNIST_DIR)


def test_real_mnist(mnist):
    X_train, y_train, X_test, y_test = mnist
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    for X in (X_train, X_test):
        assert X.dtype == np.float32 and X.flags.c_contiguous
        assert X.min() == 0 and X.max() == 1
    counts = np.bincount(y_train, minlength=10)
    assert len(counts) == 10 and np.all((5000 <= counts) & (counts <= 7000)), counts
    assert set(np.unique(y_test)) == set(range(10))


@pytest.mark.parametrize("stem", MNIST_MD5)
def test_real_mnist_md5(mnist, stem):
    # Rebuilding each file from what was parsed and matching the published md5
    # shows the parser took exactly the right bytes, in the right order.
    X_train, y_train, X_test, y_test = mnist
    X, y = (X_train, y_train) if stem.startswith("train") else (X_test, y_test)
    if stem.endswith("images"):
        data = idx_images(np.rint(X * 255).astype(np.uint8).reshape(-1, 28, 28))
    else:
        data = idx_labels(y)
    assert hashlib.md5(data).hexdigest() == MNIST_MD5[stem]
