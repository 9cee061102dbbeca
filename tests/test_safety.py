"""Safety nets of BCD.fit: divergence keeps the last good parameters, early stopping,
callbacks, and checkpoint -> resume giving the same run as one without interruption."""

import os
import signal
import threading

import numpy as np
import pytest

import nnbcd

TT = nnbcd.TensorTrain(4, shape=(4, 4, 2, 4, 4))  # 32 x 16 as a 5-way tensor


def _problem(dtype="float64", n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 16)).astype(dtype)
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 1)
    return X, y


def _network(dtype="float64"):
    return nnbcd.MLP([16, 32, 32, 3], compression=[nnbcd.Pruned(0.5), None, None],
                     seed=3, dtype=dtype)


def _tt_network(dtype="float64"):
    return nnbcd.MLP([16, 32, 32, 3], compression=[None, nnbcd.TensorTrain(
        4, shape=(4, 8, 4, 8), initial_rank=8, anneal_iterations=4), None], seed=3, dtype=dtype)


def _parameters(model):
    return ([W.copy() for W in model.weights] + [b.copy() for b in model.biases]
            + [G.copy() for G in model.compressed_weights if G is not None])


def _assert_identical(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


class _Interrupt:
    """A callback that raises KeyboardInterrupt after iteration ``at``, as Ctrl-C would."""

    def __init__(self, at):
        self.at = at

    def __call__(self, state, history):
        if state.iteration == self.at:
            raise KeyboardInterrupt


def test_non_finite_iteration_keeps_the_parameters_before_it():
    X, y = _problem("float32")
    X *= np.float32(1e19)  # V Vᵀ overflows float32 in the first weight update
    model = _network("float32")
    before = _parameters(model)
    with pytest.raises(nnbcd.DivergenceError,
                       match="iteration 1.*keeps the parameters of iteration 0") as error:
        nnbcd.BCD().fit(model, X, y, 5)
    assert error.value.history is not None and len(error.value.history) == 0
    after = _parameters(model)
    assert all(np.isfinite(p).all() for p in after)
    # The projection at the start may move G; W and b are exactly the initial ones.
    _assert_identical(before[:6], after[:6])


def test_exploding_objective_stops_and_keeps_the_last_good_iteration():
    X, y = _problem()
    model = _network()
    kept = {}

    def sabotage(state, history):
        # weights far off: BCD can absorb a constant shift of W_N only through the V system
        # (γI + ρW_NᵀW_N), ill-conditioned by it, so the next objective is 1e9-5e9 (the first:
        # 192) on every CPU variant (1e6 left it under 10x on v4, as rounding decided)
        if state.iteration == 3:
            state.model.weights[-1][...] += 1e7
            kept["parameters"] = _parameters(state.model)

    with pytest.raises(nnbcd.DivergenceError, match="objective exploded at iteration 4") as e:
        nnbcd.BCD(divergence_factor=10).fit(model, X, y, 10, callbacks=[sabotage])
    assert e.value.history.iteration == [1, 2, 3]
    _assert_identical(kept["parameters"], _parameters(model))
    state = nnbcd.BCD().start(model, X, y)
    state.rollback()
    with pytest.raises(nnbcd.DivergenceError, match="start a new run"):
        state.step()


def test_callbacks_all_run_and_true_stops():
    X, y = _problem()
    seen = []
    history = nnbcd.BCD().fit(_network(), X, y, 10, callbacks=[
        lambda state, history: seen.append(state.iteration),
        lambda state, history: state.iteration == 4])
    assert seen == [1, 2, 3, 4] and history.iteration == [1, 2, 3, 4]


def test_early_stopping_stops_and_restores_the_best_network():
    X, y = _problem(n=300)
    X_val, y_val = _problem(n=200, seed=1)
    model = _network()
    best = {}

    def remember(state, history):  # runs before EarlyStopping: the network each evaluation saw
        best[state.iteration] = _parameters(state.model)

    stopper = nnbcd.EarlyStopping(patience=3)
    history = nnbcd.BCD().fit(model, X, y, 200, validation=(X_val, y_val),
                              callbacks=[remember, stopper])
    scores = history.validation_accuracy
    assert stopper.stopped_iteration == history.iteration[-1] < 200
    assert stopper.best_score == max(scores)
    first_best = history.iteration[scores.index(max(scores))]
    assert stopper.best_iteration == first_best
    assert all(s <= stopper.best_score for s in scores[scores.index(max(scores)):])
    assert stopper.stopped_iteration - stopper.best_iteration == 3
    _assert_identical(best[first_best], _parameters(model))
    assert np.mean(model.predict(X_val) == y_val) == stopper.best_score


def test_early_stopping_needs_validation_data():
    X, y = _problem()
    with pytest.raises(ValueError, match="validation"):
        nnbcd.BCD().fit(_network(), X, y, 3, callbacks=[nnbcd.EarlyStopping()])
    with pytest.raises(ValueError, match="patience"):
        nnbcd.EarlyStopping(patience=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("network", [_network, _tt_network])
@pytest.mark.parametrize("extrapolation", [False, True])
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path, dtype, network,
                                                                  extrapolation):
    X, y = _problem(dtype)
    trainer = nnbcd.BCD(tau_growth=1.2, extrapolation=extrapolation)
    reference = network(dtype)
    expected = trainer.fit(reference, X, y, 8)

    path = tmp_path / "run.ckpt"
    model = network(dtype)
    with pytest.warns(RuntimeWarning, match="interrupted after iteration 3"):
        partial = trainer.fit(model, X, y, 8, checkpoint=path, checkpoint_every=2,
                              callbacks=[_Interrupt(3)])
    assert partial.iteration == [1, 2, 3] and path.exists()

    resumed_model = network(dtype)  # a fresh process would build the network again
    resumed = trainer.fit(resumed_model, X, y, 8, checkpoint=path)
    assert resumed.iteration == expected.iteration
    assert resumed.objective == expected.objective
    assert resumed.train_accuracy == expected.train_accuracy
    _assert_identical(_parameters(reference), _parameters(resumed_model))
    assert resumed_model.tt_ranks == reference.tt_ranks


class _CtrlCDuringNextStep:
    """A callback that, after iteration ``at``, has SIGINT sent to this process 0.05 s later:
    during the next step, which takes longer, as a user's Ctrl-C would arrive."""

    def __init__(self, at):
        self.at = at

    def __call__(self, state, history):
        if state.iteration == self.at:
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="POSIX signals")
def test_ctrl_c_during_a_step_counts_the_step_and_resumes_identically(tmp_path):
    """The core finishes the step it is in; Python raises KeyboardInterrupt as it returns. The
    checkpoint must hold that step as done, or the resumed run would repeat it."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3000, 200))
    y = rng.integers(0, 3, 3000)

    def network():  # a step of some 0.2 s on one thread
        return nnbcd.MLP([200, 512, 512, 3], seed=3, dtype="float64")

    trainer = nnbcd.BCD(n_threads=1)
    reference = network()
    expected = trainer.fit(reference, X, y, 4)
    path = tmp_path / "run.ckpt"
    # Python's own Ctrl-C handler, as in a terminal (a job started in the background ignores
    # SIGINT, and Python then leaves it ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.warns(RuntimeWarning, match="interrupted after iteration 2"):
            partial = trainer.fit(network(), X, y, 4, checkpoint=path,
                                  callbacks=[_CtrlCDuringNextStep(1)])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert partial.iteration == [1, 2]
    resumed_model = network()
    resumed = trainer.fit(resumed_model, X, y, 4, checkpoint=path)
    assert resumed.objective == expected.objective
    _assert_identical(_parameters(reference), _parameters(resumed_model))


def test_per_layer_weight_decay_resumes_identically(tmp_path):
    X, y = _problem()
    trainer = nnbcd.BCD(weight_decay=[0.0, 0.5, 2.0])
    reference = _network()
    expected = trainer.fit(reference, X, y, 6)
    path = tmp_path / "run.ckpt"
    trainer.fit(_network(), X, y, 3, checkpoint=path)
    with pytest.raises(ValueError, match=r"different trainer settings .*'weight_decay'"):
        nnbcd.BCD(weight_decay=[0.0, 0.5, 1.0]).fit(_network(), X, y, 6, checkpoint=path)
    resumed_model = _network()
    resumed = trainer.fit(resumed_model, X, y, 6, checkpoint=path)
    assert resumed.objective == expected.objective
    _assert_identical(_parameters(reference), _parameters(resumed_model))


def _weight_decay_from_iteration_2(state, history):
    if state.iteration == 2:
        state.weight_decay = [0.0, 0.5, 2.0]


def test_weight_decay_set_during_the_run_resumes_identically(tmp_path):
    X, y = _problem()
    trainer = nnbcd.BCD(extrapolation=True)
    reference = _network()
    expected = trainer.fit(reference, X, y, 6, callbacks=[_weight_decay_from_iteration_2])
    path = tmp_path / "run.ckpt"
    with pytest.warns(RuntimeWarning, match="interrupted after iteration 3"):
        trainer.fit(_network(), X, y, 6, checkpoint=path, checkpoint_every=3,
                    callbacks=[_weight_decay_from_iteration_2, _Interrupt(3)])
    resumed_model = _network()
    resumed = trainer.fit(resumed_model, X, y, 6, checkpoint=path)  # λ comes from the file
    assert resumed.objective == expected.objective
    _assert_identical(_parameters(reference), _parameters(resumed_model))
    without = _network()
    trainer.fit(without, X, y, 6)
    assert not np.array_equal(without.weights[2], reference.weights[2])


def test_convnet_resumes_identically(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 8, 8, 1))
    y = rng.integers(0, 3, 60)

    def convnet():
        return nnbcd.ConvNet(input_shape=(8, 8, 1), filters=4, kernel=3, stride=1, hidden=(16,),
                             n_classes=3, compression=[None, nnbcd.Pruned(0.8), None],
                             seed=1, dtype="float64")

    reference = convnet()
    nnbcd.BCD().fit(reference, X, y, 5)
    path = tmp_path / "cnn.ckpt"
    with pytest.warns(RuntimeWarning, match="interrupted"):
        nnbcd.BCD().fit(convnet(), X, y, 5, checkpoint=path, callbacks=[_Interrupt(2)])
    resumed = convnet()
    nnbcd.BCD().fit(resumed, X, y, 5, checkpoint=path)
    _assert_identical(_parameters(reference), _parameters(resumed))


def test_checkpoint_is_written_periodically_and_at_the_end(tmp_path):
    X, y = _problem()
    path = tmp_path / "run.ckpt"
    written = []

    def watch(state, history):
        written.append(path.exists())

    nnbcd.BCD().fit(_network(), X, y, 5, checkpoint=path, checkpoint_every=2,
                    callbacks=[watch])
    # Callbacks run before the save of their iteration: the file appears after iteration 2.
    assert written == [False, False, True, True, True]
    model = _network()
    history = nnbcd.BCD().fit(model, X, y, 5, checkpoint=path)  # already complete: no step
    assert history.iteration == [1, 2, 3, 4, 5]


def test_resume_refuses_other_data_settings_network_or_files(tmp_path):
    X, y = _problem()
    path = tmp_path / "run.ckpt"
    nnbcd.BCD().fit(_network(), X, y, 2, checkpoint=path)
    with pytest.raises(ValueError, match="different training data"):
        nnbcd.BCD().fit(_network(), X + 1, y, 4, checkpoint=path)
    with pytest.raises(ValueError, match=r"different trainer settings .*'rho'"):
        nnbcd.BCD(rho=2.0).fit(_network(), X, y, 4, checkpoint=path)
    other = nnbcd.MLP([16, 32, 32, 3], seed=3, dtype="float64")
    with pytest.raises(ValueError, match=r"different network .*'layers'"):
        nnbcd.BCD().fit(other, X, y, 4, checkpoint=path)

    model_file = tmp_path / "model.safetensors"
    _network().save(model_file)
    with pytest.raises(nnbcd.ModelFileError, match="not an nnbcd checkpoint"):
        nnbcd.BCD().fit(_network(), X, y, 4, checkpoint=model_file)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(nnbcd.ModelFileError, match="checksum"):
        nnbcd.BCD().fit(_network(), X, y, 4, checkpoint=corrupt)
    with pytest.raises(nnbcd.ModelFileError):
        nnbcd.load(path)  # a checkpoint is not a model file
