"""Screening prototype (#18, session 19; dropped): τ relative to the compressed layers' input
power. τ competes in the W-update with the eigenvalues of ρ V_{i−1} V_{i−1}ᵀ; their mean is
s_i = ρ ||V_{i−1}||² / d_{i−1}. Here τ = κ · max_i s_i, re-measured after every iteration
(``ramp``: κ reached by × 1.2 steps over the first 40 iterations). Digits' TT network wants
κ ≈ 0.03, the paper's CNN ≈ 0.3: the input power does not carry τ's scale across problems
(``bench/results/target_gap.md``). Prints s_i, the relative gaps ||W_i − G_i|| / ||W_i|| and
the deployed network's training and test accuracy.

    python bench/prototype_relative_tau.py digits-tt 0.03 --iterations 200 --eval-every 50
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=sorted(suite.PROBLEMS))
    parser.add_argument("kappa", type=float)
    parser.add_argument("--ramp", action="store_true")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=50)
    args = parser.parse_args(argv)
    problem = suite.PROBLEMS[args.problem]
    X, y, X_test, y_test = suite.load(problem.data, suite.DEFAULT_MNIST)
    X, X_test = np.asarray(X, np.float32), np.asarray(X_test, np.float32)
    state = suite.start(problem, X, y, seed=0, threads=1,
                        overrides=dict(tau_growth=1.0, tau_max=1e12, target_gap=0.0))
    model = state.model
    layers = [i for i, spec in enumerate(model.compression) if spec is not None]
    kappa = args.kappa / 1.2 ** 40 if args.ramp else args.kappa
    state.tau = kappa * suite.input_powers(state, X, layers).max()
    elapsed = 0.0
    for k in range(1, args.iterations + 1):
        started = time.perf_counter()
        state.step()
        kappa = min(kappa * 1.2, args.kappa)
        powers = suite.input_powers(state, X, layers)
        state.tau = kappa * powers.max()
        elapsed += time.perf_counter() - started
        if k % args.eval_every == 0:
            gaps = [np.linalg.norm(model.weights[i] - model.compressed_weights[i])
                    / np.linalg.norm(model.weights[i]) for i in layers]
            print(f"iteration {k}, {elapsed:.0f} s, tau {state.tau:.3g}, s {np.round(powers, 3)}, "
                  f"gaps {np.round(gaps, 3)}, "
                  + suite.accuracies(state, X_test, y_test, 1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
