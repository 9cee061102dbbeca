// Parallel building blocks for the symmetric positive definite systems of the BCD updates.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>

#include <Eigen/Cholesky>

#include "threads.hpp"
#include "types.hpp"

namespace nnbcd {

// A = scale * M M^T + shift * I, lower triangle only (what LLT reads): the symmetric rank
// update (SYRK) costs half a GEMM. Eigen's SYRK is single-threaded, so with several threads
// the lower triangle is cut into column panels, each one GEMM on one thread (Eigen does not
// nest inside our parallel region). Panels are fixed by the thread count: deterministic.
template <class T, class Derived>
void gram_lower(const Eigen::MatrixBase<Derived>& M, T scale, T shift, Matrix<T>& A) {
  const Index d = M.rows();
  A.resize(d, d);
  const int threads = threads_for(0.5 * double(d) * double(d) * double(M.cols()));
  if (threads == 1 || d < 64) {
    A.setZero();
    A.template selfadjointView<Eigen::Lower>().rankUpdate(M, scale);
  } else {
    const Index panels = std::min<Index>(4 * threads, d);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (Index p = 0; p < panels; ++p) {
      const Index begin = d * p / panels, width = d * (p + 1) / panels - begin;
      A.block(begin, begin, d - begin, width).noalias() =
          scale * M.middleRows(begin, d - begin) * M.middleRows(begin, width).transpose();
    }
  }
  A.diagonal().array() += shift;
}

// Solve L L^T X = B in place, the right-hand sides split across threads.
template <class Llt, class Derived>
void solve_in_place(const Llt& llt, Eigen::MatrixBase<Derived>& B) {
  const double work_per_column = double(B.rows()) * double(B.rows());
  for_column_blocks(B.cols(), work_per_column, [&](Index begin, Index count) {
    llt.solveInPlace(B.middleCols(begin, count));
  });
}

// B <- M B, one column chunk at a time so that the only temporary is a few columns wide.
template <class T, class Derived>
void multiply_in_place(const Matrix<T>& M, Eigen::MatrixBase<Derived>& B) {
  constexpr Index kChunk = 256;
  const double work_per_column = 2.0 * double(M.rows()) * double(M.cols());
  for_column_blocks(B.cols(), work_per_column, [&](Index begin, Index count) {
    Matrix<T> chunk;
    for (Index j = begin; j < begin + count; j += kChunk) {
      const Index width = std::min(kChunk, begin + count - j);
      chunk.noalias() = M * B.middleCols(j, width);
      B.middleCols(j, width) = chunk;
    }
  });
}

// Solve A X = B in place for the SPD A whose lower triangle is given; A is overwritten by its
// Cholesky factor rather than copied (for the CNN's 5408 x 5408 system that is 117 MB). A
// failed factorisation means the inputs were not finite or the proximal/regularising shift was
// too small for the arithmetic. With many right-hand sides (n >= 2d) the explicit inverse
// followed by a GEMM is cheaper: GEMM runs ~1.6x faster than the triangular solves, and for
// these shifted Gram matrices the result is as accurate (measured: same relative error in
// float32 up to condition numbers ~1e4; tested against the solve in float64).
template <class T, class Derived>
void spd_solve_in_place(Matrix<T>& A, Eigen::MatrixBase<Derived>& B, const char* what) {
  const Eigen::LLT<Eigen::Ref<Matrix<T>>, Eigen::Lower> llt(A);
  if (llt.info() != Eigen::Success)
    throw std::runtime_error(std::string("nnbcd: Cholesky factorisation failed in ") + what +
                             " (non-finite values, or the system is numerically singular)");
  const Index d = A.rows();
  if (B.cols() >= 2 * d) {
    Matrix<T> inverse = Matrix<T>::Identity(d, d);
    solve_in_place(llt, inverse);
    multiply_in_place(inverse, B);
  } else {
    solve_in_place(llt, B);
  }
}

// Row sums of M, in parallel and deterministic (see reduce_over_columns).
template <class T, class Derived>
Vector<T> row_sums(const Eigen::MatrixBase<Derived>& M) {
  return reduce_over_columns(M.cols(), double(M.rows()), Vector<T>(Vector<T>::Zero(M.rows())),
                             [&](Index begin, Index count) -> Vector<T> {
                               return M.middleCols(begin, count).rowwise().sum();
                             });
}

}  // namespace nnbcd
