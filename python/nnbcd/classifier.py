"""A scikit-learn classifier trained by NN-BCD."""

import warnings

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets

from ._estimator_base import COMMON_ATTRIBUTES_DOC, NNBCDEstimator, parameters_doc


class NNBCDClassifier(ClassifierMixin, NNBCDEstimator):
    __doc__ = (
        """ReLU network classifier trained by NN-BCD, with scikit-learn's estimator interface.

    The network has one output per class; the targets are one-hot and the loss is squared
    error, as in the paper, so the outputs are scores, not probabilities (there is no
    ``predict_proba``). The features are standardised internally (``standardize``), so the
    default hyperparameters suit features of any scale. Labels may be of any type.
"""
        + parameters_doc(score="its accuracy (the held-out part is stratified by class)",
                         warm_targets="y must have the same classes")
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted; output k of the network scores ``classes_[k]``."""
        + COMMON_ATTRIBUTES_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), NNBCDClassifier(max_iter=50, random_state=0))
    >>> clf.fit(X, y).score(X, y) > 0.95
    True
"""
    )

    def fit(self, X, y):
        """Train the network on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels, at least two distinct ones.

        Returns
        -------
        self : NNBCDClassifier
            The fitted estimator.
        """
        return self._fit(X, y)

    def decision_function(self, X):
        """Scores of the fitted network: the larger, the likelier the class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes), or (n_samples,) for two classes
            The network's outputs; for two classes, the second output minus the first
            (positive means ``classes_[1]``).
        """
        scores = self._outputs(X)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X):
        """The class with the largest output for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        scores = self._outputs(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def _targets(self, y, warm):
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                          "change the shape of y to (n_samples,), for example using ravel().",
                          DataConversionWarning, stacklevel=3)
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (one label per sample), got shape {y.shape}")
        check_classification_targets(y)
        classes, indices = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y has 1 class ({classes[0]!r}); a classifier needs at least two "
                             "classes")
        if warm and not np.array_equal(classes, self.classes_):
            raise ValueError("warm_start=True needs y to have the classes of the previous fit: "
                             f"it had {self.classes_.tolist()}, y has {classes.tolist()}; set "
                             "warm_start=False to train a new network")
        self.classes_ = classes
        return indices, len(classes), indices

    def _validation_score(self, model, X_val, T_val):
        return np.mean(model.predict(X_val, self.n_threads) == T_val)
