"""Screen training settings on digits proxies (25 % held out, StandardScaler): the deployed
network's test accuracy every 50 iterations, for each configuration of a JSON list.

    python bench/screen_digits.py '[{"net": "tt8", "init_scale": 0.03}, {"net": "prune90"}]'
    python bench/screen_digits.py '[{"net": "tt8"}]' --grid '{"tau": [2, 5]}' --seeds 3

``--grid`` runs every configuration with each combination of the grid's values; ``--seeds N``
runs each with seeds 0..N-1 and prints the mean accuracies and the lowest final one.

Keys: ``net`` (``tt8``: 64-256-256-10, both hidden layers TT rank 8, CR 0.064; ``prune90``:
64-256-10, hidden layer 90 % pruned; ``dense``: 64-256-10), ``init``, ``init_scale`` (as in
``nnbcd.MLP``), ``preactivation_rms`` (rescale each layer's initial W so that its
pre-activations on the training set have this RMS, layer by layer), ``input_scale`` (multiplies
the inputs), ``standardised`` (default true; false: the pixels / 16), ``centred`` (default
false: subtract the training mean after the rest), ``weight_decay`` (per sample, as the
estimators take it, or a list of one per layer; default 0.003), ``iterations`` (200), ``seed``
(0); any other key goes to ``nnbcd.BCD``.
"""

import argparse
import itertools
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


def digits(standardised=True):
    """The split; its pixels standardised on the training part, or divided by 16 (as
    ``nnbcd train`` reads them)."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=0)
    if not standardised:
        return X_train / 16, X_test / 16, y_train, y_test
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
        weight_decay=0.003, iterations=200, seed=0, input_scale=1.0, standardised=True,
        centred=False, **bcd):
    X_train, X_test, y_train, y_test = data[standardised]
    X_train, X_test = input_scale * X_train, input_scale * X_test
    if centred:
        mean = X_train.mean(axis=0)
        X_train, X_test = X_train - mean, X_test - mean
    sizes, spec = NETWORKS[net]
    compression = [spec() for _ in sizes[2:]] + [None]
    model = nnbcd.MLP(sizes, compression=compression, init=init, init_scale=init_scale,
                      seed=seed)
    if preactivation_rms is not None:
        rescale_to_preactivation_rms(model, X_train, preactivation_rms)
    state = nnbcd.BCD(weight_decay=np.multiply(weight_decay, len(X_train)).tolist(),
                      **bcd).start(model, X_train, y_train)
    accuracies = []
    for k in range(1, iterations + 1):
        state.step()
        if k % 50 == 0:
            accuracies.append(round(float(np.mean(model.predict(X_test) == y_test)), 3))
    return accuracies, model.compression_ratio


def configurations(configs, grid):
    """Every configuration with every combination of the grid's values."""
    for config in configs:
        for values in itertools.product(*grid.values()):
            yield dict(config, **dict(zip(grid, values)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", help="JSON list of configurations")
    parser.add_argument("--grid", default="{}", help="JSON object: key -> list of values")
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args(argv)
    print("command: python bench/screen_digits.py " + " ".join(
        f"'{a}'" if a.startswith(("[", "{")) else a for a in (sys.argv[1:] if argv is None
                                                               else argv)))
    data = {True: digits(), False: digits(standardised=False)}
    for config in configurations(json.loads(args.configs), json.loads(args.grid)):
        started = time.perf_counter()
        runs = [run(data, **dict(config, seed=config.get("seed", 0) + s))
                for s in range(args.seeds)]
        accuracies = np.array([accuracy for accuracy, _ in runs])
        print(f"{json.dumps(config)}  it 50/100/...: {np.round(accuracies.mean(0), 3).tolist()}"
              + (f" (mean of {args.seeds} seeds, lowest final {accuracies[:, -1].min():.3f})"
                 if args.seeds > 1 else "")
              + f"  CR {runs[0][1]:.3f}  {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
