"""Input checks shared by the public API: every failure names the argument and the fix."""

import numbers

import numpy as np

DTYPES = {"float32": np.float32, "float64": np.float64}


def check_dtype(dtype):
    """The numpy scalar type for a ``dtype`` option ("float32" or "float64")."""
    key = np.dtype(dtype).name if isinstance(dtype, type) or isinstance(dtype, np.dtype) else dtype
    if key not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[key]


def check_real(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def check_positive(name, value):
    value = check_real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def check_non_negative(name, value):
    value = check_real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def check_weight_decay(value):
    """A ``weight_decay``: one λ >= 0 for every layer (a float), or one per layer (a list)."""
    if np.ndim(value) == 0:
        return check_non_negative("weight_decay", value)
    if np.ndim(value) != 1 or len(value) == 0:
        raise ValueError(f"weight_decay must be a number or a 1-D sequence of one per layer, "
                         f"got {value!r}")
    return [check_non_negative(f"weight_decay[{i}]", lam) for i, lam in enumerate(value)]


def check_sparsity(value):
    """A pruning ``sparsity``: the fraction of zeros, in [0, 1)."""
    value = check_real("sparsity", value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {value!r}")
    return value


def check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def check_threads(n_threads):
    """The thread count ``n_threads`` stands for: 0 means all usable cores (see
    ``nnbcd.threads``)."""
    from .threads import resolve
    return resolve(check_int("n_threads", n_threads, 0))


def check_data(name, value, dtype, ndim):
    """A finite numeric array of ``ndim`` dimensions, C-contiguous in ``dtype``.

    Copies only when the input is not already in that layout and type.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        if array.dtype.kind == "c":
            raise ValueError(f"{name} must be real-valued, got complex data")
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must be numeric, got an array of dtype {array.dtype}"
            ) from None
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got an array of shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    array = np.ascontiguousarray(array, dtype=dtype)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity; clean or impute it first")
    return array


def check_targets(y, n_samples, n_outputs, dtype):
    """One-hot targets from class indices (1-D), or regression targets as given (2-D)."""
    array = np.asarray(y)
    if array.ndim == 1:
        labels = check_data("y", array, np.float64, 1)
        if labels.shape[0] != n_samples:
            raise ValueError(f"y has {labels.shape[0]} entries but X has {n_samples} samples")
        indices = labels.astype(np.int64)
        if (indices != labels).any() or indices.min() < 0 or indices.max() >= n_outputs:
            raise ValueError(
                f"1-D y must hold class indices 0..{n_outputs - 1} (the network has "
                f"{n_outputs} outputs); encode labels first, or pass 2-D regression targets"
            )
        Y = np.zeros((n_samples, n_outputs), dtype)
        Y[np.arange(n_samples), indices] = 1
        return Y, indices
    Y = check_data("y", array, dtype, 2)
    if Y.shape != (n_samples, n_outputs):
        raise ValueError(f"2-D y must have shape (n_samples, n_outputs) = "
                         f"{(n_samples, n_outputs)}, got {Y.shape}")
    return Y, None
