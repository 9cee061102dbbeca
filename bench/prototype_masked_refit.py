"""Screening prototype (#18, session 12): pruned layers' W block solved exactly on the support of
its projection (per-row least squares); did not win (bench/results/extrapolation.md).

    python bench/prototype_masked_refit.py '{"problem": "lenet", "mode": "refit", "iterations": 50}'


mode lib     : nnbcd.BCD steps with the pruned recipe (reference)
mode python  : the same sweep in Python from nnbcd.blocks (must match lib)
mode refit   : in the sweep, after the unconstrained W update of a pruned layer, mask = its top-k
               magnitudes, then W <- argmin over supp(W) in mask of
               rho/2||U - W V - b||^2 + prox/2||W - W_old||^2 + lam/2||W||^2 (exact, per row)
mode keep    : like refit but the mask is the previous one (fixed support: monotone block)
               except every `remask` iterations
mode dense   : no pruning at all (upper reference)
"""
import json
import os
import sys
import time

import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnbcd
from nnbcd import blocks
from nnbcd.recipes import recipe
import suite
from prototype_extrapolation import forward_acc, forward_lifted, lifted_blocks, topk_mask


def masked_refit(U, Vp, W_old, b, mask, rho, prox, lam, gram=None):
    if gram is None:
        gram = Vp @ Vp.T
    R = (U - b[:, None]) @ Vp.T
    W = np.zeros_like(W_old)
    for j in range(W.shape[0]):
        S = np.flatnonzero(mask[j])
        if S.size == 0:
            continue
        A = rho * gram[np.ix_(S, S)]
        A[np.diag_indices_from(A)] += prox + lam
        rhs = prox * W_old[j, S] + rho * R[j, S]
        W[j, S] = np.linalg.solve(A, rhs)
    return W


def run(problem="lenet", mode="refit", iterations=100, every=10, seed=0, remask=1,
        prox=None, **over):
    p = suite.PROBLEMS[problem]
    X, y, Xt, yt = suite.load(p.data, suite.DEFAULT_MNIST)
    X = X.astype(np.float64); Xt = Xt.astype(np.float64)
    r = recipe(p.kind)
    s = {**r.bcd_settings(len(X)), "extrapolation": False, **over}  # the recipe of session 11
    gamma, rho, alpha, tau, lam = s["gamma"], s["rho"], 1.0, s["tau"], s["weight_decay"]
    if prox is None:
        prox = alpha + tau
    if mode in ("lib", "denselib"):
        net = suite.network(p, seed, init_scale=r.init_scale, init=r.init)
        if mode == "denselib":
            net = nnbcd.MLP(net.sizes, init_scale=r.init_scale, seed=seed)
        state = nnbcd.BCD(n_threads=1, **s).start(net, X, y)
        out = []
        t0 = time.time()
        for k in range(1, iterations + 1):
            state.step()
            if k % every == 0:
                out.append(round(float(np.mean(state.model.predict(Xt) == yt)), 4))
                tr = float(np.mean(state.model.predict(X[:10000]) == y[:10000]))
                print(mode, k, out[-1], f"train {tr:.4f}", f"{time.time()-t0:.0f}s", flush=True)
        return out
    model = suite.network(p, seed, init_scale=r.init_scale, init=r.init)
    keep = 0.1
    N = model.n_layers
    pruned = [i < N - 1 for i in range(N)] if mode != "dense" else [False] * N
    W = [w.astype(np.float64).copy() for w in model.weights]
    b = [x.astype(np.float64).copy() for x in model.biases]
    n = len(X)
    Y = np.zeros((10, n)); Y[y, np.arange(n)] = 1
    Xc = X.T.copy()
    U, V = forward_lifted(W, b, Xc)
    masks = [topk_mask(W[i], keep) if pruned[i] else None for i in range(N)]
    G = [np.where(masks[i], W[i], 0) if pruned[i] else None for i in range(N)]
    if mode in ("refit", "keep"):
        W = [G[i] if pruned[i] else W[i] for i in range(N)]
    gX = Xc @ Xc.T
    out = []
    t0 = time.time()
    for k in range(1, iterations + 1):
        for i in range(N - 1, -1, -1):
            Vp = lifted_blocks(i, W, b, U, V, Xc, Y, gamma, rho, alpha)
            if pruned[i] and mode in ("refit", "keep"):
                gram = gX if i == 0 else Vp @ Vp.T
                if mode == "refit" or k % remask == 0:
                    Wfree = blocks.weights(U[i], Vp, W[i], b[i], rho, alpha, lam, tau, G[i])
                    masks[i] = topk_mask(Wfree, keep)
                W[i] = masked_refit(U[i], Vp, W[i], b[i], masks[i], rho, prox, lam, gram)
                G[i] = W[i]
            else:
                t = tau if pruned[i] else 0.0
                W[i] = blocks.weights(U[i], Vp, W[i], b[i], rho, alpha, lam, t, G[i])
            b[i] = blocks.bias(U[i], Vp, W[i], b[i], rho, alpha)
        if mode == "python":
            for i in range(N):
                if pruned[i]:
                    G[i] = np.where(topk_mask(W[i], keep), W[i], 0)
                    W[i] = G[i]
        if k % every == 0:
            out.append(round(forward_acc(W, b, Xt, yt), 4))
            print(mode, k, out[-1], f"train {forward_acc(W, b, X[:10000], y[:10000]):.4f}",
                  f"{time.time()-t0:.0f}s", flush=True)
    return out


if __name__ == "__main__":
    kw = json.loads(sys.argv[1])
    print(kw, run(**kw), flush=True)
