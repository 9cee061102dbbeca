"""The settings the estimators and ``nnbcd train`` start from, per kind of compression.

Measured on digits (``bench/screen_digits.py``, 3-7 seeds; ``bench/results/screening_digits.md``)
and on MNIST (``bench/suite.py``):

- A tensor-train layer is trained best from small weights: every W ~ N(0, 0.01²) whatever
  its fan-in, the authors' notebooks' start (``init="normal"``). A random kaiming-scale W keeps
  the components the data never corrects (only the weight decay shrinks them), and on a TT
  layer they take up the rank: at kaiming's scale the deployed network is at 0.10 test
  accuracy after 200 iterations. Kaiming × 0.01 (the recipe to session 21) shrinks the
  signal a hundredfold per layer, so the early layers' lifted variables hardly feel the
  labels; N(0, 0.01²) shrinks it four- to tenfold and gives wide layers more: the TT MLP is
  at 0.952 at iteration 100 (0.930), the paper's CNN without weight decay at 0.969 (0.960)
  and level at 0.973 from 150 (0.968), digits' TT network at 0.972 at 200 (0.970), 3 seeds
  (``bench/results/init_scale.md``). Kaiming × 0.1, about as large a signal, is worse on
  both (digits 0.957; the CNN 0.877 at 25): no rule from the fan-in reproduces it yet.
  Tensor-train networks take a weight decay of 0.0003 per
  sample. Without it the TT MLP overfits its 7,352 images: 0.9325 in 600 s at equal wall time
  (0.948 at best) against 0.9679 with it (``bench/results/target_gap.md``); digits' TT network
  is 0.7 points lower at 200 (0.969 against 0.976, 3 seeds). It slows the paper's CNN early
  (0.836 at iteration 25 against 0.929, ``bench/results/tt_ramp.md``; from N(0, 0.01²) 0.904
  at 50 against 0.947) and still costs it at
  1200 s: 0.9673 with it from N(0, 0.01²) (0.9648 from kaiming × 0.01;
  ``bench/results/weight_decay_scale.md``), 0.9739 without it, above Adam's 0.970 (rank 220:
  0.9661 with it, 0.9745 without, Adam 0.973; ``bench/results/weight_decay_switch.md``).
  Even a seventh of it costs the CNN 2 points at 50, while the TT MLP from N(0, 0.01²)
  without it falls 7-8 points behind and digits to 0.856: no per-sample or
  per-compression-ratio size suits all three (``bench/results/init_scale.md``), and no switch
  on the fit either: without it the others underfit, not overfit
  (``bench/results/weight_decay_switch.md``).
- Tensor-train networks decide on their weight decay by a trial (``weight_decay_trial=100``,
  ``nnbcd.weight_decay_trial``): the run with it and a rival without it take the first 100
  iterations side by side, and the one whose deployed network has the lower training loss goes
  on. At equal wall time, the trial's doubled iterations charged: the CNN at rank 40 0.9726
  (it keeps the run without: training loss 221 against 465), at rank 220 0.9740 (32 against
  400), the TT MLP 0.9690 (it keeps the weight decay: 301 against 1104); on digits (3 seeds) it
  keeps the weight decay for the TT network and the TT ConvNet every time, where a 50-iteration
  trial mis-picks one seed (``bench/results/weight_decay_switch.md``,
  ``bench/results/experiments_s25_trial_2threads/``).
- Dense networks take the weight decay that stops a dense fit from memorising (0.003 per
  sample) and start at kaiming's scale.
- Pruned networks start from N(0, 0.01²) too since session 22: LeNet-300-100 pruned to 90 %
  is at 0.944 at iteration 100 and 0.961 at 300 (0.932 and 0.954 at 100 and 200 from
  kaiming's scale), digits' pruned network level (``bench/results/init_scale.md``). From
  that start they take the tensor trains' weight decay, 0.0003 per sample (0.003 to session
  22): LeNet then no longer underfits, 0.964 / 0.979 / 0.981 at 100 / 200 / 300 (0.944 /
  0.958 / 0.961), digits' pruned network 0.990 at 200 (0.980; 0.985 at 0.001, 0.987 at
  0.0001, 0.975 without), 3 seeds (``bench/results/weight_decay_layers.md``).
- Compressed layers train by plain BCD (W_i left alone, every block exact; Φ monotone while τ
  is fixed), not by projected BCD (W_i <- G_i after every sweep, ``overwrite_weights``).
  Pruned layers with a fixed τ = 200: LeNet-300-100 at 0.932 at iteration 100 and 0.954 at
  200 (0.916 and 0.932 by projected BCD at τ = 5), digits' hidden layer pruned to 90 % at
  0.979 (0.970); τ = 50-1000 are all close on digits (``bench/results/plain_bcd.md``).
- Tensor-train layers start from τ = 0.1 growing by 1.2 per iteration (session 18 capped
  it at 200; now it follows the gap, below). A large τ from the
  start holds the near-zero W of the TT recipe at its compressed copy: the TT MLP
  784-1024-1024-1024-512-10 and the paper's CNN stay at chance for 25-50 iterations at τ =
  200; a small one for good leaves G far from W (digits at 0.2 with τ = 0.1). With the
  ramp (× 1.1) the TT MLP on 7,352 MNIST images is at 0.934 at iteration 100 and 0.959 at 200
  (0.942 at 199 by projected BCD at τ = 5; × 1.2 is level with × 1.1 to iteration 75),
  digits' TT network (× 1.2) at 0.976 at 200 over 3 seeds (0.953; × 1.1 0.968);
  the paper's CNN at rank 40, with weight decay, a point behind projected BCD early on (0.927
  against 0.939 at 125), without it far ahead (above) (``bench/results/tt_ramp.md``).
- Tensor-train layers' τ follows the run (``target_gap=0.05``): from 0.1 it grows by 1.2 per
  iteration while some layer's ||W_i − G_i|| / ||W_i|| exceeds 0.05, and shrinks while all
  are below 0.025, but never below 0.1. The τ that works differs by 10⁴ between problems —
  digits' TT network wants ≈ 200 (0.20 test accuracy at 0.1), the paper's CNN ≈ 0.1 (at the old
  cap of 200 it was at 0.960 after 253 iterations, at 0.1 fixed 0.963 after 150) — and neither
  the data's scale nor the layers' input power predicts it; the gap it leaves is alike. Digits'
  TT network 0.9711 at iteration 200 over 3 seeds (0.9689 with the ramp to 200), the CNN 0.9495
  at 50 and 0.9591 at 100 (0.943 and ≈ 0.951) (``bench/results/target_gap.md``).
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

@dataclass(frozen=True)
class Recipe:
    init_scale: float    # the initial weights' scale (``nnbcd.MLP``'s ``init_scale``) for ``init``
    weight_decay: float  # per training sample: λ = weight_decay × n_samples
    init: str = "kaiming_normal"
    gamma: float = 1.0   # the objective's activation ...
    rho: float = 1.0     # ... and linear coupling
    extrapolation: bool = False  # every block moved on along the sweep's step where Φ falls
    tau: float = 5.0     # the coupling of compressed layers to G (dense layers have none) ...
    tau_growth: float = 1.0  # ... multiplied by this after every iteration ...
    tau_max: float = 1e5     # ... up to this
    target_gap: float = 0.0  # > 0: τ grows or shrinks to hold ||W_i - G_i|| / ||W_i|| near this
    weight_decay_trial: int = 0  # > 0: this many iterations decide whether to keep the weight decay

    def bcd_settings(self, n_samples):
        """``nnbcd.BCD``'s arguments (but the threads) for ``n_samples`` training samples."""
        return dict(gamma=self.gamma, rho=self.rho, tau=self.tau, tau_growth=self.tau_growth,
                    tau_max=self.tau_max, target_gap=self.target_gap,
                    extrapolation=self.extrapolation,
                    weight_decay=self.weight_decay * n_samples,
                    weight_decay_trial=self.weight_decay_trial)

    def trial_for(self, iterations):
        """The weight-decay trial of a run of ``iterations`` iterations: this recipe's where the
        run outlasts it, else none (a run cut short by it ends with the weight decay anyway)."""
        return self.weight_decay_trial if iterations > self.weight_decay_trial else 0

    def tau_cap(self, tau):
        """The cap of τ when none is given: this recipe's, or ``tau`` where that is larger (a
        τ asked for above the cap is not refused over a cap nobody set)."""
        return max(self.tau_max, tau)


RECIPES = {
    "dense": Recipe(init_scale=1.0, weight_decay=0.003),
    "prune": Recipe(init="normal", init_scale=0.01, weight_decay=0.0003, gamma=5.0, rho=5.0,
                    extrapolation=True, tau=200.0),
    "tt": Recipe(init="normal", init_scale=0.01, weight_decay=0.0003, gamma=5.0, rho=5.0,
                 extrapolation=True, tau=0.1, tau_growth=1.2, target_gap=0.05,
                 weight_decay_trial=100),
}


def recipe(compression):
    """The recipe for ``compression``: None (dense), "prune" or "tt"."""
    return RECIPES["dense" if compression is None else compression]
