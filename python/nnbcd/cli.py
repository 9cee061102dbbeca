"""The ``nnbcd`` command line (also ``python -m nnbcd``).

``nnbcd train`` trains an MLP or a ConvNet, dense or compressed, on scikit-learn's digits, an
MNIST directory, or a .npz/.csv file, and writes the model file, the history and its plot;
``nnbcd evaluate MODEL DATA`` repeats the test accuracy of a model; ``nnbcd info MODEL`` shows its
architecture and compression; ``nnbcd export MODEL --format onnx OUTPUT`` writes it as an ONNX
file; ``cmakedir`` and ``cmake-prefix-path`` locate the C++ package for
CMake. Every error is one line ``nnbcd: error: ...`` on stderr, exit status 2 for a bad command
line, 1 for bad data or a failed run, 130 when interrupted outside training (Ctrl-C during
training stops after the iteration in progress and writes what was trained).
"""

import argparse
import contextlib
import csv
import inspect
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import cli_data
from ._native import DivergenceError
from .bcd import BCD
from .centring import fold_centre, input_centre
from .compression import Pruned, TensorTrain
from .convnet import ConvNet
from .distributed import WorkerLostError, import_distributed
from .mlp import INITS, MLP
from .model_file import load
from .recipes import recipe
from .threads import usable_cores


class _Bar(tqdm):
    """The progress bar, without tqdm's monitor thread (nnbcd warns of threads that compete
    with its own)."""

    monitor_interval = 0


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, ``nnbcd: error: ...``, with exit status 2."""

    def error(self, message):
        """Print ``message`` as one line and exit with status 2."""
        self.exit(2, f"nnbcd: error: {message} (see '{self.prog} --help')\n")


def _number(convert, accept, requirement):
    """An argparse type: ``convert`` the text, and refuse values ``accept`` rejects."""

    def parse(text):
        value = convert(text)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value

    parse.__name__ = convert.__name__  # argparse's message for unconvertible text names it
    return parse


_COUNT = _number(int, lambda n: n >= 1, ">= 1")
_NON_NEGATIVE = _number(int, lambda n: n >= 0, ">= 0")
_SPARSITY = _number(float, lambda s: 0 <= s < 1, "in [0, 1)")
_FRACTION = _number(float, lambda s: 0 < s < 1, "in (0, 1)")
_POSITIVE_REAL = _number(float, lambda s: 0 < s < math.inf, "a positive finite number")
_NON_NEGATIVE_REAL = _number(float, lambda s: 0 <= s < math.inf, "a finite number >= 0")
DEFAULT_TT_RANK = 8  # two 256-wide TT layers on digits: CR 0.064


def _bcd_default(name):
    """The default of ``BCD``'s parameter ``name``."""
    return inspect.signature(BCD).parameters[name].default


def _parser():
    """The command line's parser: one sub-command per task."""
    parser = _Parser(prog="nnbcd", description="Train compressed neural networks with NN-BCD "
                     "(nnbcd train), test them (nnbcd evaluate), describe them (nnbcd info), "
                     "export them (nnbcd export).")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_train(commands)
    _add_evaluate(commands)
    info = commands.add_parser("info", help="show a model file's architecture and compression")
    info.add_argument("model", metavar="MODEL", help="a model file written by nnbcd")
    info.set_defaults(run=info_command)
    _add_export(commands)
    for name, text in (("cmakedir", "print the directory of nnbcdConfig.cmake"),
                       ("cmake-prefix-path", "print the CMAKE_PREFIX_PATH that finds the C++ "
                        "package nnbcd::nnbcd and its Eigen")):
        commands.add_parser(name, help=text).set_defaults(run=cmake_location)
    return parser


def _add_export(commands):
    """``nnbcd export`` and its options."""
    from .onnx_export import MIN_OPSET, OPSET

    export = commands.add_parser("export", help="write a model file as an ONNX file")
    export.add_argument("model", metavar="MODEL", help="a model file written by nnbcd")
    export.add_argument("output", metavar="OUTPUT", help="the file to write")
    export.add_argument("--format", choices=("onnx",), default="onnx",
                        help="the output format (default: onnx; needs pip install "
                        '"nnbcd[onnx]")')
    export.add_argument("--opset", type=_number(int, lambda n: n >= MIN_OPSET,
                                                f">= {MIN_OPSET}"), default=OPSET,
                        help=f"the ONNX opset (default: {OPSET})")
    export.set_defaults(run=export_command)


def _add_data_options(parser, test_size, seed, default_text):
    """Options that say how DATA is split into training and test samples, with their
    defaults and how the help states them (``default_text`` formats the default)."""
    parser.add_argument("--label-column", metavar="NAME",
                        help="the labels' column of a .csv file "
                        f"({default_text.format('the last')})")
    parser.add_argument("--test-size", type=_FRACTION, metavar="F", default=test_size,
                        help="fraction held out for testing, stratified, when the data has no "
                        f"test set of its own ({default_text.format(cli_data.DEFAULT_TEST_SIZE)})")
    parser.add_argument("--seed", type=_NON_NEGATIVE, default=seed,
                        help="seeds the split (train: also the training subset and the "
                        f"initialisation) ({default_text.format(0)})")


def _add_threads(parser):
    """--threads, of training and prediction."""
    parser.add_argument("--threads", type=_NON_NEGATIVE, default=0, metavar="N",
                        help="threads of the C++ core (default: 0 = the usable cores)")


def _add_train(commands):
    """``nnbcd train`` and its options."""
    train = commands.add_parser(
        "train", help="train a network with NN-BCD",
        description="Train an MLP or a ConvNet with NN-BCD; write the model file, the history "
        "and its plot to --output.")
    data = train.add_argument_group("data")
    data.add_argument("--data", default="digits",
                      help="'digits' (scikit-learn's, the default), a directory of MNIST idx "
                      "files, a .npz file (arrays X, y; optionally X_test, y_test) or a .csv "
                      "file with a header row")
    _add_data_options(data, cli_data.DEFAULT_TEST_SIZE, 0, "default: {}")
    data.add_argument("--train-size", type=_COUNT, metavar="N",
                      help="train on a seeded random subset of N training samples")
    data.add_argument("--scale", type=_POSITIVE_REAL,
                      help="multiply the raw inputs by this (default: digits 1/16, MNIST "
                      "1/255, files 1)")
    data.add_argument("--centre", action=argparse.BooleanOptionalAction, default=True,
                      help="train on the inputs minus their training mean (per channel for a "
                      "convnet), folded into the first layer's bias afterwards: the model "
                      "file takes the inputs uncentred (default: on)")
    model = train.add_argument_group("model")
    model.add_argument("--model", choices=["mlp", "convnet"], default="mlp")
    model.add_argument("--hidden", type=_COUNT, nargs="+", default=[256, 256], metavar="WIDTH",
                       help="widths of the hidden fully connected layers (default: 256 256)")
    model.add_argument("--filters", type=_COUNT, default=32, help="convnet (default: 32)")
    model.add_argument("--kernel", type=_COUNT, default=3, help="convnet (default: 3)")
    model.add_argument("--stride", type=_COUNT, default=2, help="convnet (default: 2)")
    model.add_argument("--input-shape", type=_COUNT, nargs=3, metavar=("H", "W", "C"),
                       help="convnet: the image shape of a file's rows (default: digits 8 8 1, "
                       "MNIST 28 28 1, a .npz file's image arrays)")
    model.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    compression = model.add_mutually_exclusive_group()
    compression.add_argument("--tt-rank", type=_COUNT, metavar="R",
                             help="tensor-train compress every hidden fully connected layer "
                             f"to rank R (default modes; the default: rank {DEFAULT_TT_RANK}, "
                             "unless --sparsity or --dense)")
    compression.add_argument("--sparsity", type=_SPARSITY, metavar="S",
                             help="prune every hidden layer (the convolution too) to this "
                             "fraction of zeros")
    compression.add_argument("--dense", action="store_true",
                             help="no compression: train a dense network")
    training = train.add_argument_group("training")
    training.add_argument("--iterations", type=_COUNT, default=200, metavar="N",
                          help="BCD iterations (default: 200)")
    _add_threads(training)
    for name in ("gamma", "rho"):
        training.add_argument(f"--{name}", type=_POSITIVE_REAL,
                              help=f"see nnbcd.BCD (default: {getattr(recipe('tt'), name):g} "
                              f"for compressed networks, {getattr(recipe(None), name):g} for "
                              "dense ones)")
    training.add_argument("--alpha", type=_POSITIVE_REAL, default=_bcd_default("alpha"),
                          help=f"see nnbcd.BCD (default: {_bcd_default('alpha')})")
    prune, tt = recipe("prune"), recipe("tt")
    training.add_argument("--tau", type=_NON_NEGATIVE_REAL,
                          help=f"see nnbcd.BCD (default: {prune.tau:g} for pruned networks, "
                          f"{tt.tau:g} for tensor trains)")
    training.add_argument("--tau-growth", type=_POSITIVE_REAL,
                          help=f"see nnbcd.BCD (default: {tt.tau_growth:g} for tensor trains, "
                          f"{prune.tau_growth:g} otherwise)")
    training.add_argument("--tau-max", type=_NON_NEGATIVE_REAL,
                          help=f"see nnbcd.BCD (default: {tt.tau_max:g} for tensor trains, "
                          f"{prune.tau_max:g} otherwise, or --tau where larger)")
    training.add_argument("--target-gap", type=_NON_NEGATIVE_REAL,
                          help=f"see nnbcd.BCD (default: {tt.target_gap:g} for tensor trains, "
                          f"{prune.target_gap:g} otherwise)")
    training.add_argument("--overwrite-weights", action=argparse.BooleanOptionalAction,
                          default=False, help="W <- G after every sweep, projected BCD (see "
                          "nnbcd.BCD; default: off, plain BCD)")
    training.add_argument("--extrapolation", action=argparse.BooleanOptionalAction,
                          help="move every block on along each sweep's step where the "
                          "objective does not rise (see nnbcd.BCD; default: on for compressed "
                          "networks, off for dense ones)")
    training.add_argument("--weight-decay", type=_NON_NEGATIVE_REAL, metavar="L",
                          help="L2 penalty per training sample (default: "
                          f"{recipe('tt').weight_decay} for compressed networks, "
                          f"{recipe(None).weight_decay} for dense ones; see nnbcd.recipes)")
    training.add_argument("--weight-decay-trial", type=_NON_NEGATIVE, metavar="K",
                          help="the first K iterations train with and without the weight decay "
                          "and the better fit goes on (see nnbcd.BCD; default: "
                          f"{recipe('tt').weight_decay_trial} for tensor trains trained longer "
                          "than that, off on a Dask cluster and otherwise)")
    training.add_argument("--init", choices=INITS,
                          help="how the initial weights are drawn (default: "
                          f"{recipe('tt').init} for compressed networks, {recipe(None).init} "
                          "for dense ones; normal: N(0, S²) whatever the fan-in)")
    training.add_argument("--init-scale", type=_POSITIVE_REAL, metavar="S",
                          help="multiplies the initial weights' standard deviation, or is it "
                          f"for --init normal (default: {recipe('tt').init_scale} for "
                          f"compressed networks, {recipe(None).init_scale} for dense ones)")
    training.add_argument("--eval-every", type=_COUNT, default=1, metavar="K",
                          help="measure the accuracies every K iterations (default: 1)")
    cluster = train.add_argument_group(
        "cluster", 'train on a Dask cluster, the samples split over its workers (needs '
        'pip install "nnbcd[distributed]"); the result is the same as on one machine')
    where = cluster.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="the address of a running Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--workers", type=_COUNT, metavar="N",
                       help="start a Dask cluster of N worker processes on this machine")
    output = train.add_argument_group("output")
    output.add_argument("--output", default="nnbcd-run", metavar="DIR",
                        help="where model.safetensors, the history and history.png go "
                        "(default: ./nnbcd-run)")
    output.add_argument("--history-format", choices=["csv", "json"], default="csv")
    output.add_argument("--no-plot", action="store_true", help="do not write history.png")
    output.add_argument("--quiet", action="store_true", help="no progress bar")
    output.add_argument("--checkpoint", metavar="PATH",
                        help="save the run to PATH every --checkpoint-every iterations and when "
                        "interrupted; when PATH exists, resume from it (same data and options)")
    output.add_argument("--checkpoint-every", type=_COUNT, default=10, metavar="K",
                        help="iterations between checkpoints (default: 10)")
    train.set_defaults(run=train_command)


def _add_evaluate(commands):
    """``nnbcd evaluate MODEL DATA`` and its options."""
    evaluate = commands.add_parser(
        "evaluate", help="a model's accuracy on the test portion of DATA",
        description="Print a model's accuracy on the test portion of DATA, with the scaling, "
        "labels and split options it was trained with (unless given here).")
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by nnbcd")
    evaluate.add_argument("data", metavar="DATA",
                          help="'digits', an MNIST directory, a .npz or a .csv file")
    _add_data_options(evaluate, None, None, "default: as trained, else {}")
    _add_threads(evaluate)
    evaluate.set_defaults(run=evaluate_command)


def train_command(args):
    """``nnbcd train``: train, report the test accuracy, write the outputs."""
    data = cli_data.load(args.data, dtype=args.dtype, scale=args.scale,
                         test_size=args.test_size, seed=args.seed, train_size=args.train_size,
                         label_column=args.label_column)
    model = _new_model(args, data)
    trainer = _trainer(args, len(data.y_train))
    print(f"data: {args.data}, {len(data.y_train)} train / {len(data.y_test)} test samples, "
          f"{data.X_train.shape[1]} features, {len(data.classes)} classes")
    print(f"model: {_architecture(model)}, {_compression_summary(args)} (compression ratio "
          f"{model.compression_ratio:.4g}), {model.dtype.name}")
    centre = input_centre(model, data.X_train) if args.centre else None
    started = time.perf_counter()
    try:
        history = _fit(args, trainer, model, data, centre)
    except DivergenceError as error:  # the model holds the last good iteration: keep it
        _finish(args, model, data, centre)
        _write_outputs(args, model, error.history)
        raise
    seconds = time.perf_counter() - started
    _finish(args, model, data, centre)
    print(f"{_accuracy(model, data, args.threads)}, compression ratio "
          f"{model.compression_ratio:.4g}, after {len(history)} iterations, {seconds:.2f} s")
    print("wrote " + ", ".join(str(path) for path in _write_outputs(args, model, history)))
    return 0


def _finish(args, model, data, centre):
    """Fold the inputs' centre (None: not centred) into ``model``, which then takes them
    uncentred, and record the data it was trained on."""
    if centre is not None:
        fold_centre(model, centre)
    model.training_["data"] = data.record
    model.training_["centred_inputs"] = args.centre


def _option(value, default):
    """``value`` where given on the command line, else ``default``."""
    return default if value is None else value


def _new_model(args, data):
    """The untrained network ``args`` describe, sized for ``data``."""
    n_layers = len(args.hidden) + (2 if args.model == "convnet" else 1)
    chosen = recipe(_compression_kind(args))
    common = dict(compression=_compression(args, n_layers), seed=args.seed, dtype=args.dtype,
                  init=_option(args.init, chosen.init),
                  init_scale=_option(args.init_scale, chosen.init_scale))
    n_features, n_classes = data.X_train.shape[1], len(data.classes)
    if args.model == "mlp":
        return MLP([n_features, *args.hidden, n_classes], **common)
    shape = tuple(args.input_shape or data.image_shape or ())
    if not shape:
        raise ValueError(f"--model convnet: give the image shape of {args.data}'s rows with "
                         "--input-shape H W C")
    if math.prod(shape) != n_features:
        raise ValueError(f"--input-shape {' '.join(map(str, shape))} holds {math.prod(shape)} "
                         f"values, but {args.data} has {n_features} features")
    return ConvNet(input_shape=shape, filters=args.filters, kernel=args.kernel,
                   stride=args.stride, hidden=args.hidden, n_classes=n_classes, **common)


def _compression_kind(args):
    """"tt", "prune" or None (dense): what --tt-rank, --sparsity or --dense ask for; tensor
    trains when none is given."""
    if args.dense:
        return None
    return "prune" if args.sparsity is not None else "tt"


def _compression(args, n_layers):
    """One spec per layer: tensor trains (--tt-rank) on every hidden fully connected layer,
    --sparsity on every hidden layer (a ConvNet's convolution included); the output layer stays
    dense."""
    specs = [None] * n_layers
    kind = _compression_kind(args)
    if kind == "tt":
        first = 1 if args.model == "convnet" else 0
        specs[first:-1] = [TensorTrain(_tt_rank(args))] * (n_layers - 1 - first)
    elif kind == "prune":
        specs[:-1] = [Pruned(args.sparsity)] * (n_layers - 1)
    return specs


def _tt_rank(args):
    return DEFAULT_TT_RANK if args.tt_rank is None else args.tt_rank


def _compression_summary(args):
    """The compression ``args`` ask for, in words."""
    kind = _compression_kind(args)
    if kind == "tt":
        return f"tensor train rank {_tt_rank(args)}"
    if kind == "prune":
        return f"pruned to sparsity {args.sparsity:g}"
    return "dense"


def _tau_schedule(args):
    """(τ, its growth, its cap): the options given, else the recipe's for the compression."""
    chosen = recipe(_compression_kind(args))
    tau = _option(args.tau, chosen.tau)
    return (tau, _option(args.tau_growth, chosen.tau_growth),
            _option(args.tau_max, chosen.tau_cap(tau)))


def _trainer(args, n_samples):
    """The ``BCD`` trainer of ``args``; the weight decay is per training sample."""
    chosen = recipe(_compression_kind(args))
    weight_decay = _option(args.weight_decay, chosen.weight_decay)
    tau, tau_growth, tau_max = _tau_schedule(args)
    return BCD(gamma=_option(args.gamma, chosen.gamma), rho=_option(args.rho, chosen.rho),
               alpha=args.alpha, tau=tau, tau_growth=tau_growth, tau_max=tau_max,
               target_gap=_option(args.target_gap, chosen.target_gap),
               overwrite_weights=args.overwrite_weights,
               extrapolation=_option(args.extrapolation, chosen.extrapolation),
               n_threads=args.threads, weight_decay=weight_decay * n_samples,
               weight_decay_trial=_weight_decay_trial(args, chosen))


def _weight_decay_trial(args, chosen):
    """--weight-decay-trial, else the recipe's for the run where it runs in this process (a
    trial needs both runs' lifted variables here)."""
    if args.weight_decay_trial is not None:
        return args.weight_decay_trial
    on_cluster = args.scheduler is not None or args.workers is not None
    return 0 if on_cluster else chosen.trial_for(args.iterations)


def _fit(args, trainer, model, data, centre):
    """Train ``model`` on the inputs minus ``centre`` (None: as they are) with a progress bar
    (stderr), resuming from and saving to --checkpoint; returns the ``History``. Ctrl-C stops
    after the current iteration (``BCD.fit`` warns) and keeps what was trained."""
    X_train, X_test = data.X_train, data.X_test
    if centre is not None:  # a centred copy only where asked for: the data may be large
        centre = centre.astype(X_train.dtype)
        X_train, X_test = X_train - centre, X_test - centre
    with _Bar(total=args.iterations, desc="train", unit="it", disable=args.quiet,
              file=sys.stderr) as bar, _dask_client(args) as client:
        return trainer.fit(model, X_train, data.y_train, args.iterations,
                           validation=(X_test, data.y_test),
                           eval_every=args.eval_every,
                           callbacks=[lambda state, history: _advance(bar, history)],
                           checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every,
                           client=client)


@contextlib.contextmanager
def _dask_client(args):
    """The Dask client of --scheduler or --workers (a local cluster, --threads per worker or
    the usable cores shared out), or None to train in this process."""
    if args.scheduler is None and args.workers is None:
        yield None
        return
    distributed = import_distributed()
    if args.scheduler is not None:
        with distributed.Client(args.scheduler) as client:
            yield client
        return
    threads = args.threads or max(1, usable_cores() // args.workers)
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=threads,
                                  processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def _advance(bar, history):
    """Move the progress bar to the iteration just done (a resumed run starts where it
    stopped); its postfix shows Φ and the last accuracies."""
    postfix = {"objective": f"{history.objective[-1]['total']:.4e}"}
    for name, values in (("train", history.train_accuracy),
                         ("validation", history.validation_accuracy)):
        measured = next((value for value in reversed(values) if value is not None), None)
        if measured is not None:
            postfix[name] = f"{measured:.4f}"
    bar.set_postfix(postfix, refresh=False)
    bar.update(history.iteration[-1] - bar.n)


def _accuracy(model, data, n_threads):
    """"test accuracy A (correct/n)" of ``model`` on ``data``'s test portion."""
    correct = int(np.count_nonzero(model.predict(data.X_test, n_threads) == data.y_test))
    return f"test accuracy {correct / len(data.y_test):.4f} ({correct}/{len(data.y_test)})"


def _write_outputs(args, model, history):
    """Write the model file, the history and (unless --no-plot) its plot to --output; returns
    the paths written."""
    directory = Path(args.output)
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "model.safetensors", directory / f"history.{args.history_format}"]
    model.save(written[0])
    _write_history(history, written[1], args.history_format)
    if not args.no_plot and _plot_history(history, directory / "history.png"):
        written.append(directory / "history.png")
    return written


def _write_history(history, path, kind):
    """One row per iteration (``History.rows``) as CSV or as a JSON list of objects."""
    rows = list(history.rows())
    with open(path, "w", newline="") as f:
        if kind == "json":
            json.dump(rows, f, indent=1)
            return
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["iteration"])
        writer.writeheader()
        writer.writerows(rows)


def _plot_history(history, path):
    """A PNG of the objective and the accuracies against the iteration; False (with a note)
    when matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print(f"nnbcd: note: {path} not written: matplotlib is not installed "
              "(pip install 'nnbcd[plot]')", file=sys.stderr)
        return False
    figure = Figure(figsize=(9, 3.5), layout="constrained")
    objective, accuracy = figure.subplots(1, 2)
    totals = [terms["total"] for terms in history.objective]
    objective.plot(history.iteration, totals)
    objective.set(xlabel="iteration", ylabel="objective",
                  yscale="log" if totals and min(totals) > 0 else "linear")
    for name, values in (("train", history.train_accuracy),
                         ("validation", history.validation_accuracy)):
        points = [(k, value) for k, value in zip(history.iteration, values) if value is not None]
        if points:
            accuracy.plot(*zip(*points), label=name)
    accuracy.set(xlabel="iteration", ylabel="accuracy")
    if accuracy.lines:
        accuracy.legend()
    figure.savefig(path, dpi=100)
    return True


def evaluate_command(args):
    """``nnbcd evaluate MODEL DATA``: the model's accuracy on DATA's test portion, prepared as
    the model's training data was (the record ``train`` stored), unless options say otherwise."""
    model = load(args.model)
    stored = _data_record(model.training_)
    csv_data = cli_data.source_of(args.data) == "csv"
    data = cli_data.load(
        args.data, dtype=model.dtype, scale=stored.get("scale"),
        test_size=_option(args.test_size, stored.get("test_size", cli_data.DEFAULT_TEST_SIZE)),
        seed=_option(args.seed, stored.get("seed", 0)),
        label_column=_option(args.label_column, stored.get("label_column") if csv_data else None),
        classes=stored.get("classes", list(range(model.sizes[-1]))))
    print(_accuracy(model, data, args.threads))
    return 0


def _data_record(training):
    """The data record ``train`` stored in a model's training record, or {}."""
    data = training.get("data") if isinstance(training, dict) else None
    return data if isinstance(data, dict) else {}


def info_command(args):
    """``nnbcd info MODEL``: architecture, per-layer and whole-network compression, sparsity,
    TT ranks, dtype and the training record."""
    model = load(args.model)
    print(f"{args.model}: {_architecture(model)}, {model.dtype.name}")
    layers = zip(model.compression, model.weights, model.tt_ranks, model.layer_parameter_counts)
    for i, (spec, W, ranks, (stored, dense)) in enumerate(layers):
        kind = "convolution " if i == 0 and isinstance(model, ConvNet) else ""
        print(f"  layer {i}: {kind}{W.shape[0]} x {W.shape[1]}, {_spec_text(spec, ranks)}, "
              f"{stored} of {dense} parameters (CR {stored / dense:.6g})")
    print(f"network: {model.parameter_count} of {model.dense_parameter_count} parameters, "
          f"compression ratio {model.compression_ratio:.6g}")
    if any(isinstance(spec, Pruned) for spec in model.compression):
        print(f"sparsity {model.sparsity:.6g}, effective sparsity "
              f"{model.effective_sparsity:.6g}")
    for line in _training_lines(model.training_):
        print(line)
    return 0


def export_command(args):
    """``nnbcd export MODEL --format onnx OUTPUT``: the deployed network as an ONNX file whose
    output is the network's (``decision_function``), compressed layers kept compressed."""
    model = load(args.model)
    model.to_onnx(args.output, opset=args.opset)
    print(f"{args.output}: ONNX opset {args.opset}, {Path(args.output).stat().st_size} bytes; "
          f"input \"input\" (batch, {model.sizes[0]}), output \"output\" (batch, "
          f"{model.sizes[-1]}), {model.dtype.name}")
    return 0


def _architecture(model):
    """The network's type and shape in one line."""
    if not isinstance(model, ConvNet):
        return f"MLP {' -> '.join(map(str, model.sizes))}"
    maps = "x".join(map(str, model.feature_map_shape))
    return (f"ConvNet input {'x'.join(map(str, model.input_shape))} -> convolution "
            f"{model.filters} filters {model.kernel}x{model.kernel} stride {model.stride} -> "
            f"{maps} -> {' -> '.join(map(str, model.sizes[2:]))}")


def _spec_text(spec, ranks):
    """A layer's compression in words."""
    if isinstance(spec, TensorTrain):
        return f"tensor train rank {spec.rank} (ranks {'-'.join(map(str, ranks))})"
    if isinstance(spec, Pruned):
        return f"pruned to sparsity {spec.sparsity:g} ({spec.scope} scope)"
    return "dense"


def _training_lines(training):
    """The training record of a model file, summarised."""
    if not isinstance(training, dict):
        return [f"training: {'none recorded' if training is None else training}"]
    settings = ", ".join(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
                         for name, value in training.items()
                         if name not in ("method", "iterations", "data"))
    lines = [f"training: {training.get('method')}, {training.get('iterations')} iterations; "
             f"{settings}"]
    data = _data_record(training)
    if data:
        classes = list(data.get("classes") or [])
        shown = " ".join(map(str, classes[:10])) + (" ..." if len(classes) > 10 else "")
        options = ", ".join(f"{name.replace('_', ' ')} {data[name]}" for name in (
            "path", "scale", "test_size", "seed", "train_size", "label_column")
            if data.get(name) is not None)
        lines.append(f"data: {data.get('source')} ({options}); {len(classes)} classes: {shown}")
    return lines


def cmake_location(args):
    """``cmakedir`` / ``cmake-prefix-path``: where CMake finds the C++ package."""
    from . import cmake_package

    if args.command == "cmakedir":
        print(cmake_package.cmake_dir())
    else:
        print(";".join(cmake_package.cmake_prefix_path()))
    return 0


def _one_line(message):
    """``message`` on one line, without the core's own "nnbcd: " prefix."""
    return " ".join(str(message).split()).removeprefix("nnbcd: ")


def _error_text(error):
    """What went wrong, for the ``nnbcd: error:`` line."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    if isinstance(error, MemoryError):
        return f"out of memory: {error}" if str(error) else "out of memory"
    return _one_line(error) or type(error).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one line ``nnbcd: warning: ...`` on stderr, above any progress bar."""
    tqdm.write(f"nnbcd: warning: {_one_line(message)}", file=sys.stderr)


def main(argv=None):
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); returns the exit status:
    0, 1 when the command failed, 2 for a bad command line, 130 when interrupted."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "run", None) is train_command:
            tau, _, tau_max = _tau_schedule(args)
            if tau_max < tau:
                parser.error(f"argument --tau-max: must be >= --tau ({tau:g}), got "
                             f"{tau_max:g}")
    except SystemExit as exit_:  # --help, or a usage error already printed
        return exit_.code
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.run(args)
        except KeyboardInterrupt:
            print("nnbcd: interrupted", file=sys.stderr)
            return 130
        except (OSError, ValueError, TypeError, FloatingPointError, MemoryError,
                ImportError, WorkerLostError) as error:  # ImportError: an optional dependency
            print(f"nnbcd: error: {_error_text(error)}", file=sys.stderr)
            return 1
