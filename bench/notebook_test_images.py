"""How easy are the authors' notebooks' 999 test images? A network saved by
``bench/cnn_mnist.py --preset notebook --subset notebook --checkpoint PATH`` scored on their 999
test images, on the other 9,001, and on random 999-image subsets of the 10,000: their mean, spread
and the share at or above the notebooks' 999.

    python bench/notebook_test_images.py --checkpoint PATH --rank 220 [--draws 100000]

The paper's CNN figures are accuracies on those 999 images (#18 reads its targets on all 10,000).
"""

import argparse
from pathlib import Path

import numpy as np

from cnn_mnist import DEFAULT_MNIST, notebook_subsets, paper_cnn, trainer_for
from nnbcd.checkpoint import restore_checkpoint
from nnbcd.datasets import load_mnist


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--draws", type=int, default=100_000)
    parser.add_argument("--mnist", type=Path, default=DEFAULT_MNIST)
    args = parser.parse_args()

    X_all, y_all, X_test, y_test = load_mnist(args.mnist, dtype="float32")
    train, theirs = notebook_subsets(len(X_all), len(X_test))
    model = paper_cnn(args.rank, seed=0, preset="notebook")
    state = trainer_for("notebook", 0, None, False).start(model, X_all[train], y_all[train])
    restore_checkpoint(state, args.checkpoint)
    right = model.predict(X_test) == y_test
    others = np.setdiff1d(np.arange(len(X_test)), theirs)

    # Random 999-image subsets: the accuracy of each is the mean of 999 draws without
    # replacement; a random permutation's first 999 per draw is exact and cheap enough.
    rng = np.random.default_rng(0)
    draws = np.array([right[rng.permutation(len(right))[:len(theirs)]].mean()
                      for _ in range(args.draws)])
    ours = right[theirs].mean()
    print(f"network at iteration {state.iteration}, TT rank {args.rank}")
    print("| test images | accuracy |\n|---|---|")
    print(f"| all 10,000 | {right.mean():.4f} |")
    print(f"| the notebooks' 999 | {ours:.4f} |")
    print(f"| the other 9,001 | {right[others].mean():.4f} |")
    print(f"| random 999 of the 10,000 ({args.draws} draws): mean ± sd | "
          f"{draws.mean():.4f} ± {draws.std():.4f} |")
    print(f"| share of random 999 at or above the notebooks' | {np.mean(draws >= ours):.4f} |")


if __name__ == "__main__":
    main()
