"""nnbcd.BCD in the authors' CNN notebook's setting against a numpy replica of that notebook's
loop (CNN/NN-BCD/NNBCD_CNN_part1.ipynb of arXiv 2303.06815's code): a convolution, two
tensor-train layers, a dense output; biases frozen at zero; τ fixed; G_i recomputed by TT-SVD
right after W_i's update and used by the next sweep's W_i update; W_i never set to G_i; the
first projection at a higher rank. Every W, G, U and V after each sweep, in float64.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

import nnbcd  # noqa: E402
from nnbcd import ops  # noqa: E402

IMAGE = (9, 9, 1)
FILTERS, KERNEL, STRIDE = 4, 3, 2  # 4 x 4 positions x 4 filters = 64 features
HIDDEN, CLASSES, N = 16, 3, 30
SHAPES = [(4, 4, 4, 4, 4), (4, 4, 4, 4)]  # W2 (16 x 64) and W3 (16 x 16), reshaped
RANK, INITIAL_RANK = 2, 5
GAMMA = RHO = 5.0
ALPHA, TAU = 1.0, 0.1


def tt_projection(W, shape, rank):
    cores, _ = oracle.tt_svd(W.reshape(shape), rank)
    return oracle.tt_to_full(cores).reshape(W.shape)


def notebook_sweep(W, G, U, V, P, Y, units, features):
    """One iteration of the notebook's loop, output layer first; b = 0 throughout."""
    W, G, U, V = list(W), list(G), list(U), list(V)
    zero = [np.zeros(w.shape[0]) for w in W]
    V[3] = oracle.solve_output_v(Y, U[3], V[3], GAMMA, ALPHA)
    U[3] = oracle.solve_output_u(V[3], W[3], zero[3], V[2], GAMMA, RHO)
    W[3] = oracle.solve_weights(U[3], V[2], W[3], zero[3], RHO, ALPHA)
    for i in (2, 1):
        V[i] = oracle.solve_hidden_v(U[i], U[i + 1], W[i + 1], zero[i + 1], RHO, GAMMA)
        U[i] = oracle.solve_hidden_u(V[i], V[i - 1], W[i], zero[i], U[i], RHO, GAMMA, ALPHA)
        W[i] = oracle.solve_weights(U[i], V[i - 1], W[i], zero[i], RHO, ALPHA, tau=TAU, G=G[i])
        G[i] = tt_projection(W[i], SHAPES[i - 1], RANK)
    V[0] = oracle.solve_hidden_v(U[0], U[1], W[1], zero[1], RHO, GAMMA)
    # the convolution on the patches P (k²C x n·positions): filters x (n·positions) units
    U[0] = features(oracle.solve_hidden_u(units(V[0]), P, W[0], zero[0], units(U[0]), RHO,
                                          GAMMA, ALPHA))
    W[0] = oracle.solve_weights(units(U[0]), P, W[0], zero[0], RHO, ALPHA)
    return W, G, U, V


def test_iterations_follow_the_notebooks_loop():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, (N, *IMAGE))
    labels = np.arange(N) % CLASSES
    compression = [None] + [nnbcd.TensorTrain(RANK, shape=s, initial_rank=INITIAL_RANK)
                            for s in SHAPES] + [None]
    model = nnbcd.ConvNet(input_shape=IMAGE, filters=FILTERS, kernel=KERNEL, stride=STRIDE,
                          hidden=(HIDDEN, HIDDEN), n_classes=CLASSES, compression=compression,
                          init="normal", init_scale=0.1, seed=3, dtype="float64")
    for b in model.biases:
        assert not b.any()
    W = [w.astype(np.float64) for w in model.weights]
    state = nnbcd.BCD(gamma=GAMMA, rho=RHO, alpha=ALPHA, tau=TAU, tau_growth=1.0,
                      train_bias=False, n_threads=1).start(model, images, labels)

    P = ops.im2col(images, KERNEL, STRIDE).T

    def units(M):  # (positions * filters, n) -> (filters, n * positions)
        return M.T.reshape(-1, FILTERS).T

    def features(M):  # the inverse of units
        return M.T.reshape(N, -1).T

    # The notebook's start: a forward pass through the dense W, and G = TT(W) at the first rank.
    U, V, prev = [], [], features(W[0] @ P)
    U.append(prev)
    V.append(oracle.relu(prev))
    for i in (1, 2, 3):
        U.append(W[i] @ V[-1])
        V.append(U[-1].copy() if i == 3 else oracle.relu(U[-1]))
    G = [None] + [tt_projection(W[i], SHAPES[i - 1], INITIAL_RANK) for i in (1, 2)] + [None]
    lifted = state.lifted()
    for i in range(4):
        np.testing.assert_allclose(lifted[0][i], U[i], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(lifted[1][i], V[i], rtol=1e-10, atol=1e-12)
    for i in (1, 2):
        np.testing.assert_allclose(model.deployed_weights[i], G[i], rtol=1e-9, atol=1e-12)

    Y = oracle.one_hot(labels, CLASSES)
    for sweep in range(3):
        W, G, U, V = notebook_sweep(W, G, U, V, P, Y, units, features)
        state.step()
        lifted = state.lifted()
        for i in range(4):
            where = f"sweep {sweep + 1}, layer {i + 1}"
            np.testing.assert_allclose(model.weights[i], W[i], rtol=1e-8, atol=1e-11, err_msg=where)
            np.testing.assert_allclose(lifted[0][i], U[i], rtol=1e-8, atol=1e-11, err_msg=where)
            np.testing.assert_allclose(lifted[1][i], V[i], rtol=1e-8, atol=1e-11, err_msg=where)
            assert not model.biases[i].any(), where
        for i in (1, 2):
            np.testing.assert_allclose(model.deployed_weights[i], G[i], rtol=1e-8, atol=1e-11,
                                       err_msg=f"sweep {sweep + 1}, G of layer {i + 1}")
    # the notebook's prediction: the dense convolution and output layer, G in between
    h = oracle.relu(features(W[0] @ P))
    for i in (1, 2):
        h = oracle.relu(G[i] @ h)
    np.testing.assert_allclose(model.decision_function(images), (W[3] @ h).T, rtol=1e-8,
                               atol=1e-11)
