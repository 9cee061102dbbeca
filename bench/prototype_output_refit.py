"""Screening prototype (#18): how much of the deployed network's lag is in its output layer.

Trains a bench/suite.py MLP problem with the library's defaults and, at each evaluation, refits
only the output layer (W_N, b_N: ridge regression of the one-hot labels on the deployed
network's last hidden features, the same squared loss and weight decay as Φ's) without touching
the run. Prints the deployed test accuracy before and after the refit, and the training
accuracy of both; if the refit gains much, W_N — fitted to the lifted V_{N−1} — is what lags.

    python bench/prototype_output_refit.py lenet --iterations 100 --eval-every 20 --threads 2
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402

from nnbcd.recipes import recipe  # noqa: E402


def hidden_features(model, X):
    """The deployed network's last hidden layer on X (n, d_0): (n, d_{N-1}), in float64."""
    F = np.asarray(X, np.float64)
    for W, b in list(zip(model.deployed_weights, model.biases))[:-1]:
        F = np.maximum(F @ np.asarray(W, np.float64).T + b, 0)
    return F


def refit_output(F, y, weight_decay):
    """(W, b) minimising 1/2 ||onehot(y) - W F^T - b||^2 + weight_decay/2 ||W||^2."""
    mean = F.mean(axis=0)
    C = F - mean
    Y = np.eye(y.max() + 1)[y]
    W = np.linalg.solve(C.T @ C + weight_decay * np.eye(F.shape[1]), C.T @ (Y - Y.mean(axis=0))).T
    return W, Y.mean(axis=0) - W @ mean


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=[n for n in suite.PROBLEMS if not n.startswith("cnn")])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    print("command: python bench/prototype_output_refit.py " + " ".join(sys.argv[1:]))
    problem, (X, y, X_test, y_test), state = suite.started(args.problem, args.threads)
    model = state.model
    weight_decay = recipe(problem.kind).weight_decay * len(X)
    for k in range(1, args.iterations + 1):
        state.step()
        if k % args.eval_every:
            continue
        F = hidden_features(model, X)
        W, b = refit_output(F, y, weight_decay)
        refit_train = np.mean(np.argmax(F @ W.T + b, axis=1) == y)
        refit_test = np.mean(np.argmax(hidden_features(model, X_test) @ W.T + b, axis=1) == y_test)
        test = np.mean(model.predict(X_test, args.threads) == y_test)
        print(f"iteration {k}: train {state.train_accuracy():.4f} test {test:.4f} | output "
              f"refit: train {refit_train:.4f} test {refit_test:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
