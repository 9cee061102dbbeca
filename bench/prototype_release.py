"""Screening prototype (#18): projected BCD first, then plain BCD — W ← G released.

Projected BCD (W_i ← G_i after every sweep, the compressed recipes' default) is fast early but
levels off on the paper's CNN (0.963-0.965 at rank 40), where the authors' notebook, which never
sets W ← G, climbs to 0.982 (``bench/results/cnn_notebook.md``). Here a bench/suite.py problem
is trained with the library's defaults for ``--release`` iterations, then goes on from the same
network, lifted variables and extrapolation state in a new ``BCD`` without W ← G, with τ
multiplied by ``--tau-factor``. Prints the deployed network's training and test accuracy.

    python bench/prototype_release.py digits-tt --release 50 --iterations 200 --eval-every 25
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402

import nnbcd  # noqa: E402
from nnbcd.recipes import recipe  # noqa: E402


def released(state, X, y, kind, tau_factor, threads):
    """``state``'s run going on without W ← G, τ multiplied by ``tau_factor``."""
    settings = recipe(kind).bcd_settings(len(X))
    settings.update(overwrite_weights=False, tau=settings["tau"] * tau_factor)
    following = nnbcd.BCD(n_threads=threads, **settings).start(state.model, X, y)
    U, V = state.lifted()
    following.restore(state.iteration, following.trainer.tau, U, V, state.extrapolation_state())
    return following


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=list(suite.PROBLEMS))
    parser.add_argument("--release", type=int, default=50, metavar="K")
    parser.add_argument("--tau-factor", type=float, default=1.0)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("command: python bench/prototype_release.py " + " ".join(sys.argv[1:]))
    problem, (X, y, X_test, y_test), state = suite.started(args.problem, args.threads, args.seed)

    def iteration(k, state):
        if k == args.release + 1:
            state = released(state, X, y, problem.kind, args.tau_factor, args.threads)
        state.step()
        return state

    suite.screen(state, args.iterations, args.eval_every, X_test, y_test, args.threads,
                 iteration)
    return 0


if __name__ == "__main__":
    sys.exit(main())
