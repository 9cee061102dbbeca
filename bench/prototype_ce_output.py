"""Screening prototype (#18): the output block with a cross-entropy loss against the paper's
squared loss, on the digits TT proxy (64-256-256-10, both hidden layers TT rank 8, the TT
recipe: 0.01 x kaiming, weight decay 0.0003 n, tau = 5 * 1.03^k), float64.

The sweep is written in Python from ``nnbcd.blocks`` (the core's exact block updates), so that
the output block can be swapped: with ``squared`` it reproduces ``BCD.fit`` exactly (seed 0:
0.842 / 0.924 / 0.951 / 0.969 at iterations 50-200, the same as the library's run). With
``ce`` the V_N block minimises sum_j CE(softmax(v_j), y_j) + gamma/2 ||V - U||^2 +
alpha/2 ||V - V_old||^2 exactly, by Newton's method per sample (10 x 10 Hessians).

    python bench/prototype_ce_output.py squared "seeds=3"
    python bench/prototype_ce_output.py ce "seeds=3, gamma=2.0"

Results: bench/results/screening_digits.md (session 9).
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnbcd  # noqa: E402
from nnbcd import blocks  # noqa: E402
from screen_digits import digits  # noqa: E402


def softmax(V):
    E = np.exp(V - V.max(axis=0))
    return E / E.sum(axis=0)


def ce_output_v(Y, U, V0, gamma, alpha, steps=30):
    """argmin_V sum_j CE(softmax(v_j), y_j) + gamma/2 ||V - U||^2 + alpha/2 ||V - V0||^2."""
    c = gamma + alpha
    V = (gamma * U + alpha * V0) / c
    for _ in range(steps):
        P = softmax(V)
        G = P - Y + gamma * (V - U) + alpha * (V - V0)
        if np.abs(G).max() < 1e-12:
            break
        H = -np.einsum("in,jn->nij", P, P)
        H[:, np.arange(len(P)), np.arange(len(P))] += P.T + c
        V = V - np.linalg.solve(H, G.T[:, :, None])[:, :, 0].T
    return V


def run(loss, seed, iterations=200, gamma=1.0, rho=1.0, alpha=1.0, tau=5.0, growth=1.03,
        wd=0.0003, every=50, hidden=(256, 256), rank=8):
    X_tr, X_te, y_tr, y_te = digits()
    sizes = [64, *hidden, 10]
    comp = [nnbcd.TensorTrain(rank) for _ in hidden] + [None]
    model = nnbcd.MLP(sizes, compression=comp, seed=seed, dtype="float64", init_scale=0.01)
    n = len(X_tr)
    lam = wd * n
    Y = np.zeros((10, n)); Y[y_tr, np.arange(n)] = 1
    W = [w.copy() for w in model.weights]; b = [x.copy() for x in model.biases]
    X = X_tr.T.copy()
    U, V = [], []
    prev = X
    for i in range(len(W)):
        u = W[i] @ prev + b[i][:, None]
        U.append(u); V.append(np.maximum(u, 0) if i + 1 < len(W) else u.copy())
        prev = V[-1]
    model._net.project()
    G = [None if c is None else model.compressed_weights[i].copy() for i, c in enumerate(comp)]
    N = len(W)
    out = []
    for k in range(1, iterations + 1):
        for i in range(N - 1, -1, -1):
            Vprev = X if i == 0 else V[i - 1]
            if i == N - 1:
                V[i] = (ce_output_v(Y, U[i], V[i], gamma, alpha) if loss == "ce"
                        else blocks.output_v(Y, U[i], V[i], gamma, alpha))
                U[i] = blocks.output_u(V[i], W[i], b[i], Vprev, gamma, rho)
            else:
                V[i] = blocks.hidden_v(U[i], U[i + 1], W[i + 1], b[i + 1], rho, gamma)
                U[i] = blocks.hidden_u(V[i], Vprev, W[i], b[i], U[i], rho, gamma, alpha)
            t = tau if G[i] is not None else 0.0
            W[i] = blocks.weights(U[i], Vprev, W[i], b[i], rho, alpha, lam, t, G[i])
            b[i] = blocks.bias(U[i], Vprev, W[i], b[i], rho, alpha)
        for i in range(N):
            model.weights[i][...] = W[i]; model.biases[i][...] = b[i]
        model._net.project()
        G = [None if c is None else model.compressed_weights[i].copy() for i, c in enumerate(comp)]
        tau *= growth
        if k % every == 0:
            out.append(float(np.mean(model.predict(X_te) == y_te)))
    return out


if __name__ == "__main__":
    loss = sys.argv[1]
    kw = eval("dict(" + (sys.argv[2] if len(sys.argv) > 2 else "") + ")")
    seeds = kw.pop("seeds", 3)
    t = time.time()
    accs = np.array([run(loss, s, **kw) for s in range(seeds)])
    print(loss, kw, "mean", np.round(accs.mean(0), 4), "min final", accs[:, -1].min(),
          f"{time.time() - t:.0f}s", flush=True)
