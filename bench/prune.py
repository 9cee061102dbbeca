"""LeNet-300-100 (784-300-100-10) on the full MNIST training set, hidden layers pruned to 90 %
sparsity by NN-BCD, next to the same network trained dense. Prints test accuracy on the 10,000
test images every few iterations, the iterations and wall time to the best accuracy, seconds per
iteration, and the deployed sparsity.

    python bench/prune.py [--iterations 300] [--eval-every 10] [--threads 0]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import nnbcd
from nnbcd.datasets import load_mnist

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def train(name, model, trainer, data, iterations, eval_every):
    X_train, y_train, X_test, y_test = data
    state = trainer.start(model, X_train, y_train)
    rows, step_seconds, elapsed = [], [], 0.0
    for k in range(1, iterations + 1):
        started = time.perf_counter()
        state.step()
        step_seconds.append(time.perf_counter() - started)
        elapsed += step_seconds[-1]
        if k % eval_every == 0 or k == iterations:
            accuracy = float(np.mean(model.predict(X_test, trainer.n_threads) == y_test))
            rows.append((k, accuracy, elapsed))
            tau = f"  tau {state.tau:9.3g}" if any(model.compression) else ""
            print(f"{name:6s} iter {k:5d}  test accuracy {accuracy:.4f}  training time "
                  f"{elapsed:7.1f} s{tau}", flush=True)
    return rows, float(np.median(step_seconds))


def inference_seconds(model, X, n_threads, repeats=5):
    model.decision_function(X, n_threads)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        model.decision_function(X, n_threads)
        best = min(best, time.perf_counter() - started)
    return best


def dense_twin(model):
    """A dense MLP holding the pruned model's deployed weights: its products are GEMMs."""
    twin = nnbcd.MLP(model.sizes, dtype=model.dtype.name)
    for target, source in zip(twin.weights + twin.biases, model.deployed_weights + model.biases):
        target[...] = source
    return twin


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--rho", type=float, default=1.0)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.001,
                        help="per training sample (0.001 beat 0.003 and 0.0003 on 20k images)")
    parser.add_argument("--tau-growth", type=float, default=1.05)
    parser.add_argument("--threads", type=int, default=0, help="0 = all cores")
    parser.add_argument("--skip-dense", action="store_true")
    args = parser.parse_args()
    print("command:", " ".join(["python", *sys.argv]))

    data = load_mnist(args.mnist)  # pixels in [0, 1]: standardising the rare pixels hurts BCD
    n = len(data[0])
    print(f"MNIST: {n} training, {len(data[2])} test images; core {nnbcd.cpu_variant}")
    sizes = [784, 300, 100, 10]
    runs = {"pruned": [nnbcd.Pruned(args.sparsity), nnbcd.Pruned(args.sparsity), None]}
    if not args.skip_dense:
        runs["dense"] = None
    results = {}
    for name, compression in runs.items():
        model = nnbcd.MLP(sizes, seed=0, compression=compression)
        trainer = nnbcd.BCD(args.gamma, args.rho, args.alpha, weight_decay=args.weight_decay * n,
                            tau_growth=args.tau_growth, n_threads=args.threads)
        rows, per_iteration = train(name, model, trainer, data, args.iterations, args.eval_every)
        results[name] = (rows, per_iteration, model)

    print()
    print(f"{'network':8s} {'best test acc':>13s} {'at iter':>8s} {'train time':>11s} "
          f"{'s/iter':>7s} {'final acc':>9s} {'sparsity':>9s} {'eff. sparsity':>13s} "
          f"{'CR':>6s}")
    for name, (rows, per_iteration, model) in results.items():
        best = max(rows, key=lambda row: row[1])
        print(f"{name:8s} {best[1]:13.4f} {best[0]:8d} {best[2]:10.1f}s {per_iteration:7.3f} "
              f"{rows[-1][1]:9.4f} {model.sparsity:9.4f} {model.effective_sparsity:13.4f} "
              f"{model.compression_ratio:6.3f}")
    pruned = results["pruned"][2]
    X_test = data[2]
    sparse_s = inference_seconds(pruned, X_test, args.threads)
    dense_s = inference_seconds(dense_twin(pruned), X_test, args.threads)
    print(f"\ninference on the {len(X_test)} test images with the pruned weights: "
          f"{sparse_s * 1e3:.1f} ms ({pruned.inference_plan()}) against "
          f"{dense_s * 1e3:.1f} ms as dense GEMMs")


if __name__ == "__main__":
    main()
