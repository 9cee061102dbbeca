"""The settings the estimators and ``nnbcd train`` start from, per kind of compression.

Measured on digits (``bench/screen_digits.py``, 3-7 seeds; ``bench/results/screening_digits.md``)
and on MNIST (``bench/suite.py``):

- A tensor-train layer is trained best from near zero. A random kaiming-scale W keeps the
  components the data never corrects (only the weight decay shrinks them), and on a TT layer
  they take up the rank: at kaiming's scale the deployed network is at 0.10 test accuracy
  after 200 iterations, at 0.003-0.03 of it at 0.92-0.95 (the scale only has to break the
  symmetry: 1e-4 is slower again). A TT network at CR 0.06 underfits (0.95 training
  accuracy), so it wants a tenth of the weight decay. Its coupling τ starts at 5 and grows by
  3 % per iteration: ×1.05 froze W at G before the fit was done (0.916 against 0.949 at
  iteration 200), ×1.1 lost 6-9 points.
- Dense and pruned networks start best at kaiming's scale with the weight decay that stops a
  dense fit from memorising (0.003 per sample): small initial weights cost them 1-2 points.
- A pruned layer trains as projected BCD: W_i <- G_i after every sweep (``overwrite_weights``),
  with τ = 5 held fixed. It reaches the growing τ's accuracy 4 times sooner: digits' hidden
  layer pruned to 90 % is at 0.973 at iteration 50 (0.632 with τ = 5·1.03^k; 0.973 against
  0.977 at 200), LeNet-300-100 on MNIST at 0.878 at iteration 100 (0.833). On TT layers it
  is as good on standardised digits (0.949 at 200, γ = ρ = 5) but not on uncentred inputs
  (digits / 16: 0.873 against 0.938), so they keep the growing τ.
"""

from dataclasses import dataclass

TAU = 5.0  # τ's start for every compressed kind (dense networks have no τ term)


@dataclass(frozen=True)
class Recipe:
    init_scale: float        # multiplies kaiming-normal's standard deviation
    weight_decay: float      # per training sample: λ = weight_decay × n_samples
    tau_growth: float        # τ_k = TAU × tau_growth^k
    overwrite_weights: bool  # W_i <- G_i after every sweep

    def bcd_settings(self, n_samples):
        """``nnbcd.BCD``'s arguments (but the threads) for ``n_samples`` training samples."""
        return dict(tau=TAU, tau_growth=self.tau_growth, overwrite_weights=self.overwrite_weights,
                    weight_decay=self.weight_decay * n_samples)


RECIPES = {
    "dense": Recipe(init_scale=1.0, weight_decay=0.003, tau_growth=1.0, overwrite_weights=False),
    "prune": Recipe(init_scale=1.0, weight_decay=0.003, tau_growth=1.0, overwrite_weights=True),
    "tt": Recipe(init_scale=0.01, weight_decay=0.0003, tau_growth=1.03, overwrite_weights=False),
}


def recipe(compression):
    """The recipe for ``compression``: None (dense), "prune" or "tt"."""
    return RECIPES["dense" if compression is None else compression]
