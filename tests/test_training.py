"""The public training API: determinism, dtypes, threads, accuracy, callbacks."""

import time

import numpy as np
import pytest

import nnbcd


def train(X, y, sizes, dtype="float64", iterations=10, n_threads=0, seed=3, **kwargs):
    model = nnbcd.MLP(sizes, seed=seed, dtype=dtype)
    history = nnbcd.BCD(1.0, 1.0, 1.0, n_threads=n_threads, **kwargs).fit(model, X, y, iterations)
    return model, history


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_same_seed_gives_bit_identical_results(small_problem, dtype, n_threads):
    X, y = small_problem
    a, history_a = train(X, y, [5, 16, 8, 3], dtype, n_threads=n_threads)
    b, history_b = train(X, y, [5, 16, 8, 3], dtype, n_threads=n_threads)
    for Wa, Wb in zip(a.weights + a.biases, b.weights + b.biases):
        assert Wa.dtype == np.dtype(dtype)
        assert np.array_equal(Wa, Wb)
    assert history_a.objective == history_b.objective


def test_different_seeds_differ(small_problem):
    X, y = small_problem
    a, _ = train(X, y, [5, 16, 3], seed=1, iterations=1)
    b, _ = train(X, y, [5, 16, 3], seed=2, iterations=1)
    assert not np.array_equal(a.weights[0], b.weights[0])


@pytest.mark.parametrize("n_samples", [60, 3000])  # 3000: products split over the samples
def test_thread_counts_agree_to_rounding(n_samples):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n_samples, 5)), rng.integers(0, 3, n_samples)
    one, _ = train(X, y, [5, 64, 32, 3], n_threads=1)
    two, _ = train(X, y, [5, 64, 32, 3], n_threads=2)
    for W1, W2 in zip(one.weights, two.weights):
        np.testing.assert_allclose(W1, W2, rtol=1e-9, atol=1e-11)


def test_float32_follows_float64(small_problem):
    X, y = small_problem
    single, h32 = train(X, y, [5, 16, 3], "float32", iterations=5)
    double, h64 = train(X, y, [5, 16, 3], "float64", iterations=5)
    for W32, W64 in zip(single.weights, double.weights):
        np.testing.assert_allclose(W32, W64, rtol=1e-3, atol=1e-4)
    assert h32.objective[-1]["total"] == pytest.approx(h64.objective[-1]["total"], rel=1e-3)


def test_forward_pass_matches_numpy(small_problem):
    X, _ = small_problem
    model = nnbcd.MLP([5, 7, 6, 4], seed=1, dtype="float64")
    for b in model.biases:
        b[...] = np.random.default_rng(2).standard_normal(b.shape)
    H = X
    for i, (W, b) in enumerate(zip(model.weights, model.biases)):
        H = H @ W.T + b
        if i < model.n_layers - 1:
            H = np.maximum(H, 0)
    np.testing.assert_allclose(model.decision_function(X), H, rtol=1e-12)
    assert np.array_equal(model.predict(X), H.argmax(axis=1))


# A network per inference product (each the product of one of its layers), and one whose
# layers are too small for a GEMM.
INFERENCE_PLANS = {
    "tiny layers": ("dense", lambda dtype: nnbcd.MLP([2, 3, 1], seed=0, dtype=dtype)),
    "dense": ("dense", lambda dtype: nnbcd.MLP([64, 256, 10], seed=0, dtype=dtype)),
    "sparse": ("sparse", lambda dtype: nnbcd.MLP(
        [64, 256, 128, 10], seed=0, dtype=dtype,
        compression=[nnbcd.Pruned(0.9), nnbcd.Pruned(0.3), None])),
    "tt_factors": ("tt_factors", lambda dtype: nnbcd.MLP(
        [64, 256, 256, 10], seed=0, dtype=dtype, compression=[None, nnbcd.TensorTrain(8), None])),
    "tt_cores": ("tt_cores", lambda dtype: nnbcd.MLP(
        [64, 1024, 1024, 10], seed=0, dtype=dtype,
        compression=[None, nnbcd.TensorTrain(4, shape=((4,) * 5, (4,) * 5), layout="matrix"),
                     None])),
    "convolution": ("sparse", lambda dtype: nnbcd.ConvNet(
        input_shape=(8, 8, 1), filters=8, kernel=3, stride=1, hidden=(64,), n_classes=10,
        seed=0, dtype=dtype, compression=[None, nnbcd.Pruned(0.7), None])),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("network", INFERENCE_PLANS)
def test_a_sample_is_predicted_as_in_any_batch(network, dtype):
    """Bit for bit, whatever the batch size and the thread count: a matrix-vector product for
    one sample and a GEMM for many would sum in different orders (batch_product.hpp)."""
    product, build = INFERENCE_PLANS[network]
    model = build(dtype)
    assert product in model.inference_plan()
    X = np.random.default_rng(1).standard_normal((100, model.sizes[0])).astype(dtype)
    batch = model.decision_function(X, 1)
    for n_threads in (1, 2):
        assert np.array_equal(model.decision_function(X, n_threads), batch)
        for size in (1, 3, 8, 9, 17):
            parts = [model.decision_function(X[i:i + size], n_threads)
                     for i in range(0, len(X), size)]
            assert np.array_equal(np.vstack(parts), batch), (n_threads, size)


def test_weights_are_live_views():
    model = nnbcd.MLP([3, 2], seed=0, dtype="float64")
    model.weights[0][...] = [[1, 0, 0], [0, 1, 0]]
    model.biases[0][...] = [0.5, -0.5]
    np.testing.assert_allclose(model.decision_function([[2.0, 3.0, 4.0]]), [[2.5, 2.5]])


def test_initialisation_scale():
    model = nnbcd.MLP([400, 300, 10], seed=0, init="kaiming_normal", init_scale=2.0)
    assert model.weights[0].std() == pytest.approx(2.0 * np.sqrt(2 / 400), rel=0.02)
    assert all((b == 0).all() for b in model.biases)
    uniform = nnbcd.MLP([400, 300, 10], seed=0, init="xavier_uniform")
    assert np.abs(uniform.weights[0]).max() <= np.sqrt(6 / 700) + 1e-6
    fixed = nnbcd.MLP([400, 300, 10], seed=0, init="normal", init_scale=0.01)  # whatever the fan-in
    for W in fixed.weights:
        assert W.std() == pytest.approx(0.01, rel=0.05)


def test_frozen_biases_stay_zero(small_problem):
    X, y = small_problem
    model, _ = train(X, y, [5, 16, 3], train_bias=False)
    assert all((b == 0).all() for b in model.biases)
    trained, _ = train(X, y, [5, 16, 3])
    assert any((b != 0).any() for b in trained.biases)


def test_history_records_every_iteration(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    model = nnbcd.MLP([64, 32, 10], seed=0)
    history = nnbcd.BCD(n_threads=1).fit(model, X_train, y_train, 6,
                                         validation=(X_test, y_test), eval_every=2)
    assert len(history) == 6 and history.iteration == [1, 2, 3, 4, 5, 6]
    assert history.train_accuracy[0] is None and history.train_accuracy[1] is not None
    assert history.validation_accuracy[-1] == pytest.approx(
        np.mean(model.predict(X_test) == y_test))
    terms = {"total", "loss", "activation", "linear", "compression", "weight_decay"}
    assert all(set(o) == terms for o in history.objective)
    assert all(s > 0 for s in history.seconds)
    rows = list(history.rows())
    assert rows[-1]["objective_total"] == history.objective[-1]["total"]


def test_callback_stops_training(small_problem):
    X, y = small_problem
    model = nnbcd.MLP([5, 8, 3])
    seen = []

    def stop_at_three(state, history):
        seen.append(state.iteration)
        return state.iteration == 3

    history = nnbcd.BCD().fit(model, X, y, 10, callbacks=[stop_at_three])
    assert seen == [1, 2, 3] and len(history) == 3


def test_regression_targets(small_problem):
    X, _ = small_problem
    rng = np.random.default_rng(5)
    Y = np.tanh(X @ rng.standard_normal((5, 2)))
    model = nnbcd.MLP([5, 32, 2], seed=0, dtype="float64")
    history = nnbcd.BCD(n_threads=1).fit(model, X, Y, 30)
    assert history.train_accuracy[-1] is None
    error = np.mean((model.decision_function(X) - Y) ** 2)
    assert error < 0.2 * np.mean(Y ** 2)


def test_dense_mlp_learns_digits(digits_split):
    """Issue #2: a dense MLP reaches >= 0.95 test accuracy within 200 iterations."""
    X_train, X_test, y_train, y_test = digits_split
    model = nnbcd.MLP([64, 256, 10], seed=0)
    trainer = nnbcd.BCD(gamma=1, rho=1, alpha=1, weight_decay=0.003 * len(X_train))
    trainer.fit(model, X_train, y_train, 200)
    assert np.mean(model.predict(X_test) == y_test) >= 0.95


def test_two_models_train_concurrently(small_problem):
    from concurrent.futures import ThreadPoolExecutor

    X, y = small_problem
    serial = [train(X, y, [5, 32, 3], n_threads=1, seed=s)[0].weights[0] for s in (1, 2)]
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(train, X, y, [5, 32, 3], n_threads=1, seed=s) for s in (1, 2)]
        parallel = [f.result()[0].weights[0] for f in futures]
    for a, b in zip(serial, parallel):
        assert np.array_equal(a, b)


def test_every_compiled_cpu_variant_gives_the_same_result(tmp_path):
    """Each instruction-set build of the core trains the same network, and its sparse and
    dense inference kernels give the same outputs (to rounding)."""
    import os
    import subprocess
    import sys

    from nnbcd import _native

    script = (
        "import sys, numpy as np, nnbcd\n"
        "rng = np.random.default_rng(0)\n"
        "X, y = rng.standard_normal((80, 6)), rng.integers(0, 3, 80)\n"
        "model = nnbcd.MLP([6, 40, 20, 3], seed=1, dtype='float64',\n"
        "                  compression=[None, nnbcd.Pruned(0.9), None])\n"
        "nnbcd.BCD(n_threads=1).fit(model, X, y, 5)\n"
        "assert model.inference_plan()[1] == 'sparse'\n"
        "outputs = [W.ravel() for W in model.weights] + [model.decision_function(X).ravel()]\n"
        "assert all(np.array_equal(model.decision_function(X[i:i + 1]).ravel(),\n"
        "                          outputs[-1][3 * i:3 * i + 3])\n"
        "           for i in range(len(X)))  # a sample as in its batch, in every build\n"
        "np.save(sys.argv[1], np.concatenate(outputs))\n"
        "print(nnbcd.cpu_variant)\n"
    )
    results = {}
    for variant in _native._compiled:
        if not _native._probe.cpu_supports(variant):
            continue
        out = tmp_path / f"{variant}.npy"
        env = dict(os.environ, NNBCD_CPU_VARIANT=variant)
        printed = subprocess.run([sys.executable, "-c", script, str(out)], env=env, check=True,
                                 capture_output=True, text=True).stdout.strip()
        assert printed == variant
        results[variant] = np.load(out)
    reference = results.pop("baseline")
    for weights in results.values():
        np.testing.assert_allclose(weights, reference, rtol=1e-10, atol=1e-12)


def test_block_seconds_account_for_the_steps(small_problem):
    X, y = small_problem
    model = nnbcd.MLP([5, 64, 32, 3], seed=0, compression=[nnbcd.Pruned(0.5), None, None])
    state = nnbcd.BCD(tau=1.0).start(model, X, y)
    assert set(state.block_seconds()) == {"V", "U", "W", "G", "snapshot", "objective",
                                          "extrapolation"}
    assert all(seconds == 0 for seconds in state.block_seconds().values())
    started = time.perf_counter()
    for _ in range(5):
        state.step()
    elapsed = time.perf_counter() - started
    blocks = state.block_seconds()
    assert all(blocks[k] > 0 for k in ("V", "U", "W", "G", "snapshot"))
    assert blocks["objective"] == blocks["extrapolation"] == 0  # never asked for
    assert sum(blocks.values()) <= elapsed
    state.objective()
    assert state.block_seconds()["objective"] > 0

    extrapolated = nnbcd.BCD(tau=1.0, extrapolation=True).start(model, X, y)
    started = time.perf_counter()
    for _ in range(5):
        extrapolated.step()
    elapsed = time.perf_counter() - started
    blocks = extrapolated.block_seconds()
    assert blocks["extrapolation"] > 0 and blocks["objective"] == 0  # its Φ are its own
    assert sum(blocks.values()) <= elapsed
