"""The settings the estimators and ``nnbcd train`` start from, per kind of compression.

Measured on digits (``bench/screen_digits.py``, 3-7 seeds; ``bench/results/screening_digits.md``)
and on MNIST (``bench/suite.py``):

- A tensor-train layer is trained best from near zero. A random kaiming-scale W keeps the
  components the data never corrects (only the weight decay shrinks them), and on a TT layer
  they take up the rank: at kaiming's scale the deployed network is at 0.10 test accuracy
  after 200 iterations, at 0.003-0.03 of it at 0.92-0.95 (the scale only has to break the
  symmetry: 1e-4 is slower again). A TT network at CR 0.06 underfits (0.95 training
  accuracy), so it wants a tenth of the weight decay.
- Dense and pruned networks start best at kaiming's scale with the weight decay that stops a
  dense fit from memorising (0.003 per sample): small initial weights cost them 1-2 points.
- Tensor-train layers train as projected BCD: W_i <- G_i after every sweep
  (``overwrite_weights``), with τ = 5 held fixed. It reaches a growing τ's accuracy sooner or
  goes past it: digits' hidden layer pruned to 90 % is at 0.973 at iteration 50 (0.632 with
  τ = 5·1.03^k), LeNet-300-100 on MNIST at 0.878 at iteration 100 (0.833); the TT MLP
  784-1024-1024-1024-512-10 on 7,352 MNIST images at 0.832 at iteration 100 (0.368), the
  paper's CNN at rank 40 at 0.820 (0.807; both at γ = ρ = 1). On digits both schedules end within a point of each
  other at iteration 200 once the inputs are centred, which the estimators (standardising) and
  ``nnbcd train`` (centring) do.
- Pruned layers do better still by plain BCD (W_i left alone, every block exact, Φ monotone)
  with a larger fixed τ = 200: LeNet-300-100 at 0.932 at iteration 100 and 0.954 at 200
  (0.916 and 0.932 by projected BCD), digits' hidden layer pruned to 90 % at 0.979 (0.970);
  τ = 50-1000 are all close on digits. Tensor trains gain as much on digits but not on the
  paper's CNN, which is behind projected BCD with τ = 50 and stuck for 25 iterations with
  τ = 200 (``bench/results/plain_bcd.md``).
- Compressed networks weigh the activation and linear terms by γ = ρ = 5: the deployed
  network then follows the fit more closely. The TT MLP is at 0.872 at iteration 100 (0.832
  at γ = ρ = 1), the CNN at 0.85 at iteration 50 (0.79), LeNet at 0.894 at 100 (0.878);
  digits' TT network at 0.949 at 200 (0.944), its pruned one at 0.975 (0.974), ``nnbcd
  train --sparsity 0.9`` at 0.963 (0.955). Only ``nnbcd train``'s TT main job, on digits / 16,
  is lower: 0.931 against 0.945 over 10 seeds. Dense networks keep γ = ρ = 1 (digits: 0.980
  against 0.973).
- Compressed networks extrapolate (``BCD(extrapolation=True)``): each sweep's step is continued
  along Nesterov's sequence where Φ does not rise. The TT MLP is at 0.891 at iteration 50 and
  0.920 at 100 (0.550 and 0.872 without), the CNN at 0.925 at 100 (0.878), LeNet at 0.896 at
  40 (0.838), digits' TT network at 0.942 at 50 (0.864)
  (``bench/results/extrapolation.md``). Dense networks do not: they minimise Φ so much faster
  that its weight decay term (λ = 0.003 n) shrinks the weights and the lifted variables make up
  for it, and the deployed network falls behind (a 2-32-1 regressor: R² 0.953 at iteration 100
  against 0.983 without; 0.984 at 50).
"""

from dataclasses import dataclass

TAU_GROWTH = 1.0  # τ is held fixed for every kind


@dataclass(frozen=True)
class Recipe:
    init_scale: float    # multiplies kaiming-normal's standard deviation
    weight_decay: float  # per training sample: λ = weight_decay × n_samples
    gamma: float = 1.0   # the objective's activation ...
    rho: float = 1.0     # ... and linear coupling
    extrapolation: bool = False  # every block moved on along the sweep's step where Φ falls
    tau: float = 5.0     # the coupling of compressed layers to G (dense layers have none)
    overwrite_weights: bool = False  # W_i <- G_i after every sweep: projected BCD

    def bcd_settings(self, n_samples):
        """``nnbcd.BCD``'s arguments (but the threads) for ``n_samples`` training samples."""
        return dict(gamma=self.gamma, rho=self.rho, tau=self.tau, tau_growth=TAU_GROWTH,
                    overwrite_weights=self.overwrite_weights, extrapolation=self.extrapolation,
                    weight_decay=self.weight_decay * n_samples)


RECIPES = {
    "dense": Recipe(init_scale=1.0, weight_decay=0.003),
    "prune": Recipe(init_scale=1.0, weight_decay=0.003, gamma=5.0, rho=5.0, extrapolation=True,
                    tau=200.0),
    "tt": Recipe(init_scale=0.01, weight_decay=0.0003, gamma=5.0, rho=5.0, extrapolation=True,
                 overwrite_weights=True),
}


def recipe(compression):
    """The recipe for ``compression``: None (dense), "prune" or "tt"."""
    return RECIPES["dense" if compression is None else compression]
