"""Extrapolated NN-BCD (``BCD(extrapolation=True)``): after every exact sweep, every block moves
on along the sweep's step, y = x + β_t (x − x_before) with Nesterov's β_t = (t − 1)/(t + 2), and
the move is kept only where Φ(y) is no higher than Φ where the sweep started; else the half step
(x + y)/2 is tried on the same test, else the run stays at x; a refused y halves t (at least 2).

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
    """The extrapolated iteration in numpy: the oracle's sweep, then the move and its test
    against Φ where the sweep started. Returns the end point, how many moves were kept at half
    the step and how many undone."""
    def phi(point):
        return oracle.objective_terms(*point, X, Y, gamma, rho, wd)["total"]

    def moved(swept, before, beta):
        return tuple([z + beta * (z - z_before) for z, z_before in zip(block, block_before)]
                     for block, block_before in zip(swept, before))

    x, kept, t, halved, restarts = (W, b, U, V), None, 1, 0, 0
    for _ in range(iterations):
        at_start = phi(x)
        swept = oracle.bcd_iteration(*x, X, Y, gamma, rho, alpha, wd)
        x = swept
        if t > 1:
            beta = (t - 1) / (t + 2)
            if phi(moved(swept, kept, beta)) <= at_start:
                x, t = moved(swept, kept, beta), t + 1
            else:
                t = max(2, t // 2)
                if phi(moved(swept, kept, beta / 2)) <= at_start:
                    x, halved = moved(swept, kept, beta / 2), halved + 1
                else:
                    restarts += 1
        else:
            t = 2
        kept = swept
    return x, halved, restarts


def test_the_same_run_as_numpy_from_the_oracle():
    X, y = _problem()
    gamma, rho, alpha, wd = 1.0, 2.0, 0.5, 0.01
    model = nnbcd.MLP([10, 16, 12, 3], seed=2, dtype="float64")
    state = nnbcd.BCD(gamma, rho, alpha, weight_decay=wd, extrapolation=True,
                      n_threads=1).start(model, X, y)
    start = state.variables()
    Xc = np.ascontiguousarray(X.T)
    (W, b, U, V), halved, restarts = _numpy_run(start["W"], start["b"], start["U"], start["V"],
                                                Xc, oracle.one_hot(y, 3), gamma, rho, alpha,
                                                wd, 12)
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


def _monotone_objective(state, steps):
    """Φ before and after each of ``steps`` steps, asserted never to rise."""
    phi = [state.objective()["total"]]
    for _ in range(steps):
        state.step()
        phi.append(state.objective()["total"])
    rises = np.diff(phi) / np.abs(phi[:-1])
    assert rises.max() <= 1e-12, f"Φ rose by {rises.max():.3g} (relative)"
    return phi


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_phi_never_rises_at_a_fixed_tau(kind):
    X, y = _problem()
    state = nnbcd.BCD(tau=2.0, tau_growth=1.0, weight_decay=0.01, extrapolation=True,
                      n_threads=1).start(NETWORKS[kind](), X, y)
    phi = _monotone_objective(state, 40)
    assert phi[-1] < 0.5 * phi[0]


def test_phi_never_rises_after_the_weight_decay_is_lowered():
    # The safeguard compares with Φ where the sweep started: after λ changes, that is Φ at the
    # new λ (a reference kept from the old, larger λ would let a rising move through).
    X, y = _problem()
    state = nnbcd.BCD(tau=2.0, tau_growth=1.0, weight_decay=[0.0, 2.0, 5.0], extrapolation=True,
                      n_threads=1).start(NETWORKS["tt"](), X, y)
    for _ in range(10):
        state.step()
    state.weight_decay = 0.001
    _monotone_objective(state, 30)
    squared = sum(float(np.sum(W ** 2)) for W in state.model.weights)
    assert state.objective()["weight_decay"] == pytest.approx(0.5 * 0.001 * squared)


def test_the_safeguard_refuses_a_move_that_raises_phi():
    # A pruned layer whose support moves, projected BCD (W <- G): projecting the moved W can
    # cost more than the move gains, and the safeguard must then take half the step, or keep
    # the swept point.
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    state = nnbcd.BCD(tau=5.0, tau_growth=1.0, weight_decay=1.0, extrapolation=True,
                      overwrite_weights=True, n_threads=1).start(
        nnbcd.MLP([64, 32, 10], seed=0, dtype="float64",
                  compression=[nnbcd.Pruned(0.9), None]), X[:300] / 16, y[:300])
    halved_at, restarted_at = [], []
    for _ in range(60):
        t, restarts = state.extrapolation_state()[:2]
        at_start = state.objective()["total"]
        state.step()
        moved_rise = (state.objective()["total"] - at_start) / at_start
        t_after = state.extrapolation_state()[0]
        if state.restarts > restarts:  # y and (x + y) / 2 refused: back to x
            assert t_after == max(2, t // 2)
            restarted_at.append(t)
            continue
        if t_after != t + 1:  # y refused, (x + y) / 2 kept
            assert t_after == max(2, t // 2)
            halved_at.append(t)
        # a kept move is no higher than where the sweep started (W <- G alone can raise Φ)
        assert moved_rise <= 1e-12 or t == 1
    # both refusals happen, where halving t and a reset to 2 differ
    assert max(halved_at, default=0) >= 6 and max(restarted_at, default=0) >= 6, \
        (halved_at, restarted_at)


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
