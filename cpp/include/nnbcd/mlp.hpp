// A fully connected ReLU network: the parameters BCD trains and the forward pass that uses them.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "csr.hpp"
#include "prune.hpp"
#include "threads.hpp"
#include "types.hpp"

namespace nnbcd {

// How a layer is compressed. A compressed layer keeps its dense W for training and a copy G in
// the compressed set, tied to W by tau/2 ||W - G||^2; the deployed network uses G.
struct Compression {
  enum class Kind { dense, pruned };
  Kind kind = Kind::dense;
  double sparsity = 0;  // pruned: fraction of G's entries that are zero
  bool global = false;  // pruned: one magnitude threshold shared by all global layers
};

template <class T>
struct Layer {
  RowMatrix<T> W;  // d_out x d_in
  Vector<T> b;     // d_out
  Compression compression;
  RowMatrix<T> G;  // the compressed copy of W (empty for dense layers)
  Csr<T> sparse;   // pruned layers: G in CSR, for inference

  bool compressed() const { return compression.kind != Compression::Kind::dense; }
  const RowMatrix<T>& deployed() const { return compressed() ? G : W; }

  // Whether inference on n samples goes through the sparse product (measured crossover,
  // see csr_is_faster) rather than a dense GEMM with G.
  bool sparse_product(Index n) const {
    return compression.kind == Compression::Kind::pruned &&
           csr_is_faster<T>(G.rows(), G.cols(), sparse.nnz(), n);
  }

  // Y = (deployed weights) X, by the faster of the sparse and dense products.
  void apply(const Eigen::Ref<const Matrix<T>>& X, Matrix<T>& Y) const {
    if (sparse_product(X.cols()))
      csr_product(sparse, X, Y);
    else
      Y.noalias() = deployed() * X;
  }
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

  void set_compression(Index i, const Compression& c) {
    Layer<T>& l = layer(i);
    if (c.kind == Compression::Kind::pruned) kept_count(l.W.size(), c.sparsity);  // validates
    l.compression = c;
    if (l.compressed())
      l.G.resize(l.W.rows(), l.W.cols());
    else
      l.G.resize(0, 0);
    project();
  }

  // G_i <- projection of W_i onto its compressed set, for every compressed layer. Layers
  // pruned with global scope are projected jointly: the largest magnitudes across all of them.
  void project() {
    std::vector<PruneSlice<T>> global;
    Index global_size = 0;
    double global_sparsity = -1;
    for (auto& l : layers_) {
      if (l.compression.kind != Compression::Kind::pruned) continue;
      if (!l.compression.global) {
        magnitude_prune(l.W.data(), l.G.data(), l.W.size(), l.compression.sparsity);
        continue;
      }
      if (global_sparsity >= 0 && global_sparsity != l.compression.sparsity)
        throw std::invalid_argument("nnbcd: layers pruned with global scope need one sparsity");
      global_sparsity = l.compression.sparsity;
      global.push_back({l.W.data(), l.G.data(), l.W.size()});
      global_size += l.W.size();
    }
    if (!global.empty()) prune_largest(global, kept_count(global_size, global_sparsity));
    for (auto& l : layers_)
      if (l.compression.kind == Compression::Kind::pruned) l.sparse = Csr<T>::from_dense(l.G);
  }

  // Network output (identity on the last layer) for the columns of X (d_0 x n), with the
  // deployed weights (G for compressed layers).
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
        l.apply(X, next);
      else
        l.apply(current, next);
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
      if (!l.W.allFinite() || !l.b.allFinite() || !l.G.allFinite()) return false;
    return true;
  }

 private:
  std::vector<Index> sizes_;
  std::vector<Layer<T>> layers_;
};

}  // namespace nnbcd
