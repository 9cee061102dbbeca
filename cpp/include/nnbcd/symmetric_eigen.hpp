// The largest eigenpairs of a small dense symmetric matrix, for TT-SVD, which needs the r
// largest of n eigenpairs (e.g. 80 of 320) and the sum of the others.
//
// Eigen's SelfAdjointEigenSolver finds all eigenvalues by tridiagonal QR, which is latency-bound,
// and accumulates every rotation into all n eigenvectors: together three times the cost of the
// tridiagonalisation at n = 320. Here, after Eigen's Householder tridiagonalisation, the wanted
// eigenvalues come from bisection on Sturm counts (eight at a time, so that the recurrence
// vectorises; groups of eight in parallel), their eigenvectors from inverse iteration (the scheme of LAPACK's dstein: pivoted
// LU, vectors of a cluster re-orthogonalised), and one Householder back-transformation finishes
// them. The tridiagonal eigenpairs are checked (residual and orthonormality); should inverse
// iteration fall short, the full solver is used instead.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include <Eigen/Eigenvalues>

#include "threads.hpp"
#include "types.hpp"

namespace nnbcd {

namespace detail {

// The 1-norm of the symmetric tridiagonal matrix with this diagonal and off-diagonal.
inline double tridiagonal_norm(const Eigen::VectorXd& diagonal, const Eigen::VectorXd& off) {
  const Index n = diagonal.size();
  double norm = 0;
  for (Index i = 0; i < n; ++i)
    norm = std::max(norm, std::abs(diagonal(i)) + (i > 0 ? std::abs(off(i - 1)) : 0.0) +
                              (i + 1 < n ? std::abs(off(i)) : 0.0));
  return norm;
}

// The `count` largest eigenvalues of the symmetric tridiagonal matrix, largest first, each to
// about eps ||T|| (as accurate as QR), by bisection of the Gershgorin interval.
inline Eigen::VectorXd largest_tridiagonal_eigenvalues(const Eigen::VectorXd& diagonal,
                                                       const Eigen::VectorXd& off, Index count) {
  const Index n = diagonal.size();
  const double norm = tridiagonal_norm(diagonal, off);
  Eigen::VectorXd values = Eigen::VectorXd::Zero(count);
  if (norm == 0) return values;
  // On T / ||T||, so that squares neither overflow nor underflow (couplings below 1e-154 ||T||
  // that do underflow move no eigenvalue by more than 1e-308 ||T||).
  const Eigen::VectorXd scaled_diagonal = diagonal / norm;
  const Eigen::VectorXd off_squared = (off / norm).array().square();
  const double pivot_floor = std::numeric_limits<double>::min();
  const double eps = std::numeric_limits<double>::epsilon();
  const int halvings = int(std::ceil(std::log2(2.0 / eps))) + 2;  // [-1, 1] down to eps
  constexpr int kLanes = 8;
  // Bisects for eigenvalues first .. first + kLanes - 1 (0 = the largest) together.
  const auto bisect_lanes = [&](Index first) {
    double low[kLanes], high[kLanes], mid[kLanes], q[kLanes], below_target[kLanes];
    int below[kLanes];
    for (int lane = 0; lane < kLanes; ++lane) {
      low[lane] = -1.0, high[lane] = 1.0;
      // The eigenvalue that has this many eigenvalues below it (clamped past the last one).
      below_target[lane] = double(std::max<Index>(0, n - 1 - (first + lane)));
    }
    for (int halving = 0; halving < halvings; ++halving) {
      for (int lane = 0; lane < kLanes; ++lane) {
        mid[lane] = 0.5 * (low[lane] + high[lane]);
        q[lane] = 1.0;
        below[lane] = 0;
      }
      // Sturm sequence: the number of negative pivots of T - mid I is the number of
      // eigenvalues below mid.
      for (Index i = 0; i < n; ++i) {
        const double coupling = i > 0 ? off_squared(i - 1) : 0.0;
        for (int lane = 0; lane < kLanes; ++lane) {
          double pivot = (scaled_diagonal(i) - mid[lane]) - coupling / q[lane];
          pivot = std::abs(pivot) < pivot_floor ? -pivot_floor : pivot;
          below[lane] += pivot < 0;
          q[lane] = pivot;
        }
      }
      for (int lane = 0; lane < kLanes; ++lane)
        (double(below[lane]) > below_target[lane] ? high : low)[lane] = mid[lane];
    }
    for (int lane = 0; lane < kLanes && first + lane < count; ++lane)
      values(first + lane) = norm * 0.5 * (low[lane] + high[lane]);
  };
  const Index groups = (count + kLanes - 1) / kLanes;
  for_column_blocks(groups, double(kLanes * n * halvings), [&](Index begin, Index size) {
    for (Index group = begin; group < begin + size; ++group) bisect_lanes(group * kLanes);
  });
  return values;
}

// Inverse iteration for eigenvectors of the symmetric tridiagonal matrix (diagonal, off) at
// the given eigenvalues (largest first). Returns false if a vector does not converge.
inline bool tridiagonal_eigenvectors(const Eigen::VectorXd& diagonal, const Eigen::VectorXd& off,
                                     const Eigen::VectorXd& values, Eigen::MatrixXd& vectors) {
  const Index n = diagonal.size();
  const Index count = values.size();
  vectors.resize(n, count);
  if (n == 1) {
    vectors.setOnes();
    return true;
  }
  const double norm = tridiagonal_norm(diagonal, off);
  if (norm == 0) {  // T = 0: any orthonormal vectors
    vectors.setIdentity();
    return true;
  }
  const double eps = std::numeric_limits<double>::epsilon();
  const double pivot_floor = eps * norm;       // replaces tiny pivots of T - lambda I
  const double separation = 10 * eps * norm;   // equal eigenvalues get distinct shifts
  const double cluster_gap = 1e-3 * norm;      // closer eigenvalues: re-orthogonalise
  const double converged = std::sqrt(0.1 / double(n));
  constexpr int max_iterations = 5, extra_iterations = 2;

  Eigen::VectorXd d(n), up(n), up2(n), low(n), x(n);
  Eigen::Matrix<bool, Eigen::Dynamic, 1> swapped(n);
  std::uint64_t seed = 0x9E3779B97F4A7C15ull;
  double previous_shift = 0;
  Index cluster_start = 0;
  for (Index j = 0; j < count; ++j) {
    double shift = values(j);
    if (j > 0) {
      if (previous_shift - shift > cluster_gap) cluster_start = j;
      shift = std::min(shift, previous_shift - separation);
    }
    // T - shift I = P L U with partial pivoting; U has diagonals d, up, up2.
    d = diagonal.array() - shift;
    up.head(n - 1) = off;
    up2.setZero();
    for (Index i = 0; i + 1 < n; ++i) {
      const double sub = off(i);
      swapped(i) = std::abs(sub) > std::abs(d(i));
      if (swapped(i)) {
        const double factor = d(i) / sub;
        d(i) = sub;
        low(i) = factor;
        const double next_up = up(i);
        up(i) = d(i + 1);
        d(i + 1) = next_up - factor * d(i + 1);
        if (i + 2 < n) {
          up2(i) = up(i + 1);
          up(i + 1) = -factor * up(i + 1);
        }
      } else {
        if (std::abs(d(i)) < pivot_floor) d(i) = std::copysign(pivot_floor, d(i));
        low(i) = sub / d(i);
        d(i + 1) -= low(i) * up(i);
      }
    }
    for (Index i = 0; i < n; ++i)
      if (std::abs(d(i)) < pivot_floor) d(i) = std::copysign(pivot_floor, d(i));

    for (Index i = 0; i < n; ++i) {  // a fixed pseudo-random start in (-1, 1)
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      x(i) = double(seed >> 11) * 0x1.0p-52 - 1.0;
    }
    int checks = 0;
    bool done = false;
    for (int iteration = 0; iteration < max_iterations && !done; ++iteration) {
      // dstein's scaling: a converged solve grows x from this 1-norm to an inf-norm of at
      // least `converged`, i.e. its residual is O(n^1.5 eps ||T||).
      x *= double(n) * norm * std::max(eps, std::abs(d(n - 1))) / x.cwiseAbs().sum();
      for (Index i = 0; i + 1 < n; ++i) {  // apply L^{-1} P
        if (swapped(i)) {
          const double t = x(i);
          x(i) = x(i + 1);
          x(i + 1) = t - low(i) * x(i + 1);
        } else {
          x(i + 1) -= low(i) * x(i);
        }
      }
      x(n - 1) /= d(n - 1);
      x(n - 2) = (x(n - 2) - up(n - 2) * x(n - 1)) / d(n - 2);
      for (Index i = n - 3; i >= 0; --i)
        x(i) = (x(i) - up(i) * x(i + 1) - up2(i) * x(i + 2)) / d(i);
      if (j > cluster_start) {
        const auto cluster = vectors.middleCols(cluster_start, j - cluster_start);
        x -= cluster * (cluster.transpose() * x);
      }
      const double largest = x.cwiseAbs().maxCoeff();
      if (!std::isfinite(largest) || largest == 0) return false;
      if (largest >= converged && ++checks > extra_iterations) done = true;
    }
    if (!done) return false;
    vectors.col(j) = x.normalized();
    previous_shift = shift;
  }
  return true;
}

}  // namespace detail

// The `count` largest eigenvalues of a symmetric matrix (only its lower triangle is read), the
// sum of all of them, and on request the eigenvectors of some of the largest.
class SymmetricEigen {
 public:
  SymmetricEigen(const Eigen::MatrixXd& symmetric, Index count)
      : symmetric_(symmetric), scale_(symmetric.triangularView<Eigen::Lower>().toDenseMatrix()
                                          .cwiseAbs().maxCoeff()) {
    if (!std::isfinite(scale_))
      throw std::runtime_error("nnbcd: eigendecomposition of a non-finite matrix");
    if (scale_ == 0) scale_ = 1;
    // Householder reflections square the entries: on A / max|A| they neither overflow nor
    // underflow (as in Eigen's own solver).
    tridiagonal_.compute(symmetric / scale_);
    diagonal_ = tridiagonal_.diagonal();
    off_ = tridiagonal_.subDiagonal();
    values_ = scale_ * detail::largest_tridiagonal_eigenvalues(diagonal_, off_, count);
  }

  // The `count` largest eigenvalues, largest first.
  const Eigen::VectorXd& values() const { return values_; }
  // The sum of all eigenvalues.
  double trace() const { return scale_ * diagonal_.sum(); }

  // Orthonormal eigenvectors of values().head(count), as columns.
  Eigen::MatrixXd vectors(Index count) const {
    const Index n = diagonal_.size();
    const Eigen::VectorXd tridiagonal_values = values_.head(count) / scale_;
    Eigen::MatrixXd small;
    if (detail::tridiagonal_eigenvectors(diagonal_, off_, tridiagonal_values, small)) {
      // Accept only eigenpairs as good as a full solver's: a small residual makes the captured
      // energy sum(v' A v) the sum of the eigenvalues, i.e. optimal. Q is orthogonal, so the
      // tridiagonal residual is the residual of the back-transformed vectors.
      const double tolerance = 1e3 * double(n) * std::numeric_limits<double>::epsilon();
      Eigen::MatrixXd residual = diagonal_.asDiagonal() * small;
      residual.topRows(n - 1) += off_.asDiagonal() * small.bottomRows(n - 1);
      residual.bottomRows(n - 1) += off_.asDiagonal() * small.topRows(n - 1);
      residual -= small * tridiagonal_values.asDiagonal();
      const Eigen::MatrixXd gram = small.transpose() * small;
      if (residual.cwiseAbs().maxCoeff() <=
              tolerance * detail::tridiagonal_norm(diagonal_, off_) &&
          (gram - Eigen::MatrixXd::Identity(count, count)).cwiseAbs().maxCoeff() <= tolerance)
        return tridiagonal_.matrixQ() * small;
    }
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> full(symmetric_);
    if (full.info() != Eigen::Success)
      throw std::runtime_error("nnbcd: eigendecomposition failed");
    return full.eigenvectors().rowwise().reverse().leftCols(count);
  }

 private:
  Eigen::MatrixXd symmetric_;  // for the fallback
  double scale_;               // max |A|; the tridiagonal matrix is that of A / scale_
  Eigen::Tridiagonalization<Eigen::MatrixXd> tridiagonal_;
  Eigen::VectorXd diagonal_, off_;
  Eigen::VectorXd values_;
};

}  // namespace nnbcd
