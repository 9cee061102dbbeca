// The hyperparameters of a run (DESIGN §1-2).
#pragma once

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "types.hpp"

namespace nnbcd {

template <class T>
struct Hyperparameters {
  T gamma = 1;         // weight of ||V_i - sigma(U_i)||^2
  T rho = 1;           // weight of ||U_i - W_i V_{i-1} - b_i||^2
  T alpha = 1;         // proximal weight
  T tau = 0;           // weight of ||W_i - G_i||^2 (compressed layers only) ...
  T tau_growth = 1;    // ... multiplied by this after every iteration ...
  T tau_max = std::numeric_limits<T>::infinity();  // ... up to this.
  // > 0: tau follows the run instead. After each sweep it is multiplied by tau_growth where
  // some compressed layer's relative gap ||W_i - G_i|| / ||W_i|| exceeds target_gap, divided by
  // it where every layer's is below target_gap / 2, else kept (between the tau the run started
  // from and tau_max).
  T target_gap = 0;
  // lambda_i/2 ||W_i||^2: none (empty), one lambda for every layer, or one per layer.
  std::vector<T> weight_decay;
  Index dense_iterations = 0;  // warm start: tau acts (and grows) only after this many sweeps
  bool train_bias = true;
  // After each sweep also set W_i <- G_i (projected BCD on W itself, as the authors' notebooks
  // do). Off by default: it voids the monotone decrease of Phi.
  bool overwrite_weights = false;
  // After each sweep move every block (U, V, W, b; G re-projected) on along the last sweep's
  // step, x + beta (x - x_previous) with Nesterov's beta_t = (t - 1) / (t + 2), and keep the
  // move only where Phi is no higher than where the sweep started (else halve t and try half
  // the step, else stay): Phi stays monotone at fixed tau.
  bool extrapolation = false;

  // lambda_i, layer i's weight decay.
  T decay(Index i) const {
    if (weight_decay.empty()) return T(0);
    return weight_decay.size() == 1 ? weight_decay.front() : weight_decay.at(std::size_t(i));
  }

  // Checks every value, and that weight_decay has none, one or n_layers entries.
  void validate(Index n_layers) const {
    if (weight_decay.size() > 1 && Index(weight_decay.size()) != n_layers)
      throw std::invalid_argument("nnbcd: weight_decay must have one value or one per layer (" +
                                  std::to_string(n_layers) + "), got " +
                                  std::to_string(weight_decay.size()));
    auto positive = [](T v, const char* name) {
      if (!(v > T(0)))
        throw std::invalid_argument(std::string("nnbcd: ") + name + " must be > 0");
    };
    auto non_negative = [](T v, const char* name) {
      if (!(v >= T(0)) || !std::isfinite(double(v)))
        throw std::invalid_argument(std::string("nnbcd: ") + name + " must be finite and >= 0");
    };
    positive(gamma, "gamma");
    positive(rho, "rho");
    positive(alpha, "alpha");
    non_negative(tau, "tau");
    positive(tau_growth, "tau_growth");
    if (!(tau_max >= tau)) throw std::invalid_argument("nnbcd: tau_max must be >= tau");
    non_negative(target_gap, "target_gap");
    for (T lambda : weight_decay) non_negative(lambda, "weight_decay");
    if (dense_iterations < 0) throw std::invalid_argument("nnbcd: dense_iterations must be >= 0");
  }
};

}  // namespace nnbcd
