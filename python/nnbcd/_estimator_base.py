"""What ``NNBCDClassifier`` and ``NNBCDRegressor`` share: the hyperparameters and their checks,
the network they build, and the training run (warm start, early stopping).

A subclass says how its targets become the network's targets (``_targets``) and how a
validation set is scored (``_validation_score``); everything else lives here once.
"""

import numbers
import string
from types import SimpleNamespace

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _validation as v
from . import weight_decay_trial
from .bcd import BCD
from .compression import Pruned, TensorTrain
from .mlp import MLP, check_init
from .recipes import recipe

COMPRESSIONS = (None, "prune", "tt")

# The shared part of both estimators' docstrings (numpydoc), between a summary and the
# attributes each one adds; ``parameters_doc`` fills in what differs.
_PARAMETERS_DOC = string.Template("""
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(256,)
        Widths of the hidden (ReLU) layers; the output layer is linear.
    gamma, rho : float > 0 or "auto", default="auto"
        Weights of the objective's activation and linear terms (see ``nnbcd.BCD``). "auto": 5
        for compressed networks (faster and more accurate on MNIST), 1 for dense ones
        (``nnbcd.recipes``).
    alpha : float > 0, default=1.0
        The proximal weight (see ``nnbcd.BCD``).
    tau : float >= 0 or "auto", default="auto"
        The coupling of compressed layers to their compressed copies (see ``nnbcd.BCD``);
        unused without compression. "auto": 200 for pruned networks; 0.1 for tensor-train
        ones, then following ``target_gap`` (``nnbcd.recipes``). With ``warm_start`` τ
        continues from where the previous fit stopped (``tau_``), not from ``tau``.
    tau_max : float >= tau or "auto", default="auto"
        The cap of a growing τ. "auto": 1e5 (or ``tau``, where that is larger).
    tau_growth : float > 0 or "auto", default="auto"
        τ is multiplied by this after every iteration (1: held fixed), or, with
        ``target_gap``, grows or shrinks by it. "auto": 1.2 for tensor-train networks, 1
        otherwise (``nnbcd.recipes``).
    target_gap : float >= 0 or "auto", default="auto"
        > 0: τ follows the run, growing by ``tau_growth`` while some compressed layer's
        ||W_i − G_i|| / ||W_i|| exceeds it and shrinking while every layer's is below half of
        it, never below the τ the fit started from (see ``nnbcd.BCD``); 0: the fixed
        schedule. "auto": 0.05 for tensor-train networks, 0 otherwise (``nnbcd.recipes``).
    overwrite_weights : bool, default=False
        W_i <- G_i after every sweep (projected BCD, see ``nnbcd.BCD``). Off: plain BCD,
        every block exact, reaches a higher accuracy on the pruned and tensor-train networks
        measured (``nnbcd.recipes``).
    extrapolation : bool or "auto", default="auto"
        Move every block on along each sweep's step where Φ does not rise (Nesterov's
        sequence, see ``nnbcd.BCD``): the same accuracy in fewer iterations. "auto": on for
        compressed networks, off for dense ones (``nnbcd.recipes``).
    weight_decay : float >= 0 or "auto", default="auto"
        L2 penalty per training sample: the objective's λ/2 Σ||W_i||² has
        λ = weight_decay × n_samples, so the same value suits small and large data sets
        (as scikit-learn's ``MLPClassifier(alpha=...)``). Without it BCD fits the training set
        almost perfectly and generalises worse. "auto": 0.003 for dense networks, 0.0003 for
        compressed (pruned and tensor-train) ones (``nnbcd.recipes``).
    weight_decay_trial : int >= 0 or "auto", default="auto"
        > 0: the first this many iterations train twice, with ``weight_decay`` and without,
        and the fit goes on with the one whose deployed network fits the training data better
        (see ``nnbcd.BCD``); ``weight_decay_`` says which. 0: no trial. "auto": 100 for
        tensor-train networks fitted for more than 100 iterations (the paper's CNN trains
        better without weight decay, the TT MLP and digits' TT networks with it), 0
        otherwise (``nnbcd.recipes``). A warm start continues with ``weight_decay_`` and no
        trial.
    init : {"kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "normal"} \
or "auto", default="auto"
        How the initial weights are drawn (see ``nnbcd.MLP``). "auto": kaiming-normal for dense
        networks, N(0, init_scale²) whatever the fan-in for compressed ones
        (``nnbcd.recipes``).
    init_scale : float > 0 or "auto", default="auto"
        Multiplies the initial weights' standard deviation; with ``init="normal"`` it is the
        standard deviation. "auto": 1 for dense networks, 0.01 for compressed ones, which
        train best from small weights (``nnbcd.recipes``).
    max_iter : int >= 1, default=200
        BCD iterations per call to ``fit``.
    compression : {None, "prune", "tt"}, default=None
        None trains a dense network; "prune" prunes every hidden layer (all but the output
        layer) to ``sparsity`` by magnitude (``nnbcd.Pruned``); "tt" compresses every hidden
        layer to a tensor train of rank ``tt_rank`` (``nnbcd.TensorTrain`` with its default
        modes).
    sparsity : float in [0, 1), default=0.9
        Fraction of zero weights in each pruned layer.
    tt_rank : int >= 1, default=8
        Maximum TT rank of each TT-compressed layer.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data and score the deployed
        network on it after every iteration:
        $score.
        Stop when the score has not improved by at least ``tol`` for ``n_iter_no_change``
        consecutive iterations, and keep the network of the best iteration.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out for early stopping (at least 2 samples).
    n_iter_no_change : int >= 1, default=10
        Iterations without improvement after which early stopping stops.
    tol : float >= 0, default=1e-4
        The improvement of the validation score that counts as one, for early stopping.
    warm_start : bool, default=False
        True: ``fit`` continues training the fitted network (``model_``) for another
        ``max_iter`` iterations instead of starting a new one. The architecture, compression
        and dtype must be those of the fitted network, and
        $warm_targets.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and the early-stopping split.
    n_threads : int >= 0, default=0
        Threads of the C++ core, for training and prediction; 0 = the usable cores. The same
        ``random_state``, data and thread count give bit-identical results.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the network and of training.
    standardize : bool, default=True
        Train on and predict from the features standardised by ``input_mean_`` and
        ``input_scale_``, learned in the first fit, so that the defaults suit features of any
        scale and offset (raw pixel values, measurements in different units): without it the
        defaults score 0.72 (TT) and 0.32 (pruned) on digits' raw 0-16 pixels, against 0.96-0.97,
        and the float32 fit fails on raw wine and breast_cancer (``bench/raw_features.py``).
        ``model_`` is the network on standardised features.
    verbose : bool, default=False
        Print one line per iteration.
""")


def parameters_doc(score, warm_targets):
    """The Parameters section of an estimator's docstring: ``score`` says what early stopping
    scores, ``warm_targets`` what a warm start requires of y."""
    return _PARAMETERS_DOC.substitute(score=score, warm_targets=warm_targets)

COMMON_ATTRIBUTES_DOC = """
    model_ : nnbcd.MLP
        The trained network (its compressed layers deployed), on the standardised features
        (X - input_mean_) / input_scale_.
    input_mean_, input_scale_ : ndarray of shape (n_features_in_,)
        Mean and standard deviation (1 where it is 0) of each feature in the first fit with
        ``standardize``; 0 and 1 without it. A warm start keeps them.
    history_ : nnbcd.History
        Per-iteration record of the last call to ``fit``.
    n_iter_ : int
        Iterations the last call to ``fit`` ran (as scikit-learn's MLP, it restarts at each
        call, also with ``warm_start``).
    tau_ : float
        The τ the next iteration would use: where a warm start continues the schedule.
    weight_decay_ : float
        The weight decay per sample the fitted network was trained with at the end: 0 where a
        weight-decay trial dropped it, else ``weight_decay``'s. A warm start continues with it.
    validation_scores_ : list of float or None
        The validation score after each iteration with ``early_stopping``, else None.
    best_validation_score_ : float or None
        The best of ``validation_scores_`` (the kept network's), else None.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during ``fit``, when X has string column names.
"""


def standardisation(A):
    """Per column of ``A`` (float64 arithmetic): the mean and the standard deviation, 1 where a
    column is constant, so that a constant column is only centred."""
    A = np.asarray(A, dtype=np.float64)
    mean, scale = A.mean(axis=0), A.std(axis=0)
    scale[scale <= 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))] = 1.0
    return mean, scale


def _is_auto(value):
    return isinstance(value, str) and value == "auto"


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_hidden_layer_sizes(value):
    sizes = [value] if isinstance(value, numbers.Integral) else value
    try:
        sizes = list(sizes)
    except TypeError:
        raise TypeError("hidden_layer_sizes must be an int or a tuple of ints, got "
                        f"{value!r}") from None
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"hidden_layer_sizes must hold ints >= 1, got {value!r}")
    return [int(size) for size in sizes]


class NNBCDEstimator(BaseEstimator):
    """Base of the NN-BCD estimators; not for direct use. ``__init__`` stores the
    hyperparameters verbatim; ``fit`` checks them."""

    # Defaults measured on standardised digits (25 % held out): the dense classifier reaches
    # ≈ 0.98 test accuracy in about a second, on par with MLPClassifier, two TT hidden layers
    # at CR 0.064 ≈ 0.95, one pruned to 90 % ≈ 0.97; see README and ``nnbcd.recipes``.
    def __init__(self, hidden_layer_sizes=(256,), *, gamma="auto", rho="auto", alpha=1.0,
                 tau="auto", tau_growth="auto", tau_max="auto", target_gap="auto",
                 overwrite_weights=False, extrapolation="auto", weight_decay="auto",
                 weight_decay_trial="auto", init="auto", init_scale="auto", max_iter=200,
                 compression=None, sparsity=0.9, tt_rank=8, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4, warm_start=False,
                 random_state=None, n_threads=0, dtype="float32", standardize=True,
                 verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.gamma = gamma
        self.rho = rho
        self.alpha = alpha
        self.tau = tau
        self.tau_growth = tau_growth
        self.tau_max = tau_max
        self.target_gap = target_gap
        self.overwrite_weights = overwrite_weights
        self.extrapolation = extrapolation
        self.weight_decay = weight_decay
        self.weight_decay_trial = weight_decay_trial
        self.init = init
        self.init_scale = init_scale
        self.max_iter = max_iter
        self.compression = compression
        self.sparsity = sparsity
        self.tt_rank = tt_rank
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.n_threads = n_threads
        self.dtype = dtype
        self.standardize = standardize
        self.verbose = verbose

    # --- what a subclass defines --------------------------------------------------------

    # dtype the targets are read in by check_array (None: any, e.g. string labels)
    _y_dtype = None

    def _targets(self, y, warm):
        """The network's targets for ``BCD.fit`` (1-D class indices or 2-D regression targets),
        the number of outputs, and the labels to stratify the early-stopping split by (or
        None). Sets the target attributes (``classes_``, ``y_mean_``, ...)."""
        raise NotImplementedError

    def _validation_score(self, model, X_val, T_val):
        """The early-stopping score (higher is better) of ``model`` on a held-out part."""
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------

    def _settings(self):
        """Every hyperparameter checked (a clear error naming the bad one), as a namespace."""
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got "
                             f"{self.compression!r}")
        fraction = v.check_real("validation_fraction", self.validation_fraction)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {fraction!r}")
        verbose = self.verbose
        if not isinstance(verbose, (bool, np.bool_, numbers.Integral)):
            raise TypeError(f"verbose must be True or False, got {verbose!r}")
        chosen = recipe(self.compression)
        s = SimpleNamespace(
            hidden=_check_hidden_layer_sizes(self.hidden_layer_sizes),
            gamma=chosen.gamma if _is_auto(self.gamma) else self.gamma,
            rho=chosen.rho if _is_auto(self.rho) else self.rho,
            tau=(chosen.tau if _is_auto(self.tau)
                 else v.check_non_negative("tau", self.tau)),
            tau_growth=(chosen.tau_growth if _is_auto(self.tau_growth)
                        else v.check_positive("tau_growth", self.tau_growth)),
            target_gap=(chosen.target_gap if _is_auto(self.target_gap)
                        else v.check_non_negative("target_gap", self.target_gap)),
            overwrite_weights=_check_bool("overwrite_weights", self.overwrite_weights),
            extrapolation=(chosen.extrapolation if _is_auto(self.extrapolation)
                           else _check_bool("extrapolation", self.extrapolation)),
            weight_decay=(chosen.weight_decay if _is_auto(self.weight_decay)
                          else v.check_non_negative("weight_decay", self.weight_decay)),
            init=chosen.init if _is_auto(self.init) else check_init(self.init),
            init_scale=(chosen.init_scale if _is_auto(self.init_scale)
                        else v.check_positive("init_scale", self.init_scale)),
            max_iter=v.check_int("max_iter", self.max_iter, 1),
            sparsity=v.check_sparsity(self.sparsity),
            tt_rank=v.check_int("tt_rank", self.tt_rank, 1),
            early_stopping=_check_bool("early_stopping", self.early_stopping),
            validation_fraction=fraction,
            n_iter_no_change=v.check_int("n_iter_no_change", self.n_iter_no_change, 1),
            tol=v.check_non_negative("tol", self.tol),
            warm_start=_check_bool("warm_start", self.warm_start),
            n_threads=v.check_threads(self.n_threads),
            dtype=v.check_dtype(self.dtype),
            standardize=_check_bool("standardize", self.standardize),
            verbose=bool(verbose),
        )
        s.tau_max = (chosen.tau_cap(s.tau) if _is_auto(self.tau_max)
                     else v.check_non_negative("tau_max", self.tau_max))
        s.weight_decay_trial = (
            chosen.trial_for(s.max_iter) if _is_auto(self.weight_decay_trial)
            else v.check_int("weight_decay_trial", self.weight_decay_trial, 0))
        # The schedule's own checks (gamma > 0, tau_max >= tau, ...), with BCD's messages.
        BCD(gamma=s.gamma, rho=s.rho, alpha=self.alpha, tau=s.tau,
            tau_growth=s.tau_growth, tau_max=s.tau_max)
        return s

    def _compression_specs(self, s, n_layers):
        """One compression spec per layer: every hidden layer compressed, the output dense."""
        specs = [None] * n_layers
        if self.compression == "prune":
            specs[:-1] = [Pruned(s.sparsity)] * (n_layers - 1)
        elif self.compression == "tt":
            specs[:-1] = [TensorTrain(s.tt_rank)] * (n_layers - 1)
        return specs

    def _check_same_network(self, sizes, specs, dtype):
        """A warm start trains the fitted network further: it must be the one now asked for."""
        model = self.model_
        changes = []
        if list(model.sizes) != list(sizes):
            changes.append(f"layer sizes {list(model.sizes)} -> {list(sizes)}")
        if list(model.compression) != list(specs):
            changes.append(f"compression {list(model.compression)} -> {list(specs)}")
        if model.dtype != np.dtype(dtype):
            changes.append(f"dtype {model.dtype.name} -> {np.dtype(dtype).name}")
        if changes:
            raise ValueError(
                "warm_start=True continues training the fitted network, but the network asked "
                f"for differs from it ({'; '.join(changes)}); set warm_start=False to train a "
                "new network"
            )

    def _fit(self, X, y):
        """Check the data, build (or, with ``warm_start``, reuse) the network and train it."""
        s = self._settings()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None")
        warm = s.warm_start and hasattr(self, "model_")
        # A warm start keeps n_features_in_ and checks X against it.
        X = validate_data(self, X, reset=not warm, dtype=s.dtype, order="C")
        y = check_array(y, ensure_2d=False, dtype=self._y_dtype, input_name="y")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}")
        T, n_outputs, stratify = self._targets(y, warm)
        if not warm:
            self.input_mean_, self.input_scale_ = (
                standardisation(X) if s.standardize
                else (np.zeros(X.shape[1]), np.ones(X.shape[1])))
        X = self._standardised(X)

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        X_val = T_val = None
        if s.early_stopping:
            X, X_val, T, T_val = train_test_split(
                X, T, test_size=s.validation_fraction, random_state=rng, stratify=stratify)
            if X_val.shape[0] < 2:
                raise ValueError(
                    f"the early-stopping validation set has {X_val.shape[0]} sample(s); it "
                    "needs at least 2: increase validation_fraction or the data, or set "
                    "early_stopping=False")
            X = np.ascontiguousarray(X)

        sizes = [X.shape[1], *s.hidden, n_outputs]
        specs = self._compression_specs(s, len(sizes) - 1)
        if warm:
            self._check_same_network(sizes, specs, s.dtype)
            model, tau = self.model_, min(self.tau_, s.tau_max)
            if _is_auto(self.weight_decay):  # the previous fit's trial has chosen
                s.weight_decay = self.weight_decay_
            s.weight_decay_trial = 0
        else:
            model = MLP(sizes, compression=specs, init=s.init, init_scale=s.init_scale,
                        seed=seed, dtype=s.dtype)
            tau = s.tau
        trainer = BCD(gamma=s.gamma, rho=s.rho, alpha=self.alpha, tau=tau,
                      tau_growth=s.tau_growth, tau_max=s.tau_max, target_gap=s.target_gap,
                      n_threads=s.n_threads, weight_decay=s.weight_decay * X.shape[0],
                      weight_decay_trial=s.weight_decay_trial,
                      overwrite_weights=s.overwrite_weights, extrapolation=s.extrapolation)

        run = _Run(self, s, X_val, T_val, tau)
        history = trainer.fit(model, X, T, s.max_iter, callbacks=[run], verbose=s.verbose)
        self.model_ = run.best_model(model)
        self.history_ = history
        self.n_iter_ = len(history)
        self.tau_ = run.tau
        self.weight_decay_ = 0.0 if _trial_dropped_weight_decay(model) else s.weight_decay
        self.validation_scores_ = run.scores if s.early_stopping else None
        self.best_validation_score_ = run.best_score if s.early_stopping else None
        return self

    def _standardised(self, X):
        """(X - input_mean_) / input_scale_ in X's dtype, as the ONNX converter computes it."""
        return (X - self.input_mean_.astype(X.dtype)) / self.input_scale_.astype(X.dtype)

    def _outputs(self, X):
        """The fitted network's outputs for X, (n_samples, n_outputs), X checked as in fit."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=self.model_.dtype, order="C")
        return self.model_.decision_function(self._standardised(X), self.n_threads)


def _trial_dropped_weight_decay(model):
    """Whether ``model`` (trained, perhaps put back to an earlier iteration by early stopping)
    is the run a weight-decay trial kept without its weight decay."""
    result = model.training_.get("weight_decay_trial_result")
    return (result is not None and result["kept"] == weight_decay_trial.WITHOUT
            and model.training_["iterations"] >= result["iteration"])


class _Run:
    """The callback of one ``fit``: follows τ, and with early stopping scores the validation
    set, keeps a snapshot of the best network and says when to stop."""

    def __init__(self, estimator, settings, X_val, T_val, tau):
        self.estimator, self.s = estimator, settings
        self.X_val, self.T_val = X_val, T_val
        self.tau = tau
        self.scores, self.best_score = [], -np.inf
        self.no_improvement = 0
        self.best = None  # the network (W, b, G) of the best iteration: a copy of the core's
        self.best_tau = self.best_iteration = None

    def __call__(self, state, history):
        self.tau = state.tau
        if not self.s.early_stopping:
            return False
        score = float(self.estimator._validation_score(state.model, self.X_val, self.T_val))
        self.scores.append(score)
        self.no_improvement = (self.no_improvement + 1
                               if score < self.best_score + self.s.tol else 0)
        if score > self.best_score:
            self.best_score = score
            network = state.model._net
            if self.best is None:
                self.best = network.copy()
            else:
                self.best.assign(network)  # reuses the snapshot's storage
            self.best_tau, self.best_iteration = state.tau, state.iteration
        return self.no_improvement >= self.s.n_iter_no_change

    def best_model(self, model):
        """``model``, with early stopping put back to the network of the best iteration: its
        W_i, b_i and G_i exactly (the dense W_i are what a warm start continues)."""
        if self.best is not None and self.best_iteration != model.training_["iterations"]:
            model._net.assign(self.best)
            model.training_["iterations"] = self.best_iteration
            self.tau = self.best_tau
        return model
