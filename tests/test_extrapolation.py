"""Extrapolated NN-BCD (``BCD(extrapolation=True)``): after every exact sweep, every block moves
on along the sweep's step, y = x + β_t (x − x_before) with Nesterov's β_t = (t − 1)/(t + 2), and
the move is kept only where Φ(y) <= Φ(x); else the run stays at x and t is halved (at least 2).

Checked here: the library's run against a numpy one built from the oracle's sweep and Φ; Φ
never rising at a fixed τ, also for compressed layers (G re-projected from the moved W); the
safeguard's restarts; the accuracy it buys on digits."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

import nnbcd  # noqa: E402


def _problem(n=120, d=10, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 1)
    return X, y % classes


def _numpy_run(W, b, U, V, X, Y, gamma, rho, alpha, wd, iterations):
    """The extrapolated iteration in numpy: the oracle's sweep, then the move and its test."""
    def phi(point):
        return oracle.objective_terms(*point, X, Y, gamma, rho, wd)["total"]

    x, kept, t, restarts = (W, b, U, V), None, 1, 0
    for _ in range(iterations):
        x = oracle.bcd_iteration(*x, X, Y, gamma, rho, alpha, wd)
        swept = x
        if t > 1:
            beta = (t - 1) / (t + 2)
            moved = tuple([z + beta * (z - z_before) for z, z_before in zip(block, before)]
                          for block, before in zip(swept, kept))
            if phi(moved) <= phi(swept):
                x, t = moved, t + 1
            else:
                t, restarts = max(2, t // 2), restarts + 1
        else:
            t = 2
        kept = swept
    return x, restarts


def test_the_same_run_as_numpy_from_the_oracle():
    X, y = _problem()
    gamma, rho, alpha, wd = 1.0, 2.0, 0.5, 0.01
    model = nnbcd.MLP([10, 16, 12, 3], seed=2, dtype="float64")
    state = nnbcd.BCD(gamma, rho, alpha, weight_decay=wd, extrapolation=True,
                      n_threads=1).start(model, X, y)
    start = state.variables()
    Xc = np.ascontiguousarray(X.T)
    (W, b, U, V), restarts = _numpy_run(start["W"], start["b"], start["U"], start["V"], Xc,
                                        oracle.one_hot(y, 3), gamma, rho, alpha, wd, 12)
    for _ in range(12):
        state.step()
    got = state.variables()
    for name, expected in zip("WbUV", (W, b, U, V)):
        for i, (a, e) in enumerate(zip(got[name], expected)):
            np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-9 * np.abs(e).max(),
                                       err_msg=f"{name}_{i + 1}")
    assert state.restarts == restarts
    # and the move changed the run: plain BCD ends elsewhere
    plain = nnbcd.MLP([10, 16, 12, 3], seed=2, dtype="float64")
    nnbcd.BCD(gamma, rho, alpha, weight_decay=wd, n_threads=1).fit(plain, X, y, 12)
    assert not np.allclose(plain.weights[0], model.weights[0], rtol=1e-6)


NETWORKS = {
    "dense": lambda: nnbcd.MLP([10, 16, 12, 3], seed=1, dtype="float64"),
    "tt": lambda: nnbcd.MLP([10, 16, 16, 3], seed=1, dtype="float64", init_scale=0.1,
                            compression=[None, nnbcd.TensorTrain(3, shape=(4, 4, 4, 4)), None]),
    "pruned": lambda: nnbcd.MLP([10, 16, 12, 3], seed=1, dtype="float64",
                                compression=[nnbcd.Pruned(0.7), nnbcd.Pruned(0.5), None]),
}


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_phi_never_rises_at_a_fixed_tau(kind):
    X, y = _problem()
    state = nnbcd.BCD(tau=2.0, tau_growth=1.0, weight_decay=0.01, extrapolation=True,
                      n_threads=1).start(NETWORKS[kind](), X, y)
    phi = [state.objective()["total"]]
    for _ in range(40):
        state.step()
        phi.append(state.objective()["total"])
    rises = np.diff(phi) / np.abs(phi[:-1])
    assert rises.max() <= 1e-12, f"Φ rose by {rises.max():.3g} (relative)"
    assert phi[-1] < 0.5 * phi[0]


def test_the_safeguard_undoes_a_move_that_raises_phi():
    # A pruned layer whose support moves: projecting the moved W can cost more than the move
    # gains, and the safeguard must then keep the swept point.
    X, y = _problem(n=200, seed=3)
    state = nnbcd.BCD(tau=20.0, tau_growth=1.0, extrapolation=True, n_threads=1).start(
        nnbcd.MLP([10, 24, 3], seed=4, dtype="float64",
                  compression=[nnbcd.Pruned(0.9), None]), X, y)
    phi, restarted_at = [state.objective()["total"]], []
    for _ in range(60):
        t, restarts = state.extrapolation_state()[:2]
        state.step()
        phi.append(state.objective()["total"])
        if state.restarts > restarts:  # t halved, not reset: the momentum built so far is kept
            assert state.extrapolation_state()[0] == max(2, t // 2)
            restarted_at.append(t)
        else:
            assert state.extrapolation_state()[0] == max(2, t + 1)
    assert max(restarted_at, default=0) >= 6  # where halving and a reset to 2 differ
    assert np.max(np.diff(phi) / np.abs(phi[:-1])) <= 1e-12


def test_fewer_iterations_to_the_same_objective_and_accuracy_on_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25,
                                                        random_state=0, stratify=y)

    def run(extrapolation, iterations):
        model = nnbcd.MLP([64, 128, 10], seed=0)
        history = nnbcd.BCD(weight_decay=0.003 * len(X_train), extrapolation=extrapolation).fit(
            model, X_train, y_train, iterations)
        return history.objective[-1]["total"], np.mean(model.predict(X_test) == y_test)

    assert run(True, 15)[0] < run(False, 30)[0]
    assert run(True, 5)[1] >= run(False, 10)[1] - 0.02
    assert run(True, 5)[1] > run(False, 5)[1] + 0.1
