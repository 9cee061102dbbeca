"""Loaders for the data sets used in the examples and benchmarks."""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from ._validation import check_dtype

_IMAGES_MAGIC = 2051  # idx: unsigned bytes, 3 dimensions (n, rows, cols)
_LABELS_MAGIC = 2049  # idx: unsigned bytes, 1 dimension (n)


def load_mnist(path, *, dtype="float32"):
    """The MNIST handwritten digits from a directory of the original idx files.

    The MNIST database is by Yann LeCun, Corinna Cortes and Christopher J. C.
    Burges, licensed CC BY-SA 3.0: credit the authors when you publish results
    on it.  It is not shipped with nnbcd; point ``path`` at your copy.

    Parameters
    ----------
    path : str or os.PathLike
        Directory holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``.  Each may
        also be spelt with a dot before ``idx`` (``train-images.idx3-ubyte``)
        and may be gzipped (``.gz``); the first of these found is used, in the
        order: dash, dot, dash + ``.gz``, dot + ``.gz``.
    dtype : {"float32", "float64"}
        Floating type of the images.

    Returns
    -------
    X_train : ndarray of shape (60000, 784)
        Training images, one flattened row each, pixels / 255 in [0, 1];
        C-contiguous, in ``dtype``.
    y_train : ndarray of shape (60000,), int64
        Training labels 0-9.
    X_test : ndarray of shape (10000, 784)
    y_test : ndarray of shape (10000,), int64

    Raises
    ------
    FileNotFoundError
        ``path`` is not a directory, or a file is missing (the message lists
        every name looked for).
    ValueError
        A bad ``dtype``, or a file that is not gzip or not a well-formed idx
        file of the expected kind (the message names the file).
    """
    dtype = check_dtype(dtype)
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory {directory} does not exist")
    # All four files are looked for first, so a missing one fails before any gunzipping.
    train_images_file = _find(directory, "train-images", 3)
    train_labels_file = _find(directory, "train-labels", 1)
    test_images_file = _find(directory, "t10k-images", 3)
    test_labels_file = _find(directory, "t10k-labels", 1)
    train_images, y_train = _load_split(train_images_file, train_labels_file)
    test_images, y_test = _load_split(test_images_file, test_labels_file)
    # A model trained on one image size cannot be evaluated on another.
    if train_images.shape[1:] != test_images.shape[1:]:
        (train_rows, train_cols), (test_rows, test_cols) = (
            train_images.shape[1:], test_images.shape[1:])
        raise ValueError(
            f"images in {train_images_file} are {train_rows}x{train_cols} "
            f"but those in {test_images_file} are {test_rows}x{test_cols}")
    return _pixels(train_images, dtype), y_train, _pixels(test_images, dtype), y_test


def mnist_training_size(path):
    """How many images the MNIST training set in directory ``path`` holds (reads only its
    labels file)."""
    labels_file = _find(Path(path), "train-labels", 1)
    return _parse_idx(_read(labels_file), labels_file, _LABELS_MAGIC, 1).shape[0]


def load_mnist_training_rows(path, start, stop, *, dtype="float32"):
    """Rows ``start:stop`` of the MNIST training set in directory ``path``: (X, y) as
    ``load_mnist`` gives them, without the test set and without converting the other rows."""
    dtype = check_dtype(dtype)
    directory = Path(path)
    images, labels = _load_split(_find(directory, "train-images", 3),
                                 _find(directory, "train-labels", 1))
    return _pixels(images[start:stop], dtype), labels[start:stop]


def _load_split(images_file, labels_file):
    """(uint8 images (n, rows, cols), int64 labels (n,)) of one split."""
    images = _parse_idx(_read(images_file), images_file, _IMAGES_MAGIC, 3)
    labels = _parse_idx(_read(labels_file), labels_file, _LABELS_MAGIC, 1)
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"{labels_file} has {labels.shape[0]} labels "
            f"but {images_file} has {images.shape[0]} images")
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise ValueError(
            f"{labels_file}: label {labels[bad[0]]} at index {bad[0]} is not a digit 0-9")
    return images, labels.astype(np.int64)


def _pixels(images, dtype):
    """Images as flattened rows of pixels / 255 in ``dtype``."""
    n, rows, cols = images.shape
    X = images.reshape(n, rows * cols).astype(dtype)
    X /= 255  # in place: the copy made by astype is the only allocation
    return X


def _find(directory, stem, ndim):
    """The first existing spelling of one idx file in ``directory``."""
    names = [f"{stem}-idx{ndim}-ubyte", f"{stem}.idx{ndim}-ubyte"]
    names += [name + ".gz" for name in names]
    for name in names:
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(
        f"no {stem} file in {directory}; looked for {', '.join(names)}")


def _read(file):
    """The file's bytes, gunzipped when its name ends in .gz."""
    data = file.read_bytes()
    if file.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    # not gzip at all / cut short / damaged deflate stream
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{file}: not a valid gzip file ({error})") from None


def _parse_idx(data, file, magic, ndim):
    """The uint8 array of an idx file's bytes, checked against its header.

    A view on ``data``: the header's sizes are compared with the real byte
    count before anything is shaped from them, so a lying header cannot make
    us allocate or read past the end.
    """
    header_size = 4 * (1 + ndim)
    if len(data) < header_size:
        raise ValueError(
            f"{file}: {len(data)} bytes, too short for the {header_size}-byte idx header")
    # Unsigned, so that a corrupt size is huge (and fails the size check), never negative.
    header = np.frombuffer(data, ">u4", count=1 + ndim)
    if header[0] != magic:
        raise ValueError(f"{file}: magic number {header[0]}, expected {magic}")
    shape = tuple(int(size) for size in header[1:])
    expected = header_size + math.prod(shape)  # Python ints: no overflow
    if len(data) < expected:
        raise ValueError(
            f"{file}: truncated; header {shape} needs {expected} bytes, got {len(data)}")
    if len(data) > expected:
        raise ValueError(
            f"{file}: {len(data) - expected} trailing bytes after the {shape} data")
    return np.frombuffer(data, np.uint8, offset=header_size).reshape(shape)
