"""Straightforward torch implementation of one dense NN-BCD iteration (the benchmark baseline).

This is deliberately written the way the paper authors' notebooks write it (Zeng et al.,
"Global convergence of block coordinate descent in deep learning"; Li et al., arXiv 2303.06815):
samples as columns, biases as (d, 1) column tensors broadcast with ``.repeat(1, n)``, explicit
``torch.inverse`` of every linear system, one torch op at a time, no fusing, no Cholesky, no
symmetric rank updates. It performs exactly the block updates of DESIGN.md §2 in the same backward
order, so that ``bench/iteration.py`` compares the same algorithm implemented two ways: for a dense
network (τ = 0, no compression) by default, and optionally with tensor-train (TT) compressed
layers (``tt=``), written the way the paper's authors write them: torch + TensorLy with the
pytorch backend, ``tensorly.decomposition.tensor_train`` (TT-SVD by full SVDs of the unfoldings)
and ``tensorly.tt_to_tensor`` on the plain row-major reshape of each (d_out, d_in) weight matrix.

It is a benchmark baseline only: the ``nnbcd`` library never imports torch (nor tensorly; this
module imports tensorly only when a TT layer is asked for).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from machine import HAR_TT_SHAPES  # noqa: F401  (shared with the benchmarks that need no torch)


def _as_tensor(a, dtype):
    if isinstance(a, torch.Tensor):
        return a.detach().to(dtype=dtype).clone()
    return torch.from_numpy(np.array(a)).to(dtype=dtype)


def relu_prox(a, c, eta):
    """argmin_u ½(max(u,0) − a)² + η/2 (u − c)², elementwise (DESIGN.md §2 step 5).

    The minimiser is one of x₊ = max((a + ηc)/(1 + η), 0) and x₋ = min(c, 0); the one with the
    lower objective value is taken, ties going to x₊.
    """
    x_plus = torch.clamp((a + eta * c) / (1 + eta), min=0)
    x_minus = torch.clamp(c, max=0)
    f_plus = 0.5 * (torch.clamp(x_plus, min=0) - a) ** 2 + eta / 2 * (x_plus - c) ** 2
    f_minus = 0.5 * (torch.clamp(x_minus, min=0) - a) ** 2 + eta / 2 * (x_minus - c) ** 2
    return torch.where(f_plus <= f_minus, x_plus, x_minus)


def objective(Ws, bs, Us, Vs, X, Y, gamma, rho, Gs=None, tau=0.0):
    """Φ of DESIGN.md §1, samples as columns.

    Φ = ½‖V_N − Y‖² + γ/2 Σ_i ‖V_i − σ_i(U_i)‖² + ρ/2 Σ_i ‖U_i − W_i V_{i−1} − b_i 1ᵀ‖²
        + τ/2 Σ_{i: Gs[i] is not None} ‖W_i − G_i‖²,
    σ = ReLU on hidden layers, identity on the output layer. ``X`` is d_0 × n, ``Y`` is K × n,
    ``bs`` are (d, 1) columns, ``Gs`` (optional) one entry per layer: the compressed copy G_i of a
    compressed layer, None for a dense one (Gs=None: a dense network, τ = 0).
    Returned as a Python float (accumulated in float64).
    """
    N = len(Ws)
    n = X.shape[1]
    phi = 0.5 * torch.sum((Vs[N - 1] - Y).double() ** 2).item()
    V_prev = X
    for i in range(N):
        sigma_U = Us[i] if i == N - 1 else torch.relu(Us[i])
        phi += gamma / 2 * torch.sum((Vs[i] - sigma_U).double() ** 2).item()
        r = Us[i] - Ws[i] @ V_prev - bs[i].repeat(1, n)
        phi += rho / 2 * torch.sum(r.double() ** 2).item()
        V_prev = Vs[i]
    if Gs is not None:
        for W, G in zip(Ws, Gs):
            if G is not None:
                phi += tau / 2 * torch.sum((W - G).double() ** 2).item()
    return phi


def tt_project(W, shape, rank):
    """G = TT-SVD of W at max rank ``rank``, the authors' way (TensorLy, pytorch backend).

    W (d_out, d_in) is reshaped row-major to ``shape``, decomposed by
    ``tensorly.decomposition.tensor_train`` and rebuilt by ``tensorly.tt_to_tensor``. Returns
    (G as a (d_out, d_in) tensor, the TT rank profile [1, r_1, ..., r_{d−1}, 1] as a list of int).
    The backend is switched to pytorch for this thread only, and restored afterwards.
    """
    import tensorly as tl
    from tensorly.decomposition import tensor_train

    with tl.backend_context("pytorch", local_threadsafe=True):
        factors = tensor_train(W.reshape(tuple(shape)), rank)
        G = tl.tt_to_tensor(factors).reshape(W.shape)
    return G, [int(r) for r in factors.rank]


def magnitude_project(W, sparsity):
    """G = W with all but its k = round((1 − sparsity)·size) largest-magnitude entries zeroed
    (``torch.topk`` over the flattened weights, as a torch user writes it)."""
    keep = math.floor((1.0 - sparsity) * W.numel() + 0.5)
    flat = W.reshape(-1)
    kept = torch.topk(flat.abs(), keep).indices
    G = torch.zeros_like(flat)
    G[kept] = flat[kept]
    return G.reshape(W.shape)


def tt_rank_profile(shape, rank):
    """The TT ranks TensorLy's tensor_train gives: r_k = min(rank, Π n_1..n_k, Π n_{k+1}..n_d)."""
    shape = [int(m) for m in shape]
    ranks = [1]
    for k in range(1, len(shape)):
        ranks.append(min(int(rank), math.prod(shape[:k]), math.prod(shape[k:])))
    return ranks + [1]


def tt_core_size(shape, rank):
    """Number of stored parameters of the TT cores: Σ_k r_{k−1} n_k r_k."""
    r = tt_rank_profile(shape, rank)
    return sum(r[k] * int(m) * r[k + 1] for k, m in enumerate(shape))


class TorchBCD:
    """Dense NN-BCD, torch, the authors' style (explicit inverses, one op at a time).

    Parameters
    ----------
    sizes : widths d_0, ..., d_N.
    X : (n, d_0) inputs (scikit-learn shaped; stored internally as d_0 × n).
    Y : (n, K) targets, or a 1-D array of class indices in [0, d_N) (one-hot encoded).
    gamma, rho, alpha : the NN-BCD penalty and proximal weights.
    seed : seeds the weight initialisation (ignored where ``weights``/``biases`` are given).
    dtype : torch.float32 (default) or torch.float64.
    weights, biases : optional initial weights, list of (d_out, d_in) and list of (d_out,) arrays
        (e.g. copied from an ``nnbcd.MLP``) to start from exactly the same point.
    tt : None (a dense network) or a list with one entry per layer: None for a dense layer, or a
        pair ``(shape, rank)`` for a tensor-train compressed layer, ``shape`` a tuple of modes whose
        product is d_out·d_in (the plain row-major reshape of the (d_out, d_in) weight matrix),
        ``rank`` the maximum TT rank. Each TT layer keeps a separate G_i = TT-SVD(W_i) (TensorLy),
        taken at construction and after every backward sweep.
    pruned : None, or one entry per layer: None, or the sparsity of a pruned layer, whose
        G_i keeps the largest-magnitude entries of W_i (``magnitude_project``). A layer cannot be
        both tensor-train and pruned.
    tau, tau_growth, tau_max : the weight τ of τ/2‖W_i − G_i‖² and its schedule: after each
        iteration's projection, τ ← min(τ·tau_growth, tau_max). Unused when there is no TT layer.

    U and V are initialised from a forward pass: U_i = W_i V_{i−1} + b_i, V_i = σ_i(U_i).
    """

    def __init__(self, sizes, X, Y, gamma=1.0, rho=1.0, alpha=1.0, seed=0,
                 dtype=torch.float32, weights=None, biases=None,
                 tt=None, tau=0.0, tau_growth=1.0, tau_max=math.inf, pruned=None):
        self.sizes = [int(s) for s in sizes]
        self.gamma = float(gamma)
        self.rho = float(rho)
        self.alpha = float(alpha)
        self.dtype = dtype
        N = len(self.sizes) - 1
        self.N = N
        self.tt = self._check_tt(tt)
        self.pruned = list(pruned) if pruned is not None else [None] * N
        if len(self.pruned) != N or any(
                s is not None and (t is not None or not 0 <= s < 1)
                for s, t in zip(self.pruned, self.tt)):
            raise ValueError(f"pruned must hold one entry per layer ({N}): None or a sparsity in "
                             f"[0, 1) for a layer that is not tensor-train, got {pruned!r}")
        self.tau = float(tau)
        self.tau_growth = float(tau_growth)
        self.tau_max = float(tau_max)
        if not (self.tau >= 0 and math.isfinite(self.tau)):
            raise ValueError(f"tau must be a finite number >= 0, got {tau!r}")
        if not (self.tau_growth > 0 and math.isfinite(self.tau_growth)):
            raise ValueError(f"tau_growth must be a finite number > 0, got {tau_growth!r}")
        if not self.tau_max >= 0:
            raise ValueError(f"tau_max must be >= 0 (math.inf for no cap), got {tau_max!r}")

        X = _as_tensor(X, dtype)
        self.n = n = X.shape[0]
        self.X = X.t().contiguous()  # d_0 x n, samples as columns
        Y = np.asarray(Y) if not isinstance(Y, torch.Tensor) else Y
        if Y.ndim == 1:
            y = torch.as_tensor(np.asarray(Y), dtype=torch.long)
            Yoh = torch.zeros(n, self.sizes[-1], dtype=dtype)
            Yoh[torch.arange(n), y] = 1
            Y = Yoh
        self.Y = _as_tensor(Y, dtype).t().contiguous()  # K x n

        gen = torch.Generator().manual_seed(int(seed))
        self.W = []
        self.b = []
        for i in range(N):
            d_in, d_out = self.sizes[i], self.sizes[i + 1]
            if weights is not None:
                W = _as_tensor(weights[i], dtype).reshape(d_out, d_in)
            else:  # torch.nn.Linear's default: U(−1/√d_in, 1/√d_in)
                bound = 1.0 / math.sqrt(d_in)
                W = (torch.rand(d_out, d_in, generator=gen, dtype=dtype) * 2 - 1) * bound
            if biases is not None:
                b = _as_tensor(biases[i], dtype).reshape(d_out, 1)
            elif weights is not None:
                b = torch.zeros(d_out, 1, dtype=dtype)
            else:
                bound = 1.0 / math.sqrt(d_in)
                b = (torch.rand(d_out, 1, generator=gen, dtype=dtype) * 2 - 1) * bound
            self.W.append(W)
            self.b.append(b)

        # forward pass
        self.U = []
        self.V = []
        V_prev = self.X
        for i in range(N):
            U = torch.addmm(self.b[i].repeat(1, n), self.W[i], V_prev)
            V = U.clone() if i == N - 1 else torch.relu(U)
            self.U.append(U)
            self.V.append(V)
            V_prev = V

        # compressed copies: G_i = TT-SVD(W_i) or pruned W_i, None for dense layers
        self.G = [None] * N
        self._tt_ranks = [None] * N
        self._project()

    # ------------------------------------------------------------------ helpers
    def _check_tt(self, tt):
        N = self.N
        if tt is None:
            return [None] * N
        tt = list(tt)
        if len(tt) != N:
            raise ValueError(f"tt must have one entry per layer ({N}), got {len(tt)}; use None "
                             "for a dense layer")
        out = []
        for i, entry in enumerate(tt):
            if entry is None:
                out.append(None)
                continue
            try:
                shape, rank = entry
                shape = tuple(int(m) for m in shape)
            except (TypeError, ValueError):
                raise ValueError(f"tt[{i}] must be None or a pair (shape, rank), got {entry!r}")
            d_out, d_in = self.sizes[i + 1], self.sizes[i]
            if any(m < 1 for m in shape) or math.prod(shape) != d_out * d_in:
                raise ValueError(f"tt[{i}] shape {shape} must be positive modes whose product is "
                                 f"d_out*d_in = {d_out}*{d_in} = {d_out * d_in}, got product "
                                 f"{math.prod(shape)}")
            if isinstance(rank, bool) or int(rank) != rank or int(rank) < 1:
                raise ValueError(f"tt[{i}] rank must be an integer >= 1, got {rank!r}")
            out.append((shape, int(rank)))
        return out

    def _project(self):
        """Step 7: G_i ← TT-SVD(W_i) (TensorLy) for every TT layer, the pruned W_i for every
        pruned layer; W_i is left as it is."""
        for i, (entry, sparsity) in enumerate(zip(self.tt, self.pruned)):
            if entry is not None:
                shape, rank = entry
                self.G[i], self._tt_ranks[i] = tt_project(self.W[i], shape, rank)
            elif sparsity is not None:
                self.G[i] = magnitude_project(self.W[i], sparsity)

    def _V_prev(self, i):
        return self.X if i == 0 else self.V[i - 1]

    def _update_Wb(self, i):
        """Steps 3/6: W by its closed form with an explicit inverse, then b with the new W.

        For a compressed layer, W ← (αW + τG + ρ(U − b1ᵀ)Vᵀ)((α + τ)I + ρVVᵀ)⁻¹ (step 6 with τ).

        (The authors' ``updateWb_js`` computes b from the *old* W, a Jacobi-style W/b update
        that is not an exact block minimisation; here b uses the new W, as DESIGN.md §2 and the
        nnbcd core do. The cost is the same either way: one more W V product.)
        """
        n, rho, alpha = self.n, self.rho, self.alpha
        V_prev = self._V_prev(i)
        U = self.U[i]
        W = self.W[i]
        b = self.b[i]
        d_in = V_prev.shape[0]
        I = torch.eye(d_in, dtype=self.dtype)
        G = self.G[i]
        if G is None:
            W = (alpha * W + rho * (U - b.repeat(1, n)) @ V_prev.t()) @ torch.inverse(
                alpha * I + rho * V_prev @ V_prev.t())
        else:
            tau = self.tau
            W = (alpha * W + tau * G + rho * (U - b.repeat(1, n)) @ V_prev.t()) @ torch.inverse(
                (alpha + tau) * I + rho * V_prev @ V_prev.t())
        b = (alpha * b + rho * torch.sum(U - W @ V_prev, dim=1, keepdim=True)) / (rho * n + alpha)
        self.W[i] = W
        self.b[i] = b

    # ------------------------------------------------------------------ one iteration
    def step(self):
        """One NN-BCD iteration: the backward sweep of DESIGN.md §2, then (TT layers only) the
        projection G_i ← TT-SVD(W_i) and τ ← min(τ·tau_growth, tau_max)."""
        self.sweep()
        self.project()

    def project(self):
        """After a sweep: G_i ← TT-SVD(W_i) or the pruned W_i for every compressed layer, then
        the τ schedule. A no-op for a dense network."""
        if any(g is not None for g in self.G):
            self._project()
            self.tau = min(self.tau * self.tau_growth, self.tau_max)

    def sweep(self):
        """The backward sweep of DESIGN.md §2 (steps 1-6): every W/b/U/V block, G fixed."""
        N, n = self.N, self.n
        gamma, rho, alpha = self.gamma, self.rho, self.alpha

        # output layer N (index N-1)
        k = N - 1
        V_prev = self._V_prev(k)
        self.V[k] = (self.Y + gamma * self.U[k] + alpha * self.V[k]) / (1 + gamma + alpha)
        self.U[k] = (gamma * self.V[k]
                     + rho * (torch.mm(self.W[k], V_prev) + self.b[k].repeat(1, n))) / (gamma + rho)
        self._update_Wb(k)

        # hidden layers N-1 ... 1 (indices N-2 ... 0)
        for i in range(N - 2, -1, -1):
            W_next = self.W[i + 1]
            b_next = self.b[i + 1]
            d = W_next.shape[1]
            I = torch.eye(d, dtype=self.dtype)
            # step 4: V_i
            self.V[i] = torch.inverse(rho * W_next.t() @ W_next + gamma * I) @ (
                rho * W_next.t() @ (self.U[i + 1] - b_next.repeat(1, n))
                + gamma * torch.relu(self.U[i]))
            # step 5: U_i
            V_prev = self._V_prev(i)
            c = (rho * (torch.mm(self.W[i], V_prev) + self.b[i].repeat(1, n))
                 + alpha * self.U[i]) / (rho + alpha)
            self.U[i] = relu_prox(self.V[i], c, (rho + alpha) / gamma)
            # step 6: W_i, b_i
            self._update_Wb(i)

    def objective(self):
        """Φ at the current iterate, with τ/2‖W_i − G_i‖² over compressed layers (see
        :func:`objective`)."""
        return objective(self.W, self.b, self.U, self.V, self.X, self.Y, self.gamma, self.rho,
                         Gs=self.G, tau=self.tau)

    def deployed_weights(self):
        """The deployed network's weights as numpy copies: G_i for compressed layers, W_i for
        dense ones."""
        return [(w if g is None else g).numpy().copy() for w, g in zip(self.W, self.G)]

    def tt_ranks(self):
        """The TT rank profile [1, r_1, ..., 1] of each TT layer's last decomposition (None for a
        dense layer)."""
        return [None if r is None else list(r) for r in self._tt_ranks]

    def variables(self):
        """Dict of numpy lists "W" (d_out, d_in), "b" (d_out,), "U", "V" (d_i, n)."""
        return {
            "W": [w.numpy().copy() for w in self.W],
            "b": [b.reshape(-1).numpy().copy() for b in self.b],
            "U": [u.numpy().copy() for u in self.U],
            "V": [v.numpy().copy() for v in self.V],
        }


def _self_test(iterations=20, seed=0):
    """Φ must not increase: every update is an exact block minimisation (float64)."""
    rng = np.random.default_rng(seed)
    sizes = [20, 32, 24, 16, 5]
    n = 200
    X = rng.standard_normal((n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)
    ok = True
    for gamma, rho, alpha in [(1.0, 1.0, 1.0), (0.1, 1.0, 0.01), (5.0, 0.5, 0.1)]:
        m = TorchBCD(sizes, X, y, gamma, rho, alpha, seed=seed, dtype=torch.float64)
        phis = [m.objective()]
        for _ in range(iterations):
            m.step()
            phis.append(m.objective())
        incr = max(b - a for a, b in zip(phis, phis[1:]))
        mono = incr <= 1e-10 * max(1.0, phis[0])
        ok &= mono
        print(f"gamma={gamma} rho={rho} alpha={alpha}: Phi {phis[0]:.6g} -> {phis[-1]:.6g}, "
              f"largest increase {incr:.3g}: {'monotone' if mono else 'NOT MONOTONE'}")
    ok &= _tt_self_test(iterations, seed)
    return ok


def _tt_self_test(iterations=20, seed=0):
    """TT layers (float64, fixed τ): (a) Φ does not increase over the W/U/V/b blocks of a sweep,
    which are exact minimisations (Φ right before the G projection vs Φ at the end of the previous
    iteration); the TT-SVD projection of G is only quasi-optimal, so its change of Φ is measured
    separately and printed, not checked; (b) each G has the requested TT rank profile, equals
    TensorLy's reconstruction of the current W, and its unfoldings have at most those ranks."""
    import tensorly as tl
    from tensorly.decomposition import tensor_train

    rng = np.random.default_rng(seed)
    sizes = [16, 64, 64, 4]
    n = 300
    rank = 4
    tt = [((4,) * 5, rank), ((4,) * 6, rank), None]  # 64x16 and 64x64 TT, 4x64 output dense
    X = rng.standard_normal((n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)
    backend_before = tl.get_backend()
    ok = True
    for gamma, rho, alpha in [(1.0, 1.0, 1.0), (0.1, 1.0, 0.01)]:
        m = TorchBCD(sizes, X, y, gamma, rho, alpha, seed=seed, dtype=torch.float64,
                     tt=tt, tau=1.0)
        phi_end = m.objective()
        phi0 = phi_end
        worst_sweep = -math.inf  # largest Φ increase over a sweep (must be <= 0 up to rounding)
        proj = []                # Φ change of each G projection (printed only)
        for _ in range(iterations):
            m.sweep()
            phi_pre = m.objective()
            worst_sweep = max(worst_sweep, phi_pre - phi_end)
            m.project()
            phi_end = m.objective()
            proj.append(phi_end - phi_pre)
        mono = worst_sweep <= 1e-10 * max(1.0, phi0)
        ok &= mono
        print(f"TT gamma={gamma} rho={rho} alpha={alpha} tau={m.tau:g}: Phi {phi0:.6g} -> "
              f"{phi_end:.6g}; W/U/V/b sweep: largest increase {worst_sweep:.3g}: "
              f"{'monotone' if mono else 'NOT MONOTONE'}; G projection (TT-SVD, quasi-optimal): "
              f"Phi change min {min(proj):.3g} max {max(proj):.3g}")
        # (b) rank profiles and reconstruction
        ranks = m.tt_ranks()
        deployed = m.deployed_weights()
        for i, entry in enumerate(tt):
            if entry is None:
                good = ranks[i] is None and np.array_equal(deployed[i], m.W[i].numpy())
                print(f"  layer {i + 1}: dense, deployed weights = W: {'ok' if good else 'WRONG'}")
                ok &= good
                continue
            shape, r = entry
            want = tt_rank_profile(shape, r)
            with tl.backend_context("pytorch", local_threadsafe=True):
                ref = tl.tt_to_tensor(tensor_train(m.W[i].reshape(shape), r)).reshape(m.W[i].shape)
            err = float(torch.max(torch.abs(m.G[i] - ref)))
            G = m.G[i].numpy()
            unfold = [int(np.linalg.matrix_rank(G.reshape(math.prod(shape[:k]), -1), tol=1e-9))
                      for k in range(1, len(shape))]
            good = (ranks[i] == want and err <= 1e-12 * max(1.0, float(np.max(np.abs(G))))
                    and all(u <= w for u, w in zip(unfold, want[1:-1]))
                    and np.array_equal(deployed[i], G))
            ok &= good
            print(f"  layer {i + 1}: TT {shape} rank {r}: ranks {ranks[i]} (want {want}), "
                  f"unfolding ranks of G {unfold}, max |G - tensorly(W)| {err:.2g}, "
                  f"||W - G|| {float(torch.linalg.norm(m.W[i] - m.G[i])):.3g}: "
                  f"{'ok' if good else 'WRONG'}")
    if tl.get_backend() != backend_before:
        print(f"tensorly backend changed from {backend_before} to {tl.get_backend()}: WRONG")
        ok = False
    # the τ schedule
    m = TorchBCD(sizes, X, y, seed=seed, dtype=torch.float64, tt=tt, tau=0.5, tau_growth=3.0,
                 tau_max=2.0)
    taus = []
    for _ in range(3):
        m.step()
        taus.append(m.tau)
    good = taus == [1.5, 2.0, 2.0]
    ok &= good
    print(f"tau schedule 0.5 * 3^k capped at 2: {taus}: {'ok' if good else 'WRONG'}")
    return ok


if __name__ == "__main__":
    import sys
    sys.exit(0 if _self_test() else 1)
