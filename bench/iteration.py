"""Time per NN-BCD iteration: nnbcd against a straightforward torch implementation.

Dense 561-1024-1024-1024-512-6 network on n = 7352 random samples (the paper's HAR shape) by
default. Both implementations run in the same process with the same thread count; the table gives
seconds per iteration, the cost-model FLOP count per iteration (DESIGN.md §3), the achieved rate
and its fraction of the machine's SGEMM rate measured in the same run, and the speed-up of nnbcd
over the baseline (``bench/baseline_torch.py``: the authors' style, explicit inverses, one op at
a time).

Targets: nnbcd at least 3x faster than the baseline, and at least half the SGEMM rate.

    python bench/iteration.py                 # all cores
    python bench/iteration.py --threads 1
    python bench/iteration.py --check         # float64 agreement of one step, nnbcd vs baseline
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys


def _parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=0,
                   help="thread count for nnbcd, torch and the SGEMM measurement "
                        "(default 0: all cores available to this process)")
    p.add_argument("--n", type=int, default=7352, help="number of samples (default 7352)")
    p.add_argument("--sizes", type=str, default="561,1024,1024,1024,512,6",
                   help="comma-separated layer widths d_0,...,d_N (default 561,1024,1024,1024,512,6)")
    p.add_argument("--iterations", type=int, default=3,
                   help="timed iterations per implementation, after 1 warm-up (default 3)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--skip-baseline", action="store_true", help="time nnbcd only")
    p.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")
    p.add_argument("--tt-rank", type=int, default=0,
                   help="compress every hidden layer to a tensor train of this rank (the paper's "
                        "mode shapes for the default sizes, nnbcd's default modes otherwise) "
                        "with tau = 1; the baseline then projects with tensorly (default 0: dense)")
    p.add_argument("--check", action="store_true",
                   help="instead of timing: check on a small float64 network that one nnbcd step "
                        "and one baseline step from the same initial weights agree")
    args = p.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        p.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if len(args.sizes) < 2 or min(args.sizes) < 1:
        p.error("--sizes needs at least two positive widths, e.g. 561,1024,6")
    if args.n < 1:
        p.error("--n must be positive")
    if args.iterations < 1:
        p.error("--iterations must be at least 1")
    if args.threads < 0:
        p.error("--threads must be >= 0 (0 = all cores)")
    if args.tt_rank < 0:
        p.error("--tt-rank must be >= 0 (0 = dense)")
    if args.threads == 0:
        try:
            args.threads = len(os.sched_getaffinity(0))
        except AttributeError:
            args.threads = os.cpu_count() or 1
    return args


ARGS = _parse_args() if __name__ == "__main__" else None

# Thread limits: threadpoolctl if available; otherwise environment variables, which only work when
# set before numpy (and its BLAS) is imported -- hence this happens before the imports below.
try:
    from threadpoolctl import threadpool_limits, threadpool_info
except ImportError:  # pragma: no cover - fallback
    threadpool_limits = None
    threadpool_info = None
    if ARGS is not None:
        for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
            os.environ[_var] = str(ARGS.threads)

import contextlib  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import (cpu_name, fmt, format_table, gemm_rate_numpy, gemm_rate_torch,  # noqa: E402
                     loadavg, peak_rss_mib)


# ----------------------------------------------------------------------------- cost model
def flops_per_iteration(sizes, n):
    """FLOPs of one dense NN-BCD iteration by the cost model of DESIGN.md §3.

    ``sizes`` = d_0, ..., d_N; ``n`` samples. Counted terms, with W_i of shape d_out × d_in
    (d_out = d_i, d_in = d_{i−1}):

    for every layer i = 1..N
      * ``W V``         W_i V_{i−1} in the U_i update                  2·d_out·d_in·n
      * ``(U-b)V^T``    (U_i − b_i) V_{i−1}ᵀ, right-hand side of W_i   2·d_out·d_in·n
      * ``V V^T``       V_{i−1} V_{i−1}ᵀ as a symmetric rank-n update  d_in²·n
    for every hidden layer i = 1..N−1 (the V_i update)
      * ``W^T(U-b)``    W_{i+1}ᵀ (U_{i+1} − b_{i+1})                   2·d_{i+1}·d_i·n
      * ``solve``       Cholesky solve of the d_i × d_i system with n right-hand sides  2·d_i²·n

    Not counted (independent of n, or O(d·n)): forming W_{i+1}ᵀW_{i+1}, the factorisations, the
    elementwise updates and the row sums. Returns (total, {term: flops}).
    """
    N = len(sizes) - 1
    terms = {"W V": 0, "(U-b)V^T": 0, "V V^T": 0, "W^T(U-b)": 0, "solve": 0}
    for i in range(1, N + 1):
        d_out, d_in = sizes[i], sizes[i - 1]
        terms["W V"] += 2 * d_out * d_in * n
        terms["(U-b)V^T"] += 2 * d_out * d_in * n
        terms["V V^T"] += d_in * d_in * n
    for i in range(1, N):
        terms["W^T(U-b)"] += 2 * sizes[i + 1] * sizes[i] * n
        terms["solve"] += 2 * sizes[i] * sizes[i] * n
    return sum(terms.values()), terms


# ----------------------------------------------------------------------------- helpers
def _import_nnbcd():
    try:
        import nnbcd
        nnbcd.BCD  # noqa: B018 - the API must be there, not just the package
        nnbcd.MLP  # noqa: B018
        return nnbcd, None
    except Exception as exc:  # ImportError, AttributeError, a broken extension...
        return None, f"{type(exc).__name__}: {exc}"


HAR_SIZES = [561, 1024, 1024, 1024, 512, 6]


def _tt_shapes(bt, sizes):
    """Mode shapes of the hidden layers (None: the dense output layer): the paper's for the
    HAR network, nnbcd's default modes (None) for any other."""
    if sizes == HAR_SIZES:
        return list(bt.HAR_TT_SHAPES)
    from nnbcd._native import core
    return [core.default_tt_shape(False, d_out, d_in) for d_in, d_out in
            zip(sizes[:-2], sizes[1:-1])] + [None]


def _random_data(n, sizes, seed, dtype):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], n).astype(np.int64)
    return np.ascontiguousarray(X), y


def _phi_from_variables(bt, torch, var, X, y, sizes, gamma, rho, tdtype):
    """Φ (baseline module's formula) of a dict of numpy "W","b","U","V" lists."""
    n = X.shape[0]
    Xc = torch.from_numpy(np.asarray(X)).to(tdtype).t()
    Y = torch.zeros(sizes[-1], n, dtype=tdtype)
    Y[torch.as_tensor(y), torch.arange(n)] = 1
    Ws = [torch.from_numpy(np.asarray(w)).to(tdtype) for w in var["W"]]
    bs = [torch.from_numpy(np.asarray(b)).to(tdtype).reshape(-1, 1) for b in var["b"]]
    Us = [torch.from_numpy(np.asarray(u)).to(tdtype) for u in var["U"]]
    Vs = [torch.from_numpy(np.asarray(v)).to(tdtype) for v in var["V"]]
    return bt.objective(Ws, bs, Us, Vs, Xc, Y, gamma, rho)


# ----------------------------------------------------------------------------- --check
def run_check(args):
    """One (and three) float64 steps of nnbcd and the baseline from the same initial weights."""
    import torch
    import baseline_torch as bt

    nnbcd, err = _import_nnbcd()
    if nnbcd is None:
        print(f"--check needs nnbcd, which is not importable ({err})")
        return 1
    torch.set_num_threads(args.threads)
    sizes = [30, 40, 40, 20, 4]
    n = 300
    X, y = _random_data(n, sizes, args.seed, np.float64)
    tol = 1e-8
    ok = True
    print(f"check: float64, sizes {'-'.join(map(str, sizes))}, n = {n}, "
          f"max |nnbcd - baseline| / max |baseline| per array, tolerance {tol:g}")
    for gamma, rho, alpha in [(1.0, 1.0, 1.0), (0.5, 2.0, 0.1)]:
        model = nnbcd.MLP(sizes, seed=0, dtype="float64")
        W0 = [np.array(w, dtype=np.float64) for w in model.weights]
        b0 = [np.array(b, dtype=np.float64) for b in model.biases]
        trainer = nnbcd.BCD(gamma=gamma, rho=rho, alpha=alpha, n_threads=args.threads)
        state = trainer.start(model, X, y)
        base = bt.TorchBCD(sizes, X, y, gamma, rho, alpha, seed=0, dtype=torch.float64,
                           weights=W0, biases=b0)
        print(f"\ngamma={gamma} rho={rho} alpha={alpha}")
        rows = []
        for label, nsteps in [("start", 0), ("1 step", 1), ("3 steps", 2)]:
            for _ in range(nsteps):
                state.step()
                base.step()
            a = state.variables()
            b = base.variables()
            worst = 0.0
            per = []
            for key in ("W", "b", "U", "V"):
                errs = []
                for i, (x1, x2) in enumerate(zip(a[key], b[key])):
                    x1 = np.asarray(x1, dtype=np.float64)
                    if x1.shape != x2.shape:
                        print(f"  {label}: {key}[{i}] shape {x1.shape} from nnbcd, "
                              f"expected {x2.shape}")
                        ok = False
                        errs.append(float("inf"))
                        continue
                    scale = max(float(np.max(np.abs(x2))), 1e-300)
                    errs.append(float(np.max(np.abs(x1 - x2))) / scale)
                if len(a[key]) != len(b[key]):
                    print(f"  {label}: nnbcd has {len(a[key])} {key} arrays, "
                          f"expected {len(b[key])}")
                    errs.append(float("inf"))
                e = max(errs) if errs else float("inf")
                worst = max(worst, e)
                per.append(f"{e:.2e}")
            phi_a = _phi_from_variables(bt, torch, a, X, y, sizes, gamma, rho, torch.float64)
            phi_b = base.objective()
            own = None
            if hasattr(state, "objective"):  # nnbcd's own Φ, checked against the formula too
                o = state.objective()
                own = float(o["total"] if isinstance(o, dict) else getattr(o, "total", o))
                worst = max(worst, abs(own - phi_b) / max(abs(phi_b), 1e-300))
            passed = worst <= tol
            if label != "3 steps":  # the verdict is on start and one step; 3 steps is shown
                ok &= passed
            rows.append([label] + per + [f"{phi_a:.10g}", "n/a" if own is None else f"{own:.10g}",
                                         f"{phi_b:.10g}", "ok" if passed else "DIFFERS"])
        print(format_table(["after", "W", "b", "U", "V", "Phi(nnbcd vars)",
                             "nnbcd objective()", "Phi baseline", ""],
                            rows))
    print(f"\ncheck (start and one step agree to {tol:g}): {'PASSED' if ok else 'FAILED'}")
    return 0 if ok else 1


# ----------------------------------------------------------------------------- benchmark
def run_benchmark(args):
    import torch
    import baseline_torch as bt

    threads = args.threads
    sizes = args.sizes
    n = args.n
    npdtype = np.float32 if args.dtype == "float32" else np.float64
    tdtype = torch.float32 if args.dtype == "float32" else torch.float64
    gemm_name = "SGEMM" if args.dtype == "float32" else "DGEMM"
    gamma = rho = alpha = 1.0

    print("command:", shlex.join(["python"] + sys.argv))
    print(f"python {platform.python_version()} ({sys.executable}), numpy {np.__version__}, "
          f"torch {torch.__version__}")
    load = loadavg()
    print(f"cpu: {cpu_name()}, {os.cpu_count()} logical cores, using {threads} thread(s)"
          + (f"; 1-minute load average {load:.2f}" if load is not None else ""))
    print(f"network {'-'.join(map(str, sizes))}, n = {n}, {args.dtype}, "
          f"gamma = rho = alpha = {gamma:g}, {args.iterations} timed iteration(s) after 1 warm-up")

    total_flops, terms = flops_per_iteration(sizes, n)
    gflop = total_flops / 1e9
    print(f"cost model: {fmt(gflop)} GFLOP/iteration ("
          + ", ".join(f"{k} {fmt(v / 1e9)}" for k, v in terms.items()) + ")")
    tt_shapes = _tt_shapes(bt, sizes) if args.tt_rank else [None] * (len(sizes) - 1)
    if args.tt_rank:
        print(f"tensor-train layers at rank {args.tt_rank}, tau = 1 (fixed): mode shapes "
              f"{tt_shapes}; the cost model above leaves out the TT-SVDs")

    nnbcd, nnbcd_err = _import_nnbcd()
    if nnbcd is not None:
        print(f"nnbcd {getattr(nnbcd, '__version__', '?')} from "
              f"{os.path.dirname(getattr(nnbcd, '__file__', '?') or '?')}")
    else:
        print(f"nnbcd NOT importable ({nnbcd_err}); timing the baseline only", file=sys.stderr)
        print(f"nnbcd: not importable ({nnbcd_err})")

    limits = (threadpool_limits(limits=threads) if threadpool_limits is not None
              else contextlib.nullcontext())
    torch.set_num_threads(threads)
    X, y = _random_data(n, sizes, args.seed, npdtype)
    load_before = loadavg()
    with limits:
        # machine GEMM rate, same thread count (measured again after the timed steps)
        r_np = gemm_rate_numpy(n, npdtype)
        r_torch = gemm_rate_torch(torch, n, tdtype)
        print(f"{gemm_name} 1024x1024 @ 1024x{n}, best of 5: numpy {r_np:.1f} GFLOP/s, "
              f"torch.mm {r_torch:.1f} GFLOP/s")

        W0 = b0 = None
        steppers = []  # (name, step callable)
        if nnbcd is not None:
            compression = [None if s is None else nnbcd.TensorTrain(args.tt_rank, shape=s)
                           for s in tt_shapes]
            model = nnbcd.MLP(sizes, seed=0, dtype=args.dtype, compression=compression)
            W0 = [np.array(w) for w in model.weights]  # copied before training changes them
            b0 = [np.array(b) for b in model.biases]
            trainer = nnbcd.BCD(gamma=gamma, rho=rho, alpha=alpha, tau=1.0, tau_growth=1.0,
                                n_threads=threads)
            t0 = time.perf_counter()
            state = trainer.start(model, X, y)
            t_start = time.perf_counter() - t0
            t0 = time.perf_counter()
            state.step()  # warm-up
            t_warm = time.perf_counter() - t0
            print(f"nnbcd: trainer.start {t_start:.3f} s, warm-up step {t_warm:.3f} s; peak RSS "
                  f"so far (before the baseline is built): {peak_rss_mib():.0f} MiB")
            steppers.append(("nnbcd", state.step))

        base = None
        if not args.skip_baseline:
            # the same initial weights as nnbcd's model where available, so that Φ compares
            tt = ([None if s is None else (s, args.tt_rank) for s in tt_shapes]
                  if args.tt_rank else None)
            base = bt.TorchBCD(sizes, X, y, gamma, rho, alpha, seed=0, dtype=tdtype,
                               weights=W0, biases=b0, tt=tt, tau=1.0)
            t0 = time.perf_counter()
            base.step()  # warm-up
            print(f"torch baseline: warm-up step {time.perf_counter() - t0:.3f} s")
            steppers.append(("torch baseline", base.step))

        # one implementation after the other, not interleaved: each library's OpenMP pool
        # spin-waits after its own parallel regions and would slow the other one's next step
        times = {name: [] for name, _ in steppers}
        for name, step in steppers:
            for _ in range(args.iterations):
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)

        r_np2 = gemm_rate_numpy(n, npdtype)
        r_torch2 = gemm_rate_torch(torch, n, tdtype)
        print(f"{gemm_name} again after the timed steps: numpy {r_np2:.1f} GFLOP/s, "
              f"torch.mm {r_torch2:.1f} GFLOP/s")
        before, after = max(r_np, r_torch), max(r_np2, r_torch2)
        rate = max(before, after)
        print(f"machine {gemm_name} rate {rate:.1f} GFLOP/s "
              f"(floor for one iteration: {gflop / rate:.3f} s)")

        results = []  # (name, times, phi)
        if nnbcd is not None:
            phi = (state.objective()["total"] if args.tt_rank else
                   _phi_from_variables(bt, torch, state.variables(), X, y, sizes, gamma, rho,
                                       tdtype))
            results.append(("nnbcd", times["nnbcd"], phi))
            del state, trainer
        if base is not None:
            results.append(("torch baseline", times["torch baseline"], base.objective()))
            del base
    load_after = loadavg()
    noisy = []
    if abs(before - after) > 0.15 * rate:
        noisy.append(f"the {gemm_name} rate moved from {before:.1f} to {after:.1f} GFLOP/s "
                     "during the run")
    for label, load in (("start", load_before), ("end", load_after)):
        if load is not None and load > threads + 0.5:
            noisy.append(f"1-minute load average {load:.2f} at the {label} (> {threads} threads)")
    for name, t in times.items():
        if len(t) > 1 and max(t) > 1.3 * min(t):
            noisy.append(f"{name} step times spread {min(t):.3f}..{max(t):.3f} s")

    base_med = next((statistics.median(t) for name, t, _ in results if name != "nnbcd"), None)
    header = ["implementation", "threads", "s/iter median", "s/iter min", "GFLOP/iter",
              "GFLOP/s", f"frac of {gemm_name}", "speed-up"]
    rows = []
    for name, ts, _ in results:
        med, mn = statistics.median(ts), min(ts)
        achieved = gflop / med
        rows.append([name, threads, f"{med:.3f}", f"{mn:.3f}", fmt(gflop),
                     f"{achieved:.1f}", f"{achieved / rate:.2f}",
                     f"{base_med / med:.2f}x" if base_med else "n/a"])
    print()
    print(format_table(header, rows))
    print(f"(GFLOP/iter is the cost model's count (DESIGN.md §3) for every row"
          + ("; the baseline actually does more: explicit inverses, a full V V^T, a second W V "
             "for b" if base_med else "") + f". Machine {gemm_name} rate {rate:.1f} GFLOP/s.)")
    phis = [(name, phi) for name, _, phi in results if phi is not None]
    if phis:
        print(f"Phi after {args.iterations + 1} iterations: "
              + ", ".join(f"{name} {phi:.6g}" for name, phi in phis)
              + ("" if W0 is not None else " (different initial weights)"))
    print()

    nn = next((t for name, t, _ in results if name == "nnbcd"), None)
    speedup_target = 4 if args.tt_rank else 3
    if nn is None:
        print(f"target >={speedup_target}x baseline: NOT EVALUATED (nnbcd not importable)")
        print(f"target >=0.5 of {gemm_name}: NOT EVALUATED (nnbcd not importable)")
    else:
        nn_med = statistics.median(nn)
        if base_med is None:
            print(f"target >={speedup_target}x baseline: NOT EVALUATED (--skip-baseline)")
        else:
            sp = base_med / nn_med
            print(f"target >={speedup_target}x baseline: "
                  f"{'MET' if sp >= speedup_target else 'NOT MET'} ({sp:.2f}x)")
        frac = gflop / nn_med / rate
        print(f"target >=0.5 of {gemm_name}: {'MET' if frac >= 0.5 else 'NOT MET'} ({frac:.2f})")
    if noisy:
        print("WARNING: the machine looked busy, timings are unreliable: " + "; ".join(noisy))
    print(f"peak RSS (whole process, end of run): {peak_rss_mib():.0f} MiB")
    return 0 if nnbcd is not None else 1


def main(args):
    if args.check:
        limits = (threadpool_limits(limits=args.threads) if threadpool_limits is not None
                  else contextlib.nullcontext())
        with limits:
            return run_check(args)
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main(ARGS))
