"""Roofline of one NN-BCD iteration: its FLOPs counted from the shapes, the machine's GEMM rate
measured in the same run, the fraction reached, the time of every block, peak memory against
the lifted variables, and the same iteration in torch (+ tensorly) for comparison.

Networks (``--networks``, default all three):
  har    561-1024-1024-1024-512-6 on n = 7352 random samples (the HAR data's shape; the data
         itself is not available offline), W1..W4 tensor-train at rank 80 (the paper's shapes)
  lenet  LeNet-300-100 (784-300-100-10) on the 60,000 MNIST training images, W1 and W2 pruned
         to 90 % sparsity
  cnn    the paper's CNN (conv 3x3/2 with 32 filters, 5408-1024-1024-10) on 6,000 MNIST
         images, W2 and W3 tensor-train at rank 40 (no torch baseline: it has no convolution)

Every network runs in a fresh process (its own peak memory), float32, γ = ρ = α = τ = 1 fixed.
The FLOP count follows what the core computes (DESIGN.md §3): per layer the W V product (U
block), the Gram matrix V Vᵀ (not for the first layer: X Xᵀ is computed once) and (U − b)Vᵀ
with the Cholesky solve (W block), and per hidden layer the V update in the cheaper of its
direct and Woodbury forms (V block). The projections (G block: TT-SVD, thresholding) and the
elementwise work are timed, not counted. "GEMM fraction" is the counted FLOPs over the time of
the V, U and W blocks, divided by the machine's SGEMM rate (numpy, 1024×1024 @ 1024×8192, the
higher of a measurement before and one after the timed steps). The floor is the counted FLOPs
at that rate; "fraction of floor" is the floor over the measured time of the whole iteration.
The header names the CPU and the compiled variant of the core in use (``NNBCD_CPU_VARIANT``).

    python bench/roofline.py                          # all networks, all cores
    python bench/roofline.py --threads 1,2            # thread scaling
    python bench/roofline.py --networks har --skip-baseline
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import (HAR_TT_SHAPES, best_seconds, cpu_name, fmt, format_table,  # noqa: E402
                     gemm_rate_numpy, loadavg)

MNIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                     "mnist")
NETWORKS = ("har", "lenet", "cnn")
BLOCKS = ("V", "U", "W", "G")
GEMM_COLUMNS = 8192


# ----------------------------------------------------------------------------- the networks
def build(name):
    """(model, X, y, X_eval, torch-baseline compression or None)."""
    import nnbcd
    from nnbcd.datasets import load_mnist

    if name == "har":
        rng = np.random.default_rng(0)
        X = rng.standard_normal((7352, 561)).astype(np.float32)
        y = rng.integers(0, 6, len(X))
        compression = [None if s is None else nnbcd.TensorTrain(80, shape=s)
                       for s in HAR_TT_SHAPES]
        model = nnbcd.MLP([561, 1024, 1024, 1024, 512, 6], compression=compression, seed=0)
        baseline = {"tt": [None if s is None else (s, 80) for s in HAR_TT_SHAPES]}
        return model, X, y, X[:2947], baseline  # HAR's test set has 2,947 samples
    X_train, y_train, X_test, _ = load_mnist(MNIST)
    if name == "lenet":
        model = nnbcd.MLP([784, 300, 100, 10], seed=0,
                          compression=[nnbcd.Pruned(0.9), nnbcd.Pruned(0.9), None])
        return model, X_train, y_train, X_test, {"pruned": [0.9, 0.9, None]}
    from cnn_mnist import paper_cnn, training_subset
    return (paper_cnn(40, 0), *training_subset(X_train, y_train, 6000, 0), X_test, None)


def layer_shapes(model, n):
    """Per layer: (d_out, d_in, columns of its input, rows of its output variables U_i, V_i)."""
    shapes = []
    for i, W in enumerate(model.weights):
        d_out, d_in = W.shape
        rows = model.sizes[i + 1]
        shapes.append((d_out, d_in, n * rows // d_out, rows))  # a convolution: n · positions
    return shapes


def spd_solve_flops(d, rhs):
    """Cholesky of a d × d system, then rhs right-hand sides: through the explicit inverse and a
    GEMM when rhs >= 2d (the core's choice, linalg.hpp), by triangular solves otherwise."""
    cholesky = d ** 3 / 3
    if rhs >= 2 * d:
        return cholesky + 2 * d ** 3 + 2 * d * d * rhs
    return cholesky + 2 * d * d * rhs


def iteration_flops(model, n):
    """FLOPs of the V, U and W blocks of one iteration, as the core computes them."""
    shapes = layer_shapes(model, n)
    flops = dict.fromkeys(BLOCKS, 0.0)
    for i, (d_out, d_in, m, _) in enumerate(shapes):
        flops["U"] += 2 * d_out * d_in * m                       # W V
        flops["W"] += (0 if i == 0 else d_in * d_in * m)         # V Vᵀ (X Xᵀ is cached)
        flops["W"] += 2 * d_in * d_out * m + spd_solve_flops(d_in, d_out)
    for i in range(len(shapes) - 1):  # V_i through W_{i+1}
        d_next, d, _, _ = shapes[i + 1]
        if d_next * (d + d_next) < d * d:  # Woodbury (blocks.hpp)
            flops["V"] += 4 * d * d_next * n + d_next * d_next * d + spd_solve_flops(d_next, n)
        else:
            flops["V"] += 2 * d * d_next * n + d * d * d_next + spd_solve_flops(d, n)
    return flops


# ----------------------------------------------------------------------------- one network
def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak_rss():
    """Linux: start a new peak-RSS measurement (VmHWM) here."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def eigen_gemm_rate(nnbcd, threads):
    """GFLOP/s of the core's GEMM: the forward pass of one dense 1024 → 1024 layer."""
    X = np.random.default_rng(0).standard_normal((GEMM_COLUMNS, 1024)).astype(np.float32)
    layer = nnbcd.MLP([1024, 1024], seed=0)
    best = best_seconds(lambda: layer.decision_function(X, threads), 5)
    return 2 * 1024 * 1024 * GEMM_COLUMNS / best / 1e9


def timed(run):
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def measure(name, threads, iterations, skip_baseline):
    """Everything about one network at one thread count, as a dict."""
    from threadpoolctl import threadpool_limits
    import nnbcd

    model, X, y, X_eval, baseline = build(name)
    n, item = len(X), model.dtype.itemsize
    out = {"network": name, "threads": threads, "n": n, "repr": repr(model),
           "flops": iteration_flops(model, n)}
    lifted = 2 * sum(rows for *_, rows in layer_shapes(model, n)) * n * item
    out["memory"] = {"lifted U,V": lifted, "formula": model.training_bytes(n)}
    W0 = [w.copy() for w in model.weights]
    b0 = [b.copy() for b in model.biases]

    with threadpool_limits(limits=threads):  # measured before and after: the higher rate
        sgemm_before = gemm_rate_numpy(GEMM_COLUMNS, np.float32)
    before = rss_bytes()
    out["memory"]["peak measured"] = reset_peak_rss()
    trainer = nnbcd.BCD(1.0, 1.0, 1.0, tau=1.0, tau_growth=1.0, n_threads=threads)
    state = trainer.start(model, X, y)
    state.step()  # warm-up
    start_blocks = state.block_seconds()
    steps = [timed(state.step) for _ in range(iterations)]
    end_blocks = state.block_seconds()
    out["memory"]["training peak"] = peak_rss_bytes() - before
    out["seconds"] = float(np.median(steps))
    out["mean seconds"] = float(np.mean(steps))
    out["blocks"] = {k: (end_blocks[k] - start_blocks[k]) / iterations for k in end_blocks}
    state.objective()  # computes the W V products the next step would reuse
    out["blocks"]["objective"] = timed(state.objective)  # what asking for Φ costs
    out["blocks"]["evaluation"] = timed(lambda: model.predict(X_eval, threads))
    out["eval samples"] = len(X_eval)
    del state

    with threadpool_limits(limits=threads):
        out["sgemm numpy"] = max(sgemm_before, gemm_rate_numpy(GEMM_COLUMNS, np.float32))
    out["sgemm eigen"] = eigen_gemm_rate(nnbcd, threads)
    if baseline is not None and not skip_baseline:
        import torch
        import baseline_torch as bt
        torch.set_num_threads(threads)
        base = bt.TorchBCD(model.sizes, X, y, 1.0, 1.0, 1.0, seed=0, dtype=torch.float32,
                           weights=W0, biases=b0, tau=1.0, **baseline)
        base.step()  # warm-up
        out["baseline seconds"] = float(np.median([timed(base.step) for _ in range(iterations)]))
    return out


# ----------------------------------------------------------------------------- report
def report(results):
    print("\nTime per iteration and GEMM fraction")
    rows = []
    for r in results:
        counted = sum(r["flops"].values())
        linear_algebra = sum(r["blocks"][k] for k in ("V", "U", "W"))
        rate = r["sgemm numpy"]
        base = r.get("baseline seconds")
        rows.append([r["network"], r["threads"], f"{r['seconds']:.3f}",
                     f"{counted / rate / 1e9:.3f}", fmt(counted / 1e9),
                     f"{rate:.0f}", f"{r['sgemm eigen']:.0f}",
                     f"{counted / linear_algebra / 1e9:.0f}",
                     f"{counted / linear_algebra / 1e9 / rate:.2f}",
                     f"{counted / r['seconds'] / 1e9 / rate:.2f}",
                     "n/a" if base is None else f"{base:.3f}",
                     "n/a" if base is None else f"{base / r['seconds']:.2f}x"])
    print(format_table(["network", "threads", "s/iter", "floor s", "GFLOP/iter", "SGEMM GF/s",
                        "Eigen GF/s", "V+U+W GF/s", "GEMM fraction (V+U+W)",
                        "fraction of floor (whole iter)", "torch s/iter", "speed-up"], rows))

    print("\nSeconds per block (one iteration; objective and evaluation when asked for)")
    rows = []
    for r in results:
        b = r["blocks"]
        other = r["mean seconds"] - sum(b[k] for k in (*BLOCKS, "snapshot"))
        cells = []
        for k in ("V", "U", "W"):
            gflop = r["flops"][k] / 1e9
            cells.append(f"{b[k]:.3f} ({gflop / b[k] / r['sgemm numpy']:.2f})" if b[k] > 0
                         else f"{b[k]:.3f}")
        slowest = max(("V", "U", "W", "G"), key=b.get)
        rows.append([r["network"], r["threads"], *cells, f"{b['G']:.3f}",
                     f"{b['snapshot']:.3f}", f"{other:.3f}", f"{b['objective']:.3f}",
                     f"{b['evaluation']:.3f} ({r['eval samples']})", slowest])
    print(format_table(["network", "threads", "V (frac)", "U (frac)", "W (frac)", "G",
                        "snapshot", "other", "objective", "evaluation (samples)", "slowest"],
                       rows))

    print("\nPeak memory of training (growth of the process's peak RSS during start and steps)")
    rows = []
    for r in results:
        m = r["memory"]
        peak = m["training peak"] if m["peak measured"] else float("nan")
        rows.append([r["network"], r["threads"], f"{m['lifted U,V'] / 2**20:.0f}",
                     f"{m['formula'] / 2**20:.0f}", f"{peak / 2**20:.0f}",
                     f"{peak / m['lifted U,V']:.2f}", f"{peak / m['formula']:.2f}"])
    print(format_table(["network", "threads", "U,V MiB", "formula MiB", "peak MiB",
                        "peak / (U,V)", "peak / formula"], rows))
    print("formula (model.training_bytes): U_i, V_i and the cached W_i V_{i-1} (3 d_i n), the "
          "targets (d_N n), the largest d x d system twice, and a convolution's patches.")

    threads = sorted({r["threads"] for r in results})
    if len(threads) > 1:
        print("\nThread scaling (s/iter, speed-up over the fewest threads)")
        rows = []
        for name in dict.fromkeys(r["network"] for r in results):
            per = {r["threads"]: r["seconds"] for r in results if r["network"] == name}
            first = per[threads[0]]
            rows.append([name] + [f"{per[t]:.3f} ({first / per[t]:.2f}x)" for t in threads])
        print(format_table(["network"] + [f"{t} thread(s)" for t in threads], rows))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", default=",".join(NETWORKS),
                        help=f"comma-separated, from {', '.join(NETWORKS)} (default all)")
    parser.add_argument("--threads", default="0",
                        help="comma-separated thread counts (default 0: all usable cores)")
    parser.add_argument("--iterations", type=int, default=3,
                        help="timed iterations after one warm-up (default 3)")
    parser.add_argument("--skip-baseline", action="store_true", help="time nnbcd only")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process: one network
    args = parser.parse_args(argv)
    networks = [s for s in args.networks.split(",") if s]
    if any(s not in NETWORKS for s in networks):
        parser.error(f"--networks must be chosen from {', '.join(NETWORKS)}")
    import nnbcd
    from nnbcd.threads import usable_cores
    threads = [int(t) or usable_cores() for t in args.threads.split(",")]
    if args.one:
        print(json.dumps(measure(args.one, threads[0], args.iterations, args.skip_baseline)))
        return 0

    print("command: python bench/roofline.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"cpu: {cpu_name()}, {os.cpu_count()} logical cores, {usable_cores()} usable; "
          f"1-minute load average {loadavg():.2f}")
    print(f"nnbcd core: {nnbcd.cpu_variant} (compiled: {', '.join(nnbcd._native._compiled)}; "
          "NNBCD_CPU_VARIANT forces one)")
    results = []
    for name in networks:
        for t in threads:
            command = [sys.executable, os.path.abspath(__file__), "--one", name, "--threads",
                       str(t), "--iterations", str(args.iterations)]
            if args.skip_baseline:
                command.append("--skip-baseline")
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return done.returncode
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = results[-1]
            print(f"{name} ({r['repr']}, n = {r['n']}), {t} thread(s): {r['seconds']:.3f} s/iter",
                  flush=True)
    report(results)
    load = loadavg()
    if load is not None and load > max(threads) + 0.5:
        print(f"WARNING: 1-minute load average {load:.2f}: the machine was busy, timings are "
              "unreliable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
