"""Screen settings on one bench/suite.py problem: the deployed network's training and test
accuracy (and the extrapolation's restarts, τ, each layer's input power s_i = ρ ||V_{i−1}||² /
d_{i−1} and the weight decay against it) every few iterations, with BCD arguments and the
initial scale over the defaults.

    python bench/screen.py PROBLEM ITERATIONS EVAL_EVERY ['{"tau": 0.1, "tau_growth": 1.2}']

The JSON object takes ``nnbcd.BCD`` arguments, plus ``init`` and ``init_scale`` (the network's,
instead of the recipe's), ``weight_decay_per_sample`` (λ / n, instead of ``weight_decay``) and
``weight_decay_layers`` (one factor per layer on the weight decay: ``[0, 0, 0, 1]`` keeps it on
the fourth layer only). ``weight_decay_from`` {"iteration": K} or {"train_accuracy": A} starts
the run without weight decay and sets it (the recipe's, or the one given) after iteration K, or
once the deployed network's training accuracy (measured every 5 iterations) reaches A. 1 thread.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402
from nnbcd.recipes import recipe  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (3, 4):
        sys.exit(__doc__)
    name, iterations, eval_every = argv[0], int(argv[1]), int(argv[2])
    overrides = json.loads(argv[3]) if len(argv) == 4 else {}
    problem = suite.PROBLEMS[name]
    X, y, X_test, y_test = suite.load(problem.data, suite.DEFAULT_MNIST)
    if "weight_decay_per_sample" in overrides:
        overrides["weight_decay"] = overrides.pop("weight_decay_per_sample") * len(X)
    lam = overrides.get("weight_decay", recipe(problem.kind).bcd_settings(len(X))["weight_decay"])
    if "weight_decay_layers" in overrides:
        lam = overrides["weight_decay"] = [lam * f for f in overrides.pop("weight_decay_layers")]
    switch = overrides.pop("weight_decay_from", None)
    if switch is not None:
        overrides["weight_decay"] = 0.0
    init = dict(init_scale=overrides.pop("init_scale", None),
                init=overrides.pop("init", None))
    state = suite.start(problem, X, y, seed=0, threads=1, overrides=overrides, **init)
    print(f"command: python bench/screen.py {' '.join(argv)}", flush=True)
    X, layers = np.asarray(X, np.float32), range(state.model.n_layers)

    def describe(state):
        powers = suite.input_powers(state, X, layers)
        return (f"restarts {state.restarts}, tau {state.tau:.3g}, input power s_i "
                f"{np.array2string(powers, precision=3)}, weight decay / s_i "
                f"{np.array2string(np.asarray(state.weight_decay) / powers, precision=3)}, ")

    def iteration(k, state):
        state.step()
        if switch is not None and not np.any(state.weight_decay):
            due = (k >= switch["iteration"] if "iteration" in switch else
                   k % 5 == 0 and state.train_accuracy() >= switch["train_accuracy"])
            if due:
                state.weight_decay = lam
                print(f"weight decay {lam} from iteration {k + 1}", flush=True)
        return state

    suite.screen(state, iterations, eval_every, np.asarray(X_test, np.float32), y_test, 1,
                 iteration, describe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
