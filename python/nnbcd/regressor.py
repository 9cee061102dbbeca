"""A scikit-learn regressor trained by NN-BCD."""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score

from ._estimator_base import (COMMON_ATTRIBUTES_DOC, NNBCDEstimator, parameters_doc,
                              standardisation)


class NNBCDRegressor(RegressorMixin, NNBCDEstimator):
    __doc__ = (
        """ReLU network regressor trained by NN-BCD, with scikit-learn's estimator interface.

    The network has one linear output per target and the loss is squared error. The targets
    are standardised internally (``y_mean_``, ``y_scale_``), and so are the features
    (``standardize``), so the default hyperparameters suit data of any scale. y may have one
    column (1-D y: ``predict`` returns 1-D) or several.
"""
        + parameters_doc(score="R² (averaged over the outputs), as ``score`` computes it",
                         warm_targets="y must have the same number of outputs")
        + """
    Attributes
    ----------
    n_outputs_ : int
        Number of targets.
    y_mean_, y_scale_ : ndarray of shape (n_outputs_,)
        Mean and standard deviation (1 where it is 0) of each target in the first fit: the
        network is trained on (y - y_mean_) / y_scale_. A warm start keeps them."""
        + COMMON_ATTRIBUTES_DOC
        + """
    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, (500, 2))
    >>> y = np.sin(X[:, 0]) * X[:, 1]
    >>> reg = NNBCDRegressor(hidden_layer_sizes=(64,), max_iter=100, random_state=0)
    >>> reg.fit(X, y).score(X, y) > 0.9
    True
"""
    )

    _y_dtype = np.float64

    def fit(self, X, y):
        """Train the network on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        self : NNBCDRegressor
            The fitted estimator.
        """
        return self._fit(X, y)

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs_), float64
            1-D when the network was fitted to a 1-D y.
        """
        y = self._outputs(X) * self.y_scale_ + self.y_mean_
        return y.ravel() if self._y_1d else y

    def _targets(self, y, warm):
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if warm:
            if Y.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"warm_start=True needs y to have the {self.n_outputs_} output(s) of the "
                    f"previous fit, got {Y.shape[1]}; set warm_start=False to train a new "
                    "network")
        else:
            self.y_mean_, self.y_scale_ = standardisation(Y)
        self.n_outputs_ = Y.shape[1]
        self._y_1d = y.ndim == 1
        return (Y - self.y_mean_) / self.y_scale_, Y.shape[1], None

    def _validation_score(self, model, X_val, T_val):
        # R² per output is unchanged by standardising it, so this is the score in y's units
        return r2_score(T_val, model.decision_function(X_val, self.n_threads))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
