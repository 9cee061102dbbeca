"""Per-layer compression specs for ``nnbcd.MLP(compression=[...])``."""

import numpy as np

from . import _validation as v
from ._native import core

SCOPES = ("layer", "global")


class Pruned:
    """Magnitude pruning: the deployed weights G_i keep the round((1 − sparsity)·|W_i|)
    largest-magnitude entries of W_i (ties to the lower row-major index).

    Parameters
    ----------
    sparsity : float in [0, 1)
        Fraction of zeros in the deployed weights.
    scope : {"layer", "global"}
        "layer" prunes each layer to ``sparsity`` on its own; "global" keeps the largest
        magnitudes across all layers pruned with global scope (which must share one sparsity).
    """

    def __init__(self, sparsity=0.9, scope="layer"):
        sparsity = v.check_sparsity(sparsity)
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        self.sparsity = sparsity
        self.scope = scope

    def __eq__(self, other):
        return isinstance(other, Pruned) and (self.sparsity, self.scope) == (other.sparsity,
                                                                              other.scope)

    def __repr__(self):
        return f"Pruned(sparsity={self.sparsity!r}, scope={self.scope!r})"


LAYOUTS = ("reshape", "matrix")


class TensorTrain:
    """Tensor-train (low-rank) compression: the deployed weights G_i, viewed as a tensor, have
    TT-ranks <= ``rank``; G_i is the TT-SVD of W_i after every iteration.

    Parameters
    ----------
    rank : int >= 1
        Maximum TT-rank r. Each r_k is also trimmed to what its unfolding allows,
        min(r, n_1⋯n_k, n_{k+1}⋯n_d), as ``tensorly.decomposition.tensor_train`` does.
    shape : sequence of int, or (row modes, column modes), optional
        ``layout="reshape"``: the modes of the row-major (d_out, d_in) matrix reshaped to a
        d-way tensor; their product is d_out·d_in (the paper's: 1024×1024 as (4,)*10).
        ``layout="matrix"``: a pair of equally long sequences multiplying to d_out and d_in.
        Default: d_out and d_in each split into their prime factors with 2s paired into 4s
        (1024 → 4,4,4,4,4; 561 → 3,11,17), row modes first (reshape) or padded with trailing 1s
        to equal length (matrix).
    tol : float >= 0
        Relative accuracy: ranks may also drop below ``rank`` as long as ‖W − G‖ ≤ tol·‖W‖.
    layout : {"reshape", "matrix"}
        "reshape" is the paper's plain reshape. "matrix" is the interleaved TT-matrix layout:
        mode k is the pair (i_k, j_k) of a row and a column mode.
    initial_rank : int, optional
        Anneal the rank: the projection when training starts uses ``initial_rank``, and the
        rank falls linearly to ``rank`` over ``anneal_iterations`` iterations (the authors'
        notebooks take their first projection at a much higher rank). None: no annealing.
    anneal_iterations : int >= 1
        Length of the annealing (1: only the first projection uses ``initial_rank``).

    Inference contracts the cores instead of multiplying by G where that does less work: a
    reshape layout whose leading modes multiply to d_out is the product of a d_out × r and an
    r × d_in factor; the matrix layout is contracted core by core. ``MLP.inference_plan`` says
    which layers do.
    """

    def __init__(self, rank, shape=None, tol=0.0, layout="reshape", initial_rank=None,
                 anneal_iterations=1):
        self.rank = v.check_int("rank", rank, 1)
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.layout = layout
        self.shape = None if shape is None else _check_shape(shape, layout)
        self.tol = v.check_non_negative("tol", tol)
        self.initial_rank = None if initial_rank is None else v.check_int(
            "initial_rank", initial_rank, 1)
        self.anneal_iterations = v.check_int("anneal_iterations", anneal_iterations, 1)

    def format_for(self, d_out, d_in):
        """(row modes, column modes) for the matrix layout, or the tensor's modes (reshape),
        checked against a d_out × d_in layer."""
        if self.shape is None:
            return core.default_tt_shape(self.layout == "matrix", d_out, d_in)
        if self.layout == "reshape":
            if int(np.prod(self.shape)) != d_out * d_in:
                raise ValueError(f"TensorTrain shape {self.shape} multiplies to "
                                 f"{int(np.prod(self.shape))}, but the layer is {d_out} x {d_in}"
                                 f" = {d_out * d_in}")
            return self.shape
        rows, cols = self.shape
        if int(np.prod(rows)) != d_out or int(np.prod(cols)) != d_in:
            raise ValueError(f"TensorTrain shape {self.shape}: the row modes must multiply to "
                             f"d_out = {d_out} and the column modes to d_in = {d_in}")
        return self.shape

    def __eq__(self, other):
        return isinstance(other, TensorTrain) and vars(self) == vars(other)

    def __repr__(self):
        return (f"TensorTrain(rank={self.rank!r}, shape={self.shape!r}, tol={self.tol!r}, "
                f"layout={self.layout!r}, initial_rank={self.initial_rank!r}, "
                f"anneal_iterations={self.anneal_iterations!r})")


def _modes(name, modes):
    try:
        modes = tuple(int(m) for m in modes)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of positive ints, got {modes!r}") from None
    if not modes or min(modes) < 1:
        raise ValueError(f"{name} must be a non-empty sequence of ints >= 1, got {modes!r}")
    return modes


def _check_shape(shape, layout):
    if layout == "reshape":
        return _modes("TensorTrain shape", shape)
    if (not isinstance(shape, (tuple, list)) or len(shape) != 2
            or not all(isinstance(part, (tuple, list)) for part in shape)):
        raise ValueError("TensorTrain shape for layout='matrix' must be a pair "
                         f"(row modes, column modes), got {shape!r}")
    rows, cols = _modes("TensorTrain row modes", shape[0]), _modes("TensorTrain column modes",
                                                                   shape[1])
    if len(rows) != len(cols):
        raise ValueError(f"TensorTrain row and column modes must be equally long (pad with 1s), "
                         f"got {rows} and {cols}")
    return rows, cols
