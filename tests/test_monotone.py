"""Monotone decrease of Φ under NN-BCD (DESIGN §1: the proximal terms make Φ
decrease from one iteration to the next).

Every block update minimises Φ in its block exactly; the (†) blocks (V_N, every
W_i and b_i, the hidden U_i) also carry α/2‖Z − Z_old‖², so one sweep satisfies
the sufficient decrease
    Φ_k − Φ_{k+1} ≥ α/2 Σ_(†) ‖Z_{k+1} − Z_k‖² ≥ 0.
Φ is recomputed here from state.variables() by the oracle (so the objective the
library reports is checked as well as the decrease).
"""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

import nnbcd  # noqa: E402

SLACK = 1e-10
SETTINGS = [  # gamma, rho, alpha, weight_decay, train_bias
    (1.0, 1.0, 1.0, 0.0, True),
    (0.5, 3.0, 0.05, 0.01, True),
    (2.0, 0.5, 5.0, 0.0, False),
    (1.0, 2.0, 0.5, [0.0, 0.2, 0.0, 0.3], True),  # one weight decay per layer
]


def _vars64(state):
    v = state.variables()
    return tuple([np.asarray(a, dtype=np.float64) for a in v[key]] for key in ("W", "b", "U", "V"))


def _run_and_check(model, X, y, Y, gamma, rho, alpha, wd, train_bias, iters=50):
    # one thread: the default (all cores) path is covered by test_reference_step.py, and a
    # single thread keeps this test fast when the machine is busy
    trainer = nnbcd.BCD(gamma, rho, alpha, weight_decay=wd, train_bias=train_bias, n_threads=1)
    state = trainer.start(model, X, y)
    Xc = np.ascontiguousarray(X.T, dtype=np.float64)
    cur = _vars64(state)
    phi = oracle.objective_terms(*cur, Xc, Y, gamma, rho, wd)["total"]
    phi0 = phi
    for it in range(1, iters + 1):
        state.step()
        new = _vars64(state)
        terms = oracle.objective_terms(*new, Xc, Y, gamma, rho, wd)
        phi_new = terms["total"]
        reported = float(state.objective()["total"])
        assert abs(reported - phi_new) <= 1e-9 * abs(phi_new), (
            f"iteration {it}: objective()['total'] = {reported!r}, Φ from variables() = {phi_new!r}")
        assert phi_new <= phi * (1.0 + SLACK), (
            f"iteration {it}: Φ increased from {phi!r} to {phi_new!r}")
        # proximal sufficient decrease
        prox = 0.5 * alpha * oracle.prox_sq_change(cur, new)
        suff = (phi - phi_new) - prox
        assert suff >= -SLACK * phi, (
            f"iteration {it}: sufficient decrease violated: Φ_k − Φ_k+1 = {phi - phi_new!r} "
            f"< α/2 Σ‖ΔZ‖² = {prox!r}")
        phi, cur = phi_new, new
    assert phi < phi0, "Φ did not decrease at all in 50 iterations"
    return phi0, phi


@pytest.mark.parametrize("gamma,rho,alpha,wd,train_bias", SETTINGS)
def test_monotone_random_classification(gamma, rho, alpha, wd, train_bias):
    rng = np.random.default_rng(42)
    sizes = [12, 20, 16, 10, 4]            # 3 hidden layers
    n = 90
    X = rng.standard_normal((n, sizes[0]))
    y = rng.integers(0, sizes[-1], size=n)
    model = nnbcd.MLP(sizes, seed=1, dtype="float64")
    _run_and_check(model, X, y, oracle.one_hot(y, sizes[-1]), gamma, rho, alpha, wd, train_bias)


def test_monotone_random_regression():
    rng = np.random.default_rng(43)
    sizes = [5, 12, 12, 2]
    n = 70
    X = rng.standard_normal((n, sizes[0]))
    T = np.sin(X[:, :2]) + 0.1 * rng.standard_normal((n, 2))
    model = nnbcd.MLP(sizes, seed=2, dtype="float64")
    _run_and_check(model, X, T, T.T.copy(), 1.0, 1.0, 0.5, 0.0, True)


@pytest.mark.parametrize("gamma,rho,alpha,wd,train_bias", SETTINGS[:2])
def test_monotone_digits(gamma, rho, alpha, wd, train_bias):
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    data = load_digits()
    X = StandardScaler().fit_transform(data.data).astype(np.float64)
    y = data.target.astype(np.int64)
    sizes = [64, 64, 10]
    model = nnbcd.MLP(sizes, seed=0, dtype="float64")
    phi0, phi = _run_and_check(model, X, y, oracle.one_hot(y, 10), gamma, rho, alpha, wd,
                               train_bias)
    assert phi < 0.9 * phi0, f"Φ barely moved on digits: {phi0!r} -> {phi!r}"
