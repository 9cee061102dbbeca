"""nnbcd.ops.relu_prox against brute force (DESIGN §2 step 5).

relu_prox(a, c, eta) = argmin_u ½(max(u,0) − a)² + η/2 (u − c)², elementwise.
The reference here is a brute-force search (a fine grid over a provably
sufficient interval, plus ternary-search refinement of each convex piece u ≤ 0
and u ≥ 0), never the library's own output.
"""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

import nnbcd  # noqa: E402
from nnbcd import ops  # noqa: E402

ETAS = [1e-3, 0.05, 0.3, 1.0, 2.5, 10.0, 100.0, 1e3]


def _f(u, a, c, eta):
    return oracle.relu_prox_value(u, a, c, eta)


def _search_interval(a, c, eta):
    # f(u*) ≤ f(c) = ½(max(c,0) − a)² and f(u*) ≥ η/2 (u* − c)²
    #   ⇒ |u* − c| ≤ |max(c,0) − a| / sqrt(η).
    R = np.abs(np.maximum(c, 0.0) - a) / np.sqrt(eta)
    pad = 1e-3 * (1.0 + np.abs(a) + np.abs(c))
    return c - R - pad, c + R + pad


def _tie_a(c, eta):
    """For c < 0: the a > 0 where f(x₊) = f(x₋) in exact arithmetic.

    With x₋ = c: f(x₋) = ½a²; with x₊ = (a+ηc)/(1+η) > 0:
    f(x₊) = η(a−c)² / (2(1+η)).  Equal when a = q(a − c), q = sqrt(η/(1+η)).
    """
    q = np.sqrt(eta / (1.0 + eta))
    return -q * c / (1.0 - q)


def _cases(rng, eta, m=400):
    """Random triples plus the boundary cases, as flat float64 arrays (a, c)."""
    a = rng.standard_normal(m) * rng.choice([0.1, 1.0, 10.0], size=m)
    c = rng.standard_normal(m) * rng.choice([0.1, 1.0, 10.0], size=m)
    k = rng.standard_normal(20)
    extra_a = [
        k,                       # c = 0
        np.zeros(20),            # a = 0
        -eta * k,                # a + ηc = 0
        np.zeros(1),             # a = c = 0
        _tie_a(-np.abs(k) - 0.1, eta),  # exact ties (in real arithmetic)
        np.array([1e6, -1e6, 1e-9, -1e-9, 3.0, -3.0]),
    ]
    extra_c = [
        np.zeros(20),
        k,
        k,
        np.zeros(1),
        -np.abs(k) - 0.1,
        np.array([-1e6, 1e6, -1e-9, 1e-9, 1e-300, -1e-300]),
    ]
    return np.concatenate([a] + extra_a), np.concatenate([c] + extra_c)


def _check_against_brute_force(a, c, eta, u):
    """All the optimality checks of a candidate u (float64 arrays, flat)."""
    a = a.astype(np.float64)
    c = c.astype(np.float64)
    u = u.astype(np.float64)
    S = 1.0 + np.abs(a) + np.abs(c)
    ftol = 1e-12 * S**2 * (1.0 + eta)

    lo, hi = _search_interval(a, c, eta)
    f = lambda x: _f(x, a, c, eta)
    u_ref, f_ref, gap, u_neg, u_pos = oracle.piecewise_global_min(f, lo, hi)
    fu = f(u)

    # 1. value: no worse than the refined brute-force minimum nor any grid point
    bad = fu > f_ref + ftol
    assert not bad.any(), (
        f"relu_prox not optimal (eta={eta}): a={a[bad][:5]}, c={c[bad][:5]}, "
        f"got u={u[bad][:5]} f={fu[bad][:5]}, brute force u={u_ref[bad][:5]} f={f_ref[bad][:5]}")
    fgrid = oracle.grid_min(lambda x: _f(x, a[:, None], c[:, None], eta),
                            np.minimum(lo, 0.0), np.maximum(hi, 0.0))
    bad = fu > fgrid + ftol
    assert not bad.any(), (
        f"relu_prox worse than a grid point (eta={eta}): a={a[bad][:5]}, c={c[bad][:5]}, "
        f"got u={u[bad][:5]}")

    # 2. position: where one piece clearly wins, u is that piece's minimiser
    clear = gap > 1e-9 * S**2 * (1.0 + eta)
    pos_tol = 1e-6 * S
    bad = clear & (np.abs(u - u_ref) > pos_tol)
    assert not bad.any(), (
        f"relu_prox wrong minimiser (eta={eta}): a={a[bad][:5]}, c={c[bad][:5]}, "
        f"got {u[bad][:5]}, brute force {u_ref[bad][:5]}")
    # near ties: u is one of the two piece minimisers
    near_tie = ~clear
    bad = near_tie & (np.abs(u - u_neg) > pos_tol) & (np.abs(u - u_pos) > pos_tol)
    assert not bad.any(), (
        f"relu_prox at a tie is neither candidate (eta={eta}): a={a[bad][:5]}, "
        f"c={c[bad][:5]}, got {u[bad][:5]}, candidates {u_neg[bad][:5]} / {u_pos[bad][:5]}")

    # 3. first-order conditions (tight): u > 0: (u − a) + η(u − c) = 0;
    #    u < 0: u = c;  u = 0: c ≥ 0 and a + ηc ≤ 0 (one-sided derivatives)
    gtol = 1e-12 * (1.0 + eta) * S
    tiny = 1e-12 * S
    pos_ok = np.abs((1.0 + eta) * u - a - eta * c) <= gtol
    neg_ok = np.abs(u - c) <= tiny
    zero_ok = (c >= -tiny) & (a + eta * c <= gtol)
    ok = np.where(u > tiny, pos_ok, np.where(u < -tiny, neg_ok, pos_ok | neg_ok | zero_ok))
    assert ok.all(), (
        f"relu_prox fails stationarity (eta={eta}): a={a[~ok][:5]}, c={c[~ok][:5]}, "
        f"got {u[~ok][:5]}")

    # 4. the closed form of DESIGN §2 (oracle) agrees wherever there is no near tie
    closed = oracle.relu_prox(a, c, eta)
    bad = clear & (np.abs(u - closed) > 1e-12 * S)
    assert not bad.any(), (
        f"relu_prox differs from x±-formula (eta={eta}): a={a[bad][:5]}, c={c[bad][:5]}, "
        f"got {u[bad][:5]}, expected {closed[bad][:5]}")


@pytest.mark.parametrize("eta", ETAS)
def test_relu_prox_matches_brute_force(eta):
    rng = np.random.default_rng(int(eta * 1000) + 17)
    a, c = _cases(rng, eta)
    a0, c0 = a.copy(), c.copy()
    u = ops.relu_prox(a, c, eta)
    assert isinstance(u, np.ndarray)
    assert u.shape == a.shape
    assert u.dtype == np.float64
    assert np.array_equal(a, a0) and np.array_equal(c, c0), "relu_prox modified its input"
    assert np.all(np.isfinite(u))
    _check_against_brute_force(a, c, eta, u)


def test_relu_prox_boundary_cases_exact():
    """Hand-checked values (derived by hand from the definition, not from the code)."""
    # eta = 1, c = 0: minimiser on u ≥ 0 is max(a/2, 0); on u ≤ 0 it is 0.
    a = np.array([2.0, -2.0, 0.0, 4.0])
    c = np.array([0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(ops.relu_prox(a, c, 1.0), [1.0, 0.0, 0.0, 2.0], atol=1e-15)
    # a = 0, c < 0: u = c gives f = 0 (global min); a = 0, c > 0: u = c/(1+η)
    a = np.array([0.0, 0.0])
    c = np.array([-3.0, 3.0])
    np.testing.assert_allclose(ops.relu_prox(a, c, 2.0), [-3.0, 2.0], atol=1e-15)
    # c < 0 and a + ηc ≤ 0: u = c (f = ½a²), beats u = 0 (f = ½a² + η/2 c²)
    a = np.array([1.0, -1.0])
    c = np.array([-1.0, -1.0])
    np.testing.assert_allclose(ops.relu_prox(a, c, 1.0), [-1.0, -1.0], atol=1e-15)
    # c < 0 but a large: x₊ = (a+ηc)/(1+η) = (10 − 1)/2 = 4.5, f = 30.25 < f(c) = 50
    np.testing.assert_allclose(ops.relu_prox(np.array([10.0]), np.array([-1.0]), 1.0),
                               [4.5], atol=1e-14)


def test_relu_prox_ties_return_a_candidate():
    # η = 9/16 ⇒ q = sqrt(η/(1+η)) = 3/5, tie at a = −1.5 c; with c = −2: a = 3,
    # x₊ = −q c = 1.2, x₋ = −2, both with f = 4.5 (exactly, in real arithmetic).
    eta = 9.0 / 16.0
    c = np.array([-2.0, -4.0, -0.5])
    a = -1.5 * c
    u = ops.relu_prox(a, c, eta)
    xp, xm = 0.6 * -c, c
    assert np.all(np.isclose(u, xp, rtol=0, atol=1e-12) | np.isclose(u, xm, rtol=0, atol=1e-12)), u
    f = _f(u, a, c, eta)
    np.testing.assert_allclose(f, 0.5 * a**2, rtol=1e-12)


@pytest.mark.parametrize("shape", [(13,), (4, 9), (2, 3, 5)])
def test_relu_prox_any_shape(shape):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(shape)
    c = rng.standard_normal(shape)
    u = ops.relu_prox(a, c, 0.7)
    assert u.shape == shape
    assert u.dtype == np.float64
    _check_against_brute_force(a.ravel(), c.ravel(), 0.7, np.asarray(u).ravel())


def test_relu_prox_non_contiguous_inputs():
    rng = np.random.default_rng(4)
    big_a = rng.standard_normal((8, 12))
    big_c = rng.standard_normal((12, 8))
    a = big_a[:, ::2]          # strided view, shape (8, 6)
    c = big_c[::2, :].T        # transposed view, shape (8, 6)
    assert not a.flags.c_contiguous and not c.flags.c_contiguous
    u = ops.relu_prox(a, c, 1.3)
    assert u.shape == (8, 6)
    np.testing.assert_allclose(u, ops.relu_prox(np.ascontiguousarray(a),
                                                np.ascontiguousarray(c), 1.3), rtol=0, atol=0)
    _check_against_brute_force(np.ravel(a), np.ravel(c), 1.3, np.ravel(u))


def test_relu_prox_float32_smoke():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((6, 50)).astype(np.float32)
    c = rng.standard_normal((6, 50)).astype(np.float32)
    eta = 0.8
    u = ops.relu_prox(a, c, eta)
    assert u.dtype == np.float32
    assert u.shape == a.shape
    a64, c64, u64 = (x.astype(np.float64).ravel() for x in (a, c, u))
    S = 1.0 + np.abs(a64) + np.abs(c64)
    f = lambda x: _f(x, a64, c64, eta)
    lo, hi = _search_interval(a64, c64, eta)
    _, f_ref, _, _, _ = oracle.piecewise_global_min(f, lo, hi)
    assert np.all(f(u64) <= f_ref + 1e-5 * S**2), "float32 relu_prox not near-optimal"


@pytest.mark.parametrize("eta", [0.0, -1.0, -1e-12, float("nan")])
def test_relu_prox_rejects_bad_eta(eta):
    a = np.ones(4)
    c = np.ones(4)
    with pytest.raises(ValueError):
        ops.relu_prox(a, c, eta)


@pytest.mark.parametrize("shapes", [((4,), (5,)), ((3, 4), (4, 3)), ((12,), (3, 4))])
def test_relu_prox_rejects_shape_mismatch(shapes):
    a = np.ones(shapes[0])
    c = np.ones(shapes[1])
    with pytest.raises(ValueError):
        ops.relu_prox(a, c, 1.0)
