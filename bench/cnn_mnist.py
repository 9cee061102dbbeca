"""The paper's MNIST CNN trained by NN-BCD: conv 3x3/2 with 32 filters, then 5408-1024-1024-10,
W2 and W3 tensor-train compressed at rank 40 (W2 as (26,26,4,4,4,4,4,2,2,2), W3 as (4,)*10),
on a seeded 6,000-image subset of the MNIST training set. Prints the memory estimate, test
accuracy on the 10,000 test images every few iterations, seconds per iteration, peak memory and
the time to 98 % test accuracy; then seconds per iteration and the memory estimate on all
60,000 training images.

    python bench/cnn_mnist.py [--iterations 200] [--eval-every 10] [--rank 40] [--threads 0]
                              [--tau-growth 1.15] [--overwrite-weights] [--full-iterations 1]
                              [--preset notebook] [--bcd JSON] [--init JSON]
                              [--checkpoint PATH] [--dtype float32] [--budget SECONDS]
                              [--subset notebook]

``--preset notebook`` is the authors' notebook's setting (``CNN/NN-BCD/NNBCD_CNN_part1.ipynb``):
W ~ 0.01·N(0, 1), biases frozen at zero, γ = ρ = 5, α = 1, τ = 0.1 fixed, the first projection
at rank 700, and G recomputed from W after every W update with W itself never set to G (add
``--bcd '{"overwrite_weights": true}'`` for projected BCD, which sessions 7-16 took for the
notebook's). ``--checkpoint PATH`` saves the run at every evaluation and, when PATH
exists, continues it from there (a 1,500-iteration run outlasts one sitting).
``--subset notebook`` trains on the notebooks' own 6,000 images and also prints the accuracy on
their 999 test images and on the training images (their ``np.random.seed(10)``, training then
test indices shuffled, the first 6,000 and 999 kept).
"""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

import nnbcd
from nnbcd.checkpoint import restore_checkpoint
from nnbcd.datasets import load_mnist

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
W2_SHAPE = (26, 26, 4, 4, 4, 4, 4, 2, 2, 2)
W3_SHAPE = (4,) * 10


NOTEBOOK_INITIAL_RANK = 700


def paper_cnn(rank, seed, preset=None, init=None, dtype="float32"):
    """The paper's CNN; ``preset="notebook"``: initialised and first projected as the authors'
    notebooks do; ``init``: ConvNet's ``init``/``init_scale`` arguments over the preset's."""
    notebook = preset == "notebook"
    initial_rank = NOTEBOOK_INITIAL_RANK if notebook else None
    compression = [None, nnbcd.TensorTrain(rank, shape=W2_SHAPE, initial_rank=initial_rank),
                   nnbcd.TensorTrain(rank, shape=W3_SHAPE, initial_rank=initial_rank), None]
    init = {**(dict(init="normal", init_scale=0.01) if notebook else {}), **(init or {})}
    return nnbcd.ConvNet(input_shape=(28, 28, 1), filters=32, kernel=3, stride=2,
                         hidden=(1024, 1024), n_classes=10, compression=compression, seed=seed,
                         dtype=dtype, **init)


def trainer_for(preset, threads, tau_growth, overwrite_weights, overrides=None):
    """The BCD of ``preset``, with ``overrides`` (BCD keyword arguments) applied on top."""
    if preset == "notebook":
        settings = dict(gamma=5.0, rho=5.0, alpha=1.0, tau=0.1, tau_growth=1.0,
                        train_bias=False, overwrite_weights=False)
    else:
        settings = dict(tau_growth=tau_growth, overwrite_weights=overwrite_weights)
    return nnbcd.BCD(n_threads=threads, **{**settings, **(overrides or {})})


def training_subset(X, y, size, seed):
    """A seeded subset of ``size`` training samples, in their original order."""
    chosen = np.sort(np.random.default_rng(seed).choice(len(X), size, replace=False))
    return X[chosen], y[chosen]


def notebook_subsets(n_train, n_test, train_size=6000, test_size=999):
    """The authors' notebooks' training and test indices, in their order: numpy's legacy
    generator seeded 10 shuffles the training indices, then the test indices."""
    np.random.seed(10)
    train, test = list(range(n_train)), list(range(n_test))
    np.random.shuffle(train)
    np.random.shuffle(test)
    return np.array(train[:train_size]), np.array(test[:test_size])


def peak_rss_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--rank", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="0: all cores")
    parser.add_argument("--tau-growth", type=float, default=1.15,
                        help="tau is multiplied by this after every iteration (default 1.15: "
                             "faster than the library's 1.05, see the README)")
    parser.add_argument("--overwrite-weights", action="store_true",
                        help="W <- G after each sweep (the authors' projected BCD)")
    parser.add_argument("--preset", choices=["notebook"], default=None,
                        help="the authors' notebook's settings (overrides --tau-growth and "
                             "--overwrite-weights)")
    parser.add_argument("--bcd", type=json.loads, default={},
                        help='JSON object of nnbcd.BCD arguments over the preset\'s, e.g. '
                             '\'{"gamma": 10, "rho": 10}\'')
    parser.add_argument("--init", type=json.loads, default={},
                        help='JSON object of the ConvNet\'s init and init_scale over the '
                             'preset\'s, e.g. \'{"init_scale": 0.01}\'')
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="the network's and the data's floating-point type")
    parser.add_argument("--full-iterations", type=int, default=1,
                        help="iterations timed on all 60,000 training images (0: skip)")
    parser.add_argument("--budget", type=float, default=None,
                        help="stop after the evaluation at which this many seconds of training "
                             "have passed (as bench/experiments.py's budgets)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="save the run here at every evaluation; resume from it if it exists")
    parser.add_argument("--subset", choices=["seeded", "notebook"], default="seeded",
                        help="the training images: --seed's random subset, or the notebooks' own "
                             "(then also scored on their 999 test images and on the training set)")
    args = parser.parse_args(argv)

    X_all, y_all, X_test, y_test = load_mnist(args.mnist, dtype=args.dtype)
    notebook_test = None
    if args.subset == "notebook":
        train, notebook_test = notebook_subsets(len(X_all), len(X_test), args.train_size)
        X_train, y_train = X_all[train], y_all[train]
    else:
        X_train, y_train = training_subset(X_all, y_all, args.train_size, args.seed)
    model = paper_cnn(args.rank, args.seed, args.preset, args.init, args.dtype)
    trainer = trainer_for(args.preset, args.threads, args.tau_growth, args.overwrite_weights,
                          args.bcd)
    tt_layers = [1, 2]
    stored = sum(sum(c.size for c in model.tt_cores[i]) for i in tt_layers)
    dense = sum(model.weights[i].size for i in tt_layers)
    print(f"command: python bench/cnn_mnist.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"network {model}, {args.train_size} training images (seed {args.seed}), "
          f"TT rank {args.rank}: CR of W2+W3 {stored / dense:.4f} (cores {stored} / dense "
          f"{dense}), whole-network CR {model.compression_ratio:.4f}")
    print(f"memory estimate for training (lifted variables, patches, largest system): "
          f"{model.training_bytes(args.train_size) / 2**30:.2f} GiB")

    state = trainer.start(model, X_train, y_train)
    if args.checkpoint is not None and args.checkpoint.exists():
        restore_checkpoint(state, args.checkpoint)
        print(f"resumed from {args.checkpoint} at iteration {state.iteration} (train time below "
              "counts from here)")
    elapsed, step_seconds, reached = 0.0, [], None
    extra = "" if notebook_test is None else f"  {'test 999':>8}  {'train acc':>9}"
    print(f"{'iter':>5}  {'s/iter':>7}  {'train time':>10}  {'objective':>11}  {'test acc':>8}"
          + extra)
    for k in range(state.iteration + 1, args.iterations + 1):
        started = time.perf_counter()
        state.step()
        step_seconds.append(time.perf_counter() - started)
        elapsed += step_seconds[-1]
        if k % args.eval_every == 0 or k == args.iterations:
            predicted = model.predict(X_test, args.threads)
            accuracy = float(np.mean(predicted == y_test))
            if notebook_test is not None:
                extra = (f"  {np.mean(predicted[notebook_test] == y_test[notebook_test]):8.4f}"
                         f"  {state.train_accuracy():9.4f}")
            if reached is None and accuracy >= 0.98:
                reached = (k, elapsed)
            print(f"{k:5d}  {step_seconds[-1]:7.2f}  {elapsed:9.1f}s  "
                  f"{state.objective()['total']:11.4e}  {accuracy:8.4f}{extra}", flush=True)
            if args.checkpoint is not None:
                state.save_checkpoint(args.checkpoint)
            if args.budget is not None and elapsed >= args.budget:
                break
    print(f"median {np.median(step_seconds):.2f} s/iteration on {args.train_size} images; peak "
          f"RSS {peak_rss_gib():.2f} GiB")
    print("98 % test accuracy: " + (f"reached at iteration {reached[0]} after {reached[1]:.0f} s "
                                    "of training" if reached else
                                    f"not reached in {args.iterations} iterations"))
    del state

    if args.full_iterations:
        full = paper_cnn(args.rank, args.seed, args.preset, args.init, args.dtype)
        print(f"\nall {len(X_all)} training images: memory estimate "
              f"{full.training_bytes(len(X_all)) / 2**30:.2f} GiB", flush=True)
        state = trainer.start(full, X_all, y_all)
        seconds = []
        for _ in range(args.full_iterations):
            started = time.perf_counter()
            state.step()
            seconds.append(time.perf_counter() - started)
        print(f"{np.median(seconds):.1f} s/iteration; peak RSS {peak_rss_gib():.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
