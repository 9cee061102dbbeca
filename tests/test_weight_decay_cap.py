"""The capped weight decay (``BCD(weight_decay_cap=c)``): layer i's weight update uses
λ_i = min(λ, c·ρ||V_{i−1}||²/d_{i−1}), with V_{i−1} its input as the update sees it.

Checked here: full sweeps against the numpy oracle with the λ_i computed in numpy from the
inputs before each sweep (the cap binding on some layers and not on others, and on an input
far from zero, whose sums the core takes around its means); Φ's weight-decay term is Σ λ_i/2
||W_i||²; with extrapolation Φ at the end of each sweep is no higher than Φ where it started,
both taken at that sweep's λ_i; a cap that never binds changes nothing; bad values are refused
by name; a checkpointed run continues exactly."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

import nnbcd  # noqa: E402

SIZES = [6, 12, 10, 3]
RHO, GAMMA, ALPHA = 2.0, 1.5, 0.5


def _problem(offset=0.0, n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0])) + offset
    y = np.argmax(X[:, :3] - offset + 0.3 * rng.standard_normal((n, 3)), axis=1)
    return X, y


def _network(seed=1):
    # small hidden weights: small hidden activations, the case the cap is for
    return nnbcd.MLP(SIZES, init_scale=0.05, seed=seed, dtype="float64")


def _expected_decays(X, V, weight_decay, cap):
    inputs = [X.T] + list(V[:-1])
    return [min(weight_decay, cap * RHO * float(np.sum(v ** 2)) / v.shape[0]) for v in inputs]


def _variables(state):
    var = state.variables()
    return tuple([np.asarray(a, np.float64) for a in var[key]] for key in ("W", "b", "U", "V"))


@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_sweeps_match_the_oracle_with_each_layers_cap(offset):
    X, y = _problem(offset)
    Xc, Y = np.ascontiguousarray(X.T), oracle.one_hot(y, SIZES[-1])
    weight_decay = 4.0
    # the cap binds where the input's power is below weight_decay / cap: here the hidden layers
    # (and with the offset input, whose power is ~1e4 times larger, the first one too)
    cap = 0.1 if offset == 0.0 else 1e-7
    state = nnbcd.BCD(GAMMA, RHO, ALPHA, weight_decay=weight_decay, weight_decay_cap=cap,
                      n_threads=1).start(_network(), X, y)
    assert state.weight_decays == [weight_decay] * 3
    W, b, U, V = _variables(state)
    bound = set()
    for step in range(4):
        decays = _expected_decays(X, V, weight_decay, cap)
        bound |= {i for i, lam in enumerate(decays) if lam < weight_decay}
        state.step()
        W, b, U, V = oracle.bcd_iteration(W, b, U, V, Xc, Y, GAMMA, RHO, ALPHA, decays)
        np.testing.assert_allclose(state.weight_decays, decays, rtol=1e-10)
        for got, ref in zip(_variables(state), (W, b, U, V)):
            for g, r in zip(got, ref):
                assert np.linalg.norm(g - r) <= 1e-8 * np.linalg.norm(r), step
        terms = oracle.objective_terms(W, b, U, V, Xc, Y, GAMMA, RHO, decays)
        assert state.objective()["weight_decay"] == pytest.approx(terms["weight_decay"],
                                                                  rel=1e-9)
        assert state.objective()["total"] == pytest.approx(terms["total"], rel=1e-9)
    assert bound == ({1, 2} if offset == 0.0 else {0, 1, 2})


def test_phi_falls_at_each_sweeps_weight_decays_with_extrapolation():
    X, y = _problem()
    Xc, Y = np.ascontiguousarray(X.T), oracle.one_hot(y, SIZES[-1])
    state = nnbcd.BCD(GAMMA, RHO, ALPHA, weight_decay=4.0, weight_decay_cap=1e-3,
                      extrapolation=True, n_threads=1).start(_network(), X, y)
    seen = []
    for _ in range(30):
        before = _variables(state)
        state.step()
        decays = state.weight_decays
        at_start = oracle.objective_terms(*before, Xc, Y, GAMMA, RHO, decays)["total"]
        at_end = oracle.objective_terms(*_variables(state), Xc, Y, GAMMA, RHO, decays)["total"]
        assert at_end <= at_start * (1 + 1e-12)
        seen.append(decays)
    assert len({tuple(d) for d in seen}) > 1  # the λ_i moved: not the fixed case


def test_a_cap_that_never_binds_changes_nothing():
    X, y = _problem()
    runs = []
    for cap in (0.0, 1e9):
        state = nnbcd.BCD(GAMMA, RHO, ALPHA, weight_decay=0.1, weight_decay_cap=cap,
                          extrapolation=True, n_threads=1).start(_network(), X, y)
        for _ in range(5):
            state.step()
        runs.append(state)
    assert runs[1].weight_decays == [0.1] * 3
    for a, b in zip(runs[0].model.weights, runs[1].model.weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf"), "one"])
def test_bad_weight_decay_cap_is_refused_by_name(value):
    with pytest.raises((ValueError, TypeError), match="weight_decay_cap"):
        nnbcd.BCD(weight_decay_cap=value)


def test_a_checkpointed_run_continues_exactly(tmp_path):
    X, y = _problem()
    trainer = nnbcd.BCD(GAMMA, RHO, ALPHA, weight_decay=4.0, weight_decay_cap=1e-3,
                        extrapolation=True, n_threads=1)
    straight = trainer.start(_network(), X, y)
    for _ in range(10):
        straight.step()
    first = trainer.start(_network(), X, y)
    for _ in range(5):
        first.step()
    path = tmp_path / "run.ckpt"
    first.save_checkpoint(path)
    resumed = trainer.start(_network(), X, y)
    nnbcd.checkpoint.restore_checkpoint(resumed, path)
    for _ in range(5):
        resumed.step()
    assert resumed.weight_decays == straight.weight_decays
    for a, b in zip(resumed.model.weights, straight.model.weights):
        np.testing.assert_array_equal(a, b)
    other = nnbcd.BCD(GAMMA, RHO, ALPHA, weight_decay=4.0, weight_decay_cap=1e-2,
                      extrapolation=True, n_threads=1).start(_network(), X, y)
    with pytest.raises(ValueError, match="weight_decay_cap"):
        nnbcd.checkpoint.restore_checkpoint(other, path)
