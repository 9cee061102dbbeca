"""A fully connected ReLU network whose parameters live in the C++ core."""

import numpy as np

from . import _validation as v
from ._native import core

INITS = ("kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform")


def _init_weight(rng, init, d_out, d_in, scale, dtype):
    fan = d_in if init.startswith("kaiming") else (d_in + d_out) / 2
    gain = 2.0 if init.startswith("kaiming") else 1.0  # He et al.: the ReLU halves the variance
    std = scale * np.sqrt(gain / fan)
    if init.endswith("normal"):
        return rng.normal(0.0, std, size=(d_out, d_in)).astype(dtype)
    bound = np.sqrt(3.0) * std  # uniform on [-bound, bound] has this standard deviation
    return rng.uniform(-bound, bound, size=(d_out, d_in)).astype(dtype)


def check_sizes(sizes):
    try:
        sizes = [int(s) for s in sizes]
    except (TypeError, ValueError):
        raise TypeError(f"sizes must be a sequence of layer widths, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least two widths (input, output), got {sizes!r}")
    if min(sizes) < 1:
        raise ValueError(f"every width in sizes must be >= 1, got {sizes!r}")
    return sizes


def check_compression(compression, n_layers):
    """Per-layer compression specs; only dense layers (None) exist so far."""
    if compression is None:
        return [None] * n_layers
    specs = list(compression) if isinstance(compression, (list, tuple)) else None
    if specs is None or len(specs) != n_layers:
        raise ValueError(
            f"compression must be None or a list with one entry per layer ({n_layers}), "
            f"got {compression!r}"
        )
    for i, spec in enumerate(specs):
        if spec is not None:
            raise ValueError(f"compression[{i}]: unknown compression spec {spec!r}")
    return specs


class MLP:
    """A ReLU network with layer widths ``sizes`` = (d_0, ..., d_N); the output layer is linear.

    Parameters
    ----------
    sizes : sequence of int
        Input width first, output width last.
    compression : None or list
        One compression spec per layer (None = dense).
    init : {"kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform"}
        Weight initialisation; biases start at zero.
    init_scale : float
        Multiplies the initial weights' standard deviation.
    seed : int
        Seed of the initialisation: the same seed gives the same network.
    dtype : {"float32", "float64"}
    """

    def __init__(self, sizes, compression=None, init="kaiming_normal", init_scale=1.0, seed=0,
                 dtype="float32"):
        self.sizes = check_sizes(sizes)
        self.compression = check_compression(compression, len(self.sizes) - 1)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.init = init
        self.init_scale = v.check_positive("init_scale", init_scale)
        self.seed = v.check_int("seed", seed, 0)
        self.dtype = np.dtype(v.check_dtype(dtype))
        self._net = (core.Mlp32 if self.dtype == np.float32 else core.Mlp64)(self.sizes)
        rng = np.random.default_rng(self.seed)
        for W, (d_in, d_out) in zip(self.weights, zip(self.sizes, self.sizes[1:])):
            W[...] = _init_weight(rng, init, d_out, d_in, self.init_scale, self.dtype)

    @property
    def n_layers(self):
        return len(self.sizes) - 1

    @property
    def weights(self):
        """The weight matrices W_i, each (d_out, d_in): writable views of the model's storage."""
        return [self._net.weight(i) for i in range(self.n_layers)]

    @property
    def biases(self):
        """The bias vectors b_i, each (d_out,): writable views of the model's storage."""
        return [self._net.bias(i) for i in range(self.n_layers)]

    @property
    def parameter_count(self):
        return sum(W.size + b.size for W, b in zip(self.weights, self.biases))

    def check_input(self, X, name="X"):
        X = v.check_data(name, X, self.dtype, 2)
        if X.shape[1] != self.sizes[0]:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but the network expects {self.sizes[0]}"
            )
        return X

    def decision_function(self, X, n_threads=0):
        """Network outputs for X (n_samples, d_0): an (n_samples, d_N) array."""
        X = self.check_input(X)
        return self._net.forward(X.T, v.check_threads(n_threads)).T

    def predict(self, X, n_threads=0):
        """Index of the largest output for each sample."""
        return np.argmax(self.decision_function(X, n_threads), axis=1)

    def __repr__(self):
        return f"MLP(sizes={self.sizes}, dtype={self.dtype.name!r})"
