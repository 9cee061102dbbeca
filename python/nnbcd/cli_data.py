"""The data of the command line: where it comes from, its fixed scaling, the train/test split and
the label encoding, all described by a record that ``nnbcd train`` stores in the model file so
that ``nnbcd evaluate`` can repeat them exactly.

Sources: ``"digits"`` (scikit-learn's), a directory of MNIST idx files, a ``.npz`` file (arrays
``X`` and ``y``, optionally ``X_test`` and ``y_test``) or a ``.csv`` file (a header row; the label
column named, by default the last one). The scaling is fixed, not fitted to the data: the inputs
are the raw values times ``scale`` (digits 1/16, MNIST pixels 1/255, files 1). Data without its
own test set is split by a stratified, seeded ``test_size`` split.
"""

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets

from . import _validation as v

SOURCES = ("digits", "mnist", "npz", "csv")
DEFAULT_SCALE = {"digits": 1 / 16, "mnist": 1 / 255, "npz": 1.0, "csv": 1.0}
DEFAULT_TEST_SIZE = 0.25


@dataclass
class Raw:
    """A data set as read, before scaling, splitting and label encoding."""

    X: np.ndarray                    # (n, features)
    y: np.ndarray                    # (n,) labels of any type
    X_test: Optional[np.ndarray]     # the source's own test set, if it has one
    y_test: Optional[np.ndarray]
    image_shape: Optional[tuple]     # (height, width, channels) of the rows, when known
    read_scale: float = 1.0          # the scaling the reader already applied (MNIST: 1/255)
    label_column: Optional[str] = None


@dataclass
class Dataset:
    """Scaled inputs in the model's dtype and labels as class indices 0..K-1."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list                    # the label of each class index
    image_shape: Optional[tuple]
    record: dict                     # what ``load`` needs to repeat this (stored by ``train``)


def source_of(data):
    """The kind of ``data``: "digits", "mnist" (a directory), "npz" or "csv"."""
    if data == "digits":
        return "digits"
    path = Path(data)
    if path.is_dir():
        return "mnist"
    if not path.exists():
        raise FileNotFoundError(f"data {data}: no such file or directory (expected 'digits', "
                                "an MNIST directory, or a .npz or .csv file)")
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("npz", "csv"):
        raise ValueError(f"data {data}: unknown kind of file; expected 'digits', an MNIST "
                         "directory, or a .npz or .csv file")
    return kind


def load(data, *, dtype, scale=None, test_size=DEFAULT_TEST_SIZE, seed=0, train_size=None,
         label_column=None, classes=None):
    """Read ``data`` and prepare it for training or evaluation.

    scale : multiplies the raw inputs; None: the source's default (``DEFAULT_SCALE``).
    test_size, seed : the stratified split of data without its own test set.
    train_size : keep a seeded random subset of this many training samples.
    label_column : the CSV column of the labels (default: the last).
    classes : the labels of class indices 0..K-1 (a model's); None: the data's sorted labels.
    """
    source = source_of(data)
    raw = _read(source, data, label_column, dtype)
    scale = DEFAULT_SCALE[source] if scale is None else scale
    X = _scaled(raw.X, scale / raw.read_scale, dtype)
    if raw.X_test is None:
        train, test = _split(raw.y, test_size, seed)
        X_train, y_train, X_test, y_test = X[train], raw.y[train], X[test], raw.y[test]
    else:
        X_train, y_train = X, raw.y
        X_test = _scaled(raw.X_test, scale / raw.read_scale, dtype, "X_test")
        y_test = raw.y_test
    if X_test.shape[1] != X_train.shape[1]:
        raise ValueError(f"data {data}: the test inputs have {X_test.shape[1]} features but the "
                         f"training inputs {X_train.shape[1]}")
    if train_size is not None:
        keep = _subset(len(y_train), train_size, seed)
        X_train, y_train = X_train[keep], y_train[keep]
    if classes is None:
        classes = np.unique(np.concatenate([y_train, y_test])).tolist()
        if len(classes) < 2:
            raise ValueError(f"data {data}: the labels need at least two classes, got {classes}")
    record = {"source": source, "path": None if source == "digits" else str(data),
              "scale": scale, "test_size": test_size if raw.X_test is None else None,
              "seed": seed, "train_size": train_size,
              "label_column": raw.label_column, "classes": classes}
    return Dataset(X_train, _indices(y_train, classes, data), X_test,
                   _indices(y_test, classes, data), classes, raw.image_shape, record)


def _read(source, data, label_column, dtype):
    """The ``Raw`` data of one source."""
    if label_column is not None and source != "csv":
        raise ValueError(f"--label-column is for .csv files, not {data}")
    if source == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return Raw(X, y, None, None, (8, 8, 1))
    if source == "mnist":
        from .datasets import load_mnist

        X, y, X_test, y_test = load_mnist(data, dtype=dtype)
        return Raw(X, y, X_test, y_test, _square_image(X.shape[1]), read_scale=1 / 255)
    if source == "npz":
        return _read_npz(Path(data))
    return _read_csv(Path(data), label_column)


def _square_image(features):
    """(side, side, 1) when ``features`` is a square number of pixels, else None."""
    side = int(np.sqrt(features))
    return (side, side, 1) if side * side == features else None


def _read_npz(path):
    """Arrays X, y and optionally X_test, y_test; X may hold images (n, H, W[, C])."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not hasattr(archive, "files"):
            raise ValueError("it holds a single array; save X and y with numpy.savez")
        with archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    for name in ("X", "y"):
        if name not in arrays:
            raise ValueError(f"{path} has no array {name!r} (it has {sorted(arrays)})")
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise ValueError(f"{path} must hold both X_test and y_test, or neither")
    X, image_shape = _rows(arrays["X"], path, "X")
    y = _labels(arrays["y"], len(X), path, "y")
    if "X_test" not in arrays:
        return Raw(X, y, None, None, image_shape)
    X_test, _ = _rows(arrays["X_test"], path, "X_test")
    return Raw(X, y, X_test, _labels(arrays["y_test"], len(X_test), path, "y_test"), image_shape)


def _rows(X, path, name):
    """``X`` flattened to (n, features), with the image shape its dimensions give."""
    if X.ndim < 2 or X.ndim > 4:
        raise ValueError(f"{path}: {name} must be (n, features) or images (n, H, W[, C]), got "
                         f"shape {X.shape}")
    image_shape = None if X.ndim == 2 else (*X.shape[1:3], X.shape[3] if X.ndim == 4 else 1)
    return X.reshape(len(X), -1), image_shape


def _labels(y, n, path, name):
    """``y`` as a 1-D array of n class labels."""
    y = y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{path}: {name} must hold one label per sample ({n}), got shape "
                         f"{y.shape}")
    check_classification_targets(y)
    return y


def _read_csv(path, label_column):
    """A CSV file with a header row: every column but the labels' is a numeric feature."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            lines = [(reader.line_num, row) for row in reader if row]
    except csv.Error as e:
        raise ValueError(f"{path}: not a readable CSV file ({e})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file") from None
    if len(lines) < 2:
        raise ValueError(f"{path} needs a header row and at least one row of data")
    header = lines[0][1]
    name = header[-1] if label_column is None else label_column
    if name not in header:
        shown = ", ".join(header[:10]) + (", ..." if len(header) > 10 else "")
        raise ValueError(f"{path} has no label column {name!r} (its columns: {shown}); name it "
                         "with --label-column")
    for line, row in lines[1:]:
        if len(row) != len(header):
            raise ValueError(f"{path}, line {line}: {len(row)} fields, but the header has "
                             f"{len(header)}")
    table = np.array([row for _, row in lines[1:]], dtype=str)
    column = header.index(name)
    try:
        X = np.delete(table, column, axis=1).astype(np.float64)
    except ValueError as e:
        raise ValueError(f"{path}: every column but the labels must be numeric ({e})") from None
    return Raw(X, _csv_labels(table[:, column]), None, None, None, label_column=name)


def _csv_labels(column):
    """A CSV label column: integers where every label is one, strings otherwise."""
    try:
        return column.astype(np.int64)
    except ValueError:
        return column


def _scaled(X, factor, dtype, name="X"):
    """``X`` times ``factor``: a finite C-contiguous array in ``dtype``."""
    X = v.check_data(name, X, dtype, 2)
    return X if factor == 1 else v.check_data(name, X * factor, dtype, 2)


def _split(y, test_size, seed):
    """Training and test indices: a stratified split seeded by ``seed``."""
    indices = np.arange(len(y))
    return train_test_split(indices, test_size=test_size, stratify=y, random_state=seed)


def _subset(n, size, seed):
    """Sorted indices of a seeded random subset of ``size`` of ``n`` training samples."""
    if size > n:
        raise ValueError(f"--train-size {size} is more than the {n} training samples")
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def _indices(y, classes, data):
    """Class indices of the labels ``y`` (``classes[k]`` is the label of index k)."""
    index = {label: k for k, label in enumerate(classes)}
    try:
        return np.array([index[label] for label in y.tolist()], dtype=np.int64)
    except KeyError as e:
        raise ValueError(f"data {data} has the label {e.args[0]!r}, which is not one of the "
                         f"model's classes {classes}") from None
