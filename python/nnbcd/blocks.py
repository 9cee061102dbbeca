"""The individual block updates of one NN-BCD iteration (DESIGN §2), one call each.

``BCD`` runs them all inside C++; these wrappers exist to inspect and test each block on its own.
Arrays are in the paper's orientation: ``W`` is (d_out, d_in), ``b`` is (d_out,), and ``U``,
``V``, ``Y`` are (d, n) with samples as columns. Each function returns the exact minimiser of
its block's subproblem as a new array; inputs are never modified. The result is float32 when
every array argument is float32, float64 otherwise.
"""

import numpy as np

from . import _validation as v
from ._native import core


def _prepare(arrays, scalars, positive=()):
    dtype = np.float32 if all(np.asarray(a).dtype == np.float32 for a in arrays.values()) else np.float64
    checked = {}
    for name, value in arrays.items():
        ndim = 1 if name.startswith("b") else 2
        checked[name] = v.check_data(name, value, dtype, ndim)
    for name, value in scalars.items():
        checked[name] = (v.check_positive if name in positive else v.check_non_negative)(name, value)
    suffix = "32" if dtype == np.float32 else "64"
    return checked, suffix


def output_v(Y, U, V_old, gamma, alpha):
    """V_N minimising 1/2||V - Y||² + γ/2||V - U||² + α/2||V - V_old||²."""
    a, s = _prepare({"Y": Y, "U": U, "V_old": V_old}, {"gamma": gamma, "alpha": alpha},
                    positive=("gamma",))
    return getattr(core, "output_v" + s)(a["Y"], a["U"], a["V_old"], a["gamma"], a["alpha"])


def output_u(V, W, b, V_prev, gamma, rho):
    """U_N minimising γ/2||V - U||² + ρ/2||U - W V_prev - b1ᵀ||²."""
    a, s = _prepare({"V": V, "W": W, "b": b, "V_prev": V_prev}, {"gamma": gamma, "rho": rho},
                    positive=("gamma", "rho"))
    return getattr(core, "output_u" + s)(a["V"], a["W"], a["b"], a["V_prev"], a["gamma"], a["rho"])


def weights(U, V_prev, W_old, b, rho, alpha, weight_decay=0.0, tau=0.0, G=None):
    """W minimising ρ/2||U - W V_prev - b1ᵀ||² + α/2||W - W_old||² + λ/2||W||² + τ/2||W - G||²."""
    arrays = {"U": U, "V_prev": V_prev, "W_old": W_old, "b": b}
    if G is not None:
        arrays["G"] = G
    a, s = _prepare(arrays, {"rho": rho, "alpha": alpha, "weight_decay": weight_decay, "tau": tau},
                    positive=("rho", "alpha"))
    if a["tau"] > 0 and G is None:
        raise ValueError("G is required when tau > 0")
    return getattr(core, "weights" + s)(a["U"], a["V_prev"], a["W_old"], a["b"], a["rho"],
                                        a["alpha"], a["weight_decay"], a["tau"], a.get("G"))


def bias(U, V_prev, W, b_old, rho, alpha):
    """b minimising ρ/2||U - W V_prev - b1ᵀ||² + α/2||b - b_old||²."""
    a, s = _prepare({"U": U, "V_prev": V_prev, "W": W, "b_old": b_old},
                    {"rho": rho, "alpha": alpha}, positive=("rho",))
    return getattr(core, "bias" + s)(a["U"], a["V_prev"], a["W"], a["b_old"], a["rho"], a["alpha"])


V_FORMS = ("auto", "direct", "woodbury")


def hidden_v(U, U_next, W_next, b_next, rho, gamma, form="auto"):
    """V_i minimising γ/2||V - relu(U)||² + ρ/2||U_next - W_next V - b_next1ᵀ||².

    ``form`` picks how the system is solved: "direct" factors the d_i × d_i matrix
    ρWᵀW + γI, "woodbury" the d_{i+1} × d_{i+1} matrix γI + ρWWᵀ; "auto" (what training uses)
    takes the cheaper by the cost model (Woodbury when d_{i+1} < 0.618 d_i).
    """
    if form not in V_FORMS:
        raise ValueError(f"form must be one of {V_FORMS}, got {form!r}")
    a, s = _prepare({"U": U, "U_next": U_next, "W_next": W_next, "b_next": b_next},
                    {"rho": rho, "gamma": gamma}, positive=("rho", "gamma"))
    method = core.VUpdateForm.automatic if form == "auto" else getattr(core.VUpdateForm, form)
    return getattr(core, "hidden_v" + s)(a["U"], a["U_next"], a["W_next"], a["b_next"],
                                         a["rho"], a["gamma"], method)


def hidden_u(V, V_prev, W, b, U_old, rho, gamma, alpha):
    """U_i minimising γ/2||V - relu(U)||² + ρ/2||U - W V_prev - b1ᵀ||² + α/2||U - U_old||²."""
    a, s = _prepare({"V": V, "V_prev": V_prev, "W": W, "b": b, "U_old": U_old},
                    {"rho": rho, "gamma": gamma, "alpha": alpha}, positive=("rho", "gamma"))
    return getattr(core, "hidden_u" + s)(a["V"], a["V_prev"], a["W"], a["b"], a["U_old"],
                                         a["rho"], a["gamma"], a["alpha"])
