"""Training flushes subnormal floats to zero (they cost ~100 cycles an operation: LeNet's
iterations slowed 14-fold once its lifted variables decayed into the subnormal range) and puts
the caller's floating-point mode back afterwards."""

import platform

import numpy as np
import pytest

import nnbcd

TINY = np.finfo(np.float32).tiny  # the smallest normal float32, 1.2e-38

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64", "aarch64",
                                                                    "arm64"),
                                reason="flush-to-zero is set on x86-64 and aarch64 only")


def subnormal_count(a):
    a = np.abs(np.asarray(a))
    return int(np.count_nonzero((a > 0) & (a < TINY)))


@pytest.mark.parametrize("n_threads", [1, 2])
def test_training_leaves_no_subnormal_and_restores_the_callers_mode(n_threads):
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((200, 6)) * 1e-37).astype(np.float32)  # normal, but W x is not
    y = rng.integers(0, 3, 200)
    model = nnbcd.MLP([6, 8, 3], seed=0, dtype="float32")
    # unflushed arithmetic, numpy's and the core's own inference, makes subnormals here
    assert subnormal_count(X @ model.weights[0].T) > 20
    assert subnormal_count(model.decision_function(X, n_threads)) > 0

    state = nnbcd.BCD(n_threads=n_threads).start(model, X, y)
    assert subnormal_count(state.variables()["U"][0]) == 0  # the lifting's forward pass
    for _ in range(3):
        state.step()
    variables = state.variables()
    for name in ("W", "U", "V"):
        for i, a in enumerate(variables[name]):
            assert subnormal_count(a) == 0, f"{name}[{i}] holds subnormal numbers"

    # the Python side's arithmetic is unflushed again
    assert np.float32(TINY) * np.float32(0.5) > 0
