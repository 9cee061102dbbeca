"""Training data named by files that every Dask worker can read (a shared file system): each
worker reads its own rows, so X never passes through the driver (``nnbcd.distributed``). Pass
one as X, with y=None, to ``BCD.fit(..., client=client)``.
"""

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
