// The block updates of one NN-BCD iteration (DESIGN §2), each the exact minimiser of the
// objective in its own block. Matrices hold samples as columns; W is d_out x d_in.
#pragma once

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

// V V^T (lower triangle) and V 1 of a weight update's input V, for an input that does not
// change between sweeps (the first layer's X, or its patches): computed once, not every sweep.
template <class T>
struct InputMoments {
  Matrix<T> gram;
  Vector<T> sum;
};

template <class T>
InputMoments<T> input_moments(const ConstMatrixRef<T>& V) {
  InputMoments<T> m;
  gram_lower(V, T(1), T(0), m.gram);
  m.sum = row_sums<T>(V);
  return m;
}

// Steps 3 and 6, weights: W <- (alpha W + tau G + rho (U - b 1^T) V^T)
//                             ((alpha + tau + lambda) I + rho V V^T)^{-1}.
// W is row-major, so its memory is W^T column-major: the system is solved for W^T in place,
// with one right-hand side per output unit. G may be null when tau is zero; `fixed`, when
// given, holds the moments of Vprev.
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
                    (fixed->gram.rows() == W.cols() && fixed->sum.size() == W.cols()),
                "the moments of V_prev must be d_in x d_in and d_in");
  const T shift = alpha + tau + weight_decay;
  Matrix<T> A;
  if (fixed != nullptr) {
    A.noalias() = rho * fixed->gram;
    A.diagonal().array() += shift;
  } else {
    gram_lower(Vprev, rho, shift, A);
  }

  Eigen::Map<Matrix<T>, 0, Eigen::OuterStride<>> Wt(W.data(), W.cols(), W.rows(),
                                                     Eigen::OuterStride<>(W.outerStride()));
  Wt *= alpha;
  if (G != nullptr && tau != T(0)) Wt += tau * G->transpose();
  // rho (U - b 1^T) V^T, transposed, without forming U - b 1^T: rho (V U^T - (V 1) b^T).
  add_product_over_samples(Vprev, U, rho, Wt);
  const Vector<T> v_sum = fixed != nullptr ? fixed->sum : row_sums<T>(Vprev);
  Wt.noalias() -= rho * v_sum * b.transpose();
  spd_solve_in_place(A, Wt, "the weight update");
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
