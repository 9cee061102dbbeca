// How a d_out x d_in weight matrix is viewed as a tensor for TT compression (DESIGN §4), and
// the batched products that use a tensor train without forming the matrix.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "batch_product.hpp"
#include "tt_svd.hpp"
#include "types.hpp"

namespace nnbcd {

enum class TtLayout {
  reshape,  // the paper's: the row-major matrix reshaped to `modes` (product d_out d_in)
  matrix,   // TT-matrix: mode k is (i_k, j_k) of sizes row_modes[k] x col_modes[k], interleaved
};

// The default modes of one dimension: its prime factors in increasing order, with 2s paired into
// 4s (1024 -> 4,4,4,4,4; 561 -> 3,11,17; 5408 -> 2,4,4,13,13; 1 -> 1).
inline std::vector<Index> default_modes(Index size) {
  if (size < 1) throw std::invalid_argument("nnbcd: cannot factor a size < 1");
  std::vector<Index> primes;
  for (Index p = 2; p * p <= size; ++p)
    while (size % p == 0) primes.push_back(p), size /= p;
  if (size > 1 || primes.empty()) primes.push_back(size);
  std::vector<Index> modes;
  Index twos = 0;
  for (Index p : primes) twos += p == 2;
  if (twos % 2) modes.push_back(2);
  for (Index k = 0; k < twos / 2; ++k) modes.push_back(4);
  for (Index p : primes)
    if (p != 2) modes.push_back(p);
  return modes;
}

struct TtFormat {
  TtLayout layout = TtLayout::reshape;
  std::vector<Index> modes;                 // reshape layout
  std::vector<Index> row_modes, col_modes;  // matrix layout (equal lengths)

  // The format nnbcd uses when the user gives no shape: d_out's default modes then d_in's
  // (reshape), or the two padded with trailing 1s to equal length (matrix).
  static TtFormat default_for(TtLayout layout, Index d_out, Index d_in) {
    TtFormat f;
    f.layout = layout;
    std::vector<Index> rows = default_modes(d_out), cols = default_modes(d_in);
    if (layout == TtLayout::reshape) {
      f.modes = rows;
      f.modes.insert(f.modes.end(), cols.begin(), cols.end());
    } else {
      rows.resize(std::max(rows.size(), cols.size()), 1);
      cols.resize(rows.size(), 1);
      f.row_modes = rows;
      f.col_modes = cols;
    }
    return f;
  }

  void validate(Index d_out, Index d_in) const {
    auto positive = [](const std::vector<Index>& v, const char* name) {
      if (v.empty()) throw std::invalid_argument(std::string("nnbcd: ") + name + " is empty");
      for (Index x : v)
        if (x < 1) throw std::invalid_argument(std::string("nnbcd: every mode must be >= 1"));
    };
    const std::string layer = std::to_string(d_out) + " x " + std::to_string(d_in);
    if (layout == TtLayout::reshape) {
      positive(modes, "shape");
      if (product_of(modes) != d_out * d_in)
        throw std::invalid_argument("nnbcd: the modes of shape multiply to " +
                                    std::to_string(product_of(modes)) + ", but the layer is " +
                                    layer + " = " + std::to_string(d_out * d_in));
      return;
    }
    positive(row_modes, "row modes");
    positive(col_modes, "column modes");
    if (row_modes.size() != col_modes.size())
      throw std::invalid_argument("nnbcd: the TT-matrix layout needs as many row modes as "
                                  "column modes (pad with 1s)");
    if (product_of(row_modes) != d_out || product_of(col_modes) != d_in)
      throw std::invalid_argument("nnbcd: the row modes must multiply to d_out and the column "
                                  "modes to d_in for the " + layer + " layer");
  }

  std::vector<Index> tensor_modes() const {
    if (layout == TtLayout::reshape) return modes;
    std::vector<Index> t;
    for (std::size_t k = 0; k < row_modes.size(); ++k) t.push_back(row_modes[k] * col_modes[k]);
    return t;
  }

  // Reshape layout: the p (0 < p < d) whose leading modes multiply to d_out, so that the tensor
  // train is the product of a d_out x r_p and an r_p x d_in factor; 0 if there is none.
  Index split(Index d_out) const {
    if (layout != TtLayout::reshape) return 0;
    Index prefix = 1;
    for (std::size_t p = 1; p < modes.size(); ++p) {
      prefix *= modes[p - 1];
      if (prefix == d_out) return static_cast<Index>(p);
      if (prefix > d_out) break;
    }
    return 0;
  }

  // Matrix layout: copy between the row-major matrix and the interleaved C-order tensor of
  // modes (i_1 j_1, ..., i_d j_d). `to_tensor` true: matrix -> tensor.
  template <class T>
  void interleave(const T* from, T* to, bool to_tensor) const {
    const std::size_t d = row_modes.size();
    const Index d_in = product_of(col_modes);
    std::vector<Index> row_stride(d), col_stride(d), digit_i(d, 0), digit_j(d, 0);
    for (std::size_t k = d; k-- > 0;) {
      row_stride[k] = k + 1 < d ? row_stride[k + 1] * row_modes[k + 1] : 1;
      col_stride[k] = k + 1 < d ? col_stride[k + 1] * col_modes[k + 1] : 1;
    }
    const Index total = d_in * product_of(row_modes);
    Index i = 0, j = 0;  // the matrix position of tensor position t
    for (Index t = 0; t < total; ++t) {
      const Index m = i * d_in + j;
      if (to_tensor)
        to[t] = from[m];
      else
        to[m] = from[t];
      // Odometer over (i_1, j_1, ..., i_d, j_d), j_d fastest.
      for (std::size_t k = d; k-- > 0;) {
        if (++digit_j[k] < col_modes[k]) {
          j += col_stride[k];
          break;
        }
        digit_j[k] = 0;
        j -= (col_modes[k] - 1) * col_stride[k];
        if (++digit_i[k] < row_modes[k]) {
          i += row_stride[k];
          break;
        }
        digit_i[k] = 0;
        i -= (row_modes[k] - 1) * row_stride[k];
      }
    }
  }
};

// Multiply-adds of y = W x for one sample through the TT-matrix cores, contracted one core at a
// time (see tt_matrix_apply).
template <class T>
double tt_matrix_work(const TensorTrain<T>& tt, const TtFormat& f) {
  const Index d = tt.order();
  double work = 0;
  for (Index k = 0; k < d; ++k) {
    double outer = 1;
    for (Index l = 0; l < k; ++l) outer *= double(f.col_modes[l]);
    for (Index l = k + 1; l < d; ++l) outer *= double(f.row_modes[l]);
    work += outer * double(f.col_modes[k] * tt.rank(k + 1)) *
            double(tt.rank(k) * f.row_modes[k]);
  }
  return work;
}

// Y = W X for the TT-matrix W given by `tt` (cores over the interleaved modes m_k n_k), without
// forming W: core by core from the last, each contraction one GEMM. The state is the row-major
// tensor (i_{k+1..d}, sample, j_1..j_k, a_k); contracting (j_k, a_k) with core k gives
// (a_{k-1}, i_k) as the fastest indices, and one transpose moves i_k to the front.
template <class T>
void tt_matrix_apply(const TensorTrain<T>& tt, const TtFormat& f,
                     const Eigen::Ref<const Matrix<T>>& X, Matrix<T>& Y) {
  using Rows = Eigen::Map<RowMatrix<T>>;
  const Index d = tt.order();
  const Index n = X.cols();
  std::vector<T> state(static_cast<std::size_t>(X.size()));
  Eigen::Map<Matrix<T>>(state.data(), X.rows(), n) = X;  // (sample, j_1..j_d) row-major
  std::vector<T> product;
  for (Index k = d - 1; k >= 0; --k) {
    const Index m = f.row_modes[k], c = f.col_modes[k];
    const Index r_prev = tt.rank(k), r_next = tt.rank(k + 1);
    const RowMatrix<T>& core = tt.cores[static_cast<std::size_t>(k)];  // (r_prev m c) x r_next
    RowMatrix<T> kernel(c * r_next, r_prev * m);  // (j, a_k) x (a_{k-1}, i)
    for (Index a = 0; a < r_prev; ++a)
      for (Index i = 0; i < m; ++i)
        for (Index j = 0; j < c; ++j)
          kernel.block(j * r_next, a * m + i, r_next, 1) =
              core.row((a * m + i) * c + j).transpose();
    const Index outer = static_cast<Index>(state.size()) / (c * r_next);
    product.resize(static_cast<std::size_t>(outer * r_prev * m));
    // product (outer x r_prev m, row-major) = state (outer x c r_next) kernel, as its transpose
    // column by column: each column one sample's (see batch_invariant_product)
    Eigen::Map<Matrix<T>> columns(product.data(), r_prev * m, outer);
    batch_invariant_product(kernel.transpose(),
                            Eigen::Map<const Matrix<T>>(state.data(), c * r_next, outer),
                            columns);
    state.resize(product.size());
    Rows(state.data(), m, outer * r_prev) = Rows(product.data(), outer * r_prev, m).transpose();
  }
  const Index d_out = static_cast<Index>(state.size()) / n;
  Y = Rows(state.data(), d_out, n);  // (i, sample) row-major -> d_out x n
}

}  // namespace nnbcd
