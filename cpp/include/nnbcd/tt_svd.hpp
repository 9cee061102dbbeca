// Tensor trains: TT-SVD (the quasi-optimal projection onto TT-ranks <= r) and contraction back
// to the full tensor.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/QR>

#include "linalg.hpp"
#include "symmetric_eigen.hpp"
#include "types.hpp"

namespace nnbcd {

inline Index product_of(const std::vector<Index>& v) {
  Index p = 1;
  for (Index x : v) p *= x;
  return p;
}

// A d-way tensor of modes n_1..n_d as cores of shape (r_{k-1}, n_k, r_k), r_0 = r_d = 1. Core k
// is stored as the row-major (r_{k-1} n_k) x r_k matrix, i.e. exactly a C-order numpy array of
// that 3-way shape.
template <class T>
struct TensorTrain {
  std::vector<Index> modes;
  std::vector<RowMatrix<T>> cores;

  Index order() const { return static_cast<Index>(modes.size()); }
  // r_k, for k = 0..d.
  Index rank(Index k) const {
    return k == 0 ? 1 : cores.at(static_cast<std::size_t>(k - 1)).cols();
  }
  std::vector<Index> ranks() const {
    std::vector<Index> r;
    for (Index k = 0; k <= order(); ++k) r.push_back(rank(k));
    return r;
  }
  Index parameter_count() const {
    Index count = 0;
    for (const auto& c : cores) count += c.size();
    return count;
  }

  // Cores [0, p) contracted: the (n_1 ... n_p) x r_p row-major matrix (p >= 1).
  RowMatrix<T> left_product(Index p) const {
    RowMatrix<T> left = cores.at(0);
    for (Index k = 1; k < p; ++k) {
      const RowMatrix<T>& core = cores[static_cast<std::size_t>(k)];
      const Index r_prev = core.rows() / modes[k];
      RowMatrix<T> next(left.rows(), modes[k] * core.cols());
      next.noalias() = left * Eigen::Map<const RowMatrix<T>>(core.data(), r_prev, next.cols());
      next.resize(left.rows() * modes[k], core.cols());  // same memory, (.. n_k) x r_k
      left.swap(next);
    }
    return left;
  }

  // Cores [p, d) contracted: the r_p x (n_{p+1} ... n_d) row-major matrix (p < d).
  RowMatrix<T> right_product(Index p) const {
    RowMatrix<T> right = cores.back();
    right.resize(rank(order() - 1), modes.back());
    for (Index k = order() - 2; k >= p; --k) {
      const RowMatrix<T>& core = cores[static_cast<std::size_t>(k)];
      RowMatrix<T> next(core.rows(), right.cols());
      next.noalias() = core * right;  // (r_{k-1} n_k) x r_k times r_k x (n_{k+1} ...)
      next.resize(core.rows() / modes[k], modes[k] * right.cols());
      right.swap(next);
    }
    return right;
  }

  // The full tensor in C order (size = product of the modes), contracted from both ends to the
  // middle split, where the one large GEMM is cheapest.
  void to_full(T* out) const {
    const Index d = order();
    if (d == 1) {
      std::copy(cores[0].data(), cores[0].data() + cores[0].size(), out);
      return;
    }
    Index best = 1;
    double best_cost = -1;
    Index left_size = 1;
    const Index total = product_of(modes);
    for (Index p = 1; p < d; ++p) {
      left_size *= modes[p - 1];
      const double cost = double(left_size) * double(total / left_size) * double(rank(p));
      if (best_cost < 0 || cost < best_cost) best_cost = cost, best = p;
    }
    const RowMatrix<T> left = left_product(best);
    const RowMatrix<T> right = right_product(best);
    Eigen::Map<RowMatrix<T>>(out, left.rows(), right.cols()).noalias() = left * right;
  }
};

inline void check_tt_arguments(const std::vector<Index>& modes, Index max_rank, double tol) {
  if (modes.empty()) throw std::invalid_argument("nnbcd: shape needs at least one mode");
  for (Index n : modes)
    if (n < 1) throw std::invalid_argument("nnbcd: every mode of shape must be >= 1");
  if (max_rank < 1) throw std::invalid_argument("nnbcd: rank must be >= 1");
  if (!(tol >= 0.0) || !std::isfinite(tol))
    throw std::invalid_argument("nnbcd: tol must be finite and >= 0");
}

// Left-to-right TT-SVD (Oseledets 2011) of the C-order tensor `data` with the given modes.
// r_k = min(max_rank, r_{k-1} n_k, n_{k+1} ... n_d), lowered further where a relative
// tolerance tol > 0 allows: each step may discard up to (tol^2 / (d - 1)) ||A||^2, so
// ||A - TT|| <= tol ||A||. The cores are left-orthonormal; ||A - TT||^2 equals the sum of the
// discarded squared singular values.
//
// The unfoldings are short and very wide (e.g. 320 x 1024 for a 1024 x 1024 matrix as 4^10),
// so each step eigendecomposes the small Gram matrix of the short side instead of taking the
// SVD of the unfolding: O(m^2 c) for an m x c unfolding, in double precision whatever T is.
// Singular values below ~1e-8 of the largest are therefore only resolved approximately.
template <class T>
TensorTrain<T> tt_svd(const T* data, const std::vector<Index>& modes, Index max_rank,
                      double tol = 0.0) {
  check_tt_arguments(modes, max_rank, tol);
  const Index size = product_of(modes);
  const Index d = static_cast<Index>(modes.size());
  TensorTrain<T> tt;
  tt.modes = modes;
  // The current unfolding C (m x c, row-major) is held as its transpose: column-major c x m.
  Eigen::MatrixXd unfolding(size / modes[0], modes[0]);
  for_column_blocks(size, 1.0, [&](Index begin, Index count) {
    Eigen::Map<Eigen::VectorXd>(unfolding.data() + begin, count) =
        Eigen::Map<const Vector<T>>(data + begin, count).template cast<double>();
  });
  const double budget =
      d > 1 ? tol * tol * unfolding.squaredNorm() / double(d - 1) : 0.0;
  Index r_prev = 1;
  for (Index k = 0; k + 1 < d; ++k) {
    const Index m = r_prev * modes[k];
    const Index c = unfolding.rows();
    if (budget == 0 && m <= max_rank && m <= c) {
      // Nothing can be truncated, so any orthonormal basis of the rows will do: the identity
      // leaves the unfolding as it is (the next one is the same memory), with no Gram matrix
      // and no eigendecomposition. The leading steps of the usual shapes are all like this.
      tt.cores.push_back(RowMatrix<T>::Identity(m, m));
      unfolding.resize(c / modes[k + 1], m * modes[k + 1]);
      r_prev = m;
      continue;
    }
    const bool wide = m <= c;
    // Gram matrix of the short side, and its eigenvectors by decreasing eigenvalue.
    Eigen::MatrixXd gram;
    if (wide)
      gram_lower(unfolding.transpose(), 1.0, 0.0, gram);
    else
      gram_lower(unfolding, 1.0, 0.0, gram);
    Index r = std::min({max_rank, m, c});
    const SymmetricEigen eigen(gram, r);
    const Eigen::VectorXd values = eigen.values().cwiseMax(0.0);
    if (budget > 0) {
      double discarded = std::max(0.0, eigen.trace() - values.sum());
      while (r > 1 && discarded + values(r - 1) <= budget) discarded += values(--r);
    }
    const Eigen::MatrixXd kept = eigen.vectors(r);
    RowMatrix<T> core(m, r);
    Eigen::MatrixXd next;  // the next C^T: c x r
    if (wide) {
      core = kept.template cast<T>();   // U: orthonormal columns
      next.noalias() = unfolding * kept;  // (U^T C)^T
    } else {
      // C ~ (C V) V^T; orthonormalise C V = Q R, so C ~ Q (R V^T).
      Eigen::HouseholderQR<Eigen::MatrixXd> qr(unfolding.transpose() * kept);
      const Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(m, r);
      core = q.cast<T>();
      next.noalias() = kept * qr.matrixQR().topRows(r).triangularView<Eigen::Upper>().transpose();
    }
    tt.cores.push_back(std::move(core));
    // C_next (r x c, row-major) reshaped to (r n_{k+1}) x (c / n_{k+1}): same memory.
    next.resize(c / modes[k + 1], r * modes[k + 1]);
    unfolding.swap(next);
    r_prev = r;
  }
  RowMatrix<T> last(r_prev * modes[d - 1], 1);
  last = Eigen::Map<const Eigen::VectorXd>(unfolding.data(), unfolding.size()).cast<T>();
  tt.cores.push_back(std::move(last));
  return tt;
}

}  // namespace nnbcd
