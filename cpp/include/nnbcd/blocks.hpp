// The block updates of one NN-BCD iteration (DESIGN §2), each the exact minimiser of the
// objective in its own block. Matrices hold samples as columns; W is d_out x d_in.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>

#include "linalg.hpp"
#include "relu_prox.hpp"
#include "threads.hpp"
#include "types.hpp"

namespace nnbcd {

template <class T>
using MatrixRef = Eigen::Ref<Matrix<T>>;
template <class T>
using ConstMatrixRef = Eigen::Ref<const Matrix<T>>;
template <class T>
using WeightRef = Eigen::Ref<RowMatrix<T>>;
template <class T>
using ConstWeightRef = Eigen::Ref<const RowMatrix<T>>;
template <class T>
using VectorRef = Eigen::Ref<Vector<T>>;
template <class T>
using ConstVectorRef = Eigen::Ref<const Vector<T>>;

inline void require_shape(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("nnbcd: inconsistent shapes: ") + what);
}

// Step 1. V_N <- (Y + gamma U_N + alpha V_N) / (1 + gamma + alpha).
template <class T>
void update_output_v(const ConstMatrixRef<T>& Y, const ConstMatrixRef<T>& U, MatrixRef<T> V,
                     T gamma, T alpha) {
  require_shape(Y.rows() == V.rows() && Y.cols() == V.cols() && U.rows() == V.rows() &&
                    U.cols() == V.cols(),
                "Y, U and V must all be d_N x n");
  const T inv = T(1) / (T(1) + gamma + alpha);
  for_column_blocks(V.cols(), double(V.rows()), [&](Index j, Index m) {
    V.middleCols(j, m) = inv * (Y.middleCols(j, m) + gamma * U.middleCols(j, m) +
                                alpha * V.middleCols(j, m));
  });
}

// Step 2. U_N <- (gamma V_N + rho (W_N V_{N-1} + b_N)) / (gamma + rho), given WV = W_N V_{N-1}.
template <class T>
void update_output_u(const ConstMatrixRef<T>& V, const ConstMatrixRef<T>& WV,
                     const ConstVectorRef<T>& b, MatrixRef<T> U, T gamma, T rho) {
  require_shape(V.rows() == U.rows() && V.cols() == U.cols() && WV.rows() == U.rows() &&
                    WV.cols() == U.cols() && b.size() == U.rows(),
                "V, W V_prev and U must be d x n, b of length d");
  const T inv = T(1) / (gamma + rho);
  for_column_blocks(U.cols(), double(U.rows()), [&](Index j, Index m) {
    U.middleCols(j, m) =
        inv * (gamma * V.middleCols(j, m) + rho * (WV.middleCols(j, m).colwise() + b));
  });
}

// What a weight update needs of its input V, taken around V's row means. The means enter the
// system as n mu mu^T, which the weight update solves exactly (Sherman-Morrison): for unscaled
// inputs (X ~ N(100, 1), activations ~100) it alone makes the system ill-conditioned beyond
// float (condition ~n |mu|^2 / alpha ~ 1e7), the float Cholesky would break down. The rest is
// the Gram matrix of C = V - m 1^T, summed in T:
//   V V^T = (C C^T - s s^T / n) + n mu mu^T,   s = C 1,   mu = m + s / n (the exact means).
// Where some row's mean exceeds 4 of its standard deviations, m is the means rounded to T: the
// float sums of products with V would otherwise carry rounding errors ~eps n |mu|^2, above the
// shift alpha. Elsewhere m = 0 (C = V, no centred copies to make). The first layer's input (X,
// or its patches) does not change between sweeps: its moments are computed once.
template <class T>
struct InputMoments {
  Matrix<T> gram;        // C C^T - s s^T / n, lower triangle
  Vector<T> centre;      // m, or empty for m = 0
  Vector<double> offset;  // s
  Vector<double> mean;    // mu

  const Vector<T>* centre_or_null() const { return centre.size() > 0 ? &centre : nullptr; }
};

template <class T>
InputMoments<T> input_moments(const ConstMatrixRef<T>& V) {
  const double n = double(V.cols());
  InputMoments<T> moments;
  moments.offset = row_sums<double>(V);
  moments.mean = moments.offset / std::max(n, 1.0);
  gram_lower(V, T(1), T(0), moments.gram);
  // mean^2 > 16 variance, the variance being diag(V V^T) / n - mean^2
  const auto diagonal = moments.gram.diagonal().template cast<double>().array();
  if ((17 * n * moments.mean.array().square() > 16 * diagonal).any()) {
    moments.centre = moments.mean.template cast<T>();
    gram_lower(V, T(1), T(0), moments.gram, &moments.centre);
    moments.offset -= n * moments.centre.template cast<double>();
  }
  moments.gram.template triangularView<Eigen::Lower>() -=
      (moments.offset * moments.offset.transpose() / std::max(n, 1.0)).template cast<T>();
  return moments;
}

// Steps 3 and 6, weights: W <- (alpha W + tau G + rho (U - b 1^T) V^T)
//                             ((alpha + tau + lambda) I + rho V V^T)^{-1}.
// W is row-major, so its memory is W^T column-major: the system is solved for W^T in place,
// with one right-hand side per output unit. Around V's means (see InputMoments) the system is
// A + rho n mu mu^T with A = (alpha + tau + lambda) I + rho (C C^T - s s^T / n), and the
// right-hand side R + rho mu z^T with z = (U - b 1^T) 1 and
// R = alpha W^T + tau G^T + rho (C U^T - s b^T - s z^T / n), since V = C + (mu - s / n) 1^T.
// With y = A^{-1} mu and beta = rho n mu^T y, Sherman-Morrison gives
//   W^T = A^{-1} R - y rho (n mu^T A^{-1} R - z^T) / (1 + beta),
// with mu, z, beta and the coefficients rho (...) / (1 + beta) in double. G may be null when
// tau is zero; `fixed`, when given, holds the moments of Vprev.
template <class T>
void update_weights(const ConstMatrixRef<T>& U, const ConstMatrixRef<T>& Vprev,
                    const ConstVectorRef<T>& b, WeightRef<T> W, T rho, T alpha, T weight_decay,
                    T tau, const RowMatrix<T>* G, const InputMoments<T>* fixed = nullptr) {
  if (tau != T(0) && G == nullptr) throw std::invalid_argument("nnbcd: tau > 0 needs G");
  require_shape(U.rows() == W.rows() && Vprev.rows() == W.cols() && U.cols() == Vprev.cols() &&
                    b.size() == W.rows() &&
                    (G == nullptr || (G->rows() == W.rows() && G->cols() == W.cols())),
                "W is d_out x d_in, U d_out x n, V_prev d_in x n, b d_out, G like W");
  require_shape(fixed == nullptr ||
                    (fixed->gram.rows() == W.cols() && fixed->mean.size() == W.cols()),
                "the moments of V_prev must be d_in x d_in and d_in");
  InputMoments<T> moments = fixed != nullptr ? *fixed : input_moments<T>(Vprev);  // a copy
  Matrix<T>& A = moments.gram;  // becomes the system, in place
  A *= rho;
  A.diagonal().array() += alpha + tau + weight_decay;

  Eigen::Map<Matrix<T>, 0, Eigen::OuterStride<>> Wt(W.data(), W.cols(), W.rows(),
                                                     Eigen::OuterStride<>(W.outerStride()));
  const double n = double(U.cols());
  const Vector<double> z = row_sums<double>(U) - n * b.template cast<double>();
  const Vector<T> s = moments.offset.template cast<T>();
  const Vector<double>& mu = moments.mean;
  Wt *= alpha;
  if (G != nullptr && tau != T(0)) Wt += tau * G->transpose();
  add_product_over_samples(Vprev, U, rho, Wt, moments.centre_or_null());
  Wt.noalias() -= rho * s * (b + (z / std::max(n, 1.0)).template cast<T>()).transpose();

  factor_in_place(A, "the weight update");
  solve_factored(A, Wt);
  Vector<T> y = mu.template cast<T>();
  solve_in_place(A, y);
  const double beta = double(rho) * n * mu.dot(y.template cast<double>());
  const Vector<double> mu_Wt = (Wt.transpose() * mu.template cast<T>()).template cast<double>();
  const Vector<T> c = (double(rho) * (n * mu_Wt - z) / (1.0 + beta)).template cast<T>();
  Wt.noalias() -= y * c.transpose();
}

// Steps 3 and 6, bias with the new W: b <- (alpha b + rho rowsum(U - W V)) / (rho n + alpha).
// rowsum(W V) = W (V 1): one matrix-vector product instead of a GEMM.
template <class T>
void update_bias(const ConstMatrixRef<T>& U, const ConstMatrixRef<T>& Vprev,
                 const ConstWeightRef<T>& W, VectorRef<T> b, T rho, T alpha) {
  require_shape(U.rows() == W.rows() && Vprev.rows() == W.cols() && U.cols() == Vprev.cols() &&
                    b.size() == W.rows(),
                "W is d_out x d_in, U d_out x n, V_prev d_in x n, b d_out");
  const Vector<T> residual_sum = row_sums<T>(U) - W * row_sums<T>(Vprev);
  b = (alpha * b + rho * residual_sum) / (rho * T(Vprev.cols()) + alpha);
}

// How the V update solves its d x d system (see update_hidden_v).
enum class VUpdateForm { automatic, direct, woodbury };

// Step 4. V_i <- (rho W^T W + gamma I)^{-1} (rho W^T (U_{i+1} - b 1^T) + gamma relu(U_i)),
// with W = W_{i+1}, b = b_{i+1}. When the next layer is much narrower (d_next < 0.618 d) the
// Woodbury form is cheaper: with S = relu(U_i), Z = U_{i+1} - b 1^T,
//   V_i = S + rho W^T (gamma I + rho W W^T)^{-1} (Z - W S)     (a d_next x d_next system).
template <class T>
void update_hidden_v(const ConstMatrixRef<T>& U, const ConstMatrixRef<T>& Unext,
                     const ConstWeightRef<T>& Wnext, const ConstVectorRef<T>& bnext,
                     MatrixRef<T> V, T rho, T gamma,
                     VUpdateForm form = VUpdateForm::automatic) {
  require_shape(Unext.rows() == Wnext.rows() && U.rows() == Wnext.cols() &&
                    V.rows() == U.rows() && V.cols() == U.cols() && Unext.cols() == U.cols() &&
                    bnext.size() == Wnext.rows(),
                "W_next is d_next x d, U and V d x n, U_next d_next x n, b_next d_next");
  const double d = double(Wnext.cols()), d_next = double(Wnext.rows());
  if (form == VUpdateForm::automatic)
    form = d_next * (d + d_next) < d * d ? VUpdateForm::woodbury : VUpdateForm::direct;
  Matrix<T> A;
  if (form == VUpdateForm::woodbury) {
    for_column_blocks(V.cols(), double(V.rows()), [&](Index j, Index m) {
      V.middleCols(j, m) = U.middleCols(j, m).cwiseMax(T(0));
    });
    Matrix<T> Y(Unext.rows(), Unext.cols());
    for_column_blocks(Y.cols(), double(Y.rows()), [&](Index j, Index m) {
      Y.middleCols(j, m) = Unext.middleCols(j, m).colwise() - bnext;
    });
    Y.noalias() -= Wnext * V;
    gram_lower(Wnext, rho, gamma, A);
    spd_solve_in_place(A, Y, "the activation (V) update");
    V.noalias() += rho * Wnext.transpose() * Y;
    return;
  }
  gram_lower(Wnext.transpose(), rho, gamma, A);
  V.noalias() = Wnext.transpose() * Unext;
  const Vector<T> wtb = Wnext.transpose() * bnext;
  for_column_blocks(V.cols(), double(V.rows()), [&](Index j, Index m) {
    auto block = V.middleCols(j, m);
    block = rho * (block.colwise() - wtb) + gamma * U.middleCols(j, m).cwiseMax(T(0));
  });
  spd_solve_in_place(A, V, "the activation (V) update");
}

// Step 5. U_i <- relu_prox(V_i, (rho (W_i V_{i-1} + b_i) + alpha U_i)/(rho + alpha),
//                          (rho + alpha)/gamma), given WV = W_i V_{i-1}.
template <class T>
void update_hidden_u(const ConstMatrixRef<T>& V, const ConstMatrixRef<T>& WV,
                     const ConstVectorRef<T>& b, MatrixRef<T> U, T rho, T gamma, T alpha) {
  require_shape(V.rows() == U.rows() && V.cols() == U.cols() && WV.rows() == U.rows() &&
                    WV.cols() == U.cols() && b.size() == U.rows(),
                "V, W V_prev and U must be d x n, b of length d");
  const T inv = T(1) / (rho + alpha), eta = (rho + alpha) / gamma;
  const Index d = U.rows();
  for_column_blocks(U.cols(), double(U.rows()), [&](Index j0, Index m) {
    for (Index j = j0; j < j0 + m; ++j)
      for (Index r = 0; r < d; ++r) {
        const T c = inv * (rho * (WV(r, j) + b(r)) + alpha * U(r, j));
        U(r, j) = relu_prox(V(r, j), c, eta);
      }
  });
}

}  // namespace nnbcd
