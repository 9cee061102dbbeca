"""ONNX export of compressed networks: file size and ONNX Runtime latency.

    python bench/onnx_export.py [--threads 1] [--reps 20]

For the HAR-shaped TT network (561-1024-1024-1024-512-6, W1..W4 TT rank 80, the shapes of
``machine.HAR_TT_SHAPES``) and LeNet-300-100 with W1, W2 pruned to 90 %, random weights (the
timing does not depend on them), float32: the size of ``model.to_onnx``'s file against that of
the same network densified (every layer a plain MatMul with its deployed weights), and the best
time per batch of 1 and 1000 samples of ONNX Runtime (CPU, ``--threads`` intra-op threads, all
graph optimisations) on both files, against nnbcd's own ``predict`` on as many threads.
(Not bench/onnx.py: a script of that name would shadow the onnx package it imports.)
"""

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import HAR_TT_SHAPES, best_seconds, cpu_name, format_table  # noqa: E402


def networks():
    """(name, compressed model) of the two networks."""
    import nnbcd

    har = nnbcd.MLP([561, 1024, 1024, 1024, 512, 6], seed=0, compression=[
        None if shape is None else nnbcd.TensorTrain(80, shape=shape) for shape in HAR_TT_SHAPES])
    lenet = nnbcd.MLP([784, 300, 100, 10], seed=0,
                      compression=[nnbcd.Pruned(0.9), nnbcd.Pruned(0.9), None])
    return [("HAR, TT r = 80", har), ("LeNet-300-100, 90 % pruned", lenet)]


def densified(model):
    """The same network with every layer dense: its deployed weights as plain weights."""
    import nnbcd

    dense = nnbcd.MLP(model.sizes, dtype=model.dtype)
    for W, b, deployed, bias in zip(dense.weights, dense.biases, model.deployed_weights,
                                    model.biases):
        W[...], b[...] = deployed, bias
    return dense


def session(path, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def measure(name, model, threads, reps, directory):
    """One table row: file sizes, then ms per batch for each batch size and runner."""
    files = {}
    for kind, network in (("compressed", model), ("dense", densified(model))):
        files[kind] = os.path.join(directory, f"{kind}.onnx")
        network.to_onnx(files[kind])
    runs = {kind: session(path, threads) for kind, path in files.items()}
    rng = np.random.default_rng(0)
    row = [name, f"{os.path.getsize(files['compressed']) / 1e6:.3f} MB",
           f"{os.path.getsize(files['dense']) / 1e6:.3f} MB",
           f"{os.path.getsize(files['compressed']) / os.path.getsize(files['dense']):.3f}"]
    for n in (1, 1000):
        X = rng.standard_normal((n, model.sizes[0])).astype(model.dtype)
        expected = model.decision_function(X, threads)
        for run in runs.values():  # the files compute what nnbcd does
            np.testing.assert_allclose(run.run(None, {"input": X})[0], expected, rtol=0,
                                       atol=1e-4 * np.abs(expected).max())
        timed = [lambda: model.predict(X, threads)] + [
            lambda run=run: run.run(None, {"input": X}) for run in runs.values()]
        row += [f"{1e3 * best_seconds(call, reps):.3g}" for call in timed]
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads of nnbcd and ORT (1)")
    parser.add_argument("--reps", type=int, default=20, help="timed calls, best kept (20)")
    args = parser.parse_args()
    import onnxruntime

    print(f"python bench/onnx_export.py --threads {args.threads} --reps {args.reps}")
    print(f"{cpu_name()}; onnxruntime {onnxruntime.__version__}, float32, {args.threads} "
          f"thread(s); ms per batch, best of {args.reps}\n")
    header = ["network", "ONNX file", "densified file", "ratio"] + [
        f"{who} n={n}" for n in (1, 1000) for who in ("nnbcd", "ORT", "ORT dense")]
    with tempfile.TemporaryDirectory() as directory:
        rows = [measure(name, model, args.threads, args.reps, directory)
                for name, model in networks()]
    print(format_table(header, rows))


if __name__ == "__main__":
    main()
