"""The state of one training run: the C++ sweep and the network it trains in place."""

import numpy as np

from . import _validation as v
from . import weight_decay_trial
from ._native import core
from .checkpoint import data_fingerprint, save_checkpoint
from .history import History


def accuracy(model, X, labels, n_threads=0):
    """Fraction of the samples of ``X`` that ``model`` puts in class ``labels``."""
    return float(np.mean(model.predict(X, n_threads) == labels))


class TrainingState:
    """One training run in progress: the lifted variables live in C++, the model is trained in
    place. Create with ``BCD.start``; call ``step()`` once per iteration.

    This one holds all samples in this process; ``nnbcd.distributed`` has the same run with the
    samples split over Dask workers.

    ``rival``: during a weight-decay trial (``BCD(weight_decay_trial=K)``, see
    ``nnbcd.weight_decay_trial``) the same run without weight decay, stepped with this one; None
    otherwise. At iteration K the one that fits the training data better becomes this run.
    The rival follows the trainer's settings: ``tau`` or ``weight_decay`` set by a callback
    during the trial change this run only.
    """

    def __init__(self, trainer, model, X, Y, labels):
        self.X, self.Y, self.labels = X, Y, labels
        self._begin(trainer, model, X, Y)
        if weight_decay_trial.wanted(trainer):
            self.rival = weight_decay_trial.start_rival(self)

    def _begin(self, trainer, model, *samples):
        """Start the C++ run on ``samples``: (X, Y) arrays, or a ``core.Samples`` object."""
        self.trainer, self.model = trainer, model
        self.iteration = 0
        self.rival = None
        self._fingerprint = None
        model.training_ = {"method": "NN-BCD", "iterations": 0, **trainer.settings()}
        cls = core.Bcd32 if model.dtype == np.float32 else core.Bcd64
        self._state = cls(model._net, *samples, trainer.gamma, trainer.rho, trainer.alpha,
                          trainer.tau, trainer.tau_growth, trainer.tau_max, trainer.target_gap,
                          np.atleast_1d(trainer.weight_decay), trainer.dense_iterations,
                          trainer.train_bias, trainer.overwrite_weights, trainer.extrapolation,
                          trainer.n_threads)

    @property
    def n_samples(self):
        """The number of training samples."""
        return self.X.shape[0]

    def train_accuracy(self):
        """The deployed network's accuracy on the training samples (None for regression)."""
        if self.labels is None:
            return None
        return accuracy(self.model, self.X, self.labels, self.trainer.n_threads)

    def step(self):
        """One BCD iteration: a backward sweep of exact block updates (DESIGN §2)."""
        try:
            self._state.step()
        except KeyboardInterrupt:
            # Ctrl-C during the step (the core does not stop for it) is raised as the step
            # returns: the step is done, and a checkpoint must say so
            if self._state.iteration > self.iteration:
                self._count_step()
            raise
        self._count_step()
        if self.rival is not None:
            weight_decay_trial.advance(self)

    def _count_step(self):
        self.iteration += 1
        self.model.training_["iterations"] = self.iteration

    @property
    def tau(self):
        """The τ the next step uses (0 during the dense warm start; then it grows by
        ``tau_growth`` after every step). Setting it restarts the schedule from that value (with
        ``target_gap``, also the floor τ never shrinks below); Φ changes with τ."""
        return self._state.tau

    @tau.setter
    def tau(self, value):
        self._state.tau = v.check_non_negative("tau", value)

    @property
    def weight_decay(self):
        """The λ_i the next step uses: one value for every layer, or one per layer.
        Setting it (a float, or one value per layer) changes them from the next step on, as the
        ``tau`` setter does; Φ changes with them."""
        return list(self._state.weight_decay)

    @weight_decay.setter
    def weight_decay(self, value):
        value = v.check_weight_decay(value)
        self._state.weight_decay = np.atleast_1d(value)
        self.model.training_["weight_decay"] = value

    @property
    def scheduled_tau(self):
        """The τ of the schedule (what ``tau`` becomes once a dense warm start is over)."""
        return self._state.scheduled_tau

    @property
    def restarts(self):
        """How many extrapolations (``BCD(extrapolation=True)``) were undone because Φ would
        have risen above its value where the sweep started, at the full and at half the step."""
        return self._state.restarts

    def objective(self):
        """Φ at the current point: ``total``, ``loss`` and one entry per term."""
        return self._state.objective()

    def block_seconds(self):
        """Wall-clock seconds spent since the run started in each block of the iteration: ``V``
        (steps 1, 4), ``U`` (steps 2, 5, with the W V products they need), ``W`` (steps 3, 6,
        weights and biases), ``G`` (step 7, the projections), ``snapshot`` (the copy a failed
        step is undone from), ``objective`` (when asked for) and ``extrapolation`` (the moved
        point, its projections and the two Φ that decide on it)."""
        return self._state.block_seconds()

    def rollback(self):
        """Put back the network's parameters from before the last ``step`` and end the run
        (its lifted variables belong to the step that was undone)."""
        self._state.rollback()

    def fingerprint(self):
        """SHA-256 of this run's training data (computed once)."""
        if self._fingerprint is None:
            self._fingerprint = data_fingerprint(self.X, self.Y)
        return self._fingerprint

    def lifted(self):
        """The lifted variables: lists U, V of (d_i, n_samples) arrays (index 0 is layer 1)."""
        layers = range(self.model.n_layers)
        return [self._state.U(i) for i in layers], [self._state.V(i) for i in layers]

    def restore(self, iteration, scheduled_tau, U, V, extrapolation=None):
        """Continue from a checkpoint: the network holds the saved parameters already; this
        sets the iteration, the schedule's τ and the lifted variables (lists of (d_i, n)), and
        ``extrapolation``, what ``extrapolation_state`` returned (None: start it afresh)."""
        self._state.restore(iteration, scheduled_tau, U, V)
        if extrapolation is not None:
            self._state.restore_extrapolation(*extrapolation)
        self.iteration = iteration

    def adopt(self, other):
        """Continue as ``other`` (a run of the same network on the same samples, at its own
        iteration): its parameters, lifted variables, schedule, extrapolation and λ_i, exactly
        as a checkpoint of it would (``other`` is not to be stepped any more)."""
        self.model._net.assign(other.model._net)
        kept = other.extrapolation_state() if other.trainer.extrapolation else None
        self.restore(other.iteration, other.scheduled_tau, *other.lifted(), extrapolation=kept)
        self.weight_decay = other.weight_decay
        self.model.training_["iterations"] = self.iteration

    def extrapolation_state(self):
        """(t, restarts, W, b, U, V): what continues the extrapolation exactly — the next t of
        Nesterov's sequence, the restarts so far, and the point the last sweep ended at (U, V
        empty before the second sweep)."""
        return self._state.extrapolation_state()

    def save_checkpoint(self, path, history=None):
        """Write everything needed to continue this run to ``path`` (see ``nnbcd.checkpoint``)."""
        save_checkpoint(self, history if history is not None else History(), path)

    def variables(self):
        """Copies of every block: lists ``W``, ``b``, ``U``, ``V`` (index 0 is layer 1), with U
        and V in the paper's orientation, (d_i, n_samples)."""
        U, V = self.lifted()
        return {"W": [W.copy() for W in self.model.weights],
                "b": [b.copy() for b in self.model.biases], "U": U, "V": V}
