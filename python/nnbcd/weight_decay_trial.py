"""The weight decay chosen by a trial: ``BCD(weight_decay_trial=K)``.

Weight decay helps some compressed networks and hurts others, and nothing measured so far tells
which before training (``bench/results/weight_decay_switch.md``): the TT MLP and digits' TT
networks underfit without it, the paper's CNN fits faster and generalises better without it. So
the run tries both. From the same start, the run with the trainer's weight decay and a rival
without it take the first K iterations side by side; then the one whose deployed network fits
its training data better (the lower ½||f(X) − Y||²) goes on and the other is dropped. Each of
the K iterations costs two, and the rival's lifted variables double the memory until then.
"""

import numpy as np

from ._native import DivergenceError

WITH, WITHOUT = "with weight decay", "without weight decay"


def wanted(trainer):
    """Whether ``trainer`` runs a trial: a length > 0 and some weight decay to try without."""
    return trainer.weight_decay_trial > 0 and bool(np.any(np.asarray(trainer.weight_decay) > 0))


def start_rival(state):
    """The rival of the run ``state`` (a ``TrainingState`` just started): the same run without
    weight decay, on a copy of its network."""
    trainer = state.trainer.copy(weight_decay=0.0, weight_decay_trial=0)
    return type(state)(trainer, state.model.copy(), state.X, state.Y, state.labels)


def training_loss(state):
    """½||f(X) − Y||² of the deployed network on the run's training samples."""
    outputs = state.model.decision_function(state.X, state.trainer.n_threads)
    return 0.5 * float(np.sum(np.square(outputs - state.Y, dtype=np.float64)))


def advance(state):
    """After the run's step: the rival's (up to the run's iteration: an interrupted step may
    have left it behind), and at the trial's last iteration the choice."""
    try:
        while state.rival.iteration < state.iteration:
            state.rival.step()
    except DivergenceError as error:
        state.rival = None
        _record(state, WITH, reason=f"the run without weight decay diverged: {error}")
        return
    if state.iteration >= state.trainer.weight_decay_trial:
        _decide(state)


def _decide(state):
    """End the trial: go on with the run whose deployed network has the lower training loss
    (the run with weight decay on a tie or a non-finite loss)."""
    rival, state.rival = state.rival, None
    losses = {WITH: training_loss(state), WITHOUT: training_loss(rival)}
    kept = WITHOUT if losses[WITHOUT] < losses[WITH] else WITH
    if kept == WITHOUT:
        state.adopt(rival)
    _record(state, kept, training_loss=losses)


def _record(state, kept, **details):
    """The choice, in the model's record of its training (``model.training_``)."""
    state.model.training_["weight_decay_trial_result"] = {
        "iteration": state.iteration, "kept": kept, **details}
