"""Tensor-train benchmark: nnbcd's TT-SVD against tensorly's, then one NN-BCD iteration of the
HAR-shaped TT network against the torch + tensorly implementation of the same iteration.

    python bench/tt.py                  # both parts (the iteration part takes a few minutes)
    python bench/tt.py --skip-network   # the TT-SVD comparison only

Part 1 decomposes a 1024 x 1024 matrix as (4,)*10 at rank 80 (a random matrix, and a trained-
looking one with a decaying spectrum) with ``nnbcd.ops.tt_svd`` and with
``tensorly.decomposition.tensor_train`` (numpy and pytorch backends), and compares time and
reconstruction error. Part 2 runs ``bench/iteration.py --tt-rank 80``: 561-1024-1024-1024-512-6,
n = 7352, hidden layers TT at rank 80 with the paper's mode shapes.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _best(run, reps):
    result, best = None, float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _decaying(rng, size):
    """A matrix with singular values 1/(1 + k/20): dense-layer-like, not low rank."""
    U, _ = np.linalg.qr(rng.standard_normal((size, size)))
    V, _ = np.linalg.qr(rng.standard_normal((size, size)))
    return (U * (1.0 / (1.0 + np.arange(size) / 20.0))) @ V.T


def tt_svd_table(rank, reps, threads):
    import tensorly as tl
    from tensorly.decomposition import tensor_train

    import nnbcd
    rng = np.random.default_rng(0)
    shape = (4,) * 10
    matrices = {"random": rng.standard_normal((1024, 1024)), "decaying": _decaying(rng, 1024)}
    print(f"TT-SVD of a 1024 x 1024 matrix as {shape} at rank {rank}, best of {reps}, "
          f"{threads} thread(s)")
    header = ("matrix", "dtype", "implementation", "seconds", "relative error", "speed-up")
    rows = []
    for name, A in matrices.items():
        for dtype in (np.float32, np.float64):
            T = A.astype(dtype).reshape(shape)
            norm = np.linalg.norm(A)

            def error(cores):
                full = tl.tt_to_tensor([np.asarray(c, np.float64) for c in cores])
                return np.linalg.norm(full.reshape(A.shape) - A) / norm

            seconds, cores = _best(lambda: nnbcd.ops.tt_svd(T, rank), reps)
            ours = (seconds, error(cores))
            entries = [("nnbcd", *ours)]
            seconds, factors = _best(lambda: tensor_train(T, rank).factors, reps)
            entries.append(("tensorly (numpy)", seconds, error(factors)))
            try:
                import torch
                torch.set_num_threads(threads)
                Tt = torch.from_numpy(T)
                with tl.backend_context("pytorch"):
                    seconds, factors = _best(lambda: tensor_train(Tt, rank).factors, reps)
                entries.append(("tensorly (pytorch)", seconds,
                                error([f.numpy() for f in factors])))
            except ImportError:
                pass
            for implementation, seconds, err in entries:
                rows.append((name, np.dtype(dtype).name, implementation, f"{seconds:.4f}",
                             f"{err:.6f}", f"{seconds / ours[0]:.1f}x"))
    widths = [max(len(str(r[k])) for r in rows + [header]) for k in range(len(header))]
    for k, row in enumerate([header] + rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    for backend in ("numpy", "pytorch"):
        label = f"tensorly ({backend})"
        ratios = [float(r[5][:-1]) for r in rows if r[2] == label]
        if not ratios:
            continue
        worst_error = max(float(r[4]) / float(o[4]) for r in rows for o in rows
                          if r[2] == "nnbcd" and o[2] == label and o[:2] == r[:2])
        met = min(ratios) >= 5 and worst_error <= 1.01
        print(f"target >= 5x faster than {label} at equal error: "
              f"{'MET' if met else 'NOT MET'} (smallest speed-up {min(ratios):.1f}x; nnbcd's "
              f"error at most {worst_error:.6f} times tensorly's)")
    print()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rank", type=int, default=80, help="TT rank (default 80)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions of each TT-SVD")
    p.add_argument("--threads", type=int, default=0, help="threads (default 0: all cores)")
    p.add_argument("--iterations", type=int, default=2,
                   help="timed network iterations per implementation (default 2)")
    p.add_argument("--skip-network", action="store_true", help="TT-SVD comparison only")
    args = p.parse_args(argv)
    import iteration  # after argument parsing: it reads the thread limit at import time
    net_args = iteration._parse_args(["--tt-rank", str(args.rank), "--threads",
                                      str(args.threads), "--iterations", str(args.iterations)])
    limits = (iteration.threadpool_limits(limits=net_args.threads)
              if iteration.threadpool_limits is not None else None)
    try:
        tt_svd_table(args.rank, args.reps, net_args.threads)
    finally:
        if limits is not None:
            limits.unregister()
    if args.skip_network:
        return 0
    return iteration.run_benchmark(net_args)


if __name__ == "__main__":
    sys.exit(main())
