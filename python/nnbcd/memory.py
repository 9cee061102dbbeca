"""Memory: what a training run allocates, and what the machine has available."""

import os

import numpy as np


def available_memory():
    """Bytes of memory available to allocate, or None where the platform does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def lifted_bytes(sizes, n_samples, dtype):
    """Memory a training run allocates: U_i, V_i and the cached W_i V_{i-1} (each d_i × n),
    the targets, and the largest d × d system."""
    itemsize = np.dtype(dtype).itemsize
    widths = sizes[1:]
    return itemsize * (n_samples * (3 * sum(widths) + sizes[-1]) + 2 * max(sizes) ** 2)
