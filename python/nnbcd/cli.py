"""Command line: ``python -m nnbcd train`` trains a network on scikit-learn's digits;
``cmakedir`` and ``cmake-prefix-path`` locate the C++ package for CMake."""

import argparse
import time

import numpy as np


def _parser():
    parser = argparse.ArgumentParser(prog="nnbcd", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train an MLP with NN-BCD on digits")
    train.add_argument("--hidden", type=int, nargs="+", default=[256], help="hidden widths")
    train.add_argument("--iterations", type=int, default=200)
    train.add_argument("--gamma", type=float, default=1.0)
    train.add_argument("--rho", type=float, default=1.0)
    train.add_argument("--alpha", type=float, default=1.0)
    train.add_argument("--weight-decay", type=float, default=0.003,
                       help="L2 penalty per training sample")
    train.add_argument("--test-size", type=float, default=0.25)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=0, help="0 = all cores")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    commands.add_parser("cmakedir", help="print the directory of nnbcdConfig.cmake")
    commands.add_parser("cmake-prefix-path", help="print the CMAKE_PREFIX_PATH that finds the "
                        "C++ package nnbcd::nnbcd and its Eigen")
    return parser


def train(args):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from . import BCD, MLP, cpu_variant

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=args.test_size, stratify=y, random_state=args.seed)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    sizes = [X.shape[1], *args.hidden, 10]
    print(f"digits: {len(X_train)} train / {len(X_test)} test samples; network {sizes}; "
          f"{args.dtype}; core {cpu_variant}")
    model = MLP(sizes, seed=args.seed, dtype=args.dtype)
    trainer = BCD(gamma=args.gamma, rho=args.rho, alpha=args.alpha, n_threads=args.threads,
                  weight_decay=args.weight_decay * len(X_train))
    started = time.perf_counter()
    history = trainer.fit(model, X_train, y_train, args.iterations,
                          validation=(X_test, y_test), verbose=True)
    elapsed = time.perf_counter() - started
    accuracy = float(np.mean(model.predict(X_test) == y_test))
    print(f"final test accuracy {accuracy:.4f} after {len(history)} iterations, {elapsed:.1f} s")
    return 0


def cmake_location(args):
    from . import cmake_package

    if args.command == "cmakedir":
        print(cmake_package.cmake_dir())
    else:
        print(";".join(cmake_package.cmake_prefix_path()))
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    return {"train": train, "cmakedir": cmake_location,
            "cmake-prefix-path": cmake_location}[args.command](args)
