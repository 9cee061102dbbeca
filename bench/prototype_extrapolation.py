"""Screening prototype (#18, session 12) of BCD(extrapolation=True), written over nnbcd.blocks
so that variants can be tried: extrapolate every block (V, U, W, b) after each exact sweep,
safeguarded by Phi (the library's is the "nesterov" variant). LeNet-300-100 from
bench/suite.py, on a subset (data="mnist:10000"); results: bench/results/extrapolation.md.

    python bench/prototype_extrapolation.py \
        '{"data": "mnist:10000", "dense": true, "gamma": 5, "rho": 5, "beta": "nesterov"}'
    (beta 0, 0.5, 0.9 or "nesterov"; "lifted_only": true; without "dense": the pruned network)


Z~ = Z_k + beta (Z_k - Z_{k-1}) for all blocks jointly; accepted only when Phi(Z~) <= Phi(Z_k),
else Z_k is kept and the momentum restarts. beta: a float, or "nesterov" ((t-1)/(t+2), t the
iterations since the last restart). Pruned layers: W~ is projected again (P(W~)), W <- G.
"""
import json
import os
import sys
import time

import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nnbcd import blocks
from nnbcd.recipes import recipe
import suite


def topk_mask(W, keep):
    k = int(round(keep * W.size))
    flat = np.abs(W).ravel()
    idx = np.argpartition(-flat, k - 1)[:k]
    m = np.zeros(W.size, bool); m[idx] = True
    return m.reshape(W.shape)


def forward_acc(W, b, X, y):
    h = X.T
    for i in range(len(W)):
        h = W[i] @ h + b[i][:, None]
        if i + 1 < len(W):
            h = np.maximum(h, 0)
    return float(np.mean(h.argmax(0) == y))


def forward_lifted(W, b, X):
    """U, V of the network's forward pass on X (d_0 x n): where BCD starts."""
    U, V, prev = [], [], X
    for i in range(len(W)):
        U.append(W[i] @ prev + b[i][:, None])
        V.append(np.maximum(U[-1], 0) if i + 1 < len(W) else U[-1].copy())
        prev = V[-1]
    return U, V


def lifted_blocks(i, W, b, U, V, X, Y, gamma, rho, alpha):
    """Steps 1-2 (the output layer) or 4-5 (a hidden one) of layer i, in place; returns the
    layer's input (what its W multiplies)."""
    V_prev = X if i == 0 else V[i - 1]
    if i == len(W) - 1:
        V[i] = blocks.output_v(Y, U[i], V[i], gamma, alpha)
        U[i] = blocks.output_u(V[i], W[i], b[i], V_prev, gamma, rho)
    else:
        V[i] = blocks.hidden_v(U[i], U[i + 1], W[i + 1], b[i + 1], rho, gamma)
        U[i] = blocks.hidden_u(V[i], V_prev, W[i], b[i], U[i], rho, gamma, alpha)
    return V_prev


def phi(W, b, U, V, X, Y, gamma, rho, lam):
    N = len(W)
    total = 0.5 * np.sum((V[-1] - Y) ** 2) + 0.5 * gamma * np.sum((V[-1] - U[-1]) ** 2)
    prev = X
    for i in range(N):
        total += 0.5 * rho * np.sum((U[i] - W[i] @ prev - b[i][:, None]) ** 2)
        total += 0.5 * lam * np.sum(W[i] ** 2)
        if i + 1 < N:
            total += 0.5 * gamma * np.sum((V[i] - np.maximum(U[i], 0)) ** 2)
        prev = V[i]
    return total


def run(problem="lenet", dense=False, iterations=100, every=10, seed=0, beta=0.0,
        dtype="float32", data=None, lifted_only=False, **over):
    import dataclasses
    p = suite.PROBLEMS[problem]
    if data:
        p = dataclasses.replace(p, data=data)
    X, y, Xt, yt = suite.load(p.data, suite.DEFAULT_MNIST)
    dt = np.dtype(dtype)
    X = X.astype(dt); Xt = Xt.astype(dt)
    r = recipe(None if dense else p.kind)
    s = {**r.bcd_settings(len(X)), **over}
    gamma, rho, tau, lam = s["gamma"], s["rho"], s["tau"], s["weight_decay"]
    alpha = s.get("alpha", 1.0)
    model = suite.network(p, seed, init_scale=r.init_scale, init=r.init)
    N = model.n_layers
    pruned = [(not dense) and p.kind == "prune" and i < N - 1 for i in range(N)]
    keep = 0.1
    W = [w.astype(dt).copy() for w in model.weights]
    b = [x.astype(dt).copy() for x in model.biases]
    n = len(X)
    Y = np.zeros((10, n), dt); Y[y, np.arange(n)] = 1
    Xc = X.T.copy()
    U, V = forward_lifted(W, b, Xc)
    G = [np.where(topk_mask(W[i], keep), W[i], 0).astype(dt) if pruned[i] else None
         for i in range(N)]
    last = None
    t = 0
    restarts = 0
    out = []
    t0 = time.time()
    for k in range(1, iterations + 1):
        for i in range(N - 1, -1, -1):
            Vp = lifted_blocks(i, W, b, U, V, Xc, Y, gamma, rho, alpha)
            tt = tau if pruned[i] else 0.0
            W[i] = blocks.weights(U[i], Vp, W[i], b[i], rho, alpha, lam, tt, G[i])
            b[i] = blocks.bias(U[i], Vp, W[i], b[i], rho, alpha)
        for i in range(N):
            if pruned[i]:
                G[i] = np.where(topk_mask(W[i], keep), W[i], 0).astype(dt)
                W[i] = G[i]
        current = (list(W), list(b), list(U), list(V))
        if beta and last is not None:
            t += 1
            bk = (t - 1) / (t + 2) if beta == "nesterov" else float(beta)
            ext = [[z + bk * (z - zl) for z, zl in zip(zs, zls)] for zs, zls in zip(current, last)]
            if lifted_only:
                ext[0], ext[1] = list(W), list(b)
            for i in range(N):
                if pruned[i]:
                    ext[0][i] = np.where(topk_mask(ext[0][i], keep), ext[0][i], 0).astype(dt)
            f_cur = phi(*current, Xc, Y, gamma, rho, lam)
            f_ext = phi(*ext, Xc, Y, gamma, rho, lam)
            if f_ext <= f_cur:
                W, b, U, V = ext
                for i in range(N):
                    if pruned[i]:
                        G[i] = W[i]
            else:
                t = 0
                restarts += 1
        last = current
        if k % every == 0:
            Wd = [np.where(topk_mask(w, keep), w, 0) if pruned[i] else w for i, w in enumerate(W)]
            out.append(round(forward_acc(Wd, b, Xt, yt), 4))
            print(k, out[-1], f"train {forward_acc(W, b, X[:10000], y[:10000]):.4f}",
                  f"restarts {restarts}", f"{time.time()-t0:.0f}s", flush=True)
    return out


if __name__ == "__main__":
    kw = json.loads(sys.argv[1])
    print(kw, run(**kw), flush=True)
