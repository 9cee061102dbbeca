"""The objective trajectory of fixed-seed float64 runs, recorded or compared to a recording.

Performance work must not change results: this runs, in float64 with a fixed seed, a dense MLP,
a pruned MLP, a tensor-train MLP (τ growing, so the TT-SVD and the coupling act) and a pruned
ConvNet, records Φ after every iteration, and either writes the trajectories to a JSON file or
compares them with one written before the change (largest relative difference per run).

    python bench/trajectory.py --record bench/results/trajectory_reference.json
    python bench/trajectory.py --compare bench/results/trajectory_reference.json   # 1e-8
"""

import argparse
import json
import sys

import numpy as np
from sklearn.datasets import load_digits

import nnbcd

ITERATIONS = 15


def runs():
    """(name, model, trainer settings) of each recorded run."""
    tt = nnbcd.TensorTrain(6, shape=(4, 4, 4, 2, 4, 4, 4, 2))  # 128 x 128 as 4x4x4x2 each
    yield "dense MLP", nnbcd.MLP([64, 128, 64, 10], seed=0, dtype="float64"), {}
    yield ("pruned MLP", nnbcd.MLP([64, 128, 64, 10], seed=0, dtype="float64",
                                   compression=[nnbcd.Pruned(0.8), nnbcd.Pruned(0.8), None]),
           {"tau": 1.0, "tau_growth": 1.2})
    yield ("TT MLP", nnbcd.MLP([64, 128, 128, 10], seed=0, dtype="float64",
                               compression=[None, tt, None]),
           {"tau": 1.0, "tau_growth": 1.2, "weight_decay": 0.5})
    yield ("pruned ConvNet", nnbcd.ConvNet(input_shape=(8, 8, 1), filters=8, kernel=3, stride=1,
                                           hidden=(64,), n_classes=10, seed=0, dtype="float64",
                                           compression=[None, nnbcd.Pruned(0.7), None]),
           {"tau": 1.0, "tau_growth": 1.2})


def trajectories(threads):
    digits = load_digits()
    X, y = digits.data[:600] / 16.0, digits.target[:600]
    result = {}
    for name, model, settings in runs():
        state = nnbcd.BCD(n_threads=threads, **settings).start(model, X, y)
        phi = [state.objective()["total"]]
        for _ in range(ITERATIONS):
            state.step()
            phi.append(state.objective()["total"])
        result[name] = phi
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--record", metavar="JSON")
    action.add_argument("--compare", metavar="JSON")
    parser.add_argument("--tolerance", type=float, default=1e-8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    now = trajectories(args.threads)
    if args.record:
        with open(args.record, "w") as f:
            json.dump({"iterations": ITERATIONS, "threads": args.threads, "phi": now}, f,
                      indent=1)
        print(f"recorded {len(now)} runs of {ITERATIONS} iterations in {args.record}")
        return 0
    with open(args.compare) as f:
        reference = json.load(f)["phi"]
    print(f"command: python bench/trajectory.py --compare {args.compare}")
    print(f"{'run':<16}{'Phi_0':>12}{'Phi_' + str(ITERATIONS):>12}{'max rel. diff':>15}")
    worst = 0.0
    for name, phi in now.items():
        ref = np.asarray(reference[name])
        diff = float(np.max(np.abs(np.asarray(phi) - ref) / np.abs(ref)))
        worst = max(worst, diff)
        print(f"{name:<16}{phi[0]:12.6g}{phi[-1]:12.6g}{diff:15.2e}")
    verdict = "unchanged" if worst <= args.tolerance else "CHANGED"
    print(f"trajectories {verdict} (largest relative difference {worst:.2e}, "
          f"tolerance {args.tolerance:g})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
