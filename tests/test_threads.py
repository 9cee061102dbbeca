"""Threads: n_threads=0 resolves to the usable cores, oversubscription warns, and training
releases the GIL so that other Python threads keep running."""

import math
import os
import threading
import time
import warnings

import numpy as np
import pytest

import nnbcd
from nnbcd._native import core
from nnbcd.threads import OversubscriptionWarning, resolve, usable_cores, warn_if_oversubscribed


def test_zero_threads_means_the_usable_cores():
    affinity = len(os.sched_getaffinity(0))
    quota = core.cgroup_cpu_quota("/sys/fs/cgroup")
    assert usable_cores() == (min(affinity, max(1, math.ceil(quota))) if quota else affinity)
    assert resolve(0) == usable_cores() and resolve(3) == 3
    assert nnbcd.BCD(n_threads=0).n_threads == usable_cores()
    if core.openmp:  # the C++ core's own n_threads=0 (for C++ users) is the same count
        assert core.max_threads(0) == usable_cores() and core.max_threads(3) == 3


@pytest.mark.parametrize("files,quota", [
    ({}, 0.0),
    ({"cpu.max": "max 100000\n"}, 0.0),
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu.max": "200000 100000\n", "cpu/cpu.cfs_quota_us": "800000\n"}, 2.0),  # v2 first
    ({"cpu.max": "garbage here\n"}, 0.0),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.0),
    ({"cpu/cpu.cfs_quota_us": "400000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4.0),
    ({"cpu/cpu.cfs_quota_us": "400000\n"}, 0.0),
])
def test_the_cgroup_cpu_quota_is_read_from_v2_then_v1(tmp_path, files, quota):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert core.cgroup_cpu_quota(str(tmp_path)) == quota


def test_more_threads_than_cores_warns():
    X = np.random.default_rng(0).standard_normal((40, 5))
    y = np.arange(40) % 2
    with pytest.warns(OversubscriptionWarning, match=f"exceeds the {usable_cores()} cores"):
        nnbcd.BCD(n_threads=usable_cores() + 2).start(nnbcd.MLP([5, 8, 2]), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nnbcd.BCD().start(nnbcd.MLP([5, 8, 2]), X, y)


def _warnings_in_worker_thread(call):
    records = []

    def run():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        records.extend(r for r in caught if r.category is OversubscriptionWarning)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return records


def test_a_blas_pool_beside_a_training_thread_warns():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not any(p["user_api"] == "blas" for p in threadpoolctl.threadpool_info()):
        pytest.skip("no BLAS library loaded")
    cores = usable_cores()
    with threadpoolctl.threadpool_limits(2, "blas"):
        caught = _warnings_in_worker_thread(lambda: warn_if_oversubscribed(cores))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warn_if_oversubscribed(cores)  # the main thread: nothing else is training beside it
    with threadpoolctl.threadpool_limits(1, "blas"):
        quiet = _warnings_in_worker_thread(lambda: warn_if_oversubscribed(cores))
    assert len(caught) == 1 and "threadpool_limits" in str(caught[0].message)
    assert quiet == []


def test_training_releases_the_gil():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 256)).astype(np.float32)
    y = rng.integers(0, 10, 4000)
    state = nnbcd.BCD(n_threads=1).start(nnbcd.MLP([256, 512, 512, 10]), X, y)
    started = time.perf_counter()
    state.step()
    step_seconds = time.perf_counter() - started

    running = threading.Event()

    def train():
        running.set()
        state.step()

    worker = threading.Thread(target=train)
    ticks = 0
    worker.start()
    running.wait()
    while worker.is_alive():  # pure Python: it only advances while the step holds no GIL
        ticks += 1
    worker.join()
    # Holding the GIL, the step would let this loop run only at the switch interval (5 ms):
    # about step_seconds / 0.005 ticks. Released, the loop runs freely.
    assert ticks > 100 * step_seconds / 0.005
