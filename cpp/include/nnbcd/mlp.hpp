// A fully connected ReLU network: the parameters BCD trains and the forward pass that uses them.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "threads.hpp"
#include "types.hpp"

namespace nnbcd {

template <class T>
struct Layer {
  RowMatrix<T> W;  // d_out x d_in
  Vector<T> b;     // d_out
};

template <class T>
class Mlp {
 public:
  // Layer widths d_0 .. d_N (input first). Weights and biases start at zero.
  explicit Mlp(const std::vector<Index>& sizes) : sizes_(sizes) {
    if (sizes.size() < 2) throw std::invalid_argument("nnbcd: sizes needs at least two widths");
    for (Index s : sizes)
      if (s < 1) throw std::invalid_argument("nnbcd: every layer width must be >= 1");
    for (std::size_t i = 1; i < sizes.size(); ++i)
      layers_.push_back({RowMatrix<T>::Zero(sizes[i], sizes[i - 1]), Vector<T>::Zero(sizes[i])});
  }

  const std::vector<Index>& sizes() const { return sizes_; }
  Index n_layers() const { return static_cast<Index>(layers_.size()); }
  Layer<T>& layer(Index i) { return layers_.at(static_cast<std::size_t>(i)); }
  const Layer<T>& layer(Index i) const { return layers_.at(static_cast<std::size_t>(i)); }

  // Network output (identity on the last layer) for the columns of X (d_0 x n).
  // Allocates its own buffers: safe to call from many threads on one model.
  Matrix<T> forward(const Eigen::Ref<const Matrix<T>>& X, int n_threads = 0) const {
    if (X.rows() != sizes_.front())
      throw std::invalid_argument("nnbcd: input has " + std::to_string(X.rows()) +
                                  " features, the network expects " +
                                  std::to_string(sizes_.front()));
    ThreadScope scope(n_threads);
    Matrix<T> current, next;
    for (Index i = 0; i < n_layers(); ++i) {
      const Layer<T>& l = layer(i);
      if (i == 0)
        next.noalias() = l.W * X;
      else
        next.noalias() = l.W * current;
      const bool hidden = i + 1 < n_layers();
      for_column_blocks(next.cols(), double(next.rows()), [&](Index j, Index m) {
        auto block = next.middleCols(j, m);
        block.colwise() += l.b;
        if (hidden) block = block.cwiseMax(T(0));
      });
      current.swap(next);
    }
    return current;
  }

  bool all_finite() const {
    for (const auto& l : layers_)
      if (!l.W.allFinite() || !l.b.allFinite()) return false;
    return true;
  }

 private:
  std::vector<Index> sizes_;
  std::vector<Layer<T>> layers_;
};

}  // namespace nnbcd
