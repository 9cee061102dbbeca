// Wall-clock seconds spent in each block of the iteration, so that the slowest one is visible.
#pragma once

#include <chrono>

namespace nnbcd {

struct BlockSeconds {
  double v = 0;          // steps 1 and 4: the activations V_i
  double u = 0;          // steps 2 and 5: the pre-activations U_i, with the W_i V_{i-1} they need
  double w = 0;          // steps 3 and 6: the weights W_i and biases b_i
  double g = 0;          // step 7: the projections G_i (TT-SVD, thresholding)
  double snapshot = 0;   // the copy of the parameters that a failed step is undone from
  double objective = 0;  // Phi, when asked for
  double extrapolation = 0;  // the extrapolated point and the two Phi that decide on it
};

// Adds the seconds between its construction and destruction to `total`.
class ScopedSeconds {
 public:
  explicit ScopedSeconds(double& total) : total_(total), start_(Clock::now()) {}
  ~ScopedSeconds() { total_ += std::chrono::duration<double>(Clock::now() - start_).count(); }
  ScopedSeconds(const ScopedSeconds&) = delete;
  ScopedSeconds& operator=(const ScopedSeconds&) = delete;

 private:
  using Clock = std::chrono::steady_clock;
  double& total_;
  Clock::time_point start_;
};

}  // namespace nnbcd
