// Parallel building blocks for the symmetric positive definite systems of the BCD updates.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Cholesky>

#include "threads.hpp"
#include "types.hpp"

namespace nnbcd {

// Splitting a product over its inner dimension (the samples) gives each thread a whole GEMM
// of its own, but costs one extra output-sized matrix per thread: worth it when the inner
// dimension is long, and allowed while those copies stay below a quarter of one input.
inline bool split_inner(int threads, Index inner, Index output_rows, Index output_cols) {
  return threads > 1 && inner >= 16 * std::max(output_rows, output_cols) &&
         double(threads - 1) * double(output_cols) <= double(inner) / 4;
}

// Adds f(first_column, column_count, C) to `total` for static column blocks of [0, n), one per
// thread: thread 0 adds into `total` itself, the others into zeroed partials that are added in
// thread order: deterministic for a given thread count. f must add into C, not assign.
template <class T, class Total, class F>
void sum_over_inner_blocks(int threads, Index n, Eigen::MatrixBase<Total>& total, F&& f) {
  std::vector<Matrix<T>> partial(threads - 1);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int t = 0; t < threads; ++t) {
    const Index begin = n * t / threads, count = n * (t + 1) / threads - begin;
    if (t == 0) {
      f(begin, count, total);
    } else {
      Matrix<T>& part = partial[t - 1];
      part.setZero(total.rows(), total.cols());
      f(begin, count, part);
    }
  }
  for (const Matrix<T>& part : partial) total += part;
}

// lower(A) += scale * M M^T, the lower triangle cut into column panels, each one GEMM on one
// thread (Eigen does not nest inside our parallel region). Each panel is computed whole by one
// thread: deterministic.
template <class T, class DerivedA, class DerivedM>
void add_lower_product_in_panels(Eigen::MatrixBase<DerivedA>& A,
                                 const Eigen::MatrixBase<DerivedM>& M, T scale, int threads) {
  const Index d = A.rows();
  const Index panels = std::min<Index>(4 * threads, d);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (Index p = 0; p < panels; ++p) {
    const Index begin = d * p / panels, width = d * (p + 1) / panels - begin;
    A.block(begin, begin, d - begin, width).noalias() +=
        scale * M.middleRows(begin, d - begin) * M.middleRows(begin, width).transpose();
  }
}

// f(j, C.middleCols(j, w)) for consecutive chunks [j, j + w) covering [begin, begin + count):
// C = M itself, in one chunk, or, given `centre`, C = M - centre 1^T, centred into a buffer of
// ~2^20 entries at a time (never a copy of all of M).
template <class T, class Derived, class F>
void for_column_chunks(const Eigen::MatrixBase<Derived>& M, const Vector<T>* centre, Index begin,
                       Index count, F&& f) {
  if (centre == nullptr) {
    f(begin, M.middleCols(begin, count));
    return;
  }
  const Index width = std::max<Index>(64, (Index(1) << 20) / std::max<Index>(M.rows(), 1));
  Matrix<T> chunk;
  for (Index j = begin; j < begin + count; j += width) {
    chunk = M.middleCols(j, std::min(width, begin + count - j)).colwise() - *centre;
    f(j, chunk);
  }
}

// A = scale * C C^T + shift * I, lower triangle only (what the Cholesky reads), for C = M or,
// given `centre`, C = M - centre 1^T (see for_column_chunks). The symmetric rank update (SYRK)
// costs half a GEMM. Eigen's SYRK is single-threaded. With several threads and many columns, each
// thread updates with its own columns (134 against 84 GFLOP/s for a 300 x 60,000 M on 2
// threads); otherwise in panels. Deterministic either way.
template <class T, class Derived>
void gram_lower(const Eigen::MatrixBase<Derived>& M, T scale, T shift, Matrix<T>& A,
                const Vector<T>* centre = nullptr) {
  const Index d = M.rows(), n = M.cols();
  const auto rank_update = [scale](auto& G) {
    return [&G, scale](Index, const auto& C) {
      G.template selfadjointView<Eigen::Lower>().rankUpdate(C, scale);
    };
  };
  A.setZero(d, d);
  const int threads = threads_for(0.5 * double(d) * double(d) * double(n));
  if (threads == 1 || d < 64) {
    for_column_chunks(M, centre, 0, n, rank_update(A));
  } else if (split_inner(threads, n, d, d)) {
    sum_over_inner_blocks<T>(threads, n, A, [&](Index begin, Index count, auto& G) {
      for_column_chunks(M, centre, begin, count, rank_update(G));
    });
  } else {
    for_column_chunks(M, centre, 0, n, [&](Index, const auto& C) {
      add_lower_product_in_panels(A, C, scale, threads);
    });
  }
  A.diagonal().array() += shift;
}

// The Cholesky factor L of the SPD matrix whose lower triangle is A, written over A; false when
// A is not numerically positive definite. Eigen's LLT does its trailing updates (SYRK) on one
// thread, so with several threads a large A is factored here by 256-wide blocks: Eigen factors
// the diagonal block, the panel below it is solved by row chunks in parallel, and the trailing
// matrix is updated in parallel panels.
template <class T>
bool cholesky_in_place(Matrix<T>& A) {
  constexpr Index kBlock = 256;
  using InPlaceLlt = Eigen::LLT<Eigen::Ref<Matrix<T>>, Eigen::Lower>;
  const Index d = A.rows();
  if (threads_for(double(d) * double(d) * double(d) / 3) == 1 || d < 2 * kBlock)
    return InPlaceLlt(A).info() == Eigen::Success;
  for (Index k = 0; k < d; k += kBlock) {
    const Index b = std::min(kBlock, d - k), rest = d - k - b;
    Eigen::Ref<Matrix<T>> diagonal = A.block(k, k, b, b);
    if (InPlaceLlt(diagonal).info() != Eigen::Success) return false;
    if (rest == 0) break;
    auto panel = A.block(k + b, k, rest, b);  // <- panel L11^-T
    const int threads = threads_for(double(rest) * double(b) * double(b));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int t = 0; t < threads; ++t) {
      const Index begin = rest * t / threads, count = rest * (t + 1) / threads - begin;
      auto rows = panel.middleRows(begin, count);
      diagonal.transpose().template triangularView<Eigen::Upper>()
          .template solveInPlace<Eigen::OnTheRight>(rows);
    }
    auto trailing = A.block(k + b, k + b, rest, rest);
    add_lower_product_in_panels(trailing, panel, T(-1),
                                threads_for(double(rest) * double(rest) * double(b)));
  }
  return true;
}

// C += scale * A' B^T, where A and B have one column per sample and A' = A or, given `centre`,
// A - centre 1^T (see for_column_chunks). Eigen's parallel GEMM splits the output, which gives
// threads little to share when it is small (300 x 100 from 60,000 samples: 82 GFLOP/s on 2
// threads); split over the samples instead when that pays (136).
template <class T, class DerivedA, class DerivedB, class DerivedC>
void add_product_over_samples(const Eigen::MatrixBase<DerivedA>& A,
                              const Eigen::MatrixBase<DerivedB>& B, T scale,
                              Eigen::MatrixBase<DerivedC>& C, const Vector<T>* centre = nullptr) {
  const Index n = A.cols();
  const auto add_product = [&B, scale](auto& total) {
    return [&B, &total, scale](Index j, const auto& part) {
      total.noalias() += scale * part * B.middleCols(j, part.cols()).transpose();
    };
  };
  const int threads = threads_for(2.0 * double(A.rows()) * double(B.rows()) * double(n));
  if (!split_inner(threads, n, A.rows(), B.rows())) {
    for_column_chunks(A, centre, 0, n, add_product(C));
    return;
  }
  sum_over_inner_blocks<T>(threads, n, C, [&](Index begin, Index count, auto& total) {
    for_column_chunks(A, centre, begin, count, add_product(total));
  });
}

// Solve L L^T X = B in place, L the lower triangle of `factor`, the right-hand sides split
// across threads.
template <class T, class Derived>
void solve_in_place(const Matrix<T>& factor, Eigen::MatrixBase<Derived>& B) {
  const double work_per_column = double(B.rows()) * double(B.rows());
  for_column_blocks(B.cols(), work_per_column, [&](Index begin, Index count) {
    auto X = B.middleCols(begin, count);
    factor.template triangularView<Eigen::Lower>().solveInPlace(X);
    factor.transpose().template triangularView<Eigen::Upper>().solveInPlace(X);
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

// The Cholesky factor of the SPD matrix whose lower triangle is A, written over A rather than
// copied (for the CNN's 5408 x 5408 system that is 117 MB). A failed factorisation means the
// inputs were not finite or the proximal/regularising shift was too small for the arithmetic.
template <class T>
void factor_in_place(Matrix<T>& A, const char* what) {
  if (!cholesky_in_place(A))
    throw std::runtime_error(std::string("nnbcd: Cholesky factorisation failed in ") + what +
                             " (non-finite values, or the system is numerically singular)");
}

// Solve A X = B in place given A's Cholesky factor. With many right-hand sides (n >= 2d) the
// explicit inverse followed by a GEMM is cheaper: GEMM runs ~1.6x faster than the triangular
// solves, and for these shifted Gram matrices the result is as accurate (measured: same
// relative error in float32 up to condition numbers ~1e4; tested against the solve in float64).
template <class T, class Derived>
void solve_factored(const Matrix<T>& factor, Eigen::MatrixBase<Derived>& B) {
  const Index d = factor.rows();
  if (B.cols() >= 2 * d) {
    Matrix<T> inverse = Matrix<T>::Identity(d, d);
    solve_in_place(factor, inverse);
    multiply_in_place(inverse, B);
  } else {
    solve_in_place(factor, B);
  }
}

// Solve A X = B in place for the SPD A whose lower triangle is given; A is overwritten by its
// Cholesky factor.
template <class T, class Derived>
void spd_solve_in_place(Matrix<T>& A, Eigen::MatrixBase<Derived>& B, const char* what) {
  factor_in_place(A, what);
  solve_factored(A, B);
}

// Row sums of M, summed in S (M's scalar, or double), in parallel and deterministic (see
// reduce_over_columns). Column by column: contiguous, and twice as fast as Eigen's rowwise sum.
template <class S, class Derived>
Vector<S> row_sums(const Eigen::MatrixBase<Derived>& M) {
  return reduce_over_columns(M.cols(), double(M.rows()), Vector<S>(Vector<S>::Zero(M.rows())),
                             [&](Index begin, Index count) {
                               Vector<S> sum = Vector<S>::Zero(M.rows());
                               for (Index j = begin; j < begin + count; ++j)
                                 sum += M.col(j).template cast<S>();
                               return sum;
                             });
}

}  // namespace nnbcd
