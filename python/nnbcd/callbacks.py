"""Callbacks for ``BCD.fit``: any callable ``f(state, history)`` run after every iteration;
returning True stops training."""


class EarlyStopping:
    """Stop when the validation accuracy has not improved for ``patience`` evaluations.

    Needs ``BCD.fit(..., validation=(X_val, y_val))``; accuracy is measured every
    ``eval_every`` iterations, and each measurement counts once.

    Parameters
    ----------
    patience : int >= 1
        Evaluations without an improvement of more than ``min_delta`` before stopping.
    min_delta : float >= 0
        The least gain in validation accuracy that counts as an improvement.
    restore_best : bool
        When stopping, put back the network of the best evaluation (its parameters W, b, G).

    Attributes
    ----------
    best_score, best_iteration : the best validation accuracy and the iteration it was reached.
    stopped_iteration : the iteration training stopped at, or None.
    """

    def __init__(self, patience=10, min_delta=0.0, restore_best=True):
        from . import _validation as v
        self.patience = v.check_int("patience", patience, 1)
        self.min_delta = v.check_non_negative("min_delta", min_delta)
        self.restore_best = bool(restore_best)
        self.best_score = self.best_iteration = self.stopped_iteration = None
        self._best_network = None
        self._waited = 0

    def __call__(self, state, history):
        score = history.validation_accuracy[-1]
        if score is None:
            if history.train_accuracy[-1] is not None:  # evaluated, but nothing to validate on
                raise ValueError("EarlyStopping needs BCD.fit(..., validation=(X_val, y_val))")
            return False
        if self.best_score is None or score > self.best_score + self.min_delta:
            self.best_score, self.best_iteration, self._waited = score, state.iteration, 0
            if self.restore_best:
                self._keep(state.model._net)
            return False
        self._waited += 1
        if self._waited < self.patience:
            return False
        self.stopped_iteration = state.iteration
        if self.restore_best:
            state.model._net.assign(self._best_network)
        return True

    def _keep(self, network):
        if self._best_network is None:
            self._best_network = network.copy()
        else:
            self._best_network.assign(network)
