"""What makes compressed training reliable, on digits (25 % held out, StandardScaler): the
deployed (compressed) network's test accuracy every 50 iterations under a fixed tau (the
paper's), the default geometric tau schedule, and the other options.

    python bench/schedules.py                    # 64-256-10, hidden layer pruned to 90 %
    python bench/schedules.py --compression tt   # 64-256-256-10, hidden layers TT rank 16
"""

import argparse
import sys

import numpy as np
import nnbcd
from screen_digits import digits

# name: (BCD options, compression-spec options)
SCHEDULES = {
    "fixed tau = 1": (dict(tau=1.0, tau_growth=1.0), {}),
    "fixed tau = 10": (dict(tau=10.0, tau_growth=1.0), {}),
    "fixed tau = 100": (dict(tau=100.0, tau_growth=1.0), {}),
    "default: 1 x 1.05^k, cap 1e5": ({}, {}),
    "slower: 1 x 1.03^k, cap 1e5": (dict(tau_growth=1.03), {}),
}
TT_ONLY = {
    "default + dense warm start 50": (dict(dense_iterations=50), {}),
    "default + rank 64 annealed over 100": ({}, dict(initial_rank=64, anneal_iterations=100)),
    "default + W <- G (authors')": (dict(overwrite_weights=True), {}),
}
NETWORKS = {  # sizes, spec factory
    "prune": ([64, 256, 10], lambda **o: nnbcd.Pruned(0.9, **o)),
    "tt": ([64, 256, 256, 10], lambda **o: nnbcd.TensorTrain(16, **o)),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--compression", choices=sorted(NETWORKS), default="prune")
    args = p.parse_args(argv)
    print("command:", " ".join(["python", *sys.argv]))
    X_train, X_test, y_train, y_test = digits()
    sizes, make_spec = NETWORKS[args.compression]
    schedules = dict(SCHEDULES, **(TT_ONLY if args.compression == "tt" else {}))
    checkpoints = (50, 100, 150, 200)
    print(f"{'schedule':38s} " + " ".join(f"{'it ' + str(k):>7s}" for k in checkpoints)
          + f" {'CR':>6s}")
    for name, (options, spec_options) in schedules.items():
        compression = [make_spec(**spec_options)] * (len(sizes) - 2) + [None]
        model = nnbcd.MLP(sizes, seed=0, compression=compression)
        trainer = nnbcd.BCD(weight_decay=0.003 * len(X_train), **options)
        state = trainer.start(model, X_train, y_train)
        accuracies = []
        for k in range(1, checkpoints[-1] + 1):
            state.step()
            if k in checkpoints:
                accuracies.append(np.mean(model.predict(X_test) == y_test))
        print(f"{name:38s} " + " ".join(f"{a:7.3f}" for a in accuracies)
              + f" {model.compression_ratio:6.3f}", flush=True)


if __name__ == "__main__":
    main()
