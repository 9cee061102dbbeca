"""Straightforward torch implementation of one dense NN-BCD iteration (the benchmark baseline).

This is deliberately written the way the paper authors' notebooks write it (Zeng et al.,
"Global convergence of block coordinate descent in deep learning"; Li et al., arXiv 2303.06815):
samples as columns, biases as (d, 1) column tensors broadcast with ``.repeat(1, n)``, explicit
``torch.inverse`` of every linear system, one torch op at a time, no fusing, no Cholesky, no
symmetric rank updates. It performs exactly the block updates of DESIGN.md §2 for a dense network
(τ = 0, no compression), in the same backward order, so that ``bench/iteration.py`` compares the
same algorithm implemented two ways.

It is a benchmark baseline only: the ``nnbcd`` library never imports torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch


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


def objective(Ws, bs, Us, Vs, X, Y, gamma, rho):
    """Φ of DESIGN.md §1 for a dense network (τ = 0), samples as columns.

    Φ = ½‖V_N − Y‖² + γ/2 Σ_i ‖V_i − σ_i(U_i)‖² + ρ/2 Σ_i ‖U_i − W_i V_{i−1} − b_i 1ᵀ‖²,
    σ = ReLU on hidden layers, identity on the output layer. ``X`` is d_0 × n, ``Y`` is K × n,
    ``bs`` are (d, 1) columns. Returned as a Python float (accumulated in float64).
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
    return phi


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

    U and V are initialised from a forward pass: U_i = W_i V_{i−1} + b_i, V_i = σ_i(U_i).
    """

    def __init__(self, sizes, X, Y, gamma=1.0, rho=1.0, alpha=1.0, seed=0,
                 dtype=torch.float32, weights=None, biases=None):
        self.sizes = [int(s) for s in sizes]
        self.gamma = float(gamma)
        self.rho = float(rho)
        self.alpha = float(alpha)
        self.dtype = dtype
        N = len(self.sizes) - 1
        self.N = N

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

    # ------------------------------------------------------------------ helpers
    def _V_prev(self, i):
        return self.X if i == 0 else self.V[i - 1]

    def _update_Wb(self, i):
        """Steps 3/6: W by its closed form with an explicit inverse, then b with the new W.

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
        W = (alpha * W + rho * (U - b.repeat(1, n)) @ V_prev.t()) @ torch.inverse(
            alpha * I + rho * V_prev @ V_prev.t())
        b = (alpha * b + rho * torch.sum(U - W @ V_prev, dim=1, keepdim=True)) / (rho * n + alpha)
        self.W[i] = W
        self.b[i] = b

    # ------------------------------------------------------------------ one iteration
    def step(self):
        """One NN-BCD iteration: the backward sweep of DESIGN.md §2."""
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
        """Φ at the current iterate (see :func:`objective`)."""
        return objective(self.W, self.b, self.U, self.V, self.X, self.Y, self.gamma, self.rho)

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
    return ok


if __name__ == "__main__":
    import sys
    sys.exit(0 if _self_test() else 1)
