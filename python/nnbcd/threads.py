"""How many threads nnbcd uses, and a warning when they would oversubscribe the cores.

``n_threads=0`` means the cores this process may use: its CPU affinity, capped by a cgroup
CPU quota (a container limited to 2 CPUs on a 64-core host gets 2 threads, not 64). Heavy
calls release the GIL, so a service can train in a worker thread and keep serving from the
others; a BLAS thread pool (numpy's OpenBLAS or MKL) busy in those threads then competes with
nnbcd's threads for the same cores, which ``warn_if_oversubscribed`` reports.
"""

import threading
import warnings

from ._native import core


class OversubscriptionWarning(RuntimeWarning):
    """More threads would run at once than the process has cores."""


def usable_cores():
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (the C++
    core's own count, which its ``n_threads=0`` uses too)."""
    return core.usable_cores()


def resolve(n_threads):
    """The thread count ``n_threads`` stands for (0: ``usable_cores()``)."""
    return n_threads or usable_cores()


def _blas_threads():
    """(threads, name) of the largest BLAS pool loaded in this process, as threadpoolctl
    reports it; (0, None) without threadpoolctl or BLAS."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return 0, None
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    largest = max(pools, key=lambda p: p["num_threads"], default=None)
    return (0, None) if largest is None else (largest["num_threads"], largest["internal_api"])


def warn_if_oversubscribed(n_threads, stacklevel=3):
    """Warn (``OversubscriptionWarning``) when a run with ``n_threads`` would put more busy
    threads on the cores than there are: ``n_threads`` above ``usable_cores()``, or, when
    training from a worker thread on every core (the other threads stay free to work, the GIL
    being released), a BLAS pool of several threads that would compete with nnbcd's."""
    cores, ours = usable_cores(), resolve(n_threads)
    if ours > cores:
        warnings.warn(f"n_threads={n_threads} exceeds the {cores} cores this process may use; "
                      "the threads will wait for each other. Use n_threads=0 (all cores).",
                      OversubscriptionWarning, stacklevel=stacklevel)
    if threading.current_thread() is not threading.main_thread():
        blas, name = _blas_threads()
        if blas > 1 and ours >= cores:
            warnings.warn(
                f"training from a worker thread on all {cores} cores: BLAS ({name}, {blas} "
                f"threads) in the other threads would compete with nnbcd's {ours} threads. "
                "Limit BLAS (threadpoolctl.threadpool_limits(1, 'blas'), or "
                "OPENBLAS_NUM_THREADS=1 / MKL_NUM_THREADS=1), or lower n_threads.",
                OversubscriptionWarning, stacklevel=stacklevel)
