// Y = W X with every column of Y computed the same way whatever the other columns: a sample's
// output, bit for bit, does not depend on the batch it comes in, nor on the thread count.
#pragma once

#include <algorithm>

#include <Eigen/Core>

#include "threads.hpp"
#include "types.hpp"

namespace nnbcd {

// Eigen picks its kernel by shape: a matrix-vector product for one column, a coefficient-wise
// product while depth + rows + columns < EIGEN_GEMM_TO_COEFFBASED_THRESHOLD, else GEMM, which
// sums the last n % 4 columns (past its register blocks) in another order than the others, and
// blocks the depth differently on several threads. Each changes a column's rounding with the
// batch around it (float32: a few ulps). So every product here is a single-threaded GEMM of a
// multiple of kGroup columns, wide enough for the threshold: the whole groups of the batch in
// place, split across the threads, and the last n % kGroup columns through a zero-padded copy.
// In such a GEMM every column is summed in one order, set by W's shape. Y must be W.rows() x n.
template <class DerivedW, class DerivedX, class DerivedY>
void batch_invariant_product(const Eigen::MatrixBase<DerivedW>& W,
                             const Eigen::MatrixBase<DerivedX>& X,
                             Eigen::MatrixBase<DerivedY>& Y) {
  using T = typename DerivedY::Scalar;
  constexpr Index kGroup = 8;  // a multiple of GEMM's register block, 4 columns
  const Index n = X.cols();
  const Index fewest = std::max<Index>(
      kGroup, Index(EIGEN_GEMM_TO_COEFFBASED_THRESHOLD) - W.rows() - W.cols());
  const Index width = (fewest + kGroup - 1) / kGroup * kGroup;  // of the narrowest product
  const auto multiply = [&W](const auto& in, auto&& out) {
    ThreadScope one(1);  // Eigen's own threads would block the depth differently
    out.noalias() = W * in;
  };
  const Index body = n >= width ? n / kGroup * kGroup : 0;  // the columns taken in place
  if (body > 0) {
    const Index groups = body / kGroup;
    const int threads = static_cast<int>(std::min<Index>(
        threads_for(2.0 * double(W.rows()) * double(W.cols()) * double(body)), body / width));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int t = 0; t < threads; ++t) {
      const Index begin = groups * t / threads * kGroup;
      const Index count = groups * (t + 1) / threads * kGroup - begin;
      multiply(X.middleCols(begin, count), Y.middleCols(begin, count));
    }
  }
  if (body < n) {
    const Index rest = n - body;
    Matrix<T> padded = Matrix<T>::Zero(X.rows(), width), out(W.rows(), width);
    padded.leftCols(rest) = X.rightCols(rest);
    multiply(padded, out);
    Y.rightCols(rest) = out.leftCols(rest);
  }
}

}  // namespace nnbcd
