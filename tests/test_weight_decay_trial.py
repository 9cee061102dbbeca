"""The weight-decay trial (``BCD(weight_decay_trial=K)``): the run goes on as exactly the run it
kept — with its weight decay or without — chosen by the training loss an independent forward
pass gives; checkpoints taken during the trial resume it exactly; bad uses are refused."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

import nnbcd
from nnbcd import weight_decay_trial
from nnbcd.checkpoint import restore_checkpoint

TRIAL = 6


def _digits():
    """300 standardised digits: a trial of 6 iterations keeps the run without weight decay."""
    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-9)
    return X[:300], y[:300]


def _synthetic():
    """A problem on which a trial of 6 iterations keeps the weight decay of ``_trainer``."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 16))
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 1)
    return X, y


def _network(n_features, n_classes, init="normal"):
    """A TT hidden layer between two dense ones, float64 (the comparisons are exact)."""
    return nnbcd.MLP([n_features, 32, 32, n_classes],
                     compression=[None, nnbcd.TensorTrain(4, shape=(4, 8, 4, 8)), None],
                     init=init, init_scale=0.01 if init == "normal" else 1.0, seed=3,
                     dtype="float64")


def _trainer(weight_decay=30.0, trial=TRIAL):
    """The TT recipe's kind of run: extrapolation and τ following the gap, so that the kept
    run's whole state (Nesterov's t, the schedule) has to carry over."""
    return nnbcd.BCD(gamma=5, rho=5, tau=0.1, tau_growth=1.2, target_gap=0.05,
                     extrapolation=True, weight_decay=weight_decay, weight_decay_trial=trial,
                     n_threads=1)


CASES = {  # problem, its network's init, the trainer's weight decay, the run the trial keeps
    "keeps none": (_digits, "normal", 30.0, weight_decay_trial.WITHOUT),
    "keeps weight decay": (_synthetic, "kaiming_normal", 10.0, weight_decay_trial.WITH),
}


def _stepped(trainer, model, X, y, iterations):
    state = trainer.start(model, X, y)
    for _ in range(iterations):
        state.step()
    return state


def _assert_same_run(first, second):
    """Two runs at the same point: every block, τ, λ_i, the extrapolation and Φ, exactly."""
    a, b = first.variables(), second.variables()
    for name in ("W", "b", "U", "V"):
        for x, z in zip(a[name], b[name]):
            np.testing.assert_array_equal(x, z)
    for x, z in zip(first.model.compressed_weights, second.model.compressed_weights):
        if x is not None:
            np.testing.assert_array_equal(x, z)
    assert first.iteration == second.iteration
    assert first.tau == second.tau and first.scheduled_tau == second.scheduled_tau
    assert first.weight_decay == second.weight_decay
    assert first.restarts == second.restarts
    assert first.objective() == second.objective()


def _numpy_training_loss(model, X, y):
    """½||f(X) − Y||² by a forward pass in numpy through the deployed weights."""
    A = X
    for i, (W, b) in enumerate(zip(model.deployed_weights, model.biases)):
        A = A @ np.asarray(W).T + b
        if i < model.n_layers - 1:
            A = np.maximum(A, 0.0)
    return 0.5 * float(np.sum((A - np.eye(model.sizes[-1])[y]) ** 2))


@pytest.mark.parametrize("case", CASES)
def test_the_run_goes_on_as_the_run_it_kept(case):
    problem, init, weight_decay, expected = CASES[case]
    X, y = problem()
    n_classes = int(y.max()) + 1
    trial = _stepped(_trainer(weight_decay), _network(X.shape[1], n_classes, init), X, y,
                     TRIAL + 3)
    kept = weight_decay if expected == weight_decay_trial.WITH else 0.0
    plain = _stepped(_trainer(kept, trial=0), _network(X.shape[1], n_classes, init), X, y,
                     TRIAL + 3)
    result = trial.model.training_["weight_decay_trial_result"]
    assert result["kept"] == expected and result["iteration"] == TRIAL
    assert trial.rival is None
    _assert_same_run(trial, plain)


@pytest.mark.parametrize("case", CASES)
def test_the_choice_is_the_lower_training_loss_of_an_independent_forward_pass(case):
    problem, init, weight_decay, expected = CASES[case]
    X, y = problem()
    n_classes = int(y.max()) + 1
    losses = {}
    for name, lam in ((weight_decay_trial.WITH, weight_decay),
                      (weight_decay_trial.WITHOUT, 0.0)):
        model = _network(X.shape[1], n_classes, init)
        _stepped(_trainer(lam, trial=0), model, X, y, TRIAL)
        losses[name] = _numpy_training_loss(model, X, y)
    assert min(losses, key=losses.get) == expected
    model = _network(X.shape[1], n_classes, init)
    _stepped(_trainer(weight_decay), model, X, y, TRIAL)
    recorded = model.training_["weight_decay_trial_result"]["training_loss"]
    for name, loss in losses.items():
        assert recorded[name] == pytest.approx(loss, rel=1e-10)


@pytest.mark.parametrize("stop", [TRIAL - 2, TRIAL, TRIAL + 1])
def test_a_run_resumed_from_a_checkpoint_equals_the_uninterrupted_one(tmp_path, stop):
    X, y = _digits()
    path = tmp_path / "run.ckpt"
    resumed = _network(64, 10)
    _trainer().fit(resumed, X, y, stop, checkpoint=path)
    history = _trainer().fit(resumed, X, y, TRIAL + 3, checkpoint=path)
    whole = _network(64, 10)
    expected = _trainer().fit(whole, X, y, TRIAL + 3)
    assert history.objective == expected.objective
    for a, b in zip(resumed.weights + resumed.biases, whole.weights + whole.biases):
        np.testing.assert_array_equal(a, b)
    assert resumed.training_ == whole.training_


def test_a_checkpoint_during_the_trial_holds_the_rival(tmp_path):
    X, y = _digits()
    path = tmp_path / "run.ckpt"
    _trainer().fit(_network(64, 10), X, y, 2, checkpoint=path)
    state = _trainer().start(_network(64, 10), X, y)
    restore_checkpoint(state, path)
    assert state.iteration == 2 and state.rival is not None and state.rival.iteration == 2
    no_trial = _trainer(trial=0).start(_network(64, 10), X, y)
    with pytest.raises(ValueError, match="weight_decay_trial"):
        restore_checkpoint(no_trial, path)


def test_a_diverging_rival_is_dropped_and_the_run_keeps_its_weight_decay(monkeypatch):
    X, y = _digits()
    state = _trainer().start(_network(64, 10), X, y)

    def diverge():
        raise nnbcd.DivergenceError("the objective exploded")

    monkeypatch.setattr(state.rival, "step", diverge)
    state.step()
    assert state.rival is None
    result = state.model.training_["weight_decay_trial_result"]
    assert result["kept"] == weight_decay_trial.WITH and "diverged" in result["reason"]
    assert state.weight_decay == [30.0]


def test_no_trial_without_weight_decay_or_with_length_zero():
    X, y = _digits()
    assert _trainer(weight_decay=0.0).start(_network(64, 10), X, y).rival is None
    assert _trainer(trial=0).start(_network(64, 10), X, y).rival is None


def test_a_run_stopped_before_the_end_of_the_trial_has_its_weight_decay():
    X, y = _digits()
    model = _network(64, 10)
    _trainer().fit(model, X, y, TRIAL - 1)
    plain = _network(64, 10)
    _trainer(trial=0).fit(plain, X, y, TRIAL - 1)
    for a, b in zip(model.weights, plain.weights):
        np.testing.assert_array_equal(a, b)
    assert "weight_decay_trial_result" not in model.training_


@pytest.mark.parametrize("value, error", [(-1, ValueError), (1.5, TypeError), ("5", TypeError)])
def test_bad_trial_lengths_are_refused_naming_the_argument(value, error):
    with pytest.raises(error, match="weight_decay_trial"):
        nnbcd.BCD(weight_decay_trial=value)


def test_a_trial_on_a_dask_cluster_is_refused():
    X, y = _digits()
    with pytest.raises(ValueError, match="weight_decay_trial.*Dask"):
        _trainer().start(_network(64, 10), X, y, client=object())


def test_the_memory_check_counts_both_runs(monkeypatch):
    X, y = _digits()
    model = _network(64, 10)
    one_run = model.training_bytes(len(X))
    monkeypatch.setattr(nnbcd.bcd, "available_memory", lambda: int(1.5 * one_run))
    _trainer(trial=0).start(model, X, y)  # one run fits
    with pytest.raises(MemoryError, match="two runs"):
        _trainer().start(_network(64, 10), X, y)
