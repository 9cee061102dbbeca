"""Screening prototype (#18): a run that goes on under other settings — continuation of the
coupling weights γ and ρ, and a dense start before projected BCD.

With γ, ρ fixed the lifted problem's minimiser is not a network: the lifted variables fit the
labels while the deployed forward pass lags (bench/diagnose_plateau.py). Raising γ and ρ as the
run goes (a penalty method's continuation, as in the method of auxiliary coordinates) should
close that gap. Here γ = ρ = start · factor^⌊k / every⌋, capped at ``cap``: a bench/suite.py
problem trained with the library's defaults, and every ``every`` iterations the run goes on in a
new ``BCD`` with the raised γ = ρ, from the same network, lifted variables and extrapolation
state (``TrainingState.restore``). Prints the deployed network's test accuracy.

    python bench/prototype_continuation.py lenet --every 20 --factor 2 --cap 80 \
        --iterations 100 --eval-every 10 --threads 1
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402

import nnbcd  # noqa: E402
from nnbcd.recipes import recipe  # noqa: E402


def continued(state, X, y, kind, coupling, threads, dense=False):
    """``state``'s run on (X, y) (compression ``kind``) going on with γ = ρ = ``coupling``,
    from where it stands; ``dense``: τ = 0 and no W ← G."""
    settings = recipe(kind).bcd_settings(len(X))
    settings.update(gamma=coupling, rho=coupling)
    if dense:
        settings.update(tau=0.0, overwrite_weights=False)
    following = nnbcd.BCD(n_threads=threads, **settings).start(state.model, X, y)
    U, V = state.lifted()
    following.restore(state.iteration, state.scheduled_tau, U, V,
                      state.extrapolation_state())
    return following


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=list(suite.PROBLEMS))
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--cap", type=float, default=80.0)
    parser.add_argument("--dense-first", type=int, default=0, metavar="K")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    print("command: python bench/prototype_continuation.py " + " ".join(sys.argv[1:]))
    problem, (X, y, X_test, y_test), state = suite.started(args.problem, args.threads)
    coupling = recipe(problem.kind).gamma
    if args.dense_first:
        state = continued(state, X, y, problem.kind, coupling, args.threads, dense=True)

    def iteration(k, state):
        nonlocal coupling
        if k > 1 and (k - 1) % args.every == 0 and coupling < args.cap:
            coupling = min(coupling * args.factor, args.cap)
            state = continued(state, X, y, problem.kind, coupling, args.threads,
                              dense=k <= args.dense_first)
        elif args.dense_first and k == args.dense_first + 1:
            state = continued(state, X, y, problem.kind, coupling, args.threads)
        state.step()
        return state

    suite.screen(state, args.iterations, args.eval_every, X_test, y_test, args.threads,
                 iteration, lambda state: f"gamma = rho = {coupling:g}, ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
