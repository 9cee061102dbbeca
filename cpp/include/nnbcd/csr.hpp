// Pruned weights in compressed sparse row form, and the sparse product Y = A X.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "threads.hpp"
#include "types.hpp"

namespace nnbcd {

template <class T>
struct Csr {
  Index rows = 0, cols = 0;
  std::vector<Index> row_start = {0};  // rows + 1 offsets into column/value
  std::vector<int32_t> column;         // increasing within a row
  std::vector<T> value;

  Index nnz() const { return static_cast<Index>(value.size()); }

  // Keeps exactly the non-zero entries (NaN counts as non-zero), row by row, columns in order.
  static Csr from_dense(const RowMatrix<T>& W) {
    if (W.cols() > std::numeric_limits<int32_t>::max())
      throw std::invalid_argument("nnbcd: too many columns for a CSR matrix");
    Csr A;
    A.rows = W.rows();
    A.cols = W.cols();
    const Index nnz = W.size() - Index((W.array() == T(0)).count());
    A.row_start.assign(std::size_t(A.rows + 1), 0);
    A.column.reserve(std::size_t(nnz));
    A.value.reserve(std::size_t(nnz));
    for (Index r = 0; r < A.rows; ++r) {
      const T* w = W.data() + r * A.cols;
      for (Index c = 0; c < A.cols; ++c)
        if (w[c] != T(0)) {
          A.column.push_back(static_cast<int32_t>(c));
          A.value.push_back(w[c]);
        }
      A.row_start[std::size_t(r + 1)] = static_cast<Index>(A.value.size());
    }
    return A;
  }

  RowMatrix<T> to_dense() const {
    check();
    RowMatrix<T> W = RowMatrix<T>::Zero(rows, cols);
    for (Index r = 0; r < rows; ++r)
      for (Index k = row_start[std::size_t(r)]; k < row_start[std::size_t(r + 1)]; ++k)
        W(r, column[std::size_t(k)]) = value[std::size_t(k)];
    return W;
  }

  // Full validation, for matrices that did not come from from_dense (e.g. read from a file).
  void check() const {
    auto fail = [](const std::string& what) {
      throw std::invalid_argument("nnbcd: invalid CSR matrix: " + what);
    };
    if (rows < 0 || cols < 0) fail("negative shape");
    if (cols > std::numeric_limits<int32_t>::max()) fail("too many columns");
    if (row_start.size() != std::size_t(rows) + 1)
      fail("row_start has " + std::to_string(row_start.size()) + " entries, expected rows + 1 = " +
           std::to_string(rows + 1));
    if (column.size() != value.size())
      fail("column has " + std::to_string(column.size()) + " entries, value has " +
           std::to_string(value.size()));
    if (row_start.front() != 0) fail("row_start[0] is not 0");
    if (row_start.back() != nnz())
      fail("row_start[rows] = " + std::to_string(row_start.back()) + ", but there are " +
           std::to_string(nnz()) + " entries");
    for (Index r = 0; r < rows; ++r) {
      const Index begin = row_start[std::size_t(r)], end = row_start[std::size_t(r + 1)];
      if (end < begin) fail("row_start decreases at row " + std::to_string(r));
      // begin >= 0 (induction from row_start[0] = 0) and end <= nnz (monotone up to the back).
      for (Index k = begin; k < end; ++k) {
        const int32_t c = column[std::size_t(k)];
        if (c < 0 || c >= cols)
          fail("column index " + std::to_string(c) + " out of range in row " + std::to_string(r));
        if (k > begin && c <= column[std::size_t(k - 1)])
          fail("column indices not strictly increasing in row " + std::to_string(r));
      }
    }
  }
};

namespace detail {

// One block of up to B = NP * (packet size) sample columns. tile (cols x B, row-major, 64-byte
// aligned) receives the block transposed, so that one stored entry (r, c, v) updates the B
// outputs of row r with acc += v * tile[c, :], NP packet FMAs. Columns m..B-1 of the tile are
// zero. Eigen's packet primitives keep this explicit in every build (SSE2, AVX2+FMA, NEON...).
template <class T, int NP>
struct CsrTile {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  static constexpr int P = Eigen::internal::unpacket_traits<Packet>::size;
  static constexpr int B = NP * P;
};

template <class T, int NP>
void csr_block(const Csr<T>& A, const T* X, Index ldx, Index m, T* tile, T* Y, Index ldy) {
  using namespace Eigen::internal;
  using Packet = typename CsrTile<T, NP>::Packet;
  constexpr int P = CsrTile<T, NP>::P, B = CsrTile<T, NP>::B;
  const Index cols = A.cols;
  // Transpose in strips of kStrip rows, so the writes stay within a few cache lines per b.
  constexpr Index kStrip = 64;
  for (Index c0 = 0; c0 < cols; c0 += kStrip) {
    const Index c1 = std::min(cols, c0 + kStrip);
    for (Index b = 0; b < m; ++b) {
      const T* x = X + b * ldx;
      for (Index c = c0; c < c1; ++c) tile[c * B + b] = x[c];
    }
  }
  const int32_t* column = A.column.data();
  const T* value = A.value.data();
  alignas(64) T out[B];
  for (Index r = 0; r < A.rows; ++r) {
    Index k = A.row_start[std::size_t(r)];
    const Index end = A.row_start[std::size_t(r + 1)];
    // Two independent accumulators hide the FMA latency.
    Packet acc0[NP], acc1[NP];
    for (int p = 0; p < NP; ++p) acc0[p] = acc1[p] = pset1<Packet>(T(0));
    for (; k + 2 <= end; k += 2) {
      const Packet v0 = pset1<Packet>(value[k]), v1 = pset1<Packet>(value[k + 1]);
      const T* t0 = tile + Index(column[k]) * B;
      const T* t1 = tile + Index(column[k + 1]) * B;
      for (int p = 0; p < NP; ++p) {
        acc0[p] = pmadd(v0, pload<Packet>(t0 + p * P), acc0[p]);
        acc1[p] = pmadd(v1, pload<Packet>(t1 + p * P), acc1[p]);
      }
    }
    if (k < end) {
      const Packet v0 = pset1<Packet>(value[k]);
      const T* t0 = tile + Index(column[k]) * B;
      for (int p = 0; p < NP; ++p) acc0[p] = pmadd(v0, pload<Packet>(t0 + p * P), acc0[p]);
    }
    for (int p = 0; p < NP; ++p) pstore(out + p * P, padd(acc0[p], acc1[p]));
    for (Index b = 0; b < m; ++b) Y[b * ldy + r] = out[b];
  }
}

template <class T, int NP>
void csr_product_tiled(const Csr<T>& A, const T* X, Index ldx, Index n, T* Y, Index ldy) {
  const double work_per_column = 2.0 * double(A.nnz()) + double(A.cols) + double(A.rows);
  constexpr int B = CsrTile<T, NP>::B;
  for_column_blocks(n, work_per_column, [&](Index begin, Index count) {
    constexpr Index kAlign = 64 / Index(sizeof(T));
    std::vector<T> buffer(std::size_t(A.cols * B + kAlign), T(0));
    T* tile = buffer.data();
    while (reinterpret_cast<std::uintptr_t>(tile) % 64 != 0) ++tile;
    for (Index j = begin; j < begin + count; j += B) {
      const Index m = std::min<Index>(B, begin + count - j);
      if (m < B)  // the last, partial block: stale columns must not reach the outputs' sums
        std::fill(tile, tile + A.cols * B, T(0));
      csr_block<T, NP>(A, X + j * ldx, ldx, m, tile, Y + j * ldy, ldy);
    }
  });
}

}  // namespace detail

template <class T>
void csr_product(const Csr<T>& A, const Eigen::Ref<const Matrix<T>>& X, Matrix<T>& Y) {
  if (X.rows() != A.cols)
    throw std::invalid_argument("nnbcd: csr_product: X has " + std::to_string(X.rows()) +
                                " rows, the matrix has " + std::to_string(A.cols) + " columns");
  if (A.row_start.size() != std::size_t(A.rows) + 1 || A.column.size() != A.value.size() ||
      A.row_start.back() != A.nnz())
    throw std::invalid_argument("nnbcd: csr_product: inconsistent CSR sizes (see Csr::check)");
  const Index n = X.cols();
  const bool alias = Y.size() > 0 && X.size() > 0 && Y.data() < X.data() + X.outerStride() * n &&
                     X.data() < Y.data() + Y.size();
  if (alias) {
    Matrix<T> out;
    csr_product(A, X, out);
    Y.swap(out);
    return;
  }
  Y.resize(A.rows, n);
  if (n == 0 || A.rows == 0) return;
  detail::csr_product_tiled<T, 2>(A, X.data(), X.outerStride(), n, Y.data(), A.rows);
}

}  // namespace nnbcd
