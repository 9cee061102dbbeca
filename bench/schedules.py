"""Why compressed training needs a tau schedule: a 64-256-10 MLP on digits (25 % held out,
StandardScaler) with its hidden layer pruned to 90 %, trained 200 iterations with a fixed tau
(the paper's) and with the default geometric schedule. Prints the deployed network's test
accuracy every 50 iterations.

    python bench/schedules.py
"""

import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import nnbcd

SCHEDULES = {
    "fixed tau = 1": dict(tau=1.0, tau_growth=1.0),
    "fixed tau = 10": dict(tau=10.0, tau_growth=1.0),
    "fixed tau = 100": dict(tau=100.0, tau_growth=1.0),
    "default: 1 x 1.05^k, cap 1e5": dict(),
    "slower: 1 x 1.03^k, cap 1e5": dict(tau_growth=1.03),
}


def main():
    print("command:", " ".join(["python", *sys.argv]))
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    checkpoints = (50, 100, 150, 200)
    print(f"{'schedule':32s} " + " ".join(f"{'it ' + str(k):>7s}" for k in checkpoints)
          + f" {'sparsity':>9s}")
    for name, options in SCHEDULES.items():
        model = nnbcd.MLP([64, 256, 10], seed=0, compression=[nnbcd.Pruned(0.9), None])
        trainer = nnbcd.BCD(weight_decay=0.003 * len(X_train), **options)
        state = trainer.start(model, X_train, y_train)
        accuracies = []
        for k in range(1, checkpoints[-1] + 1):
            state.step()
            if k in checkpoints:
                accuracies.append(np.mean(model.predict(X_test) == y_test))
        print(f"{name:32s} " + " ".join(f"{a:7.3f}" for a in accuracies)
              + f" {model.sparsity:9.3f}")


if __name__ == "__main__":
    main()
