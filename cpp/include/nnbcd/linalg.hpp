// Parallel building blocks for the symmetric positive definite systems of the BCD updates.
#pragma once

#include <algorithm>

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

// Factor the SPD matrix whose lower triangle is A; a failure means the inputs were not finite
// or the proximal/regularising shift was too small for the arithmetic.
template <class T>
Eigen::LLT<Matrix<T>, Eigen::Lower> cholesky(const Matrix<T>& A, const char* what) {
  Eigen::LLT<Matrix<T>, Eigen::Lower> llt(A);
  if (llt.info() != Eigen::Success)
    throw std::runtime_error(std::string("nnbcd: Cholesky factorisation failed in ") + what +
                             " (non-finite values, or the system is numerically singular)");
  return llt;
}

// Solve L L^T X = B in place, the right-hand sides split across threads.
template <class T, class Derived>
void solve_in_place(const Eigen::LLT<Matrix<T>, Eigen::Lower>& llt,
                    Eigen::MatrixBase<Derived>& B) {
  const double work_per_column = double(B.rows()) * double(B.rows());
  for_column_blocks(B.cols(), work_per_column, [&](Index begin, Index count) {
    llt.solveInPlace(B.middleCols(begin, count));
  });
}

}  // namespace nnbcd
