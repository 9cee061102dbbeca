"""Training data named by files that every Dask worker can read (a shared file system): each
worker reads its own rows, so X never passes through the driver (``nnbcd.distributed``). Pass
one as X, with y=None, to ``BCD.fit(..., client=client)``.
"""

import csv
import itertools
import os
from pathlib import Path

import numpy as np

from .datasets import load_mnist_training_rows, mnist_training_size


class DataFiles:
    """What the shards need of a data source: its number of samples, and rows start:stop."""

    def n_samples(self):
        raise NotImplementedError

    def rows(self, start, stop):
        """(X, y) of rows start:stop."""
        raise NotImplementedError


class NpyFiles(DataFiles):
    """X (n_samples, n_features) and y (n_samples,) or (n_samples, n_outputs) as two .npy
    files: each worker memory-maps them and reads only its own rows."""

    def __init__(self, X_path, y_path):
        self.X_path, self.y_path = os.fspath(X_path), os.fspath(y_path)

    def n_samples(self):
        X, y = self._maps()
        if X.ndim != 2 or y.shape[0] != X.shape[0]:
            raise ValueError(f"{self.X_path} must hold a 2-D X and {self.y_path} a y with as "
                             f"many rows; they have shapes {X.shape} and {y.shape}")
        return X.shape[0]

    def rows(self, start, stop):
        X, y = self._maps()
        return np.array(X[start:stop]), np.array(y[start:stop])

    def _maps(self):
        return np.load(self.X_path, mmap_mode="r"), np.load(self.y_path, mmap_mode="r")


class NpzFile(DataFiles):
    """A .npz file with arrays "X" and "y" (as ``nnbcd train --data`` reads): the driver reads
    only y; each worker decompresses X and keeps its rows."""

    def __init__(self, path):
        self.path = os.fspath(path)

    def n_samples(self):
        with np.load(self.path) as arrays:
            if "X" not in arrays or "y" not in arrays:
                raise ValueError(f"{self.path} must hold arrays X and y")
            return arrays["y"].shape[0]

    def rows(self, start, stop):
        with np.load(self.path) as arrays:
            return arrays["X"][start:stop], arrays["y"][start:stop]


class MnistFiles(DataFiles):
    """The MNIST training set in a directory of idx files (as ``nnbcd.datasets.load_mnist``
    reads), pixels / 255 in float32: the driver reads only the labels; each worker converts
    its own rows."""

    def __init__(self, directory):
        self.directory = Path(directory)

    def n_samples(self):
        return mnist_training_size(self.directory)

    def rows(self, start, stop):
        return load_mnist_training_rows(self.directory, start, stop)


class CsvFile(DataFiles):
    """A CSV file with a header row, every column numeric; ``label_column`` (default: the last)
    holds y, as class indices 0..k-1 or regression targets. The driver only counts the rows;
    each worker parses its own (after scanning past the rows before them)."""

    def __init__(self, path, label_column=None):
        self.path, self.label_column = os.fspath(path), label_column

    def n_samples(self):
        with self._open() as f:
            return sum(1 for row in csv.reader(f) if row) - 1  # the header

    def rows(self, start, stop):
        with self._open() as f:
            reader = (row for row in csv.reader(f) if row)
            header = next(reader)
            name = header[-1] if self.label_column is None else self.label_column
            if name not in header:
                raise ValueError(f"{self.path} has no label column {name!r}")
            table = np.array(list(itertools.islice(reader, start, stop)), dtype=np.float64)
        column = header.index(name)
        y = table[:, column]
        labels = y.astype(np.int64)
        return np.delete(table, column, axis=1), labels if (labels == y).all() else y

    def _open(self):
        return open(self.path, newline="", encoding="utf-8-sig")
