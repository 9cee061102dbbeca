"""The estimators' defaults on raw features: test accuracy with ``standardize=True`` (the
default) and ``False``, on scikit-learn's datasets as they load (25 % held out, stratified).

    python bench/raw_features.py

Rows: digits (0-16 pixels), digits + 100, digits standardised by a StandardScaler first, wine
and breast_cancer (features from 0.001 to 4,000); columns: the dense default, two TT hidden
layers (CR 0.064) and one hidden layer pruned to 90 %. "error" is a training failure
(DivergenceError) at the default float32.
"""

import sys

from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import nnbcd

ESTIMATORS = {"dense": {}, "tt 256-256": {"hidden_layer_sizes": (256, 256), "compression": "tt"},
              "pruned 90 %": {"compression": "prune"}}


def datasets():
    X, y = load_digits(return_X_y=True)
    yield "digits", X, y
    yield "digits + 100", X + 100.0, y
    yield "digits, StandardScaler", StandardScaler().fit_transform(X), y
    yield "wine", *load_wine(return_X_y=True)
    yield "breast_cancer", *load_breast_cancer(return_X_y=True)


def score(params, X_train, X_test, y_train, y_test):
    try:
        clf = nnbcd.NNBCDClassifier(random_state=0, **params).fit(X_train, y_train)
    except nnbcd.DivergenceError:
        return "error"
    return f"{clf.score(X_test, y_test):.3f}"


def main():
    print("command: python bench/raw_features.py")
    print("| data | standardize | " + " | ".join(ESTIMATORS) + " |")
    print("|---|---|" + "---|" * len(ESTIMATORS))
    for name, X, y in datasets():
        split = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        for standardize in (True, False):
            scores = [score({**params, "standardize": standardize}, *split)
                      for params in ESTIMATORS.values()]
            print(f"| {name} | {standardize} | " + " | ".join(scores) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
