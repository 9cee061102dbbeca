"""NN-BCD: the trainer, and the state of one training run."""

import os
import time
import warnings

import numpy as np

from . import _validation as v
from . import weight_decay_trial
from ._native import DivergenceError
from .checkpoint import restore_checkpoint
from .distributed import WorkerLostError, start_distributed
from .history import History
from .memory import available_memory
from .threads import warn_if_oversubscribed
from .training_state import TrainingState, accuracy

# Defaults chosen on digits/MNIST-sized problems with standardised inputs (see README).
DEFAULT_GAMMA = 1.0
DEFAULT_RHO = 1.0
DEFAULT_ALPHA = 1.0
TINY = np.finfo(np.float64).tiny  # floor of the divergence test's reference objective
SETTINGS = ("gamma", "rho", "alpha", "tau", "tau_growth", "tau_max", "target_gap",
            "weight_decay", "weight_decay_trial", "dense_iterations", "train_bias",
            "overwrite_weights", "extrapolation")


class BCD:
    """The NN-BCD trainer (Li et al., arXiv 2303.06815): gradient-free block coordinate descent.

    Parameters
    ----------
    gamma : float > 0
        Weight of the activation coupling γ/2 Σ||V_i − σ(U_i)||².
    rho : float > 0
        Weight of the linear coupling ρ/2 Σ||U_i − W_i V_{i−1} − b_i||².
    alpha : float > 0
        Proximal weight: it makes Φ decrease monotonically.
    tau, tau_growth, tau_max : float
        Weight of τ/2||W_i − G_i||², the coupling of each compressed layer's W_i to its
        compressed copy G_i (unused by dense layers). τ starts at ``tau`` and is multiplied by
        ``tau_growth`` after every iteration, up to ``tau_max``. A small fixed τ (the paper's; set
        ``tau_growth=1``) leaves the deployed G far from the W that was fit: on digits at 90 %
        sparsity the pruned network reaches 0.66 (τ = 1) or 0.79 (τ = 10) test accuracy after
        200 iterations, against 0.97 with the default schedule, which lets W and the lifted
        variables first find a good fit and ends with W ≈ G, whatever the scale of the problem
        (``bench/schedules.py``). Φ decreases monotonically while τ is fixed.
    target_gap : float >= 0
        0: τ follows the fixed schedule above. > 0: τ follows the run instead. After each
        iteration it is multiplied by ``tau_growth`` where some compressed layer's relative gap
        ||W_i − G_i|| / ||W_i|| exceeds ``target_gap`` (the deployed network lags the fit),
        divided by ``tau_growth`` where every layer's is below ``target_gap``/2 (a smaller τ
        lets W_i move faster), and kept otherwise; never above ``tau_max`` and never below
        the τ the run started from (below it the CNN's gap stops closing and its accuracy
        slips late in the run). The scale of a τ
        that works differs by 10⁴ between problems (digits' two TT layers want τ ≈ 200, the
        paper's CNN 0.1-1); the gap is scale-free (``bench/results/target_gap.md``).
    dense_iterations : int >= 0
        Dense warm start: the first ``dense_iterations`` iterations run with τ = 0, so W_i
        fits the data unconstrained (G_i is still projected and reported); then τ starts at
        ``tau`` and grows.
    train_bias : bool
        False freezes the biases (at zero from the initialisation), as the authors' notebooks do.
    n_threads : int
        Threads for the C++ core; 0 = the usable cores (see ``nnbcd.threads``).
    weight_decay : float >= 0, or a sequence of one per layer
        λ/2 Σ||W_i||² (or Σ λ_i/2 ||W_i||²), solved in closed form inside the weight update.
    weight_decay_trial : int >= 0
        > 0: let the run decide whether to keep the weight decay (``nnbcd.weight_decay_trial``).
        The run and a rival without weight decay start from the same network and take this
        many iterations side by side; then the one whose deployed network has the lower
        training loss ½||f(X) − Y||² goes on (``TrainingState.rival``; the choice is in
        ``model.training_["weight_decay_trial_result"]``). Those iterations cost twice the
        time and the lifted variables twice the memory; a run that stops before the end of
        the trial ends with the weight decay. Weight decay helps some compressed networks
        and hurts others (the paper's CNN: 0.9726 at equal wall time with a 100-iteration
        trial, 0.9673 with the weight decay). Not on a Dask cluster. 0: no trial.
    overwrite_weights : bool
        After each sweep also set W_i ← G_i for compressed layers: projected BCD on W itself,
        as in the authors' notebooks. Off by default: it voids the monotone decrease of Φ.
    extrapolation : bool
        After each sweep move every block on along the sweep's step, x + β(x − x_previous)
        (U, V, W, b; G re-projected from the moved W), with Nesterov's β_t = (t − 1)/(t + 2),
        and keep the move only where Φ is no higher than where the sweep started; else try
        half the step, (x + y)/2, on the same test, and else stay at x
        (``TrainingState.restarts`` counts these restarts). A refused full step halves t.
        Φ stays monotone at a fixed τ. Costs one evaluation of Φ (two when the full step is
        refused) and one copy of the lifted variables; reaches a given accuracy in fewer
        iterations (``bench/results/extrapolation.md``). Off by default: the paper's
        algorithm.
    divergence_factor : float > 0
        ``fit`` stops with ``DivergenceError`` when Φ exceeds this many times its value at the
        start (or is NaN/Inf), and puts back the parameters of the iteration before.
    """

    def __init__(self, gamma=DEFAULT_GAMMA, rho=DEFAULT_RHO, alpha=DEFAULT_ALPHA, tau=1.0,
                 train_bias=True, n_threads=0, weight_decay=0.0, overwrite_weights=False,
                 tau_growth=1.05, tau_max=1e5, dense_iterations=0, divergence_factor=1e6,
                 extrapolation=False, target_gap=0.0, weight_decay_trial=0):
        self.gamma = v.check_positive("gamma", gamma)
        self.rho = v.check_positive("rho", rho)
        self.alpha = v.check_positive("alpha", alpha)
        self.tau = v.check_non_negative("tau", tau)
        self.tau_growth = v.check_positive("tau_growth", tau_growth)
        self.tau_max = v.check_non_negative("tau_max", tau_max)
        if self.tau_max < self.tau:
            raise ValueError(f"tau_max must be >= tau, got tau_max={tau_max!r} < tau={tau!r}")
        self.target_gap = v.check_non_negative("target_gap", target_gap)
        if not isinstance(train_bias, (bool, np.bool_)):
            raise TypeError(f"train_bias must be True or False, got {train_bias!r}")
        self.train_bias = bool(train_bias)
        self.n_threads = v.check_threads(n_threads)
        self.weight_decay = v.check_weight_decay(weight_decay)
        self.weight_decay_trial = v.check_int("weight_decay_trial", weight_decay_trial, 0)
        if not isinstance(overwrite_weights, (bool, np.bool_)):
            raise TypeError(f"overwrite_weights must be True or False, got {overwrite_weights!r}")
        self.overwrite_weights = bool(overwrite_weights)
        if not isinstance(extrapolation, (bool, np.bool_)):
            raise TypeError(f"extrapolation must be True or False, got {extrapolation!r}")
        self.extrapolation = bool(extrapolation)
        self.dense_iterations = v.check_int("dense_iterations", dense_iterations, 0)
        self.divergence_factor = v.check_positive("divergence_factor", divergence_factor)

    def settings(self):
        """The settings that determine a run's result (all but ``n_threads`` and
        ``divergence_factor``), as a dict."""
        return {name: getattr(self, name) for name in SETTINGS}

    def copy(self, **changes):
        """This trainer with ``changes`` (``BCD`` arguments) applied, checked as ``BCD`` checks
        them."""
        return BCD(**{**self.settings(), "n_threads": self.n_threads,
                      "divergence_factor": self.divergence_factor, **changes})

    def start(self, model, X, y, client=None):
        """Lift the network on (X, y) and return the ``TrainingState`` to step.

        ``X`` is (n_samples, n_features); ``y`` is 1-D class indices in [0, n_outputs) (one-hot
        targets) or a 2-D (n_samples, n_outputs) array of regression targets.
        ``client``: a ``distributed.Client``; the samples are then split over its workers and
        held there, and every iteration is the same as on one machine (see
        ``nnbcd.distributed``, which also takes Dask arrays and files for X and y).
        """
        trial = weight_decay_trial.wanted(self)
        if client is not None:
            if trial:
                raise ValueError("weight_decay_trial is not available on a Dask cluster (client "
                                 "given): set weight_decay_trial=0 and choose the weight_decay")
            return start_distributed(self, model, X, y, client)
        X = model.check_input(X)
        Y, labels = v.check_targets(y, X.shape[0], model.sizes[-1], model.dtype)
        warn_if_oversubscribed(self.n_threads)
        runs = 2 if trial else 1  # the weight-decay trial's rival holds its own
        needed, available = runs * model.training_bytes(X.shape[0]), available_memory()
        if available is not None and needed > available:
            raise MemoryError(
                f"training this network on {X.shape[0]} samples needs about {needed / 2**30:.2f} "
                f"GiB for the lifted variables{' of two runs (weight_decay_trial)' * trial}; "
                f"only {available / 2**30:.2f} GiB is available. "
                "Use fewer samples, narrower layers or float32"
                f"{', or weight_decay_trial=0' * trial}."
            )
        return TrainingState(self, model, X, Y, labels)

    def fit(self, model, X, y, iterations, validation=None, callbacks=None, verbose=False,
            eval_every=1, checkpoint=None, checkpoint_every=10, client=None):
        """Train ``model`` in place up to iteration ``iterations``; returns a ``History``.

        validation : (X_val, y_val) with class indices, optional
        callbacks : callables ``f(state, history)`` run after every iteration, with the
            ``TrainingState`` (``state.model``, ``state.iteration``, ``state.tau``,
            ``state.objective()``) and the ``History`` so far; one returning True stops
            training. ``nnbcd.EarlyStopping`` is one.
        eval_every : measure train/validation accuracy every this many iterations (and always
            at the last one).
        checkpoint : path, optional. When the file exists, training resumes from it: the
            network, lifted variables, τ and history it holds replace the start (it must come
            from the same architecture, data and settings; the same thread count gives
            bit-identical results). The run is saved there, atomically, every
            ``checkpoint_every`` iterations, when it ends, and when interrupted.
        client : a ``distributed.Client``: train on its workers (see ``start``). A worker lost
            during an iteration raises ``nnbcd.distributed.WorkerLostError`` naming it; the
            iteration is undone as below, and the run continues from its checkpoint on any
            cluster.

        Ctrl-C stops after the iteration in progress and returns what was trained so far.
        An iteration that produces non-finite weights, or an objective above
        ``divergence_factor`` times its value when ``fit`` started, is undone and raises
        ``DivergenceError``: the model keeps the parameters of the iteration before, the
        error's ``history`` attribute the record up to it.
        """
        iterations = v.check_int("iterations", iterations, 0)
        eval_every = v.check_int("eval_every", eval_every, 1)
        checkpoint_every = v.check_int("checkpoint_every", checkpoint_every, 1)
        validation = _check_validation(model, validation)
        callbacks = list(callbacks or [])
        state = self.start(model, X, y, client)
        history = History()
        if checkpoint is not None and os.path.exists(checkpoint):
            history = restore_checkpoint(state, checkpoint)
        reference = state.objective()["total"]
        try:
            while state.iteration < iterations:
                started = time.perf_counter()
                try:
                    state.step()
                except (DivergenceError, WorkerLostError) as error:
                    error.history = history
                    raise
                self._record(state, history, time.perf_counter() - started, reference,
                             validation, eval_every, iterations)
                if verbose:
                    print(_progress_line(history), flush=True)
                stop = any([callback(state, history) is True for callback in callbacks])
                if checkpoint is not None and (stop or state.iteration % checkpoint_every == 0
                                               or state.iteration == iterations):
                    state.save_checkpoint(checkpoint, history)
                if stop:
                    break
        except KeyboardInterrupt:
            if not history or history.iteration[-1] != state.iteration:  # Ctrl-C after a step
                self._record(state, history, float("nan"), reference, None, eval_every,
                             iterations)
            if checkpoint is not None:
                state.save_checkpoint(checkpoint, history)
            warnings.warn(f"training interrupted after iteration {state.iteration}; the model "
                          "holds the parameters of that iteration", RuntimeWarning, stacklevel=2)
        return history

    def _record(self, state, history, seconds, reference, validation, eval_every, iterations):
        """Append the iteration just done to ``history``; undo it if the objective exploded."""
        objective = state.objective()
        if not objective["total"] <= self.divergence_factor * max(abs(reference), TINY):
            state.rollback()
            error = DivergenceError(
                f"the objective exploded at iteration {state.iteration} ({objective['total']:.3e}"
                f", {reference:.3e} when training started); the network keeps the parameters of "
                f"iteration {state.iteration - 1}. Scale the inputs, or lower rho / raise alpha")
            error.history = history
            raise error
        evaluate = state.iteration % eval_every == 0 or state.iteration == iterations
        train_acc = state.train_accuracy() if evaluate else None
        val_acc = None
        if evaluate and validation is not None:
            val_acc = accuracy(state.model, *validation, self.n_threads)
        history.append(state.iteration, objective, train_acc, val_acc, seconds)


def _check_validation(model, validation):
    """(X_val, labels) from ``validation``, or None."""
    if validation is None:
        return None
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise TypeError("validation must be a tuple (X_val, y_val)")
    X_val = model.check_input(validation[0], "validation X")
    _, labels = v.check_targets(validation[1], X_val.shape[0], model.sizes[-1], model.dtype)
    if labels is None:
        raise ValueError("validation y must be 1-D class indices")
    return X_val, labels


def _progress_line(history):
    def fmt(value):
        return "   -  " if value is None else f"{value:.4f}"

    return (f"iter {history.iteration[-1]:5d}  objective {history.objective[-1]['total']:.6e}  "
            f"train {fmt(history.train_accuracy[-1])}  "
            f"validation {fmt(history.validation_accuracy[-1])}  "
            f"{history.seconds[-1]:.3f} s")


__all__ = ["BCD", "TrainingState", "DivergenceError"]
