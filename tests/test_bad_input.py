"""Bad input gets a clear exception that names the argument."""

import numpy as np
import pytest

import nnbcd


@pytest.fixture
def model():
    return nnbcd.MLP([4, 6, 3], seed=0)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((20, 4)), rng.integers(0, 3, 20)


@pytest.mark.parametrize("kwargs, match", [
    ({"sizes": [4]}, "at least two"),
    ({"sizes": [4, 0, 3]}, ">= 1"),
    ({"sizes": "abc"}, "sizes"),
    ({"sizes": [4, 3], "init": "orthogonal"}, "init must be one of"),
    ({"sizes": [4, 3], "init_scale": 0.0}, "init_scale must be > 0"),
    ({"sizes": [4, 3], "dtype": "float16"}, "dtype must be one of"),
    ({"sizes": [4, 3], "seed": -1}, "seed must be >= 0"),
    ({"sizes": [4, 3], "compression": "tt-ish"}, "compression"),
    ({"sizes": [4, 3], "compression": ["magic"]}, r"compression\[0\]"),
])
def test_bad_model_options(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nnbcd.MLP(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"gamma": 0.0}, "gamma must be > 0"),
    ({"rho": -1.0}, "rho must be > 0"),
    ({"alpha": 0.0}, "alpha must be > 0"),
    ({"tau": -0.1}, "tau must be >= 0"),
    ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
    ({"weight_decay": [0.1, -1.0]}, r"weight_decay\[1\] must be >= 0"),
    ({"weight_decay": [0.1, np.inf]}, r"weight_decay\[1\] must be finite"),
    ({"weight_decay": []}, "weight_decay must be a number or a 1-D sequence"),
    ({"weight_decay": [[0.1]]}, "weight_decay must be a number or a 1-D sequence"),
    ({"gamma": float("nan")}, "gamma must be finite"),
    ({"n_threads": -2}, "n_threads must be >= 0"),
    ({"rho": "1"}, "rho must be a real number"),
    ({"train_bias": "yes"}, "train_bias"),
])
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nnbcd.BCD(**kwargs)


def test_weight_decay_per_layer_must_match_the_network():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    model = nnbcd.MLP([4, 6, 3], seed=0)  # two layers
    with pytest.raises(ValueError, match=r"weight_decay must have one value or one per layer "
                                         r"\(2\), got 3"):
        nnbcd.BCD(weight_decay=[0.1, 0.2, 0.3]).start(model, X, y)
    state = nnbcd.BCD(weight_decay=0.1).start(model, X, y)
    with pytest.raises(ValueError, match=r"\(2\), got 3"):
        state.weight_decay = [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match=r"weight_decay\[1\] must be finite"):
        state.weight_decay = [0.1, np.nan]
    assert state.weight_decay == pytest.approx([0.1])  # a refused value changes nothing


def test_unknown_option_name():
    with pytest.raises(TypeError, match="gama"):
        nnbcd.BCD(gama=1.0)


def _bad_x(X):
    X = X.copy()
    X[3, 2] = np.nan
    return X


def _inf_x(X):
    X = X.copy()
    X[0, 0] = np.inf
    return X


@pytest.mark.parametrize("make_x, match", [
    (lambda X: X[:, :3], "X has 3 features, but the network expects 4"),
    (_bad_x, "X contains NaN or infinity"),
    (_inf_x, "X contains NaN or infinity"),
    (lambda X: X.astype(str).astype(object) + "a", "X must be numeric"),
    (lambda X: X[0], "X must be 2-D"),
    (lambda X: X[:0], "X is empty"),
    (lambda X: X + 1j, "X must be real-valued"),
])
def test_bad_training_data(model, data, make_x, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        nnbcd.BCD().start(model, make_x(X), y[: len(np.atleast_2d(make_x(X)))])


@pytest.mark.parametrize("make_y, match", [
    (lambda y: y[:-1], "y has 19 entries but X has 20 samples"),
    (lambda y: y + 5, "class indices 0..2"),
    (lambda y: y - 1, "class indices 0..2"),
    (lambda y: y + 0.5, "class indices 0..2"),
    (lambda y: np.where(y == 0, np.nan, y), "y contains NaN"),
    (lambda y: np.zeros((20, 2)), r"shape \(n_samples, n_outputs\)"),
])
def test_bad_targets(model, data, make_y, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        nnbcd.BCD().start(model, X, make_y(y))


def test_bad_prediction_input(model):
    with pytest.raises(ValueError, match="X has 5 features"):
        model.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        model.decision_function(np.full((2, 4), np.nan))


def test_bad_fit_arguments(model, data):
    X, y = data
    with pytest.raises(ValueError, match="iterations must be >= 0"):
        nnbcd.BCD().fit(model, X, y, -1)
    with pytest.raises(TypeError, match="validation must be a tuple"):
        nnbcd.BCD().fit(model, X, y, 1, validation=X)
    with pytest.raises(ValueError, match="validation X has 2 features"):
        nnbcd.BCD().fit(model, X, y, 1, validation=(X[:, :2], y))


def test_memory_refused_before_allocating(model, monkeypatch):
    from nnbcd import bcd

    monkeypatch.setattr(bcd, "available_memory", lambda: 1000)
    with pytest.raises(MemoryError, match="GiB for the lifted variables"):
        nnbcd.BCD().start(model, np.zeros((50, 4)), np.zeros(50, int))


def test_divergence_is_reported(data):
    X, y = data
    model = nnbcd.MLP([4, 6, 3], seed=0, dtype="float32")
    with pytest.raises(nnbcd.DivergenceError, match="non-finite"):
        nnbcd.BCD(gamma=1e-30, rho=1e30, alpha=1e-30).fit(model, X * 1e30, y, 5)
    assert issubclass(nnbcd.DivergenceError, FloatingPointError)


@pytest.mark.parametrize("call, match", [
    (lambda: nnbcd.ops.relu_prox([1.0], [1.0, 2.0], 1.0), "same shape"),
    (lambda: nnbcd.ops.relu_prox([1.0], [1.0], 0.0), "eta must be > 0"),
    (lambda: nnbcd.ops.relu_prox([np.nan], [1.0], 1.0), "a contains NaN"),
    (lambda: nnbcd.blocks.weights(np.ones((3, 5)), np.ones((4, 6)), np.ones((3, 4)),
                                  np.ones(3), 1.0, 1.0), "inconsistent shapes"),
    (lambda: nnbcd.blocks.weights(np.ones((3, 5)), np.ones((4, 5)), np.ones((3, 4)),
                                  np.ones(3), 1.0, 1.0, tau=1.0), "G is required"),
    (lambda: nnbcd.blocks.hidden_v(np.ones((4, 5)), np.ones((3, 5)), np.ones((3, 2)),
                                   np.ones(3), 1.0, 1.0), "inconsistent shapes"),
])
def test_bad_operator_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
