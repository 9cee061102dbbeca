"""nnbcd.blocks: every block update of DESIGN §2 against an independent numpy
solution (least squares on a stacked system, or brute force for the nonconvex
hidden-U block) plus optimality checks (gradient ≈ 0, no random perturbation
does better).  float64 with tight tolerances; one float32 smoke check each.
"""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

import nnbcd  # noqa: E402
from nnbcd import blocks  # noqa: E402

relu = oracle.relu
sq = lambda A: float(np.sum(A * A))

# (gamma, rho, alpha) settings
HYPER = [(1.0, 1.0, 1.0), (0.3, 2.5, 0.05), (4.0, 0.2, 3.0)]


def _rel_err(got, ref):
    return float(np.linalg.norm(np.asarray(got, np.float64) - ref)) / max(
        float(np.linalg.norm(ref)), 1e-300)


def _assert_rel(got, ref, rtol, what):
    err = _rel_err(got, ref)
    assert err <= rtol, f"{what}: relative error {err:.3e} > {rtol:.1e}"


def _check_unchanged(before, after):
    for i, (x0, x1) in enumerate(zip(before, after)):
        if isinstance(x0, np.ndarray):
            assert np.array_equal(x0, x1), f"input #{i} was modified"


def _perturbation_check(obj, Z, rng, n_dirs=8):
    """obj(Z) ≤ obj(Z + εD) for random directions D and several ε."""
    f0 = obj(Z)
    for _ in range(n_dirs):
        D = rng.standard_normal(Z.shape)
        D *= (np.linalg.norm(Z) + 1.0) / np.linalg.norm(D)
        for eps in (1e-1, 1e-3, 1e-5):
            f1 = obj(Z + eps * D)
            assert f0 <= f1 + 1e-12 * abs(f1), (
                f"perturbation eps={eps} improves the objective: {f0!r} > {f1!r}")


# ----------------------------------------------------------------------------
# output layer: V_N
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("gamma,rho,alpha", HYPER)
def test_output_v(gamma, rho, alpha):
    rng = np.random.default_rng(10)
    K, n = 4, 17
    Y = rng.standard_normal((K, n))
    U = rng.standard_normal((K, n))
    V_old = rng.standard_normal((K, n))
    inputs = [x.copy() for x in (Y, U, V_old)]

    V = blocks.output_v(Y, U, V_old, gamma, alpha)
    _check_unchanged(inputs, (Y, U, V_old))
    assert V.shape == (K, n) and V.dtype == np.float64

    obj = lambda Z: 0.5 * sq(Z - Y) + 0.5 * gamma * sq(Z - U) + 0.5 * alpha * sq(Z - V_old)
    # independent solution: each entry is a 1-variable least-squares problem
    # min ‖[1; √γ; √α] v − [y; √γ u; √α v_old]‖², solved with lstsq in one go
    A = np.array([[1.0], [np.sqrt(gamma)], [np.sqrt(alpha)]])
    B = np.stack([Y.ravel(), np.sqrt(gamma) * U.ravel(), np.sqrt(alpha) * V_old.ravel()])
    ref = np.linalg.lstsq(A, B, rcond=None)[0].reshape(K, n)
    _assert_rel(V, ref, 1e-12, "output_v")

    grad = (V - Y) + gamma * (V - U) + alpha * (V - V_old)
    scale = np.linalg.norm(V - Y) + gamma * np.linalg.norm(V - U) + alpha * np.linalg.norm(V - V_old)
    assert np.linalg.norm(grad) <= 1e-12 * (scale + 1.0)
    _perturbation_check(obj, V, rng)


# ----------------------------------------------------------------------------
# output layer: U_N
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("gamma,rho,alpha", HYPER)
def test_output_u(gamma, rho, alpha):
    rng = np.random.default_rng(11)
    K, d, n = 3, 6, 15
    V = rng.standard_normal((K, n))
    W = rng.standard_normal((K, d))
    b = rng.standard_normal(K)
    V_prev = rng.standard_normal((d, n))
    inputs = [x.copy() for x in (V, W, b, V_prev)]

    U = blocks.output_u(V, W, b, V_prev, gamma, rho)
    _check_unchanged(inputs, (V, W, b, V_prev))
    assert U.shape == (K, n) and U.dtype == np.float64

    M = W @ V_prev + b[:, None]
    obj = lambda Z: 0.5 * gamma * sq(V - Z) + 0.5 * rho * sq(Z - M)
    A = np.array([[np.sqrt(gamma)], [np.sqrt(rho)]])
    B = np.stack([np.sqrt(gamma) * V.ravel(), np.sqrt(rho) * M.ravel()])
    ref = np.linalg.lstsq(A, B, rcond=None)[0].reshape(K, n)
    _assert_rel(U, ref, 1e-12, "output_u")

    grad = gamma * (U - V) + rho * (U - M)
    scale = gamma * np.linalg.norm(U - V) + rho * np.linalg.norm(U - M)
    assert np.linalg.norm(grad) <= 1e-12 * (scale + 1.0)
    _perturbation_check(obj, U, rng)


# ----------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------


def _weights_lstsq(U, V_prev, W_old, b, rho, alpha, lam, tau, G):
    """Row k of W solves the stacked least squares
    ‖[√ρ V_prevᵀ; √α I; √λ I; √τ I] w − [√ρ(u_k − b_k); √α w_old_k; 0; √τ g_k]‖²."""
    d_out, d_in = W_old.shape
    I = np.eye(d_in)
    A = np.vstack([np.sqrt(rho) * V_prev.T, np.sqrt(alpha) * I, np.sqrt(lam) * I, np.sqrt(tau) * I])
    Gm = np.zeros_like(W_old) if G is None else G
    B = np.vstack([np.sqrt(rho) * (U - b[:, None]).T, np.sqrt(alpha) * W_old.T,
                   np.zeros((d_in, d_out)), np.sqrt(tau) * Gm.T])
    return np.linalg.lstsq(A, B, rcond=None)[0].T


@pytest.mark.parametrize("gamma,rho,alpha", HYPER)
@pytest.mark.parametrize("lam,tau", [(0.0, 0.0), (0.7, 0.0), (0.0, 1.5), (0.2, 0.9)])
@pytest.mark.parametrize("d_out,d_in,n", [(5, 7, 23), (6, 9, 4)])   # n < d_in: VVᵀ singular
def test_weights(gamma, rho, alpha, lam, tau, d_out, d_in, n):
    rng = np.random.default_rng(12 + d_in)
    U = rng.standard_normal((d_out, n))
    V_prev = rng.standard_normal((d_in, n))
    W_old = rng.standard_normal((d_out, d_in))
    b = rng.standard_normal(d_out)
    G = rng.standard_normal((d_out, d_in)) if tau > 0 else None
    inputs = [x.copy() for x in (U, V_prev, W_old, b)] + ([G.copy()] if G is not None else [])

    kwargs = dict(weight_decay=lam, tau=tau)
    if G is not None:
        kwargs["G"] = G
    W = blocks.weights(U, V_prev, W_old, b, rho, alpha, **kwargs)
    _check_unchanged(inputs, [U, V_prev, W_old, b] + ([G] if G is not None else []))
    assert W.shape == (d_out, d_in) and W.dtype == np.float64

    ref = _weights_lstsq(U, V_prev, W_old, b, rho, alpha, lam, tau, G)
    _assert_rel(W, ref, 1e-10, "weights vs lstsq")
    # and vs the normal equations solved with np.linalg.solve
    _assert_rel(W, oracle.solve_weights(U, V_prev, W_old, b, rho, alpha, lam, tau, G), 1e-10,
                "weights vs normal equations")

    Gm = np.zeros_like(W_old) if G is None else G
    R = U - b[:, None]

    def obj(Z):
        return (0.5 * rho * sq(R - Z @ V_prev) + 0.5 * alpha * sq(Z - W_old)
                + 0.5 * lam * sq(Z) + 0.5 * tau * sq(Z - Gm))

    terms = [rho * (W @ V_prev - R) @ V_prev.T, alpha * (W - W_old), lam * W, tau * (W - Gm)]
    grad = sum(terms)
    scale = sum(np.linalg.norm(t) for t in terms) + np.linalg.norm(rho * R @ V_prev.T)
    assert np.linalg.norm(grad) <= 1e-10 * scale, "weights: gradient not zero"
    _perturbation_check(obj, W, rng)


def test_weights_default_no_decay_no_tau():
    rng = np.random.default_rng(13)
    U = rng.standard_normal((3, 10))
    V_prev = rng.standard_normal((4, 10))
    W_old = rng.standard_normal((3, 4))
    b = rng.standard_normal(3)
    W = blocks.weights(U, V_prev, W_old, b, 1.2, 0.4)
    _assert_rel(W, _weights_lstsq(U, V_prev, W_old, b, 1.2, 0.4, 0.0, 0.0, None), 1e-10,
                "weights defaults")


def test_weights_tau_requires_G():
    rng = np.random.default_rng(14)
    U = rng.standard_normal((3, 10))
    V_prev = rng.standard_normal((4, 10))
    W_old = rng.standard_normal((3, 4))
    b = rng.standard_normal(3)
    with pytest.raises((ValueError, TypeError)):
        blocks.weights(U, V_prev, W_old, b, 1.0, 1.0, tau=0.5)


# ----------------------------------------------------------------------------
# bias
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("gamma,rho,alpha", HYPER)
def test_bias(gamma, rho, alpha):
    rng = np.random.default_rng(15)
    d_out, d_in, n = 5, 4, 19
    U = rng.standard_normal((d_out, n))
    V_prev = rng.standard_normal((d_in, n))
    W = rng.standard_normal((d_out, d_in))
    b_old = rng.standard_normal(d_out)
    inputs = [x.copy() for x in (U, V_prev, W, b_old)]

    b = blocks.bias(U, V_prev, W, b_old, rho, alpha)
    _check_unchanged(inputs, (U, V_prev, W, b_old))
    assert b.shape == (d_out,) and b.dtype == np.float64

    R = U - W @ V_prev
    # entry k: min ρ/2 Σ_j (r_kj − β)² + α/2 (β − b_old_k)²  as stacked lstsq
    A = np.concatenate([np.full(n, np.sqrt(rho)), [np.sqrt(alpha)]])[:, None]
    B = np.vstack([np.sqrt(rho) * R.T, np.sqrt(alpha) * b_old[None, :]])
    ref = np.linalg.lstsq(A, B, rcond=None)[0][0]
    _assert_rel(b, ref, 1e-12, "bias")

    obj = lambda z: 0.5 * rho * sq(R - z[:, None]) + 0.5 * alpha * sq(z - b_old)
    grad = rho * (b[:, None] - R).sum(axis=1) + alpha * (b - b_old)
    scale = rho * np.abs(b[:, None] - R).sum() + alpha * np.abs(b - b_old).sum()
    assert np.linalg.norm(grad) <= 1e-12 * (scale + 1.0)
    _perturbation_check(obj, b, rng)


# large systems take other paths with several threads: a blocked parallel Cholesky
# (d >= 512), products split over many samples (n >= 16 d)
@pytest.mark.parametrize("d_out,d_in,n", [(40, 700, 800), (30, 40, 5000)])
def test_weights_on_the_parallel_paths(d_out, d_in, n):
    rng = np.random.default_rng(5)
    U, V_prev = rng.standard_normal((d_out, n)), rng.standard_normal((d_in, n))
    W_old, b = rng.standard_normal((d_out, d_in)), rng.standard_normal(d_out)
    rho, alpha = 1.3, 0.7
    W = blocks.weights(U, V_prev, W_old, b, rho, alpha)
    R = U - b[:, None]
    terms = [rho * (W @ V_prev - R) @ V_prev.T, alpha * (W - W_old)]
    scale = sum(np.linalg.norm(t) for t in terms) + np.linalg.norm(rho * R @ V_prev.T)
    assert np.linalg.norm(sum(terms)) <= 1e-10 * scale, "weights: gradient not zero"
    _assert_rel(W, oracle.solve_weights(U, V_prev, W_old, b, rho, alpha, 0.0, 0.0, None), 1e-9,
                "weights vs normal equations")


# Inputs far from zero (unscaled features, X ~ N(100, 1)): the weight update takes the means
# out and solves for them exactly. Before, the float32 Cholesky of rho V Vᵀ + alpha I (condition
# ~n·100²/alpha) broke down. Shapes: the serial path; the blocked Cholesky and panels; products
# split over samples, centred a chunk of columns at a time (chunks of 64 x 16384). Measured
# relative errors: float32 2e-7 to 8e-6; float64 3e-9 against the oracle's uncentred solve of
# a system of condition 1e9 (700 x 800), else 3e-11.
@pytest.mark.parametrize("dtype,rtol", [(np.float32, 1e-4), (np.float64, 1e-7)])
@pytest.mark.parametrize("d_out,d_in,n", [(5, 7, 80), (40, 700, 800), (20, 64, 40000)])
def test_weights_of_inputs_far_from_zero(dtype, rtol, d_out, d_in, n):
    rng = np.random.default_rng(7)
    V_prev = (100 + rng.standard_normal((d_in, n))).astype(dtype)
    V_prev[0] = rng.standard_normal(n)  # one row centred already
    U = rng.standard_normal((d_out, n)).astype(dtype)
    W_old = (rng.standard_normal((d_out, d_in)) / d_in).astype(dtype)
    b = rng.standard_normal(d_out).astype(dtype)
    W = blocks.weights(U, V_prev, W_old, b, 1.0, 1.0)
    assert W.dtype == dtype
    c64 = lambda A: A.astype(np.float64)
    ref = oracle.solve_weights(c64(U), c64(V_prev), c64(W_old), c64(b), 1.0, 1.0)
    _assert_rel(W, ref, rtol, "weights of offset inputs")


@pytest.mark.parametrize("n", [300, 1300])  # triangular solves; the explicit inverse
def test_hidden_v_with_a_blocked_cholesky(n):
    rng = np.random.default_rng(6)
    d, d_next, rho, gamma = 600, 700, 0.8, 1.1
    U, U_next = rng.standard_normal((d, n)), rng.standard_normal((d_next, n))
    W_next, b_next = rng.standard_normal((d_next, d)) / 20, rng.standard_normal(d_next)
    V = blocks.hidden_v(U, U_next, W_next, b_next, rho, gamma, form="direct")
    Rn = U_next - b_next[:, None]
    t1, t2 = gamma * (V - relu(U)), rho * W_next.T @ (W_next @ V - Rn)
    scale = np.linalg.norm(t1) + np.linalg.norm(t2) + np.linalg.norm(rho * W_next.T @ Rn)
    assert np.linalg.norm(t1 + t2) <= 1e-10 * scale, "hidden_v: gradient not zero"


# ----------------------------------------------------------------------------
# hidden V
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("gamma,rho,alpha", HYPER)
# (12, 3, 40) makes "auto" pick the Woodbury form; n < 2d (8, 5, 7) takes the triangular solves,
# n >= 2d the explicit inverse of the factored system
@pytest.mark.parametrize("d,d_next,n", [(6, 4, 21), (4, 7, 9), (12, 3, 40), (8, 5, 7)])
@pytest.mark.parametrize("form", ["auto", "direct", "woodbury"])
def test_hidden_v(gamma, rho, alpha, d, d_next, n, form):
    rng = np.random.default_rng(16 + d)
    U = rng.standard_normal((d, n))
    U_next = rng.standard_normal((d_next, n))
    W_next = rng.standard_normal((d_next, d))
    b_next = rng.standard_normal(d_next)
    inputs = [x.copy() for x in (U, U_next, W_next, b_next)]

    V = blocks.hidden_v(U, U_next, W_next, b_next, rho, gamma, form=form)
    _check_unchanged(inputs, (U, U_next, W_next, b_next))
    assert V.shape == (d, n) and V.dtype == np.float64

    # stacked least squares: ‖[√ρ W_next; √γ I] V − [√ρ (U_next − b1ᵀ); √γ relu(U)]‖²
    A = np.vstack([np.sqrt(rho) * W_next, np.sqrt(gamma) * np.eye(d)])
    B = np.vstack([np.sqrt(rho) * (U_next - b_next[:, None]), np.sqrt(gamma) * relu(U)])
    ref = np.linalg.lstsq(A, B, rcond=None)[0]
    _assert_rel(V, ref, 1e-10, "hidden_v vs lstsq")
    _assert_rel(V, oracle.solve_hidden_v(U, U_next, W_next, b_next, rho, gamma), 1e-10,
                "hidden_v vs normal equations")

    Rn = U_next - b_next[:, None]
    obj = lambda Z: 0.5 * gamma * sq(Z - relu(U)) + 0.5 * rho * sq(Rn - W_next @ Z)
    t1 = gamma * (V - relu(U))
    t2 = rho * W_next.T @ (W_next @ V - Rn)
    scale = np.linalg.norm(t1) + np.linalg.norm(t2) + np.linalg.norm(rho * W_next.T @ Rn)
    assert np.linalg.norm(t1 + t2) <= 1e-10 * scale, "hidden_v: gradient not zero"
    _perturbation_check(obj, V, rng)


# ----------------------------------------------------------------------------
# hidden U (elementwise, nonconvex): brute force
# ----------------------------------------------------------------------------


def _hidden_u_brute(V, M, U_old, rho, gamma, alpha):
    """Elementwise global minimiser of
    g(u) = γ/2 (v − relu(u))² + ρ/2 (u − m)² + α/2 (u − u_old)²,
    by grid + ternary refinement of each convex piece.  Returns
    (u_ref, g_ref, gap, g_grid, g) with g a callable on flat arrays."""
    v, m, uo = V.ravel(), M.ravel(), U_old.ravel()

    def g(u, v=v, m=m, uo=uo):
        return 0.5 * gamma * (v - relu(u)) ** 2 + 0.5 * rho * (u - m) ** 2 + 0.5 * alpha * (u - uo) ** 2

    # interval: g(u) = (ρ+α)/2 (u − c)² + γ/2 (v − relu(u))² + K,  c = (ρm+αu_old)/(ρ+α)
    # g(u*) ≤ g(c) ⇒ |u* − c| ≤ sqrt(γ/(ρ+α)) |v − relu(c)|
    cc = (rho * m + alpha * uo) / (rho + alpha)
    R = np.sqrt(gamma / (rho + alpha)) * np.abs(v - relu(cc)) + 1e-3 * (1 + np.abs(cc))
    lo, hi = np.minimum(cc - R, 0.0), np.maximum(cc + R, 0.0)
    u_ref, g_ref, gap, _, _ = oracle.piecewise_global_min(g, lo, hi)
    g_grid = oracle.grid_min(lambda u: g(u, v[:, None], m[:, None], uo[:, None]), lo, hi)
    return u_ref, g_ref, gap, g_grid, g


@pytest.mark.parametrize("gamma,rho,alpha", HYPER)
def test_hidden_u_brute_force(gamma, rho, alpha):
    rng = np.random.default_rng(17)
    d, d_prev, n = 6, 5, 30
    V = rng.standard_normal((d, n)) * 1.5
    V_prev = relu(rng.standard_normal((d_prev, n)))
    W = rng.standard_normal((d, d_prev))
    b = rng.standard_normal(d)
    U_old = rng.standard_normal((d, n))
    inputs = [x.copy() for x in (V, V_prev, W, b, U_old)]

    U = blocks.hidden_u(V, V_prev, W, b, U_old, rho, gamma, alpha)
    _check_unchanged(inputs, (V, V_prev, W, b, U_old))
    assert U.shape == (d, n) and U.dtype == np.float64

    M = W @ V_prev + b[:, None]
    u_ref, g_ref, gap, g_grid, g = _hidden_u_brute(V, M, U_old, rho, gamma, alpha)
    u = U.ravel()
    S = 1.0 + np.abs(V.ravel()) + np.abs(M.ravel()) + np.abs(U_old.ravel())
    gtol = 1e-12 * (gamma + rho + alpha) * S**2
    gu = g(u)
    bad = gu > g_ref + gtol
    assert not bad.any(), (f"hidden_u not optimal: v={V.ravel()[bad][:4]} m={M.ravel()[bad][:4]} "
                           f"u_old={U_old.ravel()[bad][:4]} got {u[bad][:4]} brute {u_ref[bad][:4]}")
    assert np.all(gu <= g_grid + gtol), "hidden_u worse than a grid point"
    clear = gap > 1e-9 * (gamma + rho + alpha) * S**2
    bad = clear & (np.abs(u - u_ref) > 1e-6 * S)
    assert not bad.any(), f"hidden_u wrong minimiser: got {u[bad][:4]}, brute force {u_ref[bad][:4]}"
    # stationarity on the smooth piece the point lies in
    pos = u > 1e-12 * S
    neg = u < -1e-12 * S
    d_pos = gamma * (u - V.ravel()) + rho * (u - M.ravel()) + alpha * (u - U_old.ravel())
    d_neg = rho * (u - M.ravel()) + alpha * (u - U_old.ravel())
    tol = 1e-11 * (gamma + rho + alpha) * S
    assert np.all(np.abs(d_pos[pos]) <= tol[pos]), "hidden_u: derivative ≠ 0 on u > 0"
    assert np.all(np.abs(d_neg[neg]) <= tol[neg]), "hidden_u: derivative ≠ 0 on u < 0"
    # and the closed form of DESIGN §2 step 5
    closed = oracle.solve_hidden_u(V, V_prev, W, b, U_old, rho, gamma, alpha).ravel()
    assert np.all(np.abs(u - closed)[clear] <= 1e-12 * S[clear])


# ----------------------------------------------------------------------------
# non-contiguous (Fortran-ordered / strided) inputs give the same answer
# ----------------------------------------------------------------------------


def test_blocks_accept_non_contiguous_inputs():
    rng = np.random.default_rng(18)
    d_out, d_in, n = 4, 5, 12
    U = np.asfortranarray(rng.standard_normal((d_out, n)))
    V_prev = rng.standard_normal((d_in, 2 * n))[:, ::2]
    W_old = rng.standard_normal((d_in, d_out)).T
    b = rng.standard_normal(2 * d_out)[::2]
    rho, alpha, gamma = 1.3, 0.6, 0.9
    Vc = np.ascontiguousarray(V_prev)
    _assert_rel(blocks.weights(U, V_prev, W_old, b, rho, alpha),
                oracle.solve_weights(np.ascontiguousarray(U), Vc, np.ascontiguousarray(W_old),
                                     np.ascontiguousarray(b), rho, alpha), 1e-10,
                "weights (non-contiguous)")
    _assert_rel(blocks.bias(U, V_prev, W_old, b, rho, alpha),
                oracle.solve_bias(U, Vc, W_old, b, rho, alpha), 1e-12, "bias (non-contiguous)")
    Un = rng.standard_normal((d_in, n))
    _assert_rel(blocks.hidden_v(np.asfortranarray(Un), U, W_old, b, rho, gamma),
                oracle.solve_hidden_v(Un, U, W_old, b, rho, gamma), 1e-10,
                "hidden_v (non-contiguous)")


# ----------------------------------------------------------------------------
# float32 smoke checks (loose tolerance)
# ----------------------------------------------------------------------------


def test_blocks_float32_smoke():
    rng = np.random.default_rng(19)
    gamma, rho, alpha, lam, tau = 0.8, 1.2, 0.5, 0.1, 0.3
    d_prev, d, K, n = 5, 6, 3, 25
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    X, Y, Uk, Vk_old = f32(d_prev, n), f32(K, n), f32(K, n), f32(K, n)
    W, b, Wk, bk = f32(d, d_prev), f32(d), f32(K, d), f32(K)
    Ud, Vd, G = f32(d, n), f32(d, n), f32(d, d_prev)
    c64 = lambda A: A.astype(np.float64)
    rt = 1e-4

    out = blocks.output_v(Y, Uk, Vk_old, gamma, alpha)
    assert out.dtype == np.float32
    _assert_rel(out, oracle.solve_output_v(c64(Y), c64(Uk), c64(Vk_old), gamma, alpha), rt,
                "output_v f32")

    out = blocks.output_u(Vk_old, Wk, bk, Vd, gamma, rho)
    assert out.dtype == np.float32
    _assert_rel(out, oracle.solve_output_u(c64(Vk_old), c64(Wk), c64(bk), c64(Vd), gamma, rho),
                rt, "output_u f32")

    out = blocks.weights(Ud, X, W, b, rho, alpha, weight_decay=lam, tau=tau, G=G)
    assert out.dtype == np.float32
    _assert_rel(out, oracle.solve_weights(c64(Ud), c64(X), c64(W), c64(b), rho, alpha, lam, tau,
                                          c64(G)), 1e-3, "weights f32")

    out = blocks.bias(Ud, X, W, b, rho, alpha)
    assert out.dtype == np.float32
    _assert_rel(out, oracle.solve_bias(c64(Ud), c64(X), c64(W), c64(b), rho, alpha), rt,
                "bias f32")

    out = blocks.hidden_v(Ud, Uk, Wk, bk, rho, gamma)
    assert out.dtype == np.float32
    _assert_rel(out, oracle.solve_hidden_v(c64(Ud), c64(Uk), c64(Wk), c64(bk), rho, gamma),
                1e-3, "hidden_v f32")

    out = blocks.hidden_u(Vd, X, W, b, Ud, rho, gamma, alpha)
    assert out.dtype == np.float32 and out.shape == (d, n)
    M = c64(W) @ c64(X) + c64(b)[:, None]
    _, g_ref, _, _, g = _hidden_u_brute(c64(Vd), M, c64(Ud), rho, gamma, alpha)
    S = 1.0 + np.abs(c64(Vd).ravel()) + np.abs(M.ravel()) + np.abs(c64(Ud).ravel())
    assert np.all(g(c64(out).ravel()) <= g_ref + 1e-4 * S**2), "hidden_u f32 not near-optimal"


# ----------------------------------------------------------------------------
# shape errors
# ----------------------------------------------------------------------------


def test_blocks_reject_shape_mismatch():
    rng = np.random.default_rng(20)
    U = rng.standard_normal((4, 10))
    V_prev = rng.standard_normal((5, 10))
    W = rng.standard_normal((4, 5))
    b = rng.standard_normal(4)
    with pytest.raises(ValueError):
        blocks.weights(U, V_prev[:, :9], W, b, 1.0, 1.0)        # n mismatch
    with pytest.raises(ValueError):
        blocks.weights(U, V_prev, W[:, :4], b, 1.0, 1.0)        # W_old wrong shape
    with pytest.raises(ValueError):
        blocks.bias(U, V_prev, W, b[:3], 1.0, 1.0)              # b wrong length
    with pytest.raises(ValueError):
        blocks.output_v(U, U[:, :9], U, 1.0, 1.0)
    with pytest.raises(ValueError):
        blocks.hidden_v(rng.standard_normal((6, 10)), U, W, b, 1.0, 1.0)  # W_next is (4,5), U is 6 rows


def test_hidden_v_forms_agree_in_float32_at_scale():
    """Woodbury and direct forms, and the inverse-times-GEMM path, against a float64 solve."""
    rng = np.random.default_rng(21)
    d, d_next, n = 96, 24, 400
    U = rng.standard_normal((d, n))
    U_next = rng.standard_normal((d_next, n))
    W_next = rng.standard_normal((d_next, d)) * np.sqrt(2 / d)
    b_next = rng.standard_normal(d_next)
    exact = oracle.solve_hidden_v(U, U_next, W_next, b_next, 1.0, 1.0)
    for form in ("direct", "woodbury"):
        V = blocks.hidden_v(*(a.astype(np.float32) for a in (U, U_next, W_next, b_next)),
                            1.0, 1.0, form=form)
        assert V.dtype == np.float32
        _assert_rel(V, exact, 1e-5, f"float32 {form}")


def test_hidden_v_rejects_unknown_form():
    with pytest.raises(ValueError, match="form must be one of"):
        blocks.hidden_v(np.ones((2, 3)), np.ones((1, 3)), np.ones((1, 2)), np.ones(1), 1.0, 1.0,
                        form="cholesky")
