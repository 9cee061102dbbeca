"""Tensor-train compression: TT-SVD against numpy and tensorly, TT layers, their accounting,
inference through the cores, the training options, and bad specs."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

import nnbcd  # noqa: E402
from nnbcd import ops  # noqa: E402

tl = pytest.importorskip("tensorly")
from tensorly.decomposition import tensor_train  # noqa: E402


def _random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _low_rank_plus_noise(shape, rank, noise, seed=0):
    """A tensor of TT-ranks <= rank plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    ranks = [1] + [rank] * (len(shape) - 1) + [1]
    cores = [rng.standard_normal((ranks[k], n, ranks[k + 1])) for k, n in enumerate(shape)]
    return oracle.tt_to_full(cores) + noise * rng.standard_normal(shape)


def _smooth(shape):
    """Samples of 1 / (1 + i_1 + ... + i_d): fast-decaying TT spectrum."""
    grids = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")
    return 1.0 / (1.0 + sum(grids))


def _clustered_singular_values(shape, seed=0):
    """One unfolding with singular values 1, 1 + 1e-4, 1 + 2e-4, ...: a single tight cluster
    (the hardest case for a solver that finds only the leading eigenvectors) that still has a
    unique best subspace at every rank."""
    split = len(shape) // 2
    rows, cols = int(np.prod(shape[:split])), int(np.prod(shape[split:]))
    rng = np.random.default_rng(seed)
    k = min(rows, cols)
    U, _ = np.linalg.qr(rng.standard_normal((rows, k)))
    V, _ = np.linalg.qr(rng.standard_normal((cols, k)))
    return ((U * (1 + 1e-4 * np.arange(k))) @ V.T).reshape(shape)


def _error(A, cores):
    return np.linalg.norm(tl.tt_to_tensor([np.asarray(c, np.float64) for c in cores]) - A)


SHAPES = [(4,) * 6, (6, 5, 7), (2, 3, 4, 5), (3, 11, 17, 4, 4), (40, 3)]
TENSORS = {
    "random": lambda shape: _random(shape),
    "low rank + noise": lambda shape: _low_rank_plus_noise(shape, 3, 1e-3),
    "smooth": _smooth,
    "clustered singular values": _clustered_singular_values,
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_full_rank_reconstructs_exactly(shape, dtype, tol):
    A = _random(shape).astype(dtype)
    cores = ops.tt_svd(A, max_rank=10**6)
    assert all(c.dtype == dtype for c in cores)
    full = ops.tt_to_full(cores)
    assert full.shape == A.shape
    assert np.linalg.norm(full - A) <= tol * np.linalg.norm(A)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", sorted(TENSORS))
@pytest.mark.parametrize("rank", [1, 2, 5])
def test_matches_tensorly(shape, kind, rank):
    A = TENSORS[kind](shape)
    cores = ops.tt_svd(A, rank)
    reference = tensor_train(A, rank).factors
    assert [c.shape for c in cores] == [f.shape for f in reference]
    assert _error(A, cores) <= 1.01 * _error(A, reference) + 1e-12 * np.linalg.norm(A)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", sorted(TENSORS))
def test_error_is_the_discarded_spectrum(shape, kind):
    """‖A − Â‖² ≤ Σ over the sweep of the discarded squared singular values (with equality for
    left-orthonormal cores), the singular values taken by numpy's SVD."""
    A = TENSORS[kind](shape)
    _, discarded = oracle.tt_svd(A, 3)
    cores = ops.tt_svd(A, 3)
    bound = sum(discarded)
    assert _error(A, cores) ** 2 <= bound * (1 + 1e-6) + 1e-20 * np.sum(A**2)
    for core in cores[:-1]:  # left-orthonormal
        U = core.reshape(-1, core.shape[2])
        np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-10)


def test_benchmark_case_attains_the_discarded_spectrum():
    """1024 x 1024 as (4,)*10 at rank 80: the sizes where only 80 of 256 or 320 eigenvectors of
    each Gram matrix are computed."""
    A = _random((4,) * 10, seed=1)
    _, discarded = oracle.tt_svd(A, 80)
    cores = ops.tt_svd(A, 80)
    assert [c.shape[2] for c in cores] == [4, 16, 64, 80, 80, 80, 64, 16, 4, 1]
    assert _error(A, cores) ** 2 <= sum(discarded) * (1 + 1e-9)
    for core in cores[:-1]:
        U = core.reshape(-1, core.shape[2])
        np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-10)


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_extreme_magnitudes_do_not_underflow_or_overflow(scale):
    A = _low_rank_plus_noise((4,) * 6, 3, 1e-3)
    relative = _error(A, ops.tt_svd(A, 3)) / np.linalg.norm(A)
    scaled = [np.asarray(c) for c in ops.tt_svd(A * scale, 3)]
    assert all(np.isfinite(c).all() for c in scaled)
    assert _error(A * scale, scaled) / np.linalg.norm(A * scale) == pytest.approx(relative,
                                                                                   rel=1e-6)


@pytest.mark.parametrize("tol", [1e-1, 1e-2, 1e-4])
def test_tolerance_bounds_the_relative_error(tol):
    A = _smooth((4,) * 6)
    cores = ops.tt_svd(A, 1000, tol=tol)
    assert _error(A, cores) <= tol * np.linalg.norm(A) * (1 + 1e-9)
    exact = ops.tt_svd(A, 1000)
    assert sum(c.size for c in cores) < sum(c.size for c in exact)


def test_float32_input_keeps_float64_accuracy_of_the_subspaces():
    A = _low_rank_plus_noise((4,) * 6, 3, 1e-3).astype(np.float32)
    cores = ops.tt_svd(A, 3)
    reference = tensor_train(A.astype(np.float64), 3).factors
    assert _error(A.astype(np.float64), cores) <= 1.01 * _error(A.astype(np.float64), reference)


def test_tt_to_full_agrees_with_tensorly():
    rng = np.random.default_rng(3)
    ranks = [1, 3, 5, 2, 1]
    cores = [rng.standard_normal((ranks[k], n, ranks[k + 1])) for k, n in enumerate((4, 6, 3, 5))]
    np.testing.assert_allclose(ops.tt_to_full(cores), tl.tt_to_tensor(cores), rtol=1e-12,
                               atol=1e-12)


# ---------------------------------------------------------------- TT layers in a network


def _tt_model(layout="reshape", shape=None, rank=4, sizes=(24, 32, 16, 3), dtype="float64",
              **spec):
    compression = [nnbcd.TensorTrain(rank, shape=shape, layout=layout, **spec),
                   nnbcd.TensorTrain(rank, layout=layout, **spec), None]
    return nnbcd.MLP(list(sizes), compression=compression, seed=1, dtype=dtype)


def _deinterleave(full, rows, cols):
    """The TT-matrix tensor (i_1 j_1, ..., i_d j_d) back to the (d_out, d_in) matrix."""
    d = len(rows)
    t = full.reshape([x for pair in zip(rows, cols) for x in pair])
    t = t.transpose(list(range(0, 2 * d, 2)) + list(range(1, 2 * d, 2)))
    return t.reshape(int(np.prod(rows)), int(np.prod(cols)))


def test_reshape_layer_is_the_tt_svd_of_w():
    model = _tt_model()
    assert model.compression[0].format_for(32, 24) == (2, 4, 4, 2, 4, 3)  # default modes
    for W, G, cores in zip(model.weights[:2], model.compressed_weights[:2], model.tt_cores[:2]):
        reference, _ = oracle.tt_svd(W.reshape([c.shape[1] for c in cores]), 4)
        assert [c.shape for c in cores] == [c.shape for c in reference]
        np.testing.assert_allclose(G, tl.tt_to_tensor(cores).reshape(W.shape), atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(W - G),
                                   np.linalg.norm(W - oracle.tt_to_full(reference).reshape(W.shape)),
                                   rtol=1e-9)
    assert model.tt_ranks[0] == [1, 2, 4, 4, 4, 3, 1] and model.tt_ranks[2] is None


def test_matrix_layout_is_the_interleaved_tt_svd():
    rows, cols = (4, 4, 2), (3, 2, 4)
    model = _tt_model("matrix", (rows, cols))
    W, G, cores = model.weights[0], model.compressed_weights[0], model.tt_cores[0]
    assert [c.shape[1] for c in cores] == [12, 8, 8]
    tensor = W.reshape(rows + cols).transpose(0, 3, 1, 4, 2, 5).reshape(12, 8, 8)
    reference, _ = oracle.tt_svd(tensor, 4)
    np.testing.assert_allclose(G, _deinterleave(tl.tt_to_tensor(cores), rows, cols), atol=1e-12)
    np.testing.assert_allclose(
        np.linalg.norm(W - G),
        np.linalg.norm(W - _deinterleave(oracle.tt_to_full(reference), rows, cols)), rtol=1e-9)


@pytest.mark.parametrize("layout,shape,plan", [
    ("reshape", None, "tt_factors"),
    ("matrix", ((4, 4, 4, 4), (4, 4, 4, 4)), "tt_cores"),
    ("reshape", (8, 8, 1024), "dense"),  # no split of the modes into rows and columns
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inference_through_the_cores_equals_the_dense_product(layout, shape, plan, dtype):
    model = _tt_model(layout, shape, rank=2, sizes=(256, 256, 16, 3), dtype=dtype)
    assert model.inference_plan()[0] == plan
    X = _random((100, 256), 5)
    expected = oracle.forward([G.astype(np.float64) for G in model.deployed_weights],
                              [b.astype(np.float64) for b in model.biases], X.T)[1][-1].T
    rtol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(model.decision_function(X), expected, rtol=rtol,
                               atol=rtol * np.abs(expected).max())


def test_accounting_counts_the_cores():
    model = _tt_model(rank=3)
    cores = model.tt_cores
    stored = [sum(c.size for c in cores[0]), sum(c.size for c in cores[1]), 16 * 3]
    dense = [32 * 24, 16 * 32, 16 * 3]
    biases = [32, 16, 3]
    assert model.parameter_count == sum(stored) + sum(biases)
    assert model.dense_parameter_count == sum(dense) + sum(biases)
    assert model.compression_ratio == pytest.approx(model.parameter_count
                                                    / model.dense_parameter_count)
    assert model.layer_compression_ratios == pytest.approx(
        [(s + b) / (d + b) for s, d, b in zip(stored, dense, biases)])


def test_phi_is_monotone_with_tt_layers_at_fixed_tau(small_problem):
    """At fixed τ every block, G included, never raises Φ: the G-step keeps the previous G
    when a fresh TT-SVD (only quasi-optimal) would land farther from W."""
    X, y = small_problem
    model = nnbcd.MLP([5, 16, 16, 3], dtype="float64", seed=2,
                      compression=[nnbcd.TensorTrain(2), nnbcd.TensorTrain(2), None])
    state = nnbcd.BCD(tau=5.0, tau_growth=1.0, alpha=0.5, n_threads=1).start(model, X, y)
    phi = [state.objective()["total"]]
    for _ in range(40):
        state.step()
        phi.append(state.objective()["total"])
    assert phi[-1] < 0.5 * phi[0]
    assert max(b - a for a, b in zip(phi, phi[1:])) <= 1e-10 * phi[0]
    assert state.objective()["compression"] > 0


def test_rank_annealing(small_problem):
    X, y = small_problem
    model = nnbcd.MLP([5, 16, 16, 3], dtype="float64",
                      compression=[None, nnbcd.TensorTrain(2, initial_rank=6,
                                                            anneal_iterations=4), None])
    assert max(model.tt_ranks[1]) == 2  # outside training: the final rank
    state = nnbcd.BCD().start(model, X, y)
    seen = [max(model.tt_ranks[1])]
    for _ in range(5):
        state.step()
        seen.append(max(model.tt_ranks[1]))
    assert seen == [6, 5, 4, 3, 2, 2]


def test_dense_warm_start_trains_w_like_a_dense_network(small_problem):
    X, y = small_problem
    spec = [None, nnbcd.TensorTrain(2), None]
    compressed = nnbcd.MLP([5, 16, 16, 3], compression=spec, dtype="float64", seed=4)
    dense = nnbcd.MLP([5, 16, 16, 3], dtype="float64", seed=4)
    trainer = nnbcd.BCD(tau=3.0, dense_iterations=3)
    state, reference = trainer.start(compressed, X, y), trainer.start(dense, X, y)
    for _ in range(3):
        assert state.tau == 0.0
        state.step()
        reference.step()
    np.testing.assert_allclose(compressed.weights[1], dense.weights[1], rtol=1e-12)
    assert state.tau == 3.0
    state.step()
    reference.step()
    assert np.abs(compressed.weights[1] - dense.weights[1]).max() > 1e-6


def test_tt_network_learns_digits(digits_split):
    """All hidden layers TT-compressed to a whole-network CR <= 0.3: the deployed network
    (predicting with G) reaches >= 0.93 test accuracy."""
    X_train, X_test, y_train, y_test = digits_split
    clf = nnbcd.NNBCDClassifier(hidden_layer_sizes=(256, 256), compression="tt", tt_rank=24,
                                random_state=0).fit(X_train, y_train)
    assert clf.model_.compression_ratio <= 0.3
    assert all(max(r) <= 24 for r in clf.model_.tt_ranks[:2])
    assert clf.score(X_test, y_test) >= 0.93


@pytest.mark.parametrize("kwargs,match", [
    (dict(rank=0), "rank must be >= 1"),
    (dict(rank=2.5), "rank must be an integer"),
    (dict(rank=2, tol=-0.1), "tol"),
    (dict(rank=2, layout="interleaved"), "layout must be one of"),
    (dict(rank=2, shape=(4, 0, 2)), "ints >= 1"),
    (dict(rank=2, layout="matrix", shape=((4, 8), (24,))), "equally long"),
    (dict(rank=2, layout="matrix", shape=(4, 8)), "pair"),
    (dict(rank=2, initial_rank=0), "initial_rank must be >= 1"),
])
def test_bad_specs(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nnbcd.TensorTrain(**kwargs)


@pytest.mark.parametrize("spec,match", [
    (nnbcd.TensorTrain(2, shape=(4, 4, 4)), r"compression\[0\]: TensorTrain shape \(4, 4, 4\) "
                                            r"multiplies to 64, but the layer is 32 x 24"),
    (nnbcd.TensorTrain(2, layout="matrix", shape=((4, 4), (4, 6))), r"compression\[0\]: .*row "
                                                                     "modes must multiply"),
])
def test_shapes_that_do_not_fit_the_layer(spec, match):
    with pytest.raises(ValueError, match=match):
        nnbcd.MLP([24, 32, 3], compression=[spec, None])


def test_bad_arrays_for_the_ops():
    with pytest.raises(ValueError, match="NaN"):
        ops.tt_svd(np.full((4, 4), np.nan), 2)
    with pytest.raises(ValueError, match="max_rank must be >= 1"):
        ops.tt_svd(np.ones((4, 4)), 0)
    with pytest.raises(ValueError, match="tol must be"):
        ops.tt_svd(np.ones((4, 4)), 2, tol=-1.0)
    with pytest.raises(ValueError, match="non-empty"):
        ops.tt_svd(np.ones((0, 4)), 2)
    with pytest.raises(ValueError, match=r"cores\[1\] has r_prev = 3"):
        ops.tt_to_full([np.ones((1, 4, 2)), np.ones((3, 4, 1))])
    with pytest.raises(ValueError, match="last core must end with rank 1"):
        ops.tt_to_full([np.ones((1, 4, 2)), np.ones((2, 4, 2))])
    with pytest.raises(TypeError, match="non-empty list"):
        ops.tt_to_full(np.ones((1, 4, 1)))
