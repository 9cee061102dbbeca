"""Screen training settings on digits proxies (25 % held out, StandardScaler): the deployed
network's test accuracy every 50 iterations, for each configuration of a JSON list.

    python bench/screen_digits.py '[{"net": "tt8", "init_scale": 0.03}, {"net": "prune90"}]'

Keys: ``net`` (``tt8``: 64-256-256-10, both hidden layers TT rank 8, CR 0.064; ``prune90``:
64-256-10, hidden layer 90 % pruned; ``dense``: 64-256-10), ``init``, ``init_scale`` (as in
``nnbcd.MLP``), ``preactivation_rms`` (rescale each layer's initial W so that its
pre-activations on the training set have this RMS, layer by layer), ``weight_decay`` (per
sample, as the estimators take it; default 0.003), ``iterations`` (200), ``seed`` (0); any
other key goes to ``nnbcd.BCD``.
"""

import json
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import nnbcd

NETWORKS = {"tt8": ([64, 256, 256, 10], lambda: nnbcd.TensorTrain(8)),
            "prune90": ([64, 256, 10], lambda: nnbcd.Pruned(0.9)),
            "dense": ([64, 256, 10], lambda: None)}


def digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def rescale_to_preactivation_rms(model, X, rms):
    """Scale each W_i so that W_i V_{i-1} has RMS ``rms`` on X, given the layers before."""
    V = X
    for W in model.weights:
        W *= rms / np.sqrt(np.mean((V @ W.T) ** 2))
        V = np.maximum(V @ W.T, 0)
    model.project()


def run(data, net, init="kaiming_normal", init_scale=1.0, preactivation_rms=None,
        weight_decay=0.003, iterations=200, seed=0, **bcd):
    X_train, X_test, y_train, y_test = data
    sizes, spec = NETWORKS[net]
    compression = [spec() for _ in sizes[2:]] + [None]
    model = nnbcd.MLP(sizes, compression=compression, init=init, init_scale=init_scale,
                      seed=seed)
    if preactivation_rms is not None:
        rescale_to_preactivation_rms(model, X_train, preactivation_rms)
    state = nnbcd.BCD(weight_decay=weight_decay * len(X_train), **bcd).start(model, X_train,
                                                                            y_train)
    accuracies = []
    for k in range(1, iterations + 1):
        state.step()
        if k % 50 == 0:
            accuracies.append(round(float(np.mean(model.predict(X_test) == y_test)), 3))
    return accuracies, model.compression_ratio


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    print(f"command: python bench/screen_digits.py '{argv[0]}'")
    data = digits()
    for config in json.loads(argv[0]):
        started = time.perf_counter()
        accuracies, ratio = run(data, **config)
        print(f"{json.dumps(config)}  it 50/100/...: {accuracies}  CR {ratio:.3f}  "
              f"{time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
