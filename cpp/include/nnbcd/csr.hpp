// Pruned weights in compressed sparse row form, and the sparse product Y = A X.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "threads.hpp"
#include "types.hpp"

namespace nnbcd {

template <class T>
struct Csr {
  using Scalar = T;
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

  // From saved arrays (e.g. a file), 64-bit indices as numpy and safetensors hold them;
  // validated in full.
  static Csr from_arrays(Index rows, Index cols, const T* values, const std::int64_t* columns,
                         const std::int64_t* offsets, Index nnz) {
    Csr A;
    A.rows = rows;
    A.cols = cols;
    A.row_start.assign(offsets, offsets + rows + 1);
    A.value.assign(values, values + nnz);
    A.column.reserve(std::size_t(nnz));
    for (Index k = 0; k < nnz; ++k) {
      if (columns[k] < 0 || columns[k] >= cols)
        throw std::invalid_argument("nnbcd: invalid CSR matrix: column index " +
                                    std::to_string(columns[k]) + " outside [0, " +
                                    std::to_string(cols) + ")");
      A.column.push_back(static_cast<int32_t>(columns[k]));
    }
    A.check();
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
      if (end > nnz()) fail("row_start[" + std::to_string(r + 1) + "] is past the entries");
      // begin >= 0 by induction from row_start[0] = 0.
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

// Eigen's packet types carry alignment attributes that GCC drops (harmlessly) when they are
// template arguments, as in PacketBlock<Packet, P>; Eigen silences this inside its own headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace detail {

// The sparse product works on blocks of B = 64 bytes of samples (16 floats, 8 doubles): the block
// X[:, j:j+B] is transposed into a row-major tile (cols x B), so that one stored entry (r, c, v)
// updates the B outputs of row r with out[r, :] += v * tile[c, :] -- B / P packet FMAs on one
// cache line, instead of B scalar gathers from B separate columns. The outputs collect in a
// row-major tile (rows x B) that is transposed back into Y. Both transposes use Eigen's packet
// transposes; the accumulation uses Eigen's packet primitives, so the same code is explicitly
// vectorised in every build (SSE2, AVX2+FMA, AVX-512, NEON; scalars without vectorisation).
template <class T>
struct CsrTile {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  static constexpr int P = Eigen::internal::packet_traits<T>::size;
  static constexpr int B = std::max<int>(P, 64 / int(sizeof(T)));  // samples per block
  static constexpr int NP = B / P;                                   // packets per tile row
};

// tile: cols x B, row-major, aligned to 64 bytes; out: rows x B, likewise. m <= B columns.
template <class T>
void csr_block(const Csr<T>& A, const T* X, Index ldx, Index m, T* tile, T* out, T* Y,
               Index ldy) {
  using namespace Eigen::internal;
  using Packet = typename CsrTile<T>::Packet;
  constexpr int P = CsrTile<T>::P, B = CsrTile<T>::B, NP = CsrTile<T>::NP;
  const Index rows = A.rows, cols = A.cols;

  // tile[c, b] = X[c, b]
  if (m == B) {
    Index c = 0;
    for (; c + P <= cols; c += P)
      for (int g = 0; g < NP; ++g) {
        PacketBlock<Packet, P> block;
        for (int i = 0; i < P; ++i) block.packet[i] = ploadu<Packet>(X + (g * P + i) * ldx + c);
        ptranspose(block);
        for (int i = 0; i < P; ++i) pstore(tile + (c + i) * B + g * P, block.packet[i]);
      }
    for (; c < cols; ++c)
      for (int b = 0; b < B; ++b) tile[c * B + b] = X[b * ldx + c];
  } else {  // the last, partial block: the unused lanes must be finite, so zero them
    for (Index c = 0; c < cols; ++c)
      for (int b = 0; b < B; ++b) tile[c * B + b] = b < m ? X[b * ldx + c] : T(0);
  }

  // out[r, :] = sum over the entries (r, c, v) of v * tile[c, :]
  const int32_t* column = A.column.data();
  const T* value = A.value.data();
  for (Index r = 0; r < rows; ++r) {
    Index k = A.row_start[std::size_t(r)];
    const Index end = A.row_start[std::size_t(r + 1)];
    Packet acc0[NP], acc1[NP];  // two independent chains hide the FMA latency
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
    for (int p = 0; p < NP; ++p) pstore(out + r * B + p * P, padd(acc0[p], acc1[p]));
  }

  // Y[r, b] = out[r, b]
  if (m == B) {
    Index r = 0;
    for (; r + P <= rows; r += P)
      for (int g = 0; g < NP; ++g) {
        PacketBlock<Packet, P> block;
        for (int i = 0; i < P; ++i) block.packet[i] = pload<Packet>(out + (r + i) * B + g * P);
        ptranspose(block);
        for (int i = 0; i < P; ++i) pstoreu(Y + (g * P + i) * ldy + r, block.packet[i]);
      }
    for (; r < rows; ++r)
      for (int b = 0; b < B; ++b) Y[b * ldy + r] = out[r * B + b];
  } else {
    for (Index b = 0; b < m; ++b)
      for (Index r = 0; r < rows; ++r) Y[b * ldy + r] = out[r * B + b];
  }
}

// Y (A.rows x n, leading dimension ldy) = A X for X (A.cols x n, leading dimension ldx). The
// threads get whole blocks, so only the very last block can be partial.
template <class T>
void csr_product_raw(const Csr<T>& A, const T* X, Index ldx, Index n, T* Y, Index ldy) {
  constexpr Index B = CsrTile<T>::B, kAlign = 64 / Index(sizeof(T));
  const Index blocks = (n + B - 1) / B;
  const double work_per_block = double(B) * (2.0 * double(A.nnz()) + 2.0 * double(A.rows + A.cols));
  for_column_blocks(blocks, work_per_block, [&](Index first_block, Index block_count) {
    // One buffer per thread and call, 64-byte aligned: the input tile, then the output tile.
    // Every element is written before it is read, so it is left uninitialised.
    std::unique_ptr<T[]> buffer(new T[std::size_t((A.cols + A.rows) * B + kAlign)]);
    T* tile = buffer.get();
    while (reinterpret_cast<std::uintptr_t>(tile) % 64 != 0) ++tile;
    T* out = tile + A.cols * B;
    for (Index block = first_block; block < first_block + block_count; ++block) {
      const Index j = block * B;
      csr_block(A, X + j * ldx, ldx, std::min<Index>(B, n - j), tile, out, Y + j * ldy, ldy);
    }
  });
}

}  // namespace detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Y = A X: A (rows x cols) sparse, X (cols x n) and Y (rows x n) column-major, samples as columns.
// A must be valid (Csr::check(); from_dense always is): only its sizes are checked here, in O(1).
// Parallel over blocks of sample columns. Every output is summed in the same order whatever the
// thread count or block boundaries, so the result is bitwise reproducible for any n_threads.
// Y may be the matrix X refers to (the product then goes through a temporary).
template <class T>
void csr_product(const Csr<T>& A, const Eigen::Ref<const Matrix<typename Csr<T>::Scalar>>& X,
                 Matrix<T>& Y) {
  if (X.rows() != A.cols)
    throw std::invalid_argument("nnbcd: csr_product: X has " + std::to_string(X.rows()) +
                                " rows, the matrix has " + std::to_string(A.cols) + " columns");
  if (A.row_start.size() != std::size_t(A.rows) + 1 || A.column.size() != A.value.size() ||
      A.row_start.back() != A.nnz() || A.row_start.front() != 0)
    throw std::invalid_argument("nnbcd: csr_product: inconsistent CSR sizes (see Csr::check)");
  const Index n = X.cols();
  const T* x_begin = X.data();
  const T* x_end = X.data() + (n > 0 ? X.outerStride() * (n - 1) + X.rows() : 0);
  if (Y.size() > 0 && x_end > x_begin && Y.data() < x_end && x_begin < Y.data() + Y.size()) {
    Matrix<T> result;
    csr_product(A, X, result);
    Y.swap(result);
    return;
  }
  Y.resize(A.rows, n);
  if (n == 0 || A.rows == 0) return;
  detail::csr_product_raw(A, X.data(), X.outerStride(), n, Y.data(), A.rows);
}

// Whether csr_product(A, X, Y) is expected to beat the dense GEMM Y = W X (Eigen) for a
// rows x cols matrix with nnz stored entries, whatever the number of samples: the two sum in
// different orders, and a sample's output must not depend on the batch it comes in. Cost model
// per sample, in units of one multiply-add of the dense GEMM:
//   dense  rows * cols
//   CSR    alpha * nnz
// so the CSR product wins below the density 1 / alpha. (Both compute whole blocks of samples:
// a batch smaller than the CSR block, B = 16 floats or 8 doubles, still costs the CSR product a
// block and the dense one 8 samples (batch_invariant_product), so there CSR can be up to 2x
// slower than predicted.)
// Fitted to single-thread float32 timings on an AMD EPYC (Zen 4, 2 cores, 1 MiB L2, 32 MiB L3),
// shapes 10x100 to 2048x2048 and 1024x5408, densities 1-70 %, n = 4000 and 10000
// (bench/csr_crossover.md):
//  * AVX builds (x86-64-v3: Eigen's GEMM 8-wide with FMA, ~20 ps per multiply-add): alpha = 2
//    (measured 1.7-2.1; crossover ~50 %) while the CSR arrays, which every block streams once
//    (nnz * (sizeof(T) + 4) bytes), fit in ~10 MiB; larger ones stream from memory and alpha
//    rises to ~4 (1024 x 5408: tie at 30 % density, 1.7x slower than dense at 40 %).
//    With -march=native (AVX-512) alpha measured 1.4-1.8, so 2 stays on the safe side.
//  * SSE2-only builds (baseline x86-64: the GEMM is 2.6x slower, the CSR kernel 1.7x):
//    alpha = 1.25; the CSR product was faster at every shape up to 50 % density and at 70 %
//    except the two largest shapes (ties); no memory-bound regime was seen.
// Left out on purpose: the O((rows + cols) n) transposes (Eigen's GEMM packs X as well), and the
// GEMM's inefficiency on thin matrices (rows ~ 10: 2-4x slower per multiply-add, so CSR measured
// faster up to 70 % there while the model picks dense above 50 %): an error on the side of
// dense. In the single-thread measurements every wrong call was within 1.4x of the better
// choice; two threads gave the same ratios.
template <class T>
bool csr_is_faster(Index rows, Index cols, Index nnz) {
  if (rows <= 0 || cols <= 0) return false;
#if defined(EIGEN_VECTORIZE_AVX)
  const double stream_bytes = double(nnz) * double(sizeof(T) + sizeof(int32_t));
  const double alpha = stream_bytes <= 10.0 * (1 << 20) ? 2.0 : 4.0;
#else
  const double alpha = 1.25;
#endif
  return alpha * double(nnz) < double(rows) * double(cols);
}

}  // namespace nnbcd
