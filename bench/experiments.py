"""NN-BCD against backpropagation: the same architecture and compression, the same wall clock.

The paper's experiments, on data available offline (MNIST from ../shared/data/mnist):
  cnn-r40, cnn-r220  the paper's CNN (conv 3x3/2, 32 filters, then 5408-1024-1024-10) on a
                     seeded 6,000-image subset, W2 and W3 tensor-train at rank 40 / 220
  tt-mlp             784-1024-1024-1024-512-10, the paper's HAR MLP with MNIST's input and
                     classes (the HAR data is not available offline), W1..W4 tensor-train at
                     rank 80 (nnbcd's default mode shapes), on a seeded 7,352-image subset
                     (the size of HAR's training set)
  lenet              LeNet-300-100 on all 60,000 training images, W1 and W2 pruned to 90 %
Both methods train on all cores for the same wall-clock budget; test accuracy on the 10,000 test
images is measured at 20 points of it (evaluation is not charged to the budget) and is always
that of the compressed network once there is one.

NN-BCD: the library's defaults (``nnbcd.recipes``), the networks and settings of bench/suite.py.
The deployed network (G) is evaluated.
Backpropagation (PyTorch, ``pip install ".[bench]"``): Adam (lr 1e-3), cross-entropy, batches of
128. Tensor-train layers are trained directly: the weight is the contraction of its TT cores,
which start from the TT-SVD (tensorly) of a default-initialised dense weight; a second row
trains tensorly-torch's block tensor-train layers (``tltorch.FactorizedLinear``, ``factorization=
"blocktt"``, the parameter fraction of nnbcd's layer as its rank), what a user of backpropagation
would pick. Pruning: dense training for the first half of the budget, then
``torch.nn.utils.prune.l1_unstructured`` to 90 % on W1 and W2, and retraining under the mask for
the second half.

Writes experiments.md (the table), experiments.json (every curve) and one PNG per experiment
(test accuracy against wall time) to --out.

    python bench/experiments.py                     # 1200 s per method (cnn), 600 (tt-mlp), 300 (lenet)
    python bench/experiments.py --quick             # smoke run: small subsets, 10 s budgets
    python bench/experiments.py --only lenet,tt-mlp --budget 300
    python bench/experiments.py --only cnn-r40 --methods nnbcd --keep bench/results/experiments.json

``--methods`` runs only some of the methods; with ``--keep FILE...`` the others' rows are taken
from earlier runs' experiments.json (same experiments, budgets and machine) and marked so.
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_name  # noqa: E402
import suite  # noqa: E402

MNIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                     "mnist")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
# default budgets: long enough for NN-BCD to level off (its τ must grow before the deployed
# network is good: ~250 iterations of the CNN at ~4.5 s)
BUDGETS = {"cnn-r40": 1200.0, "cnn-r220": 1200.0, "tt-mlp": 600.0, "lenet": 300.0}
EXPERIMENTS = tuple(BUDGETS)
POINTS = 20
SEED = 0
# --methods names -> the table's method labels
METHODS = {"nnbcd": "NN-BCD", "adam": "backprop (Adam)", "tltorch": "tltorch (Adam)"}


# ----------------------------------------------------------------------------- data
def load(quick):
    from nnbcd.datasets import load_mnist
    X_train, y_train, X_test, y_test = load_mnist(MNIST)
    if quick:
        X_test, y_test = X_test[:2000], y_test[:2000]
    return X_train, y_train, X_test, y_test


def training_set(name, X_train, y_train, quick):
    """The seeded training subset of one experiment (LeNet: all the training images)."""
    from cnn_mnist import training_subset
    if quick:
        size = 5000 if name == "lenet" else 1000
    else:
        size = {"tt-mlp": 7352, "lenet": len(X_train)}.get(name, 6000)
    return training_subset(X_train, y_train, size, SEED)


# ----------------------------------------------------------------------------- a budget
class Curve:
    """Test accuracy against training seconds, measured at POINTS points of the budget."""

    def __init__(self, budget):
        self.budget, self.seconds, self.accuracy = budget, [], []

    def due(self, elapsed):
        return elapsed >= self.budget * (len(self.seconds) + 1) / POINTS

    def record(self, elapsed, accuracy):
        self.seconds.append(round(elapsed, 3))
        self.accuracy.append(float(accuracy))


# ----------------------------------------------------------------------------- NN-BCD
def nnbcd_run(name, X, y, X_test, y_test, budget, threads, overrides=None):
    """(model, curve, iterations) of NN-BCD on one experiment, with the library's defaults
    (the network and settings of bench/suite.py's problem of the same name; ``overrides``:
    BCD arguments over them)."""
    curve = Curve(budget)
    started = time.perf_counter()
    state = suite.start(suite.PROBLEMS[name], X, y, SEED, threads, overrides)
    model = state.model
    elapsed = time.perf_counter() - started
    iterations = 0
    while elapsed < budget:
        started = time.perf_counter()
        state.step()
        elapsed += time.perf_counter() - started
        iterations += 1
        if curve.due(elapsed) or elapsed >= budget:
            curve.record(elapsed, np.mean(model.predict(X_test, threads) == y_test))
    return model, curve, iterations


# ----------------------------------------------------------------------------- backprop
def torch_modules():
    """The torch layers, defined only when torch is imported (it is an optional extra)."""
    import torch
    import tensorly as tl
    from tensorly.decomposition import tensor_train

    class TTLinear(torch.nn.Module):
        """y = x Wᵀ + b with W (d_out × d_in) the row-major reshape of a tensor train."""

        def __init__(self, d_in, d_out, shape, rank):
            super().__init__()
            dense = torch.nn.Linear(d_in, d_out)
            with tl.backend_context("pytorch", local_threadsafe=True):
                cores = tensor_train(dense.weight.detach().reshape(shape), rank)
            self.cores = torch.nn.ParameterList(
                [torch.nn.Parameter(core.detach().clone()) for core in cores])
            self.bias = torch.nn.Parameter(dense.bias.detach().clone())
            self.d_in, self.d_out = d_in, d_out

        def weight(self):
            full = self.cores[0]
            for core in self.cores[1:]:
                full = torch.tensordot(full, core, dims=([full.dim() - 1], [0]))
            return full.reshape(self.d_out, self.d_in)

        def forward(self, x):
            return torch.nn.functional.linear(x, self.weight(), self.bias)

    return TTLinear


def nnbcd_layout_layers(tt_cores):
    """``(d_in, d_out, i) -> module``: nnbcd's own TT layout (``tt_cores``: its i-th layer's
    cores, or None), trained through its cores."""
    TTLinear = torch_modules()

    def layer(d_in, d_out, i):
        cores = tt_cores[i]
        return TTLinear(d_in, d_out, tuple(core.shape[1] for core in cores),
                        max(core.shape[2] for core in cores))
    return layer


def tltorch_layers(tt_cores):
    """``(d_in, d_out, i) -> module``: tensorly-torch's block tensor-train (TT-matrix) layer with
    the parameter fraction of nnbcd's i-th layer, from a default-initialised dense layer."""
    import torch
    import tltorch

    def layer(d_in, d_out, i):
        fraction = sum(core.size for core in tt_cores[i]) / (d_in * d_out)
        return tltorch.FactorizedLinear.from_linear(
            torch.nn.Linear(d_in, d_out), rank=fraction, factorization="blocktt",
            n_tensorized_modes=3)
    return layer


def torch_model(name, tt_layer):
    """(torch model, its compression ratio, the layers to prune or None); ``tt_layer(d_in,
    d_out, i)`` makes the i-th layer's tensor-train module."""
    import torch
    if name.startswith("cnn"):
        layers = [torch.nn.Conv2d(1, 32, 3, stride=2, bias=False), torch.nn.ReLU(),
                  torch.nn.Flatten(), tt_layer(5408, 1024, 1), torch.nn.ReLU(),
                  tt_layer(1024, 1024, 2), torch.nn.ReLU(), torch.nn.Linear(1024, 10)]
        dense = 32 * 9 + 5408 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
    elif name == "tt-mlp":
        sizes = [784, 1024, 1024, 1024, 512, 10]
        layers = []
        for i in range(4):
            layers += [tt_layer(sizes[i], sizes[i + 1], i), torch.nn.ReLU()]
        layers.append(torch.nn.Linear(512, 10))
        dense = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    else:
        layers = [torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100),
                  torch.nn.ReLU(), torch.nn.Linear(100, 10)]
        model = torch.nn.Sequential(*layers)
        return model, None, [model[0], model[2]]  # the ratio is counted once pruned
    model = torch.nn.Sequential(*layers)
    return model, sum(p.numel() for p in model.parameters()) / dense, None


def torch_run(name, X, y, X_test, y_test, budget, threads, tt_layer=None):
    """(compression ratio, curve, epochs) of backpropagation on one experiment; ``tt_layer``
    makes its tensor-train modules (``torch_model``; None for LeNet)."""
    import torch
    from torch.nn.utils import prune

    torch.manual_seed(SEED)
    torch.set_num_threads(threads)
    image = (-1, 1, 28, 28) if name.startswith("cnn") else (-1, 784)
    X = torch.from_numpy(np.ascontiguousarray(X, np.float32)).reshape(image)
    y = torch.from_numpy(np.asarray(y, np.int64))
    X_test_t = torch.from_numpy(np.ascontiguousarray(X_test, np.float32)).reshape(image)
    model, ratio, to_prune = torch_model(name, tt_layer)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(SEED)
    curve = Curve(budget)
    pruned = to_prune is None  # TT networks are compressed from the start

    def accuracy():
        with torch.no_grad():
            predicted = torch.cat([model(X_test_t[i:i + 2000]).argmax(1)
                                   for i in range(0, len(X_test_t), 2000)])
        return float((predicted.numpy() == y_test).mean())

    elapsed, epochs = 0.0, 0
    while elapsed < budget:
        order = torch.randperm(len(X), generator=generator)
        for first in range(0, len(X), 128):
            started = time.perf_counter()
            batch = order[first:first + 128]
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(X[batch]), y[batch]).backward()
            optimiser.step()
            if not pruned and elapsed >= budget / 2:
                for layer in to_prune:
                    prune.l1_unstructured(layer, "weight", amount=0.9)
                pruned = True
            elapsed += time.perf_counter() - started
            if curve.due(elapsed) or elapsed >= budget:
                curve.record(elapsed, accuracy() if pruned else math.nan)
            if elapsed >= budget:
                break
        epochs += 1
    if to_prune is not None:  # the pruned layers' weight is the masked one
        linear = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
        stored = sum(int(torch.count_nonzero(layer.weight)) + layer.bias.numel()
                     for layer in linear)
        ratio = stored / sum(layer.weight.numel() + layer.bias.numel() for layer in linear)
    return ratio, curve, epochs


# ----------------------------------------------------------------------------- report
def summary(curve):
    compressed = [a for a in curve.accuracy if not math.isnan(a)]
    return (compressed[-1] if compressed else math.nan, max(compressed, default=math.nan),
            curve.seconds[-1] if curve.seconds else 0.0)


def plot(name, runs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(6, 4))
    for method, run in runs.items():
        axes.plot(run["seconds"], run["accuracy"], marker="o", markersize=3, label=method)
    axes.set_xlabel("training wall time (s)")
    axes.set_ylabel("test accuracy (compressed network)")
    axes.set_title(name)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def table(results):
    lines = ["| experiment | method | CR | final test acc | best test acc | wall time (s) | "
             "iterations / epochs |", "|---|---|---|---|---|---|---|"]
    for name, runs in results.items():
        for method, run in runs.items():
            final, best, seconds = run["final"], run["best"], run["seconds"][-1]
            unit = "iterations" if method == "NN-BCD" else "epochs"
            if "kept_from" in run:
                method += f" (from {run['kept_from']})"
            lines.append(f"| {name} | {method} | {run['cr']:.4f} | {final:.4f} | {best:.4f} | "
                         f"{seconds:.0f} | {run['steps']} {unit} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, help="seconds of training per method, the same "
                        "for every experiment (default: cnn 1200, tt-mlp 600, lenet 300; 10 with "
                        "--quick)")
    parser.add_argument("--only", default=",".join(EXPERIMENTS),
                        help=f"comma-separated, from {', '.join(EXPERIMENTS)}")
    parser.add_argument("--threads", type=int, default=0, help="0: all usable cores")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small training subsets and 2,000 test images")
    parser.add_argument("--out", help="directory for the results (default bench/results, "
                        "a temporary directory with --quick)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated, from {', '.join(METHODS)} (tltorch: TT "
                        "experiments only)")
    parser.add_argument("--keep", nargs="+", default=[], metavar="JSON",
                        help="earlier experiments.json files: the rows of the methods not run "
                        "are taken from the first that has them")
    parser.add_argument("--bcd", type=json.loads, default={},
                        help="JSON object of nnbcd.BCD arguments over the defaults' (NN-BCD "
                        "rows only; to measure an alternative, not the defaults)")
    args = parser.parse_args(argv)
    names = [s for s in args.only.split(",") if s]
    if any(s not in EXPERIMENTS for s in names):
        parser.error(f"--only must be chosen from {', '.join(EXPERIMENTS)}")
    methods = [s for s in args.methods.split(",") if s]
    if not methods or any(s not in METHODS for s in methods):
        parser.error(f"--methods must be chosen from {', '.join(METHODS)}")
    kept = {}  # experiment -> method -> (file, run)
    for path in args.keep:
        with open(path) as f:
            for name, runs in json.load(f)["results"].items():
                for method, run in runs.items():
                    kept.setdefault(name, {}).setdefault(method, (path, run))
    budgets = {name: args.budget or (10.0 if args.quick else BUDGETS[name]) for name in names}
    out = args.out or (tempfile.mkdtemp(prefix="nnbcd-experiments-") if args.quick else RESULTS)
    os.makedirs(out, exist_ok=True)
    from nnbcd.threads import usable_cores
    threads = args.threads or usable_cores()
    command = " ".join(["python bench/experiments.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"command: {command}\ncpu: {cpu_name()}, {threads} thread(s), seconds of training "
          f"per method: {budgets}", flush=True)

    X_train, y_train, X_test, y_test = load(args.quick)
    results = {}

    def record(name, method, ratio, curve, steps):
        final, best, _ = summary(curve)
        results[name][method] = {"cr": ratio, "seconds": curve.seconds,
                                 "accuracy": curve.accuracy, "steps": steps,
                                 "final": final, "best": best}
        print(f"{name:9s} {method:16s} CR {ratio:.4f}  final {final:.4f}  best {best:.4f}  "
              f"{steps} {'iterations' if method == 'NN-BCD' else 'epochs'}", flush=True)

    for name in names:
        results[name] = {}
        X, y = training_set(name, X_train, y_train, args.quick)
        model = None
        if "nnbcd" in methods:
            model, curve, iterations = nnbcd_run(name, X, y, X_test, y_test, budgets[name],
                                                 threads, args.bcd)
            record(name, METHODS["nnbcd"], model.compression_ratio, curve, iterations)
        for method in ("adam", "tltorch"):
            if method not in methods or (method == "tltorch" and name == "lenet"):
                continue
            if name == "lenet":
                run = torch_run(name, X, y, X_test, y_test, budgets[name], threads)
            else:
                if model is None:  # the TT layouts come from the nnbcd network
                    model = suite.network(suite.PROBLEMS[name], SEED)
                layers = nnbcd_layout_layers if method == "adam" else tltorch_layers
                run = torch_run(name, X, y, X_test, y_test, budgets[name], threads,
                                layers(model.tt_cores))
            record(name, METHODS[method], *run)
        for label, (path, run) in kept.get(name, {}).items():
            if label not in results[name]:
                results[name][label] = {**run, "kept_from": run.get("kept_from", path)}
        plot(name, results[name], os.path.join(out, f"experiments_{name}.png"))
        # written after every experiment, so that a call stopped midway keeps what it measured
        with open(os.path.join(out, "experiments.json"), "w") as f:
            json.dump({"command": command, "budgets": budgets, "threads": threads, "seed": SEED,
                       "results": results}, f, indent=1)
        with open(os.path.join(out, "experiments.md"), "w") as f:
            f.write(f"`{command}` on {cpu_name()}, {threads} thread(s), seed {SEED}; each method "
                    f"trains for the wall time given in the table.\n\n{table(results)}\n")
    print("\n" + table(results) + f"\n\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
