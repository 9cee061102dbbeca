// One shard of a run's samples: their lifted variables U_i, V_i (d_i x n_shard) and the
// per-sample blocks of the sweep (steps 1, 2, 4, 5), which need only the network's W and b and
// these samples' columns. What the global blocks (W, b, G) need of them are sums over the
// samples (WeightSums), so a run can split its samples into shards held by different processes.
#pragma once

#include <string>
#include <vector>

#include "block_seconds.hpp"
#include "blocks.hpp"
#include "conv.hpp"
#include "mlp.hpp"
#include "threads.hpp"
#include "types.hpp"
#include "weight_sums.hpp"

namespace nnbcd {

// The data terms of Phi summed over samples, unweighted: sum ||V_i - sigma(U_i)||^2,
// sum ||U_i - W_i V_{i-1} - b_i||^2 and ||V_N - Y||^2 (in double).
struct ObjectiveSums {
  double activation = 0;
  double linear = 0;
  double loss = 0;
};

template <class T>
class Shard {
 public:
  // X (d_0 x n) and Y (d_N x n) are borrowed: they must outlive this object. U and V start
  // from the forward pass of `net`, which every call below reads but never changes; after
  // changing net's W_i or b_i, call parameters_changed(i).
  Shard(const Mlp<T>& net, ConstMatrixMap<T> X, ConstMatrixMap<T> Y) : X_(X), Y_(Y) {
    if (X.rows() != net.sizes().front())
      throw std::invalid_argument("nnbcd: X has " + std::to_string(X.rows()) +
                                  " features, the network expects " +
                                  std::to_string(net.sizes().front()));
    if (Y.rows() != net.sizes().back() || Y.cols() != X.cols())
      throw std::invalid_argument("nnbcd: targets must be " +
                                  std::to_string(net.sizes().back()) + " x n with n = " +
                                  std::to_string(X.cols()));
    if (net.conv().active()) im2col<T>(net.conv(), X_, patches_);  // fixed, as X is
    const Index layers = net.n_layers();
    U_.resize(layers);
    V_.resize(layers);
    WV_.resize(layers);
    product_valid_.assign(layers, false);
    for (Index i = 0; i < layers; ++i) {
      ensure_product(net, i);
      U_[i] = WV_[i];
      units(net, i, U_[i]).colwise() += net.layer(i).b;
      V_[i] = i + 1 < layers ? Matrix<T>(U_[i].cwiseMax(T(0))) : U_[i];
    }
  }

  Index n_layers() const { return static_cast<Index>(U_.size()); }
  Index n_samples() const { return X_.cols(); }
  const Matrix<T>& U(Index i) const { return U_.at(static_cast<std::size_t>(i)); }
  const Matrix<T>& V(Index i) const { return V_.at(static_cast<std::size_t>(i)); }

  // Seconds spent in the V and U blocks and in the sums for the weight updates (counted as W).
  const BlockSeconds& block_seconds() const { return seconds_; }

  // W_i or b_i of the network changed: W_i V_{i-1} must be recomputed.
  void parameters_changed(Index i) { product_valid_.at(static_cast<std::size_t>(i)) = false; }

  // Replaces the lifted variables (a run continued from a checkpoint); no point is kept for
  // extrapolation until restore_kept.
  void restore(const Mlp<T>& net, std::vector<Matrix<T>> U, std::vector<Matrix<T>> V) {
    check_lifted(net, U, V);
    U_ = std::move(U);
    V_ = std::move(V);
    previous_U_.clear();
    previous_V_.clear();
    product_valid_.assign(product_valid_.size(), false);
  }

  // Replaces the point kept for extrapolation (empty U and V: none).
  void restore_kept(const Mlp<T>& net, std::vector<Matrix<T>> U, std::vector<Matrix<T>> V) {
    if (!U.empty() || !V.empty()) check_lifted(net, U, V);
    previous_U_ = std::move(U);
    previous_V_ = std::move(V);
  }

  // Extrapolation of the lifted variables (see Bcd): the point the last sweep ended at, x, is
  // kept; extrapolate(beta) moves U, V to x + beta (x - x_before), where x_before is the point
  // kept the time before (the first call only keeps x), and shorten_extrapolation(f) moves them
  // back to x + f (y - x), y where extrapolate moved them (f = 0: back to x).
  void extrapolate(T beta) {
    if (previous_U_.empty()) {
      previous_U_ = U_;
      previous_V_ = V_;
      return;
    }
    for (std::size_t i = 0; i < U_.size(); ++i) {
      // previous <- x + beta (x - previous), then swap: the new point in U_, x kept exactly
      previous_U_[i] = U_[i] + beta * (U_[i] - previous_U_[i]);
      previous_V_[i] = V_[i] + beta * (V_[i] - previous_V_[i]);
      previous_U_[i].swap(U_[i]);
      previous_V_[i].swap(V_[i]);
    }
    product_valid_.assign(product_valid_.size(), false);
  }

  void shorten_extrapolation(T fraction) {
    if (previous_U_.empty()) return;
    for (std::size_t i = 0; i < U_.size(); ++i) {
      U_[i] = previous_U_[i] + fraction * (U_[i] - previous_U_[i]);
      V_[i] = previous_V_[i] + fraction * (V_[i] - previous_V_[i]);
    }
    product_valid_.assign(product_valid_.size(), false);
  }

  // The point the last sweep ended at (empty before the first extrapolation).
  const std::vector<Matrix<T>>& previous_U() const { return previous_U_; }
  const std::vector<Matrix<T>>& previous_V() const { return previous_V_; }

  // Steps 1-2 for the output layer, or steps 4-5 for hidden layer i (with the network's new
  // W_{i+1}, b_{i+1} and its W_i, b_i of the sweep's start).
  void update_lifted(const Mlp<T>& net, Index i, T gamma, T rho, T alpha) {
    const Index out = n_layers() - 1;
    if (i < 0 || i > out) throw std::invalid_argument("nnbcd: no layer " + std::to_string(i));
    if (i == out) {
      {
        ScopedSeconds timer(seconds_.v);
        update_output_v<T>(Y_, U_[out], V_[out], gamma, alpha);
      }
      ScopedSeconds timer(seconds_.u);
      ensure_product(net, out);
      update_output_u<T>(V_[out], WV_[out], net.layer(out).b, U_[out], gamma, rho);
      return;
    }
    const Layer<T>& above = net.layer(i + 1);
    {
      ScopedSeconds timer(seconds_.v);
      update_hidden_v<T>(U_[i], U_[i + 1], above.W, above.b, V_[i], rho, gamma);
      product_valid_[i + 1] = false;
    }
    ScopedSeconds timer(seconds_.u);
    ensure_product(net, i);
    update_hidden_u<T>(units(net, i, V_[i]), units(net, i, WV_[i]), net.layer(i).b,
                       units(net, i, U_[i]), rho, gamma, alpha);
  }

  // The moments of layer i's input (see InputMoments).
  InputMoments input_moments(Index i) const { return nnbcd::input_moments<T>(input(i)); }

  // The sums layer i's weight and bias updates need (U_i, its input, b_i) around `centre`.
  WeightSums<T> weight_sums(const Mlp<T>& net, Index i, const Vector<T>& centre) {
    ScopedSeconds timer(seconds_.w);
    const auto U = units(net, i, U_[i]);
    if (i > 0) return nnbcd::weight_sums<T>(U, input(i), net.layer(i).b, centre);
    // The first layer's input never changes: its part of the sums is kept.
    const bool kept = first_input_.count > 0 && first_input_.centre.size() == centre.size() &&
                      (centre.size() == 0 || first_input_.centre == centre);
    if (!kept) {
      first_input_ = WeightSums<T>();
      first_input_.centre = centre;
      add_input_sums<T>(input(0), first_input_);
    }
    return nnbcd::weight_sums<T>(U, input(0), net.layer(0).b, centre, &first_input_);
  }

  // The data terms of Phi at the current point, unweighted. Computes each W_i V_{i-1} once and
  // keeps it: the next sweep needs exactly these products.
  ObjectiveSums objective_sums(const Mlp<T>& net) {
    ObjectiveSums o;
    const Index N = n_layers();
    for (Index i = 0; i < N; ++i) {
      ensure_product(net, i);
      const auto U = units(net, i, U_[i]);
      const auto V = units(net, i, V_[i]);
      const auto WV = units(net, i, WV_[i]);
      const Vector<T>& b = net.layer(i).b;
      const bool hidden = i + 1 < N;
      const double rows = double(U.rows());
      o.activation += sum_over_columns(U.cols(), rows, [&](Index j, Index m) {
        const auto u = U.middleCols(j, m);
        const auto v = V.middleCols(j, m);
        return hidden ? squared_norm(v - u.cwiseMax(T(0))) : squared_norm(v - u);
      });
      o.linear += sum_over_columns(U.cols(), rows, [&](Index j, Index m) {
        return squared_norm((U.middleCols(j, m) - WV.middleCols(j, m)).colwise() - b);
      });
    }
    const Matrix<T>& VN = V_[N - 1];
    o.loss = sum_over_columns(VN.cols(), double(VN.rows()), [&](Index j, Index m) {
      return squared_norm(VN.middleCols(j, m) - Y_.middleCols(j, m));
    });
    return o;
  }

 private:
  void check_lifted(const Mlp<T>& net, const std::vector<Matrix<T>>& U,
                    const std::vector<Matrix<T>>& V) const {
    const Index N = n_layers();
    if (static_cast<Index>(U.size()) != N || static_cast<Index>(V.size()) != N)
      throw std::invalid_argument("nnbcd: U and V need one matrix per layer");
    for (Index i = 0; i < N; ++i) {
      const auto& u = U[static_cast<std::size_t>(i)];
      const auto& v = V[static_cast<std::size_t>(i)];
      const Index rows = net.sizes()[static_cast<std::size_t>(i + 1)];
      if (u.rows() != rows || u.cols() != n_samples() || v.rows() != rows ||
          v.cols() != n_samples())
        throw std::invalid_argument("nnbcd: U_" + std::to_string(i) + " and V_" +
                                    std::to_string(i) + " must be " + std::to_string(rows) +
                                    " x " + std::to_string(n_samples()));
      if (!u.allFinite() || !v.allFinite())
        throw std::invalid_argument("nnbcd: U and V must be finite");
    }
  }

  template <class E>
  static double squared_norm(const Eigen::MatrixBase<E>& e) {
    return e.template cast<double>().squaredNorm();
  }

  // What W_i multiplies: V_{i-1}, X, or the patches of X for a convolution.
  Eigen::Ref<const Matrix<T>> input(Index i) const {
    if (i == 0) return patches_.size() > 0 ? Eigen::Ref<const Matrix<T>>(patches_) : X_;
    return V_[static_cast<std::size_t>(i - 1)];
  }

  // A d_i x n variable of layer i as W_i's output units: itself, except for a convolution,
  // whose (positions * filters) x n is filters x (n * positions) (see conv.hpp).
  static Eigen::Map<Matrix<T>> units(const Mlp<T>& net, Index i, Matrix<T>& M) {
    const Index rows = net.layer(i).W.rows();
    return Eigen::Map<Matrix<T>>(M.data(), rows, M.size() / rows);
  }

  // WV_[i] = W_i V_{i-1}, recomputed only when W_i or V_{i-1} changed since the last time.
  void ensure_product(const Mlp<T>& net, Index i) {
    if (product_valid_[i]) return;
    WV_[i].resize(net.sizes()[i + 1], n_samples());
    units(net, i, WV_[i]).noalias() = net.layer(i).W * input(i);
    product_valid_[i] = true;
  }

  ConstMatrixMap<T> X_, Y_;
  Matrix<T> patches_;         // im2col(X) when the first layer is a convolution
  WeightSums<T> first_input_;  // input part of the first layer's sums (its input is fixed)
  std::vector<Matrix<T>> U_, V_, WV_;
  std::vector<Matrix<T>> previous_U_, previous_V_;  // the point kept for extrapolation
  std::vector<bool> product_valid_;
  BlockSeconds seconds_;
};

}  // namespace nnbcd
