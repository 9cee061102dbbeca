"""Issue #18's benchmark suite: the deployed network's test accuracy against iterations and
training seconds, trained with the library's defaults (``nnbcd.recipes``, as the estimators and
``nnbcd train`` use them: the initial scale, weight decay, γ = ρ and τ schedule of the
compression kind, plain BCD, α = 1).

    python bench/suite.py                                  # every problem, its own iterations
    python bench/suite.py --only digits-dense,digits-tt,digits-prune --seeds 3
    python bench/suite.py --only lenet --iterations 100 --eval-every 10

Problems (MNIST from ../shared/data/mnist, 10,000 test images; digits: 25 % held out,
StandardScaler):
  digits-dense   64-256-10
  digits-tt      64-256-256-10, both hidden layers TT rank 8 (CR 0.064)
  digits-prune   64-256-10, the hidden layer pruned to 90 %
  cnn-r40        the paper's CNN (bench/cnn_mnist.py) on 6,000 images, W2 and W3 TT rank 40
  cnn-r220       the same at rank 220
  tt-mlp         784-1024-1024-1024-512-10, W1..W4 TT rank 80, on 7,352 images
  lenet          LeNet-300-100, W1 and W2 pruned to 90 %, on all 60,000 images
Prints one line per evaluation and, at the end, a Markdown table (accuracy at each evaluated
iteration, seconds of training to it; evaluation is not counted).
"""

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cnn_mnist import DEFAULT_MNIST, W2_SHAPE, W3_SHAPE, training_subset  # noqa: E402
from machine import cpu_name  # noqa: E402
from screen_digits import digits  # noqa: E402

import nnbcd  # noqa: E402
from nnbcd.recipes import recipe  # noqa: E402


@dataclass(frozen=True)
class Problem:
    data: str             # "digits", or "mnist:N" (a seeded subset of N training images, 0: all)
    kind: object          # the compression kind: None, "prune" or "tt"
    network: object       # (init, init_scale, seed, dtype) -> the untrained nnbcd network
    iterations: int
    eval_every: int


def _mlp(sizes, spec):
    compression = [spec] * (len(sizes) - 2) + [None]
    return lambda init, scale, seed, dtype: nnbcd.MLP(
        sizes, compression=compression, init=init, init_scale=scale, seed=seed, dtype=dtype)


def _cnn(rank):
    compression = [None, nnbcd.TensorTrain(rank, shape=W2_SHAPE),
                   nnbcd.TensorTrain(rank, shape=W3_SHAPE), None]
    return lambda init, scale, seed, dtype: nnbcd.ConvNet(
        input_shape=(28, 28, 1), filters=32, kernel=3, stride=2, hidden=(1024, 1024),
        n_classes=10, compression=compression, init=init, init_scale=scale, seed=seed,
        dtype=dtype)


PROBLEMS = {
    "digits-dense": Problem("digits", None, _mlp([64, 256, 10], None), 200, 50),
    "digits-tt": Problem("digits", "tt", _mlp([64, 256, 256, 10], nnbcd.TensorTrain(8)), 200,
                         50),
    "digits-prune": Problem("digits", "prune", _mlp([64, 256, 10], nnbcd.Pruned(0.9)), 200, 50),
    "cnn-r40": Problem("mnist:6000", "tt", _cnn(40), 1500, 50),
    "cnn-r220": Problem("mnist:6000", "tt", _cnn(220), 500, 50),
    "tt-mlp": Problem("mnist:7352", "tt", _mlp([784, 1024, 1024, 1024, 512, 10],
                                                nnbcd.TensorTrain(80)), 400, 25),
    "lenet": Problem("mnist:0", "prune", _mlp([784, 300, 100, 10], nnbcd.Pruned(0.9)), 300, 25),
}


def load(data, mnist):
    """(X_train, y_train, X_test, y_test) of a problem's ``data``."""
    if data == "digits":
        X_train, X_test, y_train, y_test = digits()
        return X_train, y_train, X_test, y_test
    X_all, y_all, X_test, y_test = nnbcd.datasets.load_mnist(mnist)
    size = int(data.split(":")[1])
    X_train, y_train = training_subset(X_all, y_all, size, 0) if size else (X_all, y_all)
    return X_train, y_train, X_test, y_test


def network(problem, seed, dtype="float32", init_scale=None, init=None):
    """The problem's untrained network, initialised as its compression kind's recipe says (or
    by ``init`` at ``init_scale``)."""
    chosen = recipe(problem.kind)
    return problem.network(chosen.init if init is None else init,
                           chosen.init_scale if init_scale is None else init_scale, seed, dtype)


def start(problem, X_train, y_train, seed, threads, overrides=None, dtype="float32",
          init_scale=None, init=None):
    """The problem's network, trained with the defaults (``overrides``: BCD arguments over
    them, ``init``/``init_scale`` over the recipe's, for screening) in ``dtype``: the
    ``TrainingState`` to step."""
    settings = recipe(problem.kind).bcd_settings(len(X_train))
    trainer = nnbcd.BCD(n_threads=threads, **{**settings, **(overrides or {})})
    return trainer.start(network(problem, seed, dtype, init_scale, init),
                         np.asarray(X_train, dtype), y_train)


def started(name, threads, seed=0):
    """(problem, (X_train, y_train, X_test, y_test), TrainingState) of the named problem with
    the defaults, for the screening prototypes."""
    problem = PROBLEMS[name]
    data = load(problem.data, DEFAULT_MNIST)
    return problem, data, start(problem, data[0], data[1], seed, threads)


def accuracies(state, X_test, y_test, threads):
    """"train A, test B": the deployed network's accuracy on its training and test samples."""
    test = float(np.mean(state.model.predict(X_test, threads) == y_test))
    return f"train {state.train_accuracy():.4f}, test {test:.4f}"


def input_powers(state, X, layers):
    """s_i = ρ ||V_{i−1}||² / d_{i−1} of each of ``layers`` (its input: X for the first)."""
    powers = []
    for i in layers:
        V = X.T if i == 0 else state._state.V(i - 1)
        powers.append(state.trainer.rho * float(np.einsum("ij,ij->", V, V, dtype=np.float64))
                      / V.shape[0])
    return np.array(powers)


def screen(state, iterations, eval_every, X_test, y_test, threads, iteration,
           describe=lambda state: ""):
    """The prototypes' loop: ``iteration(k, state)`` runs iteration k and returns the state to
    go on with (the same, or one that continues it under other settings); every
    ``eval_every`` iterations prints the training seconds, ``describe(state)`` and the
    deployed network's training and test accuracy."""
    elapsed = 0.0
    for k in range(1, iterations + 1):
        started = time.perf_counter()
        state = iteration(k, state)
        elapsed += time.perf_counter() - started
        if k % eval_every == 0:
            print(f"iteration {k}, {elapsed:.0f} s, {describe(state)}"
                  + accuracies(state, X_test, y_test, threads), flush=True)
    return state


def train(problem, data, seed, iterations, eval_every, threads, name, overrides=None,
          dtype="float32"):
    """[(iteration, training seconds, test accuracy)] of one run, and the network's CR."""
    X_train, y_train, X_test, y_test = data
    X_test = np.asarray(X_test, dtype)
    state = start(problem, X_train, y_train, seed, threads, overrides, dtype)
    model = state.model
    points, elapsed = [], 0.0
    for k in range(1, iterations + 1):
        started = time.perf_counter()
        state.step()
        elapsed += time.perf_counter() - started
        if k % eval_every == 0 or k == iterations:
            accuracy = float(np.mean(model.predict(X_test, threads) == y_test))
            points.append((k, elapsed, accuracy))
            print(f"{name} seed {seed}: iteration {k}, {elapsed:.1f} s, test accuracy "
                  f"{accuracy:.4f}", flush=True)
    return points, model.compression_ratio


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated problems (default: all)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (the initialisation)")
    parser.add_argument("--iterations", type=int, help="instead of each problem's own")
    parser.add_argument("--eval-every", type=int, help="instead of each problem's own")
    parser.add_argument("--threads", type=int, default=0, help="0: all cores")
    parser.add_argument("--mnist", default=DEFAULT_MNIST)
    parser.add_argument("--bcd", type=json.loads, default={},
                        help="JSON object of nnbcd.BCD arguments over the defaults' (screening)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="the networks' floating-point type")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(PROBLEMS)
    unknown = sorted(set(names) - set(PROBLEMS))
    if unknown:
        parser.error(f"unknown problems {unknown}; known: {', '.join(PROBLEMS)}")
    print(f"command: python bench/suite.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"CPU: {cpu_name()}, nnbcd {nnbcd.__version__}, threads {args.threads or 'all'}, "
          f"{args.dtype}")

    rows = []
    for name in names:
        problem = PROBLEMS[name]
        data = load(problem.data, args.mnist)
        runs = [train(problem, data, seed, args.iterations or problem.iterations,
                      args.eval_every or problem.eval_every, args.threads, name, args.bcd,
                      args.dtype)
                for seed in range(args.seeds)]
        rows.append((name, runs))

    print("\n| problem | CR | iteration | seconds | test accuracy (mean over seeds) | lowest |")
    print("|---|---|---|---|---|---|")
    for name, runs in rows:
        ratio = runs[0][1]
        for j, (k, _, _) in enumerate(runs[0][0]):
            seconds = np.mean([points[j][1] for points, _ in runs])
            accuracies = [points[j][2] for points, _ in runs]
            print(f"| {name} | {ratio:.4f} | {k} | {seconds:.1f} | {np.mean(accuracies):.4f} | "
                  f"{min(accuracies):.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
