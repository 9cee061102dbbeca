"""Prototype (#18): the weight decay chosen by a trial instead of by the compression kind.

The run starts twice from the same network — with the recipe's weight decay and without it —
and both take TRIAL iterations; the one whose deployed network fits its training data better
(lower ½||f(X) − Y||², Y one-hot) goes on alone. With ``--budget`` (bench/experiments.py's
equal wall time; its budget by default for its experiments) everything is charged to the
wall clock, the loser's iterations included, with the same data, network and curve points as
experiments.py, so the final figure compares with its table; with ``--iterations N`` the
winner goes on to iteration N and the test accuracy is printed every 50 (for digits).

    python bench/prototype_weight_decay_trial.py PROBLEM TRIAL [--threads 2] [--budget S | --iterations N] [--seed K]
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import experiments  # noqa: E402
import suite  # noqa: E402


def training_loss(state, X, Y, threads):
    """½||f(X) − Y||² of the deployed network on its training samples."""
    return 0.5 * float(np.sum((state.model.decision_function(X, threads) - Y) ** 2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=sorted(suite.PROBLEMS))
    parser.add_argument("trial", type=int)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float)
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--seed", type=int, default=experiments.SEED)
    args = parser.parse_args(argv)
    budget = args.budget or (None if args.iterations else experiments.BUDGETS[args.problem])
    problem = suite.PROBLEMS[args.problem]
    X, y, X_test, y_test = suite.load(problem.data, suite.DEFAULT_MNIST)
    X, X_test = np.asarray(X, np.float32), np.asarray(X_test, np.float32)
    Y = np.eye(int(np.max(y)) + 1, dtype=np.float32)[y]
    curve = experiments.Curve(budget or 1.0)
    started = time.perf_counter()
    runs = {"weight decay": suite.start(problem, X, y, args.seed, args.threads),
            "none": suite.start(problem, X, y, args.seed, args.threads, {"weight_decay": 0.0})}
    for _ in range(args.trial):
        for state in runs.values():
            state.step()
    losses = {name: training_loss(state, X, Y, args.threads) for name, state in runs.items()}
    kept = min(losses, key=losses.get)
    state = runs.pop(kept)
    runs.clear()
    elapsed = time.perf_counter() - started
    print(f"{args.problem}, seed {args.seed}: after {args.trial} iterations of each "
          f"({elapsed:.0f} s) training loss "
          + ", ".join(f"{name} {loss:.4g}" for name, loss in losses.items())
          + f"; going on with: {kept}", flush=True)

    def test_accuracy():
        return float(np.mean(state.model.predict(X_test, args.threads) == y_test))

    if budget is None:
        while state.iteration < args.iterations:
            state.step()
            if state.iteration % 50 == 0 or state.iteration == args.iterations:
                print(f"iteration {state.iteration}, train {state.train_accuracy():.4f}, "
                      f"test {test_accuracy():.4f}", flush=True)
        return 0
    while not curve.seconds or elapsed < budget:
        if elapsed < budget:
            started = time.perf_counter()
            state.step()
            elapsed += time.perf_counter() - started
        if curve.due(elapsed) or elapsed >= budget:
            curve.record(elapsed, test_accuracy())
            print(f"{elapsed:.0f} s, iteration {state.iteration}, test {curve.accuracy[-1]:.4f}",
                  flush=True)
    print(f"final {curve.accuracy[-1]:.4f}, best {max(curve.accuracy):.4f}, "
          f"{state.iteration} iterations ({args.trial} of them twice)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
