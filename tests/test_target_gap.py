"""τ driven by the run (``BCD(target_gap=g)``): after each iteration τ is multiplied by
``tau_growth`` where some compressed layer's ||W_i − G_i|| / ||W_i|| exceeds g, divided by it
where every layer's is below g/2, and kept otherwise (at most ``tau_max``, never below the τ
the run started from).

Checked here: every step's τ against the rule applied to the gaps measured in numpy from the
model's W_i and G_i, with all three branches and the floor taken; setting τ moves the floor;
``target_gap=0`` is the fixed schedule; bad values are refused by name; a checkpointed run
continues exactly."""

import numpy as np
import pytest

import nnbcd


def _problem(n=200, d=16, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.argmax(X[:, :classes] + 0.3 * X[:, classes:2 * classes], axis=1)
    return X, y


def _network(seed=0):
    return nnbcd.MLP([16, 32, 32, 4], compression=[nnbcd.TensorTrain(3), nnbcd.TensorTrain(3),
                                                     None], dtype="float64", seed=seed)


def _largest_gap(model):
    return max(np.linalg.norm(W - G) / np.linalg.norm(W)
               for W, G in zip(model.weights, model.compressed_weights) if G is not None)


def _follow(state, steps, target, growth, tau_max, floor):
    """Step ``state``, checking each new τ against the rule; the set of branches taken."""
    branches = set()
    for _ in range(steps):
        tau = state.tau
        state.step()
        gap = _largest_gap(state.model)
        if gap > target:
            expected, branch = min(tau * growth, tau_max), "grow"
        elif gap < target / 2:
            expected = max(tau / growth, floor)
            branch = "shrink" if expected < tau else "floor"
        else:
            expected, branch = tau, "keep"
        assert state.tau == pytest.approx(expected, rel=1e-12), (gap, tau, state.tau)
        assert state.tau >= floor
        branches.add(branch)
    return branches


def test_tau_follows_the_measured_gap():
    X, y = _problem()
    target, growth = 0.05, 1.5
    state = nnbcd.BCD(tau=300.0, tau_growth=growth, tau_max=1e4, target_gap=target,
                      gamma=5, rho=5, n_threads=1).start(_network(), X, y)
    assert _follow(state, 60, target, growth, 1e4, floor=300.0) == {"grow", "shrink", "keep",
                                                                   "floor"}


def test_setting_tau_moves_its_floor():
    X, y = _problem()
    target, growth = 0.05, 1.5
    state = nnbcd.BCD(tau=1000.0, tau_growth=growth, tau_max=1e4, target_gap=target,
                      gamma=5, rho=5, n_threads=1).start(_network(), X, y)
    _follow(state, 40, target, growth, 1e4, floor=1000.0)
    state.tau = 300.0  # the schedule restarts from here: τ may now fall below 1000
    assert _follow(state, 40, target, growth, 1e4, floor=300.0) & {"shrink", "floor"}
    assert state.tau < 1000.0


def test_zero_target_gap_is_the_fixed_schedule():
    X, y = _problem()
    state = nnbcd.BCD(tau=0.5, tau_growth=1.3, tau_max=2.0, n_threads=1).start(_network(), X, y)
    taus = []
    for _ in range(8):
        state.step()
        taus.append(state.tau)
    assert taus == pytest.approx([min(0.5 * 1.3 ** k, 2.0) for k in range(1, 9)], rel=1e-12)


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), "big"])
def test_bad_target_gap_is_refused_by_name(value):
    with pytest.raises((ValueError, TypeError), match="target_gap"):
        nnbcd.BCD(target_gap=value)


def test_a_checkpointed_run_continues_exactly(tmp_path):
    X, y = _problem()
    trainer = nnbcd.BCD(tau=1e-3, tau_growth=1.5, target_gap=0.05, gamma=5, rho=5,
                        extrapolation=True, n_threads=1)
    straight = trainer.start(_network(), X, y)
    for _ in range(12):
        straight.step()

    first = trainer.start(_network(), X, y)
    for _ in range(6):
        first.step()
    path = tmp_path / "run.ckpt"
    first.save_checkpoint(path)
    resumed = trainer.start(_network(), X, y)
    nnbcd.checkpoint.restore_checkpoint(resumed, path)
    for _ in range(6):
        resumed.step()
    assert resumed.tau == straight.tau
    for a, b in zip(resumed.model.weights, straight.model.weights):
        np.testing.assert_array_equal(a, b)
