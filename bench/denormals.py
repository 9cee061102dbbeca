"""Seconds per iteration and subnormal entries of W, U, V over a run of a bench/suite.py problem
with the defaults (1 thread): shows whether the run slows down as values decay into the
subnormal range (the C++ core flushes them to zero during training, cpp/include/nnbcd/denormals.hpp).

    python bench/denormals.py [--problem lenet] [--iterations 200] [--every 10]
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402

TINY = np.finfo(np.float32).tiny


def subnormals(arrays):
    return [int(np.count_nonzero((np.abs(a) > 0) & (np.abs(a) < TINY))) for a in arrays]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="lenet", choices=sorted(suite.PROBLEMS))
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--every", type=int, default=10)
    args = parser.parse_args(argv)
    problem = suite.PROBLEMS[args.problem]
    X, y, _, _ = suite.load(problem.data, suite.DEFAULT_MNIST)
    state = suite.start(problem, X, y, seed=0, threads=1)
    print(f"command: python bench/denormals.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print("| iteration | s/iteration (mean of the last block) | subnormal W | U | V |")
    print("|---|---|---|---|---|")
    seconds = 0.0
    for k in range(1, args.iterations + 1):
        started = time.perf_counter()
        state.step()
        seconds += time.perf_counter() - started
        if k % args.every == 0:
            v = state.variables()
            print(f"| {k} | {seconds / args.every:.3f} | {subnormals(v['W'])} | "
                  f"{subnormals(v['U'])} | {subnormals(v['V'])} |", flush=True)
            seconds = 0.0
    return 0


if __name__ == "__main__":
    sys.exit(main())
