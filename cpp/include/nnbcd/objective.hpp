// The terms of the BCD objective Phi (DESIGN §1), accumulated in double.
#pragma once

namespace nnbcd {

struct Objective {
  double loss = 0;          // 1/2 ||V_N - Y||^2
  double activation = 0;    // gamma/2 sum ||V_i - sigma_i(U_i)||^2
  double linear = 0;        // rho/2 sum ||U_i - W_i V_{i-1} - b_i 1^T||^2
  double compression = 0;   // tau/2 sum over compressed layers ||W_i - G_i||^2
  double compression_gap = 0;  // 1/2 sum ||W_i - G_i||^2: the compression term without tau
  double weight_decay = 0;  // lambda/2 sum ||W_i||^2
  double without_compression() const { return loss + activation + linear + weight_decay; }
  double total() const { return without_compression() + compression; }
};

}  // namespace nnbcd
