"""NNBCDClassifier and NNBCDRegressor as scikit-learn estimators (issue #7): scikit-learn's own
estimator checks, Pipeline / GridSearchCV, warm start, early stopping, the regressor's accuracy,
pickling, and the checks of their hyperparameters.

The tests use small networks and ``n_threads=1``: on a busy machine OpenMP threads wait for
each other far longer than these tiny problems take to solve.
"""

import inspect
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from nnbcd import MLP, History, NNBCDClassifier, NNBCDRegressor
from nnbcd.recipes import recipe

TAU_GROWTH = 1.03  # a growing tau, to see where a run continues it from

SMALL = dict(hidden_layer_sizes=(16,), max_iter=20, n_threads=1)


@parametrize_with_checks([NNBCDClassifier(**SMALL, dtype="float64"),
                          NNBCDRegressor(**SMALL, dtype="float64")])
def test_sklearn_estimator_checks_float64(estimator, check):
    check(estimator)


# float32, the default, passes every check too; the two tests below cover what once failed in
# float32 alone (unscaled inputs, a sample against its batch).
@parametrize_with_checks([NNBCDClassifier(**SMALL), NNBCDRegressor(**SMALL)])
def test_sklearn_estimator_checks_float32(estimator, check):
    check(estimator)


def test_float32_trains_on_unscaled_inputs():
    """X ~ N(100, 1), as several estimator checks fit: the weight update takes its inputs'
    means out and solves for them exactly (blocks.hpp), so float32 trains as float64 does.
    Before, the float32 Cholesky broke down at the first iteration (DivergenceError)."""
    rng = np.random.default_rng(0)
    X = rng.normal(100, 1, (400, 2))
    y = (X[:, 0] > X[:, 1]).astype(int)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    float32, float64 = (
        NNBCDClassifier(**{**SMALL, "max_iter": 50}, random_state=0, dtype=dtype)
        .fit(X_train, y_train).score(X_test, y_test) for dtype in ("float32", "float64"))
    assert float32 >= 0.9  # measured 0.96, as in float64
    assert abs(float32 - float64) <= 0.02


@pytest.mark.parametrize("compression", [None, "prune", "tt"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_float32_predicts_a_sample_as_in_its_batch(compression, n_threads):
    """Exactly (check_methods_subset_invariance asks for 1e-7): each layer's product sums every
    sample in one order whatever the batch around it (batch_product.hpp); the pruned layers
    take the CSR product, the TT layers two factors."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 16))
    y = X[:, 0] * X[:, 1] + X[:, 2]
    params = dict(hidden_layer_sizes=(16, 16), max_iter=10, compression=compression,
                  tt_rank=2, random_state=0, n_threads=n_threads)
    for est, method in [(NNBCDRegressor(**params).fit(X, y), "predict"),
                        (NNBCDClassifier(**params).fit(X, y > 0), "decision_function")]:
        batch = getattr(est, method)(X)
        one_by_one = np.concatenate([getattr(est, method)(X[i:i + 1]) for i in range(len(X))])
        assert np.array_equal(one_by_one, batch), (type(est).__name__, method)


# --- the regressor -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smooth_problem():
    """A smooth 2-D function an MLP fits well and a linear model cannot: y = sin(x0)·x1,
    scaled and shifted (the regressor standardises y), 25 % held out."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (800, 2))
    y = 10 * np.sin(X[:, 0]) * X[:, 1] + 100
    return train_test_split(X, y, test_size=0.25, random_state=0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # MLPRegressor's
def test_regressor_fits_a_smooth_function(smooth_problem):
    X_train, X_test, y_train, y_test = smooth_problem
    reg = NNBCDRegressor(hidden_layer_sizes=(32,), max_iter=100, random_state=0, n_threads=1)
    assert reg.fit(X_train, y_train) is reg
    r2 = reg.score(X_test, y_test)
    mlp = MLPRegressor(hidden_layer_sizes=(32,), max_iter=3000, random_state=0).fit(
        X_train, y_train)
    ridge = Ridge().fit(X_train, y_train)
    # measured: NN-BCD 0.985, MLPRegressor(adam) 0.96, Ridge < 0
    assert r2 >= 0.95
    assert r2 >= mlp.score(X_test, y_test) - 0.02
    assert ridge.score(X_test, y_test) < 0.1
    prediction = reg.predict(X_test)
    assert prediction.shape == y_test.shape and prediction.dtype == np.float64
    assert reg.y_mean_.shape == reg.y_scale_.shape == (1,) and reg.n_outputs_ == 1
    assert reg.y_mean_[0] == pytest.approx(y_train.mean())
    assert isinstance(reg.model_, MLP) and isinstance(reg.history_, History)
    assert reg.model_.sizes == [2, 32, 1] and reg.n_iter_ == 100


def test_regressor_several_outputs(smooth_problem):
    X_train, X_test, _, _ = smooth_problem

    def targets(X):
        return np.column_stack([np.sin(X[:, 0]) * X[:, 1], 0.01 * np.cos(X[:, 0] + X[:, 1])])

    reg = NNBCDRegressor(hidden_layer_sizes=(32,), max_iter=100, random_state=0, n_threads=1)
    reg.fit(X_train, targets(X_train))
    assert reg.predict(X_test).shape == (len(X_test), 2) and reg.n_outputs_ == 2
    assert reg.score(X_test, targets(X_test)) >= 0.95
    # a one-column 2-D y gives one-column predictions; a 1-D y 1-D ones
    column = reg.fit(X_train, targets(X_train)[:, :1]).predict(X_test)
    assert column.shape == (len(X_test), 1)


def test_constant_target_is_predicted():
    X = np.random.default_rng(0).standard_normal((30, 3))
    # seeded: with a random initialisation 20 iterations left up to 0.055 of error
    reg = NNBCDRegressor(**{**SMALL, "max_iter": 50}, random_state=0).fit(X, np.full(30, 7.0))
    assert reg.y_scale_[0] == 1.0
    np.testing.assert_allclose(reg.predict(X), 7.0, atol=0.05)


# --- Pipeline, GridSearchCV, clone, pickle ------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def test_pipeline_and_grid_search(digits):
    X_train, X_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), NNBCDClassifier(max_iter=60, random_state=0,
                                                           n_threads=1))
    grid = {"nnbcdclassifier__hidden_layer_sizes": [(16,), (48,)],
            "nnbcdclassifier__weight_decay": [0.003, 0.3]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X_train, y_train)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_score_ >= 0.85  # measured 0.91
    # the heavy penalty is the worse choice here
    assert search.best_params_["nnbcdclassifier__weight_decay"] == 0.003
    assert search.score(X_test, y_test) >= 0.85
    fitted = search.best_estimator_[-1]
    assert fitted.n_features_in_ == 64 and list(fitted.classes_) == list(range(10))


def test_regressor_in_a_grid_search(smooth_problem):
    X_train, X_test, y_train, y_test = smooth_problem
    search = GridSearchCV(
        make_pipeline(StandardScaler(), NNBCDRegressor(max_iter=50, random_state=0,
                                                       n_threads=1)),
        {"nnbcdregressor__hidden_layer_sizes": [(4,), (32,)]}, cv=3).fit(X_train, y_train)
    assert search.best_params_ == {"nnbcdregressor__hidden_layer_sizes": (32,)}
    assert search.score(X_test, y_test) >= 0.9


@pytest.mark.parametrize("Estimator", [NNBCDClassifier, NNBCDRegressor])
def test_clone_and_pickle(Estimator, small_problem):
    X, y = small_problem
    est = Estimator(**SMALL, compression="prune", sparsity=0.5, random_state=3).fit(X, y)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "model_")
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict(X), est.predict(X))
    assert copy.n_iter_ == est.n_iter_ and copy.tau_ == est.tau_
    np.testing.assert_array_equal(twin.fit(X, y).predict(X), est.predict(X))


# --- warm start --------------------------------------------------------------------------------

def _squared_loss(clf, X, y):
    """½‖network outputs − one-hot targets‖²: what the deployed network fits."""
    return 0.5 * np.sum((clf.model_.decision_function(X) - np.eye(10)[y]) ** 2)


@pytest.mark.parametrize("compression", [None, "prune"])
def test_warm_start_continues_training(digits, compression):
    X_train, _, y_train, _ = digits
    X_train = StandardScaler().fit_transform(X_train)
    # Projected BCD (W <- G): the restart re-lifts U, V from the network, and with W = G at the
    # restart the run then goes on as it would have (the comparison with 30 iterations in one go
    # below); by plain BCD, the pruned recipe's, the re-lifted start costs more early on.
    tau = 5.0
    params = dict(hidden_layer_sizes=(32,), random_state=0, n_threads=1,
                  compression=compression, sparsity=0.8, tau=tau, tau_growth=TAU_GROWTH,
                  overwrite_weights=True)
    clf = NNBCDClassifier(max_iter=15, **params).fit(X_train, y_train)
    first = ([W.copy() for W in clf.model_.deployed_weights], clf.score(X_train, y_train),
             _squared_loss(clf, X_train, y_train), clf.tau_)
    assert first[3] == pytest.approx(tau * TAU_GROWTH ** 15, rel=1e-5)  # float32 tau

    clf.set_params(warm_start=True, max_iter=15).fit(X_train, y_train)
    assert clf.n_iter_ == 15 == len(clf.history_)  # as scikit-learn's MLP: the last fit's
    assert clf.score(X_train, y_train) >= first[1]
    assert _squared_loss(clf, X_train, y_train) < first[2]
    # tau continued where it stopped, so compression kept tightening
    assert clf.tau_ == pytest.approx(tau * TAU_GROWTH ** 30, rel=1e-5)
    # the same as 30 iterations in one go, up to the re-lifting of U, V at the restart
    straight = NNBCDClassifier(max_iter=30, **params).fit(X_train, y_train)
    assert straight.tau_ == pytest.approx(clf.tau_, rel=1e-5)
    assert abs(clf.score(X_train, y_train) - straight.score(X_train, y_train)) < 0.02

    # without warm_start a second fit starts afresh: the first fit again
    cold = clf.set_params(warm_start=False, max_iter=15).fit(X_train, y_train)
    for W, W_first in zip(cold.model_.deployed_weights, first[0]):
        np.testing.assert_array_equal(W, W_first)
    warm = clone(cold).set_params(warm_start=True).fit(X_train, y_train).fit(X_train, y_train)
    assert any(not np.array_equal(W, W_first)
               for W, W_first in zip(warm.model_.deployed_weights, first[0]))


def test_warm_start_floors_the_target_gaps_tau_where_it_resumed(digits):
    """With ``target_gap`` τ never shrinks below the τ the fit started from; a warm start
    starts from ``tau_``, so that is the floor, not ``tau``."""
    X_train, _, y_train, _ = digits
    clf = NNBCDClassifier(hidden_layer_sizes=(32, 32), compression="tt", tt_rank=4, tau=1.0,
                          max_iter=20, random_state=0, n_threads=1, dtype="float64")
    resumed_from = clf.fit(X_train, y_train).tau_
    assert resumed_from > 10.0  # grown well above ``tau`` while the gap was wide
    # a target gap so loose that every layer is within half of it (||W − G|| <= ||W||): τ
    # shrinks at every step but for the floor (from ``tau`` it would end at 1.2^-15 of it)
    clf.set_params(warm_start=True, max_iter=15, target_gap=3.0).fit(X_train, y_train)
    assert clf.tau_ == resumed_from


def test_warm_start_refuses_a_different_problem(small_problem):
    X, y = small_problem
    clf = NNBCDClassifier(**SMALL, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="classes of the previous fit.*warm_start=False"):
        clf.fit(X, np.where(y == 2, 5, y))
    with pytest.raises(ValueError, match=r"layer sizes \[5, 16, 3\] -> \[5, 8, 3\].*"
                                         "warm_start=False"):
        clone(clf).set_params(warm_start=True).fit(X, y).set_params(
            hidden_layer_sizes=(8,)).fit(X, y)
    with pytest.raises(ValueError, match="compression.*warm_start=False"):
        clf.set_params(compression="prune").fit(X, y)
    with pytest.raises(ValueError, match="dtype float32 -> float64"):
        clf.set_params(compression=None, dtype="float64").fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but NNBCDClassifier is expecting 5"):
        clf.set_params(dtype="float32").fit(X[:, :4], y)
    reg = NNBCDRegressor(**SMALL, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="the 1 output.*got 2.*warm_start=False"):
        reg.fit(X, np.column_stack([y, y]))
    # a warm start keeps the target scaling of the first fit
    mean = reg.y_mean_.copy()
    assert np.array_equal(reg.fit(X, y + 100).y_mean_, mean)


# --- early stopping ----------------------------------------------------------------------------

def test_early_stopping_keeps_the_best_network(digits):
    X_train, X_test, y_train, y_test = digits
    X_train = StandardScaler().fit(X_train).transform(X_train)
    clf = NNBCDClassifier(hidden_layer_sizes=(32,), max_iter=300, early_stopping=True,
                          random_state=0, n_threads=1, tau_growth=TAU_GROWTH)
    clf.fit(X_train, y_train)
    scores = clf.validation_scores_
    best = int(np.argmax(scores)) + 1  # the first best iteration
    assert clf.n_iter_ == len(scores) == len(clf.history_) < 300
    assert clf.best_validation_score_ == max(scores) >= 0.85  # measured 0.90
    # stopped n_iter_no_change iterations after the last improvement ...
    improved = [k + 1 for k in range(len(scores)) if scores[k] >= max(scores[:k], default=-1)
                + 1e-4]
    assert clf.n_iter_ == improved[-1] + 10
    # ... and kept the network of the best iteration, with its tau
    assert clf.model_.training_["iterations"] == best
    assert clf.tau_ == pytest.approx(recipe(None).tau * TAU_GROWTH ** best, rel=1e-5)
    # trained on 90 % of the data
    assert clf.model_.training_["weight_decay"] == pytest.approx(
        0.003 * (len(X_train) - round(0.1 * len(X_train))), rel=0.01)


def test_regressor_early_stopping(smooth_problem):
    X_train, X_test, y_train, y_test = smooth_problem
    reg = NNBCDRegressor(hidden_layer_sizes=(32,), max_iter=400, early_stopping=True,
                         tol=1e-3, random_state=0, n_threads=1).fit(X_train, y_train)
    assert reg.n_iter_ < 400 and reg.best_validation_score_ >= 0.95
    assert reg.score(X_test, y_test) >= 0.95
    assert reg.validation_scores_[reg.model_.training_["iterations"] - 1] == \
        reg.best_validation_score_


def test_no_early_stopping_records_no_scores(small_problem):
    X, y = small_problem
    clf = NNBCDClassifier(**SMALL).fit(X, y)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.n_iter_ == 20


def test_early_stopping_needs_two_validation_samples(small_problem):
    X, y = small_problem
    with pytest.raises(ValueError, match="validation set has 1 sample"):
        NNBCDRegressor(**SMALL, early_stopping=True, validation_fraction=0.01).fit(X, y)


# --- hyperparameters and data ------------------------------------------------------------------

@pytest.mark.parametrize("Estimator", [NNBCDClassifier, NNBCDRegressor])
@pytest.mark.parametrize("params, error, match", [
    ({"hidden_layer_sizes": (16, 0)}, ValueError, "hidden_layer_sizes must hold ints >= 1"),
    ({"hidden_layer_sizes": 2.5}, TypeError, "hidden_layer_sizes must be an int or a tuple"),
    ({"hidden_layer_sizes": ("a",)}, ValueError, "hidden_layer_sizes"),
    ({"gamma": -1.0}, ValueError, "gamma must be > 0"),
    ({"rho": "big"}, TypeError, "rho must be a real number"),
    ({"tau": 10.0, "tau_max": 1.0}, ValueError, "tau_max must be >= tau"),
    ({"target_gap": -0.1}, ValueError, "target_gap must be >= 0"),
    ({"weight_decay": np.nan}, ValueError, "weight_decay must be finite"),
    ({"max_iter": 2.0}, TypeError, "max_iter must be an integer"),
    ({"sparsity": 1.0}, ValueError, r"sparsity must be in \[0, 1\)"),
    ({"tt_rank": 0}, ValueError, "tt_rank must be >= 1"),
    ({"compression": "svd"}, ValueError, "compression must be one of"),
    ({"early_stopping": "yes"}, TypeError, "early_stopping must be True or False"),
    ({"validation_fraction": 1.0}, ValueError, r"validation_fraction must be in \(0, 1\)"),
    ({"n_iter_no_change": 0}, ValueError, "n_iter_no_change must be >= 1"),
    ({"tol": -1e-3}, ValueError, "tol must be >= 0"),
    ({"warm_start": 1}, TypeError, "warm_start must be True or False"),
    ({"random_state": "seed"}, ValueError, "cannot be used to seed"),
    ({"n_threads": -1}, ValueError, "n_threads must be >= 0"),
    ({"dtype": "float16"}, ValueError, "dtype must be one of"),
    ({"verbose": "loud"}, TypeError, "verbose must be True or False"),
])
def test_bad_hyperparameters_are_named_in_fit(Estimator, small_problem, params, error, match):
    X, y = small_problem
    est = Estimator(**params)  # __init__ only stores them
    with pytest.raises(error, match=match):
        est.fit(X, y)


@pytest.mark.parametrize("Estimator", [NNBCDClassifier, NNBCDRegressor])
def test_bad_data(Estimator, small_problem):
    X, y = small_problem
    bad = X.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        Estimator(**SMALL).fit(bad, y)
    with pytest.raises(ValueError, match="X has 60 samples but y has 59"):
        Estimator(**SMALL).fit(X, y[:-1])
    with pytest.raises(ValueError, match="requires y to be passed"):
        Estimator(**SMALL).fit(X, None)
    est = Estimator(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(np.where(bad == np.inf, np.nan, bad))
    with pytest.raises(ValueError, match=f"X has 4 features, but {Estimator.__name__} is "
                                         "expecting 5 features"):
        est.predict(X[:, :4])


def test_regressor_bad_targets(small_problem):
    X, _ = small_problem
    y = np.linspace(0, 1, 60)
    y[7] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        NNBCDRegressor(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match="y"):
        NNBCDRegressor(**SMALL).fit(X, np.zeros((60, 2, 2)))


# --- documentation -----------------------------------------------------------------------------

@pytest.mark.parametrize("Estimator", [NNBCDClassifier, NNBCDRegressor])
def test_every_parameter_and_public_method_is_documented(Estimator):
    doc = inspect.getdoc(Estimator)
    parameters, attributes = doc.split("Parameters\n----------")[1].split(
        "Attributes\n----------")
    documented = {name.strip() for line in parameters.splitlines()
                  if line and not line.startswith(" ") for name in line.split(":")[0].split(",")}
    assert documented == set(Estimator().get_params())
    for name in ("model_", "history_", "n_iter_", "tau_", "n_features_in_",
                 "validation_scores_", "best_validation_score_"):
        assert f"\n{name} :" in attributes
    for name, member in inspect.getmembers(Estimator, callable):
        if not name.startswith("_"):
            assert inspect.getdoc(member), f"{Estimator.__name__}.{name} has no docstring"
    assert "predict_proba" not in dir(Estimator)  # the scores are not probabilities
