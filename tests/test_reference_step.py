"""Full BCD iterations of nnbcd.BCD against the independent numpy oracle
(tests/oracle.py, written from DESIGN §2): initial forward state, then W, b, U, V
and the objective terms after each of 5 sweeps, in float64 to ~1e-9 relative.
"""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

import nnbcd  # noqa: E402

SIZES = [7, 9, 8, 5]
N_SAMPLES = 40
RTOL = 1e-9
TERMS = ("total", "loss", "activation", "linear", "weight_decay", "compression")


def _rel_err(got, ref):
    got = np.asarray(got, dtype=np.float64)
    return float(np.linalg.norm(got - ref)) / max(float(np.linalg.norm(ref)), 1e-300)


def _make_model(sizes, rng, dtype="float64"):
    """An MLP whose parameters are set (through the writable views) to our own
    random values, so that the oracle knows them independently of the init."""
    model = nnbcd.MLP(sizes, seed=3, dtype=dtype)
    assert len(model.weights) == len(sizes) - 1
    assert len(model.biases) == len(sizes) - 1
    W, b = [], []
    for k in range(len(sizes) - 1):
        d_in, d_out = sizes[k], sizes[k + 1]
        assert model.weights[k].shape == (d_out, d_in)
        assert model.biases[k].shape == (d_out,)
        Wk = rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)
        bk = 0.3 * rng.standard_normal(d_out)
        model.weights[k][...] = Wk
        model.biases[k][...] = bk
        W.append(model.weights[k].astype(np.float64))  # the values as stored
        b.append(model.biases[k].astype(np.float64))
    for k in range(len(W)):
        np.testing.assert_allclose(model.weights[k], W[k], rtol=0, atol=0)
    return model, W, b


def _assert_state(state, W, b, U, V, where):
    var = state.variables()
    assert set(var) >= {"W", "b", "U", "V"}
    N = len(W)
    for key, ref in (("W", W), ("b", b), ("U", U), ("V", V)):
        got = var[key]
        assert len(got) == N, f"{where}: len(variables()[{key!r}]) = {len(got)}, expected {N}"
        for k in range(N):
            assert np.shape(got[k]) == ref[k].shape, (
                f"{where}: {key}[{k}] shape {np.shape(got[k])} != {ref[k].shape}")
            err = _rel_err(got[k], ref[k])
            assert err <= RTOL, f"{where}: {key}[{k}] (layer {k + 1}) relative error {err:.3e}"
    return var


def _assert_objective(state, ref, where):
    obj = state.objective()
    for key in TERMS:
        assert key in obj, f"objective() lacks {key!r}"
    scale = abs(ref["total"])
    for key in TERMS:
        got, exp = float(obj[key]), ref[key]
        assert abs(got - exp) <= RTOL * abs(exp) + 1e-13 * scale, (
            f"{where}: objective[{key!r}] = {got!r}, oracle {exp!r}")
    parts = sum(float(obj[k]) for k in TERMS if k != "total")
    assert abs(float(obj["total"]) - parts) <= 1e-12 * abs(parts), "total != sum of the terms"
    assert float(obj["compression"]) == 0.0


def _run_reference(sizes, X, Y, y_arg, W, b, model, gamma, rho, alpha, wd, train_bias, steps=5):
    trainer = nnbcd.BCD(gamma, rho, alpha, weight_decay=wd, train_bias=train_bias)
    Xc = X.T  # oracle layout (d0, n)
    state = trainer.start(model, X, y_arg)

    U, V = oracle.forward(W, b, Xc)
    var = _assert_state(state, W, b, U, V, "after start")
    _assert_objective(state, oracle.objective_terms(W, b, U, V, Xc, Y, gamma, rho, wd),
                      "after start")
    b_init = [x.copy() for x in b]
    for it in range(1, steps + 1):
        # variables() returns copies: scribbling on them must not affect the state
        for key in ("W", "b", "U", "V"):
            for arr in var[key]:
                if isinstance(arr, np.ndarray) and arr.flags.writeable:
                    arr[...] = np.nan
        state.step()
        W, b, U, V = oracle.bcd_iteration(W, b, U, V, Xc, Y, gamma, rho, alpha, wd, train_bias)
        var = _assert_state(state, W, b, U, V, f"after step {it}")
        _assert_objective(state, oracle.objective_terms(W, b, U, V, Xc, Y, gamma, rho, wd),
                          f"after step {it}")
        if not train_bias:
            for k in range(len(b)):
                assert np.array_equal(np.asarray(var["b"][k], np.float64), b_init[k]), (
                    "train_bias=False changed a bias")
    return state


@pytest.mark.parametrize("train_bias", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 0.25, [0.0, 0.6, 0.25]])
@pytest.mark.parametrize("gamma,rho,alpha", [(1.0, 1.0, 1.0), (0.4, 2.0, 0.1)])
def test_classification_matches_oracle(train_bias, weight_decay, gamma, rho, alpha):
    """... with one weight decay for all layers, or one per layer."""
    rng = np.random.default_rng(100 + int(10 * np.sum(weight_decay)) + 2 * train_bias
                                + int(10 * alpha))
    X = rng.standard_normal((N_SAMPLES, SIZES[0]))
    y = rng.integers(0, SIZES[-1], size=N_SAMPLES)
    model, W, b = _make_model(SIZES, rng)
    Y = oracle.one_hot(y, SIZES[-1])
    _run_reference(SIZES, X, Y, y, W, b, model, gamma, rho, alpha, weight_decay, train_bias)


@pytest.mark.parametrize("train_bias", [True, False])
def test_regression_targets_match_oracle(train_bias):
    rng = np.random.default_rng(7)
    sizes = [6, 10, 7, 3]
    X = rng.standard_normal((N_SAMPLES, sizes[0]))
    T = rng.standard_normal((N_SAMPLES, sizes[-1]))          # (n, K) regression targets
    model, W, b = _make_model(sizes, rng)
    _run_reference(sizes, X, T.T.copy(), T, W, b, model, 0.7, 1.3, 0.4, 0.05, train_bias)


def test_single_layer_network_matches_oracle():
    """N = 1 (no hidden layer): only steps 1-3 run."""
    rng = np.random.default_rng(8)
    sizes = [5, 4]
    X = rng.standard_normal((30, 5))
    y = rng.integers(0, 4, size=30)
    model, W, b = _make_model(sizes, rng)
    _run_reference(sizes, X, oracle.one_hot(y, 4), y, W, b, model, 0.9, 1.1, 0.3, 0.0, True)


def test_decision_function_and_predict():
    rng = np.random.default_rng(9)
    model, W, b = _make_model(SIZES, rng)
    X = rng.standard_normal((N_SAMPLES, SIZES[0]))
    U, V = oracle.forward(W, b, X.T)
    out = model.decision_function(X)
    assert out.shape == (N_SAMPLES, SIZES[-1])
    assert _rel_err(out, V[-1].T) <= 1e-12
    pred = model.predict(X)
    assert np.array_equal(np.asarray(pred), np.argmax(V[-1], axis=0))


def test_float32_smoke():
    """Default dtype (float32): a few sweeps track the float64 oracle loosely."""
    rng = np.random.default_rng(11)
    sizes = [7, 9, 8, 5]
    model, W, b = _make_model(sizes, rng, dtype="float32")
    X = rng.standard_normal((N_SAMPLES, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], size=N_SAMPLES)
    gamma, rho, alpha = 1.0, 1.0, 1.0
    state = nnbcd.BCD(gamma, rho, alpha).start(model, X, y)
    Xc = X.T.astype(np.float64)
    Y = oracle.one_hot(y, sizes[-1])
    U, V = oracle.forward(W, b, Xc)
    for _ in range(3):
        state.step()
        W, b, U, V = oracle.bcd_iteration(W, b, U, V, Xc, Y, gamma, rho, alpha)
    var = state.variables()
    assert var["W"][0].dtype == np.float32 and var["U"][0].dtype == np.float32
    ref = oracle.objective_terms(W, b, U, V, Xc, Y, gamma, rho)
    obj = state.objective()
    assert abs(float(obj["total"]) - ref["total"]) <= 1e-3 * ref["total"]
    for k in range(len(W)):
        assert _rel_err(var["W"][k], W[k]) <= 1e-3


def test_narrowing_network_matches_oracle():
    """Layers that narrow sharply (20 -> 6 -> 3) make the V updates take the Woodbury form."""
    rng = np.random.default_rng(77)
    sizes = [7, 20, 6, 3]
    X = rng.standard_normal((N_SAMPLES, sizes[0]))
    y = rng.integers(0, sizes[-1], size=N_SAMPLES)
    model, W, b = _make_model(sizes, rng)
    _run_reference(sizes, X, oracle.one_hot(y, sizes[-1]), y, W, b, model, 0.8, 1.2, 0.5, 0.1,
                   True)
