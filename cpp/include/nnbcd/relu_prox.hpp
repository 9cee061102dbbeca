// The proximal step of the ReLU: argmin_u  1/2 (max(u,0) - a)^2 + eta/2 (u - c)^2.
#pragma once

#include <algorithm>

namespace nnbcd {

// The objective is convex on each half-line, so the minimiser is the better of the two
// half-line minimisers x+ = max((a + eta c)/(1 + eta), 0) and x- = min(c, 0).
// Ties go to x+ (the non-negative candidate), so equal inputs always give equal outputs.
template <class T>
inline T relu_prox(T a, T c, T eta) {
  const T plus = std::max((a + eta * c) / (T(1) + eta), T(0));
  const T minus = std::min(c, T(0));
  const T dp = plus - a, dpc = plus - c;   // value at x+: plus >= 0, so max(plus,0) = plus
  const T dm = a, dmc = minus - c;         // value at x-: max(minus,0) = 0
  const T value_plus = dp * dp + eta * dpc * dpc;
  const T value_minus = dm * dm + eta * dmc * dmc;
  return value_plus <= value_minus ? plus : minus;
}

}  // namespace nnbcd
