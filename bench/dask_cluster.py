"""NN-BCD on a Dask cluster: seconds and bytes moved per iteration, and what they project to.

Measured on this machine: seconds per iteration of the single-process run and of a Dask
LocalCluster of 1 and 2 worker processes (the threads shared out), with the array bytes the
driver sends and receives per iteration, next to the communication model. The model: every W_i
and b_i goes down to each worker once per iteration (the first layer's with the objective's
round, the others in the sweep), and each layer's weight sums come back up (d_{i-1}² +
d_{i-1} d_i entries, and 2 d_{i-1} for the input's moments): independent of n.

From the model and a linear fit of the single-process time, t(n) = a + b n (a: the global
blocks, b: the per-sample ones, measured at n and n/2), the projected time per iteration on P
machines like this one, with the driver on a link of --bandwidth-gbit and --latency-ms per
round (one round per layer, one for the objective):
    t(P, n) = a + b n / P + P * bytes_per_worker / bandwidth + rounds * latency.

    python bench/dask_cluster.py                      # HAR-shaped TT and LeNet-300-100
    python bench/dask_cluster.py --only lenet --iterations 3
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402

import nnbcd  # noqa: E402

MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")


def har_problem():
    """The paper's HAR-shaped TT network, 561-1024-1024-1024-512-6 at TT rank 80, on 7,352
    random samples (the HAR training set's size)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((7352, 561)).astype(np.float32)
    y = rng.integers(0, 6, 7352)
    compression = [None if s is None else nnbcd.TensorTrain(80, shape=s)
                   for s in machine.HAR_TT_SHAPES]

    def model():
        return nnbcd.MLP([561, 1024, 1024, 1024, 512, 6], compression=compression,
                         dtype="float32", seed=0)
    return X, y, model


def lenet_problem():
    """LeNet-300-100 (784-300-100-10) pruned 90 % on the 60,000 MNIST training images."""
    X, y, _, _ = nnbcd.datasets.load_mnist(MNIST)

    def model():
        return nnbcd.MLP([784, 300, 100, 10], dtype="float32", seed=0,
                         compression=[nnbcd.Pruned(0.9), nnbcd.Pruned(0.9), None])
    return X, y, model


PROBLEMS = {"har-tt": har_problem, "lenet": lenet_problem}


def model_bytes(model):
    """(down, up) array bytes per iteration per worker, from the layer widths alone."""
    item = model.dtype.itemsize
    weights = [W.size + b.size for W, b in zip(model.weights, model.biases)]
    down = item * sum(weights)  # each W_i, b_i once: in the sweep, or (W_1) for the objective
    up = 0
    for i, W in enumerate(model.weights):
        d_out, d_in = W.shape
        up += item * (d_in * d_in + d_in * d_out) + 8 * (d_in + d_out)  # gram, cross, sums
        if i > 0:
            up += 8 * (2 * d_in + 1)  # the input's moments (the first layer's are kept)
    return down, up + 8 * 3  # the objective's three terms


def seconds_per_iteration(model, X, y, iterations, threads, client=None):
    """Median seconds of ``iterations`` steps after one warm-up, and the state."""
    trainer = nnbcd.BCD(n_threads=threads)
    state = trainer.start(model, X, y, client=client)
    state.step()
    state.objective()
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        state.step()
        state.objective()
        times.append(time.perf_counter() - started)
    return float(np.median(times)), state


def measure(name, iterations, cores):
    import distributed

    X, y, new_model = PROBLEMS[name]()
    n = len(X)
    rows = []
    t_full, _ = seconds_per_iteration(new_model(), X, y, iterations, cores)
    t_half, _ = seconds_per_iteration(new_model(), X[: n // 2], y[: n // 2], iterations, cores)
    rows.append([name, f"one process, {cores} threads", machine.fmt(t_full), "-", "-", "-"])
    down, up = model_bytes(new_model())
    for workers in (1, 2):
        threads = max(1, cores // workers)
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=threads,
                                      processes=True, dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            model = new_model()
            seconds, state = seconds_per_iteration(model, X, y, iterations, threads, client)
            sent = state.shards.bytes_sent
            received = state.shards.bytes_received
            steps = iterations + 1
            # setup traffic (the first objective's weights) is small; report per iteration
            rows.append([name, f"{workers} worker(s) x {threads} threads",
                         machine.fmt(seconds), f"{sent / steps / workers / 1e6:.2f}",
                         f"{received / steps / workers / 1e6:.2f}",
                         f"{down / 1e6:.2f} / {up / 1e6:.2f}"])
    slope = max(t_full - t_half, 0.0) / (n - n // 2)
    return rows, {"a": max(t_full - slope * n, 0.0), "b": slope, "bytes": down + up,
                  "rounds": len(new_model().weights) + 1, "model": new_model(), "n": n}


def projections(name, fit, bandwidth_gbit, latency_ms):
    rows = []
    bandwidth = bandwidth_gbit * 1e9 / 8
    for n in (10**6, 10**8):
        for machines in (8, 64, 512):
            compute = fit["a"] + fit["b"] * n / machines
            comm = machines * fit["bytes"] / bandwidth + fit["rounds"] * latency_ms / 1e3
            memory = fit["model"].training_bytes(n // machines) / 2**30
            rows.append([name, f"{n:.0e}", machines, machine.fmt(compute), machine.fmt(comm),
                         machine.fmt(compute + comm), f"{memory:.2f}"])
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=sorted(PROBLEMS), action="append")
    p.add_argument("--iterations", type=int, default=3, help="timed iterations (default 3)")
    p.add_argument("--bandwidth-gbit", type=float, default=10.0,
                   help="the driver's network bandwidth for the projection (default 10)")
    p.add_argument("--latency-ms", type=float, default=0.5,
                   help="latency of one round for the projection (default 0.5)")
    args = p.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    print(f"# {machine.cpu_name()}, {cores} cores, nnbcd variant {nnbcd.cpu_variant}; "
          f"python bench/dask_cluster.py {' '.join(argv or sys.argv[1:])}")
    measured, projected = [], []
    for name in args.only or sorted(PROBLEMS):
        rows, fit = measure(name, args.iterations, cores)
        measured += rows
        print(f"# {name}: t(n) = {fit['a']:.3f} s + {fit['b'] * 1e6:.3f} us x n (n = "
              f"{fit['n']}), {fit['bytes'] / 1e6:.2f} MB per worker per iteration")
        projected += projections(name, fit, args.bandwidth_gbit, args.latency_ms)
    print(machine.format_table(["problem", "run", "s/iter", "MB down/worker", "MB up/worker",
                                "model down / up MB"], measured))
    print()
    print(f"projected on machines like this one, driver link {args.bandwidth_gbit:g} Gbit/s, "
          f"{args.latency_ms:g} ms per round:")
    print(machine.format_table(["problem", "n", "machines", "compute s", "comm s", "s/iter",
                                "GiB/machine"], projected))


if __name__ == "__main__":
    main()
