"""NNBCDClassifier: scikit-learn's estimator contract and accuracy on real data."""

import numpy as np
import pytest
from sklearn.base import clone

from nnbcd import MLP, History, NNBCDClassifier


def test_digits_accuracy_within_200_iterations(digits_split):
    """Issue #2: >= 0.95 test accuracy within 200 iterations (its time: bench/digits.py)."""
    X_train, X_test, y_train, y_test = digits_split
    clf = NNBCDClassifier(max_iter=200, random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.95
    assert isinstance(clf.model_, MLP) and isinstance(clf.history_, History)
    assert clf.n_iter_ == 200 and clf.n_features_in_ == 64


def test_string_labels_and_params_round_trip(small_problem):
    X, y = small_problem
    labels = np.array(["cat", "dog", "emu"])[y]
    clf = NNBCDClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0)
    assert clf.fit(X, labels) is clf
    assert set(clf.predict(X)) <= set(labels)
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert clf.score(X, labels) > 0.6
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (16,) and params["max_iter"] == 20
    twin = clone(clf).fit(X, labels)
    assert np.array_equal(twin.predict(X), clf.predict(X))  # same random_state, same result


def test_binary_decision_function(small_problem):
    X, y = small_problem
    y = (y > 0).astype(int)
    clf = NNBCDClassifier(hidden_layer_sizes=(16,), max_iter=10, random_state=0).fit(X, y)
    scores = clf.decision_function(X)
    assert scores.shape == (len(X),)
    assert np.array_equal(clf.predict(X), (scores > 0).astype(int))


@pytest.mark.parametrize("y, match", [
    (np.zeros(60), "at least two classes"),
    (np.arange(59), "X has 60 samples but y has 59"),
    (np.linspace(0, 1, 60), "Unknown label type"),
])
def test_bad_labels(small_problem, y, match):
    X, _ = small_problem
    with pytest.raises(ValueError, match=match):
        NNBCDClassifier(max_iter=1).fit(X, y)


@pytest.mark.parametrize("params, match", [
    ({"gamma": 0}, "gamma must be > 0"),
    ({"max_iter": 0}, "max_iter must be >= 1"),
    ({"dtype": "int8"}, "dtype must be one of"),
    ({"weight_decay": -1}, "weight_decay must be >= 0"),
    ({"compression": "nonsense"}, "compression"),
])
def test_bad_parameters(small_problem, params, match):
    X, y = small_problem
    with pytest.raises((ValueError, TypeError), match=match):
        NNBCDClassifier(**params).fit(X, y)


def test_predict_before_fit_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NNBCDClassifier().predict(np.zeros((1, 3)))
