// The NN-BCD iteration: lifted variables U_i, V_i and one backward sweep of exact block updates.
#pragma once

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "block_seconds.hpp"
#include "blocks.hpp"
#include "mlp.hpp"
#include "objective.hpp"
#include "threads.hpp"
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
  T weight_decay = 0;  // lambda/2 ||W_i||^2
  Index dense_iterations = 0;  // warm start: tau acts (and grows) only after this many sweeps
  bool train_bias = true;
  // After each sweep also set W_i <- G_i (projected BCD on W itself, as the authors' notebooks
  // do). Off by default: it voids the monotone decrease of Phi.
  bool overwrite_weights = false;

  void validate() const {
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
    non_negative(weight_decay, "weight_decay");
    if (dense_iterations < 0) throw std::invalid_argument("nnbcd: dense_iterations must be >= 0");
  }
};

// Raised when an iteration fails numerically (non-finite parameters, a Cholesky factorisation
// that breaks down); the iteration is undone first (Bcd::rollback).
class DivergenceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class T>
class Bcd {
 public:
  // X (d_0 x n) and Y (d_N x n) are borrowed: they must outlive this object. The network is
  // trained in place. U and V start from the network's forward pass.
  Bcd(Mlp<T>& net, ConstMatrixMap<T> X, ConstMatrixMap<T> Y, const Hyperparameters<T>& h,
      int n_threads = 0)
      : net_(net), X_(X), Y_(Y), h_(h), n_threads_(n_threads), last_good_(net) {
    h_.validate();
    if (X.rows() != net.sizes().front())
      throw std::invalid_argument("nnbcd: X has " + std::to_string(X.rows()) +
                                  " features, the network expects " +
                                  std::to_string(net.sizes().front()));
    if (Y.rows() != net.sizes().back() || Y.cols() != X.cols())
      throw std::invalid_argument("nnbcd: targets must be " +
                                  std::to_string(net.sizes().back()) + " x n with n = " +
                                  std::to_string(X.cols()));
    ThreadScope scope(n_threads_);
    net_.project(0);  // G_i from the W_i the run starts with, even if W_i were edited by hand
    if (net_.conv().active()) im2col<T>(net_.conv(), X_, patches_);  // fixed, as X is
    input_moments_ = input_moments<T>(input(0));
    const Index layers = net.n_layers();
    U_.resize(layers);
    V_.resize(layers);
    WV_.resize(layers);
    product_valid_.assign(layers, false);
    for (Index i = 0; i < layers; ++i) {
      ensure_product(i);
      U_[i] = WV_[i];
      units(i, U_[i]).colwise() += net_.layer(i).b;
      V_[i] = i + 1 < layers ? Matrix<T>(U_[i].cwiseMax(T(0))) : U_[i];
    }
  }

  Index n_layers() const { return net_.n_layers(); }
  Index n_samples() const { return X_.cols(); }
  const Matrix<T>& U(Index i) const { return U_.at(static_cast<std::size_t>(i)); }
  const Matrix<T>& V(Index i) const { return V_.at(static_cast<std::size_t>(i)); }
  const Hyperparameters<T>& hyperparameters() const { return h_; }

  // Sweeps done so far.
  Index iteration() const { return iteration_; }

  // The tau the next step uses (0 during the dense warm start). Phi changes with it: it
  // decreases monotonically only while tau stays fixed (tau_growth = 1).
  T tau() const { return iteration_ < h_.dense_iterations ? T(0) : h_.tau; }
  void set_tau(T tau) {
    Hyperparameters<T> h = h_;
    h.tau = tau;
    h.tau_max = std::max(h.tau_max, tau);
    h.validate();
    h_ = h;
  }

  // The tau of the schedule: what tau() returns once the dense warm start is over.
  T scheduled_tau() const { return h_.tau; }

  // One backward sweep (DESIGN §2). A sweep that fails numerically (a Cholesky factorisation
  // that breaks down, non-finite weights) is undone, see rollback, and throws DivergenceError.
  void step() {
    if (diverged_)
      throw DivergenceError("nnbcd: this run diverged at iteration " +
                            std::to_string(iteration_) +
                            "; its lifted variables are invalid: start a new run");
    ThreadScope scope(n_threads_);
    {
      ScopedSeconds timer(seconds_.snapshot);
      last_good_ = net_;  // same shapes: copies into the existing storage
    }
    const std::string kept = "; the network keeps the parameters of iteration " +
                             std::to_string(iteration_) +
                             ". Scale the inputs, raise alpha, or train in float64";
    try {
      sweep();
    } catch (const std::runtime_error& e) {
      rollback();
      throw DivergenceError(std::string(e.what()) + " at iteration " +
                            std::to_string(iteration_ + 1) + kept);
    } catch (...) {
      rollback();
      throw;
    }
    ++iteration_;
    if (!net_.all_finite()) {
      rollback();
      throw DivergenceError("nnbcd: iteration " + std::to_string(iteration_) +
                            " produced non-finite weights" + kept);
    }
  }

  // Puts back the network's parameters from before the last step (e.g. after the objective
  // exploded) and ends the run: the lifted variables belong to the step that was undone.
  void rollback() {
    net_ = last_good_;
    product_valid_.assign(product_valid_.size(), false);
    diverged_ = true;
  }

  // Continues a run from a checkpoint: the network's parameters must already be the saved ones;
  // this sets the iteration count, the schedule's tau and the lifted variables U_i, V_i.
  void restore(Index iteration, T scheduled_tau, std::vector<Matrix<T>> U,
               std::vector<Matrix<T>> V) {
    const Index N = n_layers();
    if (iteration < 0) throw std::invalid_argument("nnbcd: iteration must be >= 0");
    if (static_cast<Index>(U.size()) != N || static_cast<Index>(V.size()) != N)
      throw std::invalid_argument("nnbcd: U and V need one matrix per layer");
    for (Index i = 0; i < N; ++i) {
      const auto& u = U[static_cast<std::size_t>(i)];
      const auto& v = V[static_cast<std::size_t>(i)];
      const Index rows = net_.sizes()[static_cast<std::size_t>(i + 1)];
      if (u.rows() != rows || u.cols() != n_samples() || v.rows() != rows ||
          v.cols() != n_samples())
        throw std::invalid_argument("nnbcd: U_" + std::to_string(i) + " and V_" +
                                    std::to_string(i) + " must be " + std::to_string(rows) +
                                    " x " + std::to_string(n_samples()));
      if (!u.allFinite() || !v.allFinite())
        throw std::invalid_argument("nnbcd: U and V must be finite");
    }
    Hyperparameters<T> h = h_;
    h.tau = scheduled_tau;
    h.validate();
    h_ = h;
    iteration_ = iteration;
    U_ = std::move(U);
    V_ = std::move(V);
    product_valid_.assign(product_valid_.size(), false);
    diverged_ = false;
  }

  // Seconds spent in each block since the run started.
  const BlockSeconds& block_seconds() const { return seconds_; }

  // Phi and its terms at the current point. Computes each W_i V_{i-1} once and keeps it: the
  // next step needs exactly these products, so tracking the objective costs no extra GEMM.
  Objective objective() {
    ThreadScope scope(n_threads_);
    ScopedSeconds timer(seconds_.objective);
    Objective o;
    const Index N = n_layers();
    for (Index i = 0; i < N; ++i) {
      ensure_product(i);
      const auto U = units(i, U_[i]);
      const auto V = units(i, V_[i]);
      const auto WV = units(i, WV_[i]);
      const Vector<T>& b = net_.layer(i).b;
      const bool hidden = i + 1 < N;
      const double rows = double(U.rows());
      const double activation = sum_over_columns(U.cols(), rows, [&](Index j, Index m) {
        const auto u = U.middleCols(j, m);
        const auto v = V.middleCols(j, m);
        return hidden ? squared_norm(v - u.cwiseMax(T(0))) : squared_norm(v - u);
      });
      const double linear = sum_over_columns(U.cols(), rows, [&](Index j, Index m) {
        return squared_norm((U.middleCols(j, m) - WV.middleCols(j, m)).colwise() - b);
      });
      o.activation += 0.5 * double(h_.gamma) * activation;
      o.linear += 0.5 * double(h_.rho) * linear;
      const Layer<T>& l = net_.layer(i);
      o.weight_decay += 0.5 * double(h_.weight_decay) * squared_norm(l.W);
      if (l.compressed()) o.compression += 0.5 * double(tau()) * squared_norm(l.W - l.G);
    }
    const Matrix<T>& VN = V_[N - 1];
    o.loss = 0.5 * sum_over_columns(VN.cols(), double(VN.rows()), [&](Index j, Index m) {
      return squared_norm(VN.middleCols(j, m) - Y_.middleCols(j, m));
    });
    return o;
  }

 private:
  template <class E>
  static double squared_norm(const Eigen::MatrixBase<E>& e) {
    return e.template cast<double>().squaredNorm();
  }

  // Steps 1-7 for every layer, output layer first, then tau's schedule.
  void sweep() {
    const Index N = n_layers();
    const Index out = N - 1;
    const T tau_now = tau();
    Layer<T>& last = net_.layer(out);
    {
      ScopedSeconds timer(seconds_.v);
      update_output_v<T>(Y_, U_[out], V_[out], h_.gamma, h_.alpha);
    }
    {
      ScopedSeconds timer(seconds_.u);
      ensure_product(out);
      update_output_u<T>(V_[out], WV_[out], last.b, U_[out], h_.gamma, h_.rho);
    }
    update_layer_parameters(out, tau_now);
    for (Index i = N - 2; i >= 0; --i) {
      const Layer<T>& above = net_.layer(i + 1);
      {
        ScopedSeconds timer(seconds_.v);
        update_hidden_v<T>(U_[i], U_[i + 1], above.W, above.b, V_[i], h_.rho, h_.gamma);
        product_valid_[i + 1] = false;
      }
      {
        ScopedSeconds timer(seconds_.u);
        ensure_product(i);
        update_hidden_u<T>(units(i, V_[i]), units(i, WV_[i]), net_.layer(i).b,
                           units(i, U_[i]), h_.rho, h_.gamma, h_.alpha);
      }
      update_layer_parameters(i, tau_now);
    }
    // Step 7 for every compressed layer at once: each G_i only meets W_i, so projecting after
    // the sweep is the same block update, and a global pruning threshold sees every W_i.
    {
      ScopedSeconds timer(seconds_.g);
      net_.project(iteration_ + 1, /*keep_if_closer=*/true);
      if (h_.overwrite_weights)
        for (Index i = 0; i < N; ++i)
          if (net_.layer(i).compressed()) {
            net_.layer(i).W = net_.layer(i).G;
            product_valid_[i] = false;
          }
    }
    if (iteration_ >= h_.dense_iterations) h_.tau = std::min(h_.tau * h_.tau_growth, h_.tau_max);
  }

  // What W_i multiplies: V_{i-1}, X, or the patches of X for a convolution.
  Eigen::Ref<const Matrix<T>> input(Index i) const {
    if (i == 0) return net_.conv().active() ? Eigen::Ref<const Matrix<T>>(patches_) : X_;
    return V_[static_cast<std::size_t>(i - 1)];
  }

  // A d_i x n variable of layer i as W_i's output units: itself, except for a convolution,
  // whose (positions * filters) x n is filters x (n * positions) (see conv.hpp).
  Eigen::Map<Matrix<T>> units(Index i, Matrix<T>& M) const {
    const Index rows = net_.layer(i).W.rows();
    return Eigen::Map<Matrix<T>>(M.data(), rows, M.size() / rows);
  }

  // WV_[i] = W_i V_{i-1}, recomputed only when W_i or V_{i-1} changed since the last time.
  void ensure_product(Index i) {
    if (product_valid_[i]) return;
    WV_[i].resize(net_.sizes()[i + 1], n_samples());
    units(i, WV_[i]).noalias() = net_.layer(i).W * input(i);
    product_valid_[i] = true;
  }

  void update_layer_parameters(Index i, T tau) {
    ScopedSeconds timer(seconds_.w);
    Layer<T>& l = net_.layer(i);
    const auto Vprev = input(i);
    const auto U = units(i, U_[i]);
    const bool coupled = l.compressed() && tau > T(0);
    update_weights<T>(U, Vprev, l.b, l.W, h_.rho, h_.alpha, h_.weight_decay,
                      coupled ? tau : T(0), coupled ? &l.G : nullptr,
                      i == 0 ? &input_moments_ : nullptr);
    if (h_.train_bias) update_bias<T>(U, Vprev, l.W, l.b, h_.rho, h_.alpha);
    product_valid_[i] = false;
  }

  Mlp<T>& net_;
  ConstMatrixMap<T> X_, Y_;
  Hyperparameters<T> h_;
  int n_threads_;
  Index iteration_ = 0;
  Matrix<T> patches_;  // im2col(X) when the first layer is a convolution
  InputMoments<T> input_moments_;  // of input(0), which never changes
  std::vector<Matrix<T>> U_, V_, WV_;
  std::vector<bool> product_valid_;
  Mlp<T> last_good_;  // the network's parameters before the step in progress
  bool diverged_ = false;
  BlockSeconds seconds_;
};

}  // namespace nnbcd
