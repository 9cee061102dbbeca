"""The convolutional first layer: im2col and the forward pass against a direct convolution, the
convolution's block updates against numpy solutions of their subproblems, the Woodbury V-update
into the wide layer after it, monotone Φ, learning digits, and bad input."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

import nnbcd  # noqa: E402
from nnbcd import ops  # noqa: E402


def direct_convolution(images, filters, stride):
    """Feature maps (n, out_h, out_w, S) of images (n, H, W, C) and filters (S, k, k, C),
    summed kernel offset by kernel offset: no patches."""
    n, height, width, _ = images.shape
    S, k = filters.shape[0], filters.shape[1]
    out_h, out_w = (height - k) // stride + 1, (width - k) // stride + 1
    out = np.zeros((n, out_h, out_w, S))
    for ky in range(k):
        for kx in range(k):
            window = images[:, ky:ky + stride * (out_h - 1) + 1:stride,
                            kx:kx + stride * (out_w - 1) + 1:stride, :]
            out += window @ filters[:, ky, kx, :].T
    return out


GEOMETRIES = [  # (height, width, channels, kernel, stride)
    (8, 8, 1, 3, 1), (9, 7, 3, 2, 2), (28, 28, 1, 3, 2), (5, 6, 2, 5, 1), (10, 10, 4, 3, 3)]


@pytest.mark.parametrize("height,width,channels,kernel,stride", GEOMETRIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_is_the_direct_convolution(height, width, channels, kernel, stride, dtype):
    rng = np.random.default_rng(0)
    images = rng.standard_normal((3, height, width, channels)).astype(dtype)
    filters = rng.standard_normal((4, kernel, kernel, channels))
    patches = ops.im2col(images, kernel, stride)
    assert patches.dtype == dtype
    maps = (patches.astype(np.float64) @ filters.reshape(4, -1).T).reshape(
        3, (height - kernel) // stride + 1, (width - kernel) // stride + 1, 4)
    np.testing.assert_allclose(maps, direct_convolution(images.astype(np.float64), filters,
                                                        stride), rtol=1e-5, atol=1e-5)


def _numpy_forward(net, images):
    """The ConvNet's output computed with a direct convolution and numpy layers."""
    W, b = net.weights, net.biases
    k = net.kernel
    filters = W[0].reshape(net.filters, k, k, net.input_shape[2])
    maps = np.maximum(direct_convolution(images, filters, net.stride) + b[0], 0)
    h = maps.reshape(len(images), -1)  # flattened HWC
    for i in range(1, len(W)):
        h = h @ W[i].T + b[i]
        if i + 1 < len(W):
            h = np.maximum(h, 0)
    return h


def _small_net(**kwargs):
    args = dict(input_shape=(7, 6, 2), filters=3, kernel=3, stride=2, hidden=(8,), n_classes=4,
                seed=1, dtype="float64")
    args.update(kwargs)
    return nnbcd.ConvNet(**args)


def _images(n=20, shape=(7, 6, 2), seed=2):
    return np.random.default_rng(seed).standard_normal((n, *shape))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_equals_a_direct_convolution_network(dtype):
    net = _small_net(dtype=dtype)
    rng = np.random.default_rng(5)
    for b in net.biases:  # non-zero biases, so their broadcast is checked too
        b[...] = rng.standard_normal(b.shape)
    images = _images()
    expected = _numpy_forward(net, images)
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(net.decision_function(images), expected, rtol=tol, atol=tol)
    # flattened HWC input is the same thing
    np.testing.assert_allclose(net.decision_function(images.reshape(20, -1)), expected,
                               rtol=tol, atol=tol)


def test_shapes_and_accounting():
    net = nnbcd.ConvNet(dtype="float32")  # the paper's CNN
    assert net.feature_map_shape == (13, 13, 32)
    assert net.sizes == [784, 5408, 1024, 1024, 10]
    assert [W.shape for W in net.weights] == [(32, 9), (1024, 5408), (1024, 1024), (10, 1024)]
    assert net.dense_parameter_count == 32 * 9 + 32 + 1024 * 5409 + 1024 * 1025 + 10 * 1025
    assert net.training_bytes(6000) > 4 * 6000 * 3 * (5408 + 2048 + 10) + 4 * 9 * 6000 * 169


def test_convolution_block_updates_solve_their_subproblems():
    """One sweep in float64; the convolution's U, W and b updates each equal the numpy solution
    of their subproblem, written on the patches P (k²C × n·positions): W = filters × k²C and U
    seen as filters × (n·positions)."""
    net = _small_net()
    images, y = _images(), np.arange(20) % 4
    gamma, rho, alpha = 0.7, 1.3, 0.5
    state = nnbcd.BCD(gamma=gamma, rho=rho, alpha=alpha).start(net, images, y)
    before = state.variables()
    state.step()
    after = state.variables()

    P = ops.im2col(images, 3, 2).T
    S = net.filters

    def units(M):  # (positions * S, n) -> (S, n * positions)
        return M.T.reshape(-1, S).T

    # U_1: relu_prox of V_1 (already updated) around the old W_1 P + b_1.
    U_expected = oracle.solve_hidden_u(units(after["V"][0]), P, before["W"][0], before["b"][0],
                                       units(before["U"][0]), rho, gamma, alpha)
    np.testing.assert_allclose(units(after["U"][0]), U_expected, rtol=1e-10, atol=1e-10)
    # W_1: the k²C × k²C system; b_1 with the new W_1.
    W_expected = oracle.solve_weights(units(after["U"][0]), P, before["W"][0], before["b"][0],
                                      rho, alpha)
    np.testing.assert_allclose(after["W"][0], W_expected, rtol=1e-10, atol=1e-10)
    b_expected = oracle.solve_bias(units(after["U"][0]), P, after["W"][0], before["b"][0],
                                   rho, alpha)
    np.testing.assert_allclose(after["b"][0], b_expected, rtol=1e-10, atol=1e-10)
    # V_1 (the feature maps, flattened HWC) against the layer above, as for any hidden layer.
    V_expected = oracle.solve_hidden_v(before["U"][0], after["U"][1], after["W"][1],
                                       after["b"][1], rho, gamma)
    np.testing.assert_allclose(after["V"][0], V_expected, rtol=1e-10, atol=1e-10)


def test_woodbury_and_direct_v_updates_agree_for_a_wide_layer():
    """The V-update into the first fully connected layer of a CNN (d = 5408 ≫ d_next = 1024
    there; here 600 → 40): both forms equal the float64 numpy solution."""
    rng = np.random.default_rng(0)
    d, d_next, n = 600, 40, 30
    U, U_next = rng.standard_normal((d, n)), rng.standard_normal((d_next, n))
    W_next, b_next = rng.standard_normal((d_next, d)) / 20, rng.standard_normal(d_next)
    expected = oracle.solve_hidden_v(U, U_next, W_next, b_next, 1.1, 0.9)
    for form in ("direct", "woodbury", "auto"):
        V = nnbcd.blocks.hidden_v(U, U_next, W_next, b_next, 1.1, 0.9, form=form)
        np.testing.assert_allclose(V, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("compression", [
    None,
    [None, nnbcd.TensorTrain(2, shape=(6, 2, 18)), None, None],
    [nnbcd.Pruned(0.5), nnbcd.Pruned(0.5), None, None],
], ids=["dense", "tt", "pruned"])
def test_phi_is_monotone(compression):
    net = _small_net(hidden=(12, 6), compression=compression)
    images, y = _images(30), np.arange(30) % 4
    state = nnbcd.BCD(tau_growth=1.0).start(net, images, y)
    values = [state.objective()["total"]]
    for _ in range(15):
        state.step()
        values.append(state.objective()["total"])
    assert all(b <= a * (1 + 1e-12) for a, b in zip(values, values[1:])), values
    assert values[-1] < 0.5 * values[0]


def test_small_convnet_learns_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25,
                                                        stratify=y, random_state=0)
    net = nnbcd.ConvNet(input_shape=(8, 8, 1), filters=16, kernel=3, stride=1, hidden=(128,),
                        n_classes=10, seed=0)
    nnbcd.BCD().fit(net, X_train.reshape(-1, 8, 8), y_train, 40)
    assert np.mean(net.predict(X_test.reshape(-1, 8, 8)) == y_test) >= 0.9


def test_pruned_convolution_is_accounted():
    net = _small_net(compression=[nnbcd.Pruned(0.5), None, None])
    assert np.count_nonzero(net.deployed_weights[0]) == 27  # of 3 x 18
    assert net.sparsity == pytest.approx(0.5)
    assert net.effective_sparsity >= net.sparsity
    net.weights[1][:, :] = 0  # nothing reads the feature maps: every filter weight is dead
    net.project()
    assert net.effective_sparsity == 1.0


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(input_shape=(8, 8)), ValueError, "input_shape must be"),
    (dict(input_shape=(8, 0, 1)), ValueError, "input_shape must be >= 1"),
    (dict(kernel=9, input_shape=(8, 8, 1)), ValueError, "kernel 9 is larger than the 8 x 8"),
    (dict(filters=0), ValueError, "filters must be >= 1"),
    (dict(stride=1.5), TypeError, "stride must be an integer"),
    (dict(hidden=64), TypeError, "hidden must be a sequence"),
    (dict(hidden=(64, 0)), ValueError, "every width"),
    (dict(compression=[None, None]), ValueError, "one entry per layer"),
])
def test_bad_specs(kwargs, error, match):
    with pytest.raises(error, match=match):
        nnbcd.ConvNet(**kwargs)


def test_bad_images():
    net = _small_net()
    with pytest.raises(ValueError, match=r"images of shape \(6, 7, 2\).*\(7, 6, 2\)"):
        net.predict(np.zeros((3, 6, 7, 2)))
    with pytest.raises(ValueError, match="83 features, but the network expects 84"):
        net.predict(np.zeros((3, 83)))
    with pytest.raises(ValueError, match="NaN"):
        net.predict(np.full((3, 7, 6, 2), np.nan))
    with pytest.raises(ValueError, match="images must be 4-D"):
        ops.im2col(np.zeros((3, 7, 6)), 3)
    with pytest.raises(ValueError, match="kernel 8 is larger"):
        ops.im2col(np.zeros((3, 7, 6, 1)), 8)


def test_memory_refused_with_the_patches_counted(monkeypatch):
    from nnbcd import bcd

    net = _small_net()
    monkeypatch.setattr(bcd, "available_memory", lambda: net.training_bytes(20) - 1)
    with pytest.raises(MemoryError, match="GiB for the lifted variables"):
        nnbcd.BCD().start(net, _images(), np.arange(20) % 4)
