"""Independent pure-numpy float64 reference for the NN-BCD tests.

Everything here is written straight from DESIGN.md §1-§2 and never calls the
library.  Layouts follow the paper: W is (d_out, d_in), b is (d_out,), U, V, Y
and X are (d, n) with samples as columns.  Layer lists are 0-based: index 0 is
layer 1, index N-1 is the output layer N.

Contents
--------
* ``relu``, ``relu_prox``                     - closed-form reference (DESIGN §2 step 5)
* ``solve_*``                                  - every block subproblem solved from its
                                                 normal equations with ``np.linalg.solve``
* ``forward``                                  - the initial state of ``BCD.start``
* ``bcd_iteration``                            - one full backward sweep (steps 1-6)
* ``objective_terms``                          - the terms of Φ
* ``piecewise_global_min`` / ``grid_min``      - brute force for elementwise nonconvex
                                                 problems with a ReLU kink at 0
"""

from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------
# elementwise helpers
# ----------------------------------------------------------------------------


def relu(x):
    return np.maximum(x, 0.0)


def relu_prox_value(u, a, c, eta):
    """f(u) = ½(max(u,0) − a)² + η/2 (u − c)²  (broadcasting)."""
    return 0.5 * (np.maximum(u, 0.0) - a) ** 2 + 0.5 * eta * (u - c) ** 2


def relu_prox(a, c, eta):
    """Closed-form reference: the better of the minimiser on u ≥ 0 and on u ≤ 0.

    On u ≥ 0 the function is the convex quadratic ½(u−a)² + η/2(u−c)², minimised
    over [0, ∞) at max((a+ηc)/(1+η), 0).  On u ≤ 0 it is ½a² + η/2(u−c)²,
    minimised over (−∞, 0] at min(c, 0).  Ties go to the u ≥ 0 candidate.
    """
    a = np.asarray(a, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    xp = np.maximum((a + eta * c) / (1.0 + eta), 0.0)
    xm = np.minimum(c, 0.0)
    fp = relu_prox_value(xp, a, c, eta)
    fm = relu_prox_value(xm, a, c, eta)
    return np.where(fp <= fm, xp, xm)


# ----------------------------------------------------------------------------
# block subproblems, solved from the normal equations
# ----------------------------------------------------------------------------


def solve_output_v(Y, U, V_old, gamma, alpha):
    # gradient: (V − Y) + γ(V − U) + α(V − V_old) = 0
    return (Y + gamma * U + alpha * V_old) / (1.0 + gamma + alpha)


def solve_output_u(V, W, b, V_prev, gamma, rho):
    # gradient: γ(U − V) + ρ(U − W V_prev − b1ᵀ) = 0
    return (gamma * V + rho * (W @ V_prev + b[:, None])) / (gamma + rho)


def solve_weights(U, V_prev, W_old, b, rho, alpha, weight_decay=0.0, tau=0.0, G=None):
    # gradient: ρ(W V − (U − b1ᵀ))Vᵀ + αW − αW_old + λW + τW − τG = 0
    # ⇔ W (ρVVᵀ + (α+λ+τ)I) = ρ(U − b1ᵀ)Vᵀ + αW_old + τG
    d_in = V_prev.shape[0]
    A = rho * (V_prev @ V_prev.T) + (alpha + weight_decay + tau) * np.eye(d_in)
    B = rho * (U - b[:, None]) @ V_prev.T + alpha * W_old
    if tau != 0.0:
        B = B + tau * G
    # A is symmetric, so W = B A^{-1} = (A^{-1} Bᵀ)ᵀ
    return np.linalg.solve(A, B.T).T


def solve_bias(U, V_prev, W, b_old, rho, alpha):
    # gradient: ρ Σ_j (b − r_j) + α(b − b_old) = 0, r = U − W V_prev
    n = U.shape[1]
    R = U - W @ V_prev
    return (alpha * b_old + rho * R.sum(axis=1)) / (rho * n + alpha)


def solve_hidden_v(U, U_next, W_next, b_next, rho, gamma):
    # gradient: γ(V − relu(U)) − ρW_nextᵀ(U_next − W_next V − b_next1ᵀ) = 0
    d = W_next.shape[1]
    A = rho * (W_next.T @ W_next) + gamma * np.eye(d)
    B = rho * W_next.T @ (U_next - b_next[:, None]) + gamma * relu(U)
    return np.linalg.solve(A, B)


def solve_hidden_u(V, V_prev, W, b, U_old, rho, gamma, alpha):
    # γ/2(v − relu(u))² + ρ/2(u − m)² + α/2(u − u_old)²
    #   = γ [ ½(relu(u) − v)² + η/2 (u − c)² ] + const
    # with c = (ρ m + α u_old)/(ρ + α), η = (ρ + α)/γ.
    m = W @ V_prev + b[:, None]
    c = (rho * m + alpha * U_old) / (rho + alpha)
    eta = (rho + alpha) / gamma
    return relu_prox(V, c, eta)


# ----------------------------------------------------------------------------
# whole network
# ----------------------------------------------------------------------------


def one_hot(y, K):
    y = np.asarray(y)
    Y = np.zeros((K, y.shape[0]), dtype=np.float64)
    Y[y, np.arange(y.shape[0])] = 1.0
    return Y


def forward(W, b, X):
    """Initial state: U_i = W_i V_{i−1} + b_i, V_i = relu(U_i) (hidden), V_N = U_N."""
    N = len(W)
    U, V = [], []
    prev = X
    for k in range(N):
        u = W[k] @ prev + b[k][:, None]
        v = u.copy() if k == N - 1 else relu(u)
        U.append(u)
        V.append(v)
        prev = v
    return U, V


def bcd_iteration(W, b, U, V, X, Y, gamma, rho, alpha, weight_decay=0.0, train_bias=True):
    """One full backward sweep of DESIGN §2 (dense network, τ = 0); ``weight_decay``: one λ,
    or one per layer.

    Returns new lists (W, b, U, V); the inputs are not modified.
    """
    W = [w.copy() for w in W]
    b = [x.copy() for x in b]
    U = [x.copy() for x in U]
    V = [x.copy() for x in V]
    N = len(W)
    lam = np.broadcast_to(np.asarray(weight_decay, dtype=np.float64), (N,))

    def vprev(k):
        return X if k == 0 else V[k - 1]

    # output layer
    k = N - 1
    V[k] = solve_output_v(Y, U[k], V[k], gamma, alpha)                       # 1
    U[k] = solve_output_u(V[k], W[k], b[k], vprev(k), gamma, rho)            # 2
    W[k] = solve_weights(U[k], vprev(k), W[k], b[k], rho, alpha, lam[k])  # 3
    if train_bias:
        b[k] = solve_bias(U[k], vprev(k), W[k], b[k], rho, alpha)

    # hidden layers N−1 … 1
    for k in range(N - 2, -1, -1):
        V[k] = solve_hidden_v(U[k], U[k + 1], W[k + 1], b[k + 1], rho, gamma)     # 4
        U[k] = solve_hidden_u(V[k], vprev(k), W[k], b[k], U[k], rho, gamma, alpha)  # 5
        W[k] = solve_weights(U[k], vprev(k), W[k], b[k], rho, alpha, lam[k])  # 6
        if train_bias:
            b[k] = solve_bias(U[k], vprev(k), W[k], b[k], rho, alpha)
    return W, b, U, V


def objective_terms(W, b, U, V, X, Y, gamma, rho, weight_decay=0.0):
    """The terms of Φ for a dense network, as named by ``state.objective()``; ``weight_decay``:
    one λ, or one per layer."""
    N = len(W)
    lam = np.broadcast_to(np.asarray(weight_decay, dtype=np.float64), (N,))
    sq = lambda A: float(np.sum(np.asarray(A, dtype=np.float64) ** 2))
    loss = 0.5 * sq(V[N - 1] - Y)
    act = sum(sq(V[k] - relu(U[k])) for k in range(N - 1)) + sq(V[N - 1] - U[N - 1])
    act *= 0.5 * gamma
    lin = 0.0
    for k in range(N):
        prev = X if k == 0 else V[k - 1]
        lin += sq(U[k] - W[k] @ prev - b[k][:, None])
    lin *= 0.5 * rho
    wd = 0.5 * sum(lam_k * sq(w) for lam_k, w in zip(lam, W))
    terms = {"loss": loss, "activation": act, "linear": lin, "weight_decay": wd,
             "compression": 0.0}
    terms["total"] = loss + act + lin + wd
    return terms


def prox_sq_change(old, new, train_bias=True):
    """Σ‖ΔZ‖² over the proximal (†) blocks: V_N, all W, all b, hidden U."""
    Wo, bo, Uo, Vo = old
    Wn, bn, Un, Vn = new
    N = len(Wo)
    s = float(np.sum((Vn[N - 1] - Vo[N - 1]) ** 2))
    for k in range(N):
        s += float(np.sum((Wn[k] - Wo[k]) ** 2))
        s += float(np.sum((bn[k] - bo[k]) ** 2))
    for k in range(N - 1):
        s += float(np.sum((Un[k] - Uo[k]) ** 2))
    return s


# ----------------------------------------------------------------------------
# brute force for elementwise problems with a ReLU kink at u = 0
# ----------------------------------------------------------------------------


def _ternary(f, lo, hi, iters=120):
    """Vectorised ternary search of a function convex on [lo, hi] (per element)."""
    a = lo.astype(np.float64).copy()
    bb = hi.astype(np.float64).copy()
    for _ in range(iters):
        m1 = a + (bb - a) / 3.0
        m2 = bb - (bb - a) / 3.0
        left = f(m1) < f(m2)
        bb = np.where(left, m2, bb)
        a = np.where(left, a, m1)
    cand = np.stack([a, bb, 0.5 * (a + bb), lo, hi])
    vals = np.stack([f(x) for x in cand])
    i = np.argmin(vals, axis=0)
    return np.take_along_axis(cand, i[None], 0)[0]


def piecewise_global_min(f, lo, hi):
    """Global minimiser of an elementwise function f that is convex on u ≤ 0 and
    on u ≥ 0 separately (the ReLU kink), searched in [lo, hi] with lo ≤ 0 ≤ hi.

    ``f(u)`` must accept an array of the shape of ``lo``.
    Returns (u_best, f_best, gap, u_neg, u_pos) where u_neg / u_pos are the
    minimisers over u ≤ 0 / u ≥ 0 and gap = |f(u_neg) − f(u_pos)| (a small gap
    means a near tie between the two pieces).
    """
    lo = np.minimum(lo, 0.0)
    hi = np.maximum(hi, 0.0)
    zero = np.zeros_like(lo)
    un = _ternary(f, lo, zero)
    up = _ternary(f, zero, hi)
    fn, fp = f(un), f(up)
    best = np.where(fp <= fn, up, un)
    return best, np.minimum(fn, fp), np.abs(fn - fp), un, up


def grid_min(f2d, lo, hi, npts=4001):
    """Minimum of f over a uniform grid of npts points in [lo, hi] (per element).

    ``f2d(u)`` gets u of shape (M, npts) and must broadcast its parameters as (M, 1).
    """
    t = np.linspace(0.0, 1.0, npts)[None, :]
    u = lo[:, None] + (hi - lo)[:, None] * t
    vals = f2d(u)
    return vals.min(axis=1)


def tt_svd(A, max_rank):
    """Textbook TT-SVD (Oseledets 2011) with full numpy SVDs: cores and, per step, the
    squared singular values it discards."""
    modes = A.shape
    cores, discarded = [], []
    C = np.asarray(A, np.float64).reshape(modes[0], -1)
    r_prev = 1
    for k, n in enumerate(modes[:-1]):
        C = C.reshape(r_prev * n, -1)
        U, s, Vt = np.linalg.svd(C, full_matrices=False)
        r = min(max_rank, C.shape[0], C.shape[1])
        discarded.append(np.sum(s[r:] ** 2))
        cores.append(U[:, :r].reshape(r_prev, n, r))
        C = s[:r, None] * Vt[:r]
        r_prev = r
    cores.append(C.reshape(r_prev, modes[-1], 1))
    return cores, discarded


def tt_to_full(cores):
    full = cores[0].reshape(cores[0].shape[1], -1)
    for c in cores[1:]:
        full = (full @ c.reshape(c.shape[0], -1)).reshape(-1, c.shape[2])
    return full.reshape([c.shape[1] for c in cores])
