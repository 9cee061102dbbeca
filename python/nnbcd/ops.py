"""Elementwise operators of the BCD iteration, exposed for reuse and testing."""

import numpy as np

from . import _validation as v
from ._native import core


def relu_prox(a, c, eta, n_threads=0):
    """The proximal step of the ReLU, elementwise.

    Returns ``argmin_u 1/2 (max(u, 0) - a)**2 + eta/2 (u - c)**2`` for each pair of entries of
    ``a`` and ``c`` (same shape). The minimiser is the better of
    ``x+ = max((a + eta c)/(1 + eta), 0)`` and ``x- = min(c, 0)``; on a tie ``x+`` is returned.
    The result is float32 when both inputs are float32, float64 otherwise.
    """
    eta = v.check_positive("eta", eta)
    a_arr, c_arr = np.asarray(a), np.asarray(c)
    if a_arr.shape != c_arr.shape:
        raise ValueError(f"a and c must have the same shape, got {a_arr.shape} and {c_arr.shape}")
    dtype = np.float32 if a_arr.dtype == c_arr.dtype == np.float32 else np.float64
    if a_arr.size == 0:
        return np.empty(a_arr.shape, dtype)
    a_arr = v.check_data("a", a_arr.reshape(-1), dtype, 1)
    c_arr = v.check_data("c", c_arr.reshape(-1), dtype, 1)
    prox = core.relu_prox32 if dtype == np.float32 else core.relu_prox64
    return prox(a_arr, c_arr, eta, v.check_threads(n_threads)).reshape(np.shape(a))


def magnitude_prune(W, sparsity):
    """Keep the k = round((1 − sparsity)·W.size) largest-magnitude entries of W, zero the rest.

    Exactly k entries survive (halves round up); among equal magnitudes the lower flat
    (row-major) index survives. ``sparsity`` must be in [0, 1); 0 returns W unchanged. Selection
    is O(size) (nth_element), not a sort. float32 in, float32 out; otherwise float64.
    """
    sparsity = v.check_sparsity(sparsity)
    array = np.asarray(W)
    dtype = np.float32 if array.dtype == np.float32 else np.float64
    if array.size == 0:
        return np.empty(array.shape, dtype)
    flat = v.check_data("W", array.reshape(-1), dtype, 1)
    prune = core.magnitude_prune32 if dtype == np.float32 else core.magnitude_prune64
    return prune(flat, sparsity).reshape(array.shape)


def tt_svd(array, max_rank, tol=0.0):
    """TT-SVD of a d-way array: a list of cores of shape (r_{k−1}, n_k, r_k), r_0 = r_d = 1.

    r_k = min(max_rank, n_1⋯n_k, n_{k+1}⋯n_d) (tensorly's rank profile), lowered further where
    ``tol`` > 0 allows: ``‖array − tt_to_full(cores)‖ ≤ tol·‖array‖``. The cores are
    left-orthonormal and the squared error equals the sum of the discarded squared singular
    values over the sweep. ``tensorly.tt_to_tensor(cores)`` accepts the result. Each step
    eigendecomposes the small Gram matrix of its unfolding in double precision, so singular
    values below about 1e-8 of the largest are resolved only approximately. float32 in, float32
    out; otherwise float64.
    """
    max_rank = v.check_int("max_rank", max_rank, 1)
    tol = v.check_non_negative("tol", tol)
    a = np.asarray(array)
    if a.ndim < 1 or a.size == 0:
        raise ValueError(f"array must be a non-empty array with at least one mode, got shape "
                         f"{a.shape}")
    dtype = np.float32 if a.dtype == np.float32 else np.float64
    a = v.check_data("array", a.reshape(-1), dtype, 1).reshape(a.shape)
    return (core.tt_svd32 if dtype == np.float32 else core.tt_svd64)(a, max_rank, tol)


def tt_to_full(cores):
    """The full array of a tensor train given as cores (r_{k−1}, n_k, r_k), r_0 = r_d = 1."""
    if isinstance(cores, np.ndarray) or not isinstance(cores, (list, tuple)) or not cores:
        raise TypeError("cores must be a non-empty list of 3-D arrays")
    arrays = [np.asarray(c) for c in cores]
    dtype = np.float32 if all(c.dtype == np.float32 for c in arrays) else np.float64
    arrays = [v.check_data(f"cores[{k}]", c.reshape(-1), dtype, 1).reshape(c.shape)
              for k, c in enumerate(arrays)]
    return (core.tt_to_full32 if dtype == np.float32 else core.tt_to_full64)(arrays)


def im2col(images, kernel, stride=1):
    """The patches a convolution without padding multiplies: images (n, height, width,
    channels) → (n · out_height · out_width, kernel · kernel · channels).

    Row ``j · positions + y · out_width + x`` is the patch of sample j at output position
    (y, x), flattened (kernel row, kernel column, channel); out_height = (height − kernel) //
    stride + 1. Then ``im2col(X, k, s) @ F.reshape(S, -1).T`` for filters F (S, k, k, C) is the
    convolution, (n · positions, S), i.e. the feature maps (n, out_height, out_width, S).
    float32 in, float32 out; otherwise float64.
    """
    a = np.asarray(images)
    if a.ndim != 4:
        raise ValueError(f"images must be 4-D (n, height, width, channels), got shape {a.shape}")
    kernel = v.check_int("kernel", kernel, 1)
    stride = v.check_int("stride", stride, 1)
    dtype = np.float32 if a.dtype == np.float32 else np.float64
    n, height, width, channels = a.shape
    geometry = core.ConvGeometry(height, width, channels, 1, kernel, stride)
    flat = v.check_data("images", a.reshape(n, -1), dtype, 2)
    return (core.im2col32 if dtype == np.float32 else core.im2col64)(flat, geometry).T
