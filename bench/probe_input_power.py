"""Each layer's input power under the recipe: s_i = ρ ||V_{i−1}||² / d_{i−1}, the mean eigenvalue
of ρ V_{i−1} V_{i−1}ᵀ that the weight decay λ is added to in the W-update, and λ / s_i, every
few iterations (1 thread). Layer 1's input is X.

    python bench/probe_input_power.py PROBLEM ITERATIONS EVAL_EVERY ['{"weight_decay": 0}']
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (3, 4):
        sys.exit(__doc__)
    name, iterations, eval_every = argv[0], int(argv[1]), int(argv[2])
    problem = suite.PROBLEMS[name]
    X, y, X_test, y_test = suite.load(problem.data, suite.DEFAULT_MNIST)
    state = suite.start(problem, X, y, seed=0, threads=1,
                        overrides=json.loads(argv[3]) if len(argv) == 4 else None)
    decay, rho = state.trainer.weight_decay, state.trainer.rho
    print(f"command: python bench/probe_input_power.py {' '.join(argv)}\n"
          f"{name}: n {len(X)}, λ {decay:g}, ρ {rho:g}", flush=True)
    X_test = np.asarray(X_test, np.float32)
    inputs = np.asarray(X, np.float64)
    first = rho * float(np.sum(inputs ** 2)) / inputs.shape[1]
    for k in range(1, iterations + 1):
        state.step()
        if k % eval_every == 0:
            _, V = state.lifted()
            power = np.array([first] + [rho * float(np.sum(np.square(v, dtype=np.float64)))
                                        / v.shape[0] for v in V[:-1]])
            test = float(np.mean(state.model.predict(X_test, 1) == y_test))
            print(f"iteration {k}: s_i {np.array2string(power, precision=3)}, λ/s_i "
                  f"{np.array2string(decay / power, precision=3)}, test {test:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
