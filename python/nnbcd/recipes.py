"""The settings the estimators and ``nnbcd train`` start from, per kind of compression.

Measured on digits (``bench/screen_digits.py``, 3-7 seeds; ``bench/results/screening_digits.md``):

- A tensor-train layer is trained best from near zero. A random kaiming-scale W keeps the
  components the data never corrects (only the weight decay shrinks them), and on a TT layer
  they take up the rank: at kaiming's scale the deployed network is at 0.10 test accuracy
  after 200 iterations, at 0.003-0.03 of it at 0.92-0.95 (the scale only has to break the
  symmetry: 1e-4 is slower again). A TT network at CR 0.06 underfits (0.95 training
  accuracy), so it wants a tenth of the weight decay.
- Dense and pruned networks start best at kaiming's scale with the weight decay that stops a
  dense fit from memorising (0.003 per sample): small initial weights cost them 1-2 points.
- The coupling τ starts at 5 and grows by 3 % per iteration in all of them: ×1.05 froze W at
  G before the fit was done (TT at iteration 200: 0.916 against 0.949), ×1.1 lost 6-9 points.
"""

from dataclasses import dataclass

# τ_k = TAU * TAU_GROWTH^k for every kind (dense networks have no τ term)
TAU, TAU_GROWTH = 5.0, 1.03


@dataclass(frozen=True)
class Recipe:
    init_scale: float    # multiplies kaiming-normal's standard deviation
    weight_decay: float  # per training sample: λ = weight_decay × n_samples


RECIPES = {"dense": Recipe(init_scale=1.0, weight_decay=0.003),
           "prune": Recipe(init_scale=1.0, weight_decay=0.003),
           "tt": Recipe(init_scale=0.01, weight_decay=0.0003)}


def recipe(compression):
    """The recipe for ``compression``: None (dense), "prune" or "tt"."""
    return RECIPES["dense" if compression is None else compression]
