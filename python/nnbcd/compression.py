"""Per-layer compression specs for ``nnbcd.MLP(compression=[...])``."""

from . import _validation as v

SCOPES = ("layer", "global")


class Pruned:
    """Magnitude pruning: the deployed weights G_i keep the round((1 − sparsity)·|W_i|)
    largest-magnitude entries of W_i (ties to the lower row-major index).

    Parameters
    ----------
    sparsity : float in [0, 1)
        Fraction of zeros in the deployed weights.
    scope : {"layer", "global"}
        "layer" prunes each layer to ``sparsity`` on its own; "global" keeps the largest
        magnitudes across all layers pruned with global scope (which must share one sparsity).
    """

    def __init__(self, sparsity=0.9, scope="layer"):
        sparsity = v.check_sparsity(sparsity)
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        self.sparsity = sparsity
        self.scope = scope

    def __eq__(self, other):
        return isinstance(other, Pruned) and (self.sparsity, self.scope) == (other.sparsity,
                                                                              other.scope)

    def __repr__(self):
        return f"Pruned(sparsity={self.sparsity!r}, scope={self.scope!r})"
