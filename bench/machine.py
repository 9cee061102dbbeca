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
