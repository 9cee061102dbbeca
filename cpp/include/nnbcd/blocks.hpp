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
#include "weight_sums.hpp"

namespace nnbcd {

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

// Steps 3 and 6, weights: W <- (alpha W + tau G + rho (U - b 1^T) V^T)
//                             ((alpha + tau + lambda) I + rho V V^T)^{-1},
// from the sums over the samples (see WeightSums) around a centre m, with mu = m + s / n the
// input's means. W is row-major, so its memory is W^T column-major: the system is solved for
// W^T in place, with one right-hand side per output unit. With V = C + mu 1^T, C centred at the
// means, the system is A + rho n mu mu^T, A = (alpha + tau + lambda) I + rho C C^T, and the
// right-hand side R + rho mu z^T, R = alpha W^T + tau G^T + rho C (U - b 1^T)^T, where
//   C C^T = input_gram - s s^T / n,   C (U - b 1^T)^T = cross - s z^T / n.
// With y = A^{-1} mu and beta = rho n mu^T y, Sherman-Morrison gives
//   W^T = A^{-1} R - y rho (n mu^T A^{-1} R - z^T) / (1 + beta),
// with mu, z, beta and the coefficients rho (...) / (1 + beta) in double: the means, which can
// make the whole system ill-conditioned beyond float (condition ~n |mu|^2 / alpha), enter only
// there. `sums` is consumed (its Gram matrix becomes the factor). G may be null when tau is 0.
template <class T>
void update_weights(WeightSums<T> sums, WeightRef<T> W, T rho, T alpha, T weight_decay, T tau,
                    const RowMatrix<T>* G) {
  if (tau != T(0) && G == nullptr) throw std::invalid_argument("nnbcd: tau > 0 needs G");
  require_shape(sums.units() == W.rows() && sums.inputs() == W.cols() &&
                    sums.input_gram.rows() == W.cols() && sums.cross.rows() == W.cols() &&
                    sums.cross.cols() == W.rows() &&
                    (G == nullptr || (G->rows() == W.rows() && G->cols() == W.cols())),
                "W is d_out x d_in, the sums of d_in inputs and d_out units, G like W");
  const double n = std::max(sums.count, 1.0);
  const Vector<T> s = sums.input_sum.template cast<T>();
  Matrix<T>& A = sums.input_gram;  // becomes the system, in place
  A.template triangularView<Eigen::Lower>() -=
      (sums.input_sum * sums.input_sum.transpose() / n).template cast<T>();
  A *= rho;
  A.diagonal().array() += alpha + tau + weight_decay;

  Eigen::Map<Matrix<T>, 0, Eigen::OuterStride<>> Wt(W.data(), W.cols(), W.rows(),
                                                     Eigen::OuterStride<>(W.outerStride()));
  const Vector<double>& z = sums.unit_sum;
  const Vector<double> mu = sums.means();
  Wt *= alpha;
  if (G != nullptr && tau != T(0)) Wt += tau * G->transpose();
  Wt += rho * sums.cross;
  Wt.noalias() -= rho * s * (z / n).template cast<T>().transpose();

  factor_in_place(A, "the weight update");
  solve_factored(A, Wt);
  Vector<T> y = mu.template cast<T>();
  solve_in_place(A, y);
  const double beta = double(rho) * sums.count * mu.dot(y.template cast<double>());
  const Vector<double> mu_Wt = (Wt.transpose() * mu.template cast<T>()).template cast<double>();
  const Vector<T> c =
      (double(rho) * (sums.count * mu_Wt - z) / (1.0 + beta)).template cast<T>();
  Wt.noalias() -= y * c.transpose();
}

// Steps 3 and 6, bias with the new W: b <- (alpha b + rho rowsum(U - W V)) / (rho n + alpha),
// where rowsum(U) = z + n b and rowsum(V) = n mu come from the sums, taken with this b.
template <class T>
void update_bias(const WeightSums<T>& sums, const ConstWeightRef<T>& W, VectorRef<T> b, T rho,
                 T alpha) {
  require_shape(sums.units() == W.rows() && sums.inputs() == W.cols() && b.size() == W.rows(),
                "W is d_out x d_in, the sums of d_in inputs and d_out units, b d_out");
  const Vector<double> unit_total = sums.unit_sum + sums.count * b.template cast<double>();
  const Vector<T> input_total = (sums.count * sums.means()).template cast<T>();
  const Vector<T> residual_sum = unit_total.template cast<T>() - W * input_total;
  b = (alpha * b + rho * residual_sum) / (rho * T(sums.count) + alpha);
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
