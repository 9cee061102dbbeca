"""NNBCDClassifier next to scikit-learn's MLPClassifier on digits (25 % held out, stratified,
both after a StandardScaler). Prints a table: test accuracy and fit time per seed.

    python bench/digits.py [--seeds 5] [--threads 0]
"""

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import nnbcd


def split(seed):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def measure(estimator, data):
    X_train, X_test, y_train, y_test = data
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X_train, y_train)
    return estimator.score(X_test, y_test), time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="0 = all cores")
    args = parser.parse_args()
    print("command:", " ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv]))
    print(f"nnbcd core: {nnbcd.cpu_variant}")
    estimators = {
        "NNBCDClassifier() [256 hidden, 200 it]":
            lambda seed: nnbcd.NNBCDClassifier(random_state=seed, n_threads=args.threads),
        "NNBCDClassifier(weight_decay=0)":
            lambda seed: nnbcd.NNBCDClassifier(weight_decay=0.0, random_state=seed,
                                               n_threads=args.threads),
        "MLPClassifier((256,), max_iter=500)":
            lambda seed: MLPClassifier((256,), max_iter=500, random_state=seed),
    }
    print(f"{'estimator':40s} {'seed':>4s} {'test acc':>9s} {'fit s':>7s}")
    summary = {}
    for seed in range(args.seeds):
        data = split(seed)
        for name, make in estimators.items():
            accuracy, seconds = measure(make(seed), data)
            summary.setdefault(name, []).append((accuracy, seconds))
            print(f"{name:40s} {seed:4d} {accuracy:9.4f} {seconds:7.2f}")
    print()
    print(f"{'estimator':40s} {'mean acc':>9s} {'min acc':>8s} {'mean s':>7s}")
    for name, rows in summary.items():
        acc, sec = np.array(rows).T
        print(f"{name:40s} {acc.mean():9.4f} {acc.min():8.4f} {sec.mean():7.2f}")


if __name__ == "__main__":
    main()
