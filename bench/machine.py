"""What the benchmarks share: the machine's GEMM rate, its description, peak memory, tables."""

import os
import platform
import resource
import sys
import time

import numpy as np


def best_seconds(run, reps):
    """Shortest of ``reps`` timed calls of ``run`` (after one warm-up call)."""
    run()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def gemm_rate_numpy(n, dtype, reps=5, m=1024, k=1024):
    """Best-of-``reps`` GFLOP/s of numpy ``(m×k) @ (k×n)``."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    C = np.empty((m, n), dtype)
    return 2.0 * m * k * n / best_seconds(lambda: np.matmul(A, B, out=C), reps) / 1e9


def gemm_rate_torch(torch, n, dtype, reps=5, m=1024, k=1024):
    """Best-of-``reps`` GFLOP/s of ``torch.mm`` ``(m×k) @ (k×n)``."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(m, k, generator=g, dtype=dtype)
    B = torch.randn(k, n, generator=g, dtype=dtype)
    C = torch.empty(m, n, dtype=dtype)
    return 2.0 * m * k * n / best_seconds(lambda: torch.mm(A, B, out=C), reps) / 1e9


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def peak_rss_mib():
    """The process's peak resident memory so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return ru / (1024.0 * 1024.0) if sys.platform == "darwin" else ru / 1024.0


def fmt(x):
    """Compact number: one decimal from 10 up, three significant digits below."""
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"


def format_table(header, rows):
    """Columns aligned, the first to the left, a rule under the header."""
    cols = list(zip(*([header] + rows)))
    widths = [max(len(str(c)) for c in col) for col in cols]
    lines = []
    for k, r in enumerate([header] + rows):
        cells = [str(c).ljust(w) if j == 0 else str(c).rjust(w)
                 for j, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# TT mode shapes of the HAR-shaped network 561-1024-1024-1024-512-6 (one entry per layer, None =
# dense): W1 (1024x561) and W2, W3 (1024x1024) as in the paper; W4 (512x1024) as (2,) + (4,)*9,
# the candidate whose whole-network compression ratio at TT rank 80 on W1..W4 comes closest to the
# paper's 0.167: CR = (TT cores of W1..W4 + all biases + dense 6x512 output weights) / (all dense
# weights + biases) = 539,730 / 3,202,566 = 0.1685 (0.1676 counting weights only, no biases).
# Its leading modes multiply to 512 = d_out, so nnbcd applies it as two thin factors.
# Other candidates for W4: (4,)*9+(2,) 0.1685 (same core count, 87,380), (4,)*4+(2,)+(4,)*5 0.1688,
# (2,)*19 0.1710, (8,8,8,8,8,4,4) 0.1746, (8,)*6+(2,) 0.1746, (32,32,32,16) 0.1800,
# (16,16,16,16,8) 0.1829. (Irregular mixes of 2/4/8/16 modes can land nearer 0.167, e.g.
# (16,16,2,2,2,16,16) 0.1662, but none is the paper's regular style.)
HAR_TT_SHAPES = [
    (6, 22, 34, 2, 2, 2, 2, 2, 2, 2),  # W1 1024 x 561
    (4,) * 10,                         # W2 1024 x 1024
    (4,) * 10,                         # W3 1024 x 1024
    (2,) + (4,) * 9,                   # W4  512 x 1024
    None,                              # W5    6 x 512, dense output layer
]
