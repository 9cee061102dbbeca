// A fully connected ReLU network: the parameters BCD trains and the forward pass that uses them.
#pragma once

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "batch_product.hpp"
#include "conv.hpp"
#include "csr.hpp"
#include "prune.hpp"
#include "threads.hpp"
#include "tt_layout.hpp"
#include "tt_svd.hpp"
#include "types.hpp"

namespace nnbcd {

// How a layer is compressed. A compressed layer keeps its dense W for training and a copy G in
// the compressed set, tied to W by tau/2 ||W - G||^2; the deployed network uses G.
struct Compression {
  enum class Kind { dense, pruned, tensor_train };
  Kind kind = Kind::dense;
  double sparsity = 0;  // pruned: fraction of G's entries that are zero
  bool global = false;  // pruned: one magnitude threshold shared by all global layers
  // tensor_train: G's tensorisation has TT-ranks <= rank (and within tol, if tol > 0). The
  // projection of iteration t uses a rank annealed linearly from initial_rank (t = 0, the
  // projection when training starts) down to rank (t >= anneal_iterations).
  TtFormat format;
  Index rank = 0;
  double tol = 0;
  Index initial_rank = 0;  // 0: no annealing
  Index anneal_iterations = 0;

  // The TT rank of the projection after `iteration` sweeps (negative: the final rank).
  Index rank_at(Index iteration) const {
    if (initial_rank <= rank || iteration < 0 || iteration >= anneal_iterations) return rank;
    const double left = 1.0 - double(iteration) / double(anneal_iterations);
    return rank + static_cast<Index>(std::llround(left * double(initial_rank - rank)));
  }

  void validate(Index d_out, Index d_in) const {
    if (kind == Kind::pruned) kept_count(d_out * d_in, sparsity);
    if (kind != Kind::tensor_train) return;
    format.validate(d_out, d_in);
    check_tt_arguments(format.tensor_modes(), rank, tol);
    if (initial_rank < 0 || anneal_iterations < 0)
      throw std::invalid_argument("nnbcd: initial_rank and anneal_iterations must be >= 0");
  }
};

// How a layer multiplies a batch by its deployed weights.
enum class Product {
  dense,       // GEMM with W (dense layer) or G
  sparse,      // pruned: CSR product
  tt_factors,  // tensor train with a row/column split: left * (right * X)
  tt_cores,    // TT-matrix layout: contracted core by core
};

template <class T>
struct Layer {
  RowMatrix<T> W;  // d_out x d_in
  Vector<T> b;     // d_out
  Compression compression;
  RowMatrix<T> G;         // the compressed copy of W (empty for dense layers)
  Csr<T> sparse;          // pruned layers: G in CSR, for inference
  TensorTrain<T> tt;      // tensor-train layers: G's cores
  RowMatrix<T> tt_left;   // ... and, where the modes split into rows and columns,
  RowMatrix<T> tt_right;  // G = tt_left (d_out x r) * tt_right (r x d_in)

  bool compressed() const { return compression.kind != Compression::Kind::dense; }
  const RowMatrix<T>& deployed() const { return compressed() ? G : W; }

  // The product inference uses: the compressed form where it does less work (pruned: the
  // measured CSR crossover, see csr_is_faster), else a GEMM with G. Whatever the batch size:
  // the two sum in different orders, and a sample's output must not depend on its batch.
  Product product() const {
    switch (compression.kind) {
      case Compression::Kind::pruned:
        return csr_is_faster<T>(G.rows(), G.cols(), sparse.nnz()) ? Product::sparse
                                                                   : Product::dense;
      case Compression::Kind::tensor_train:
        if (tt_left.size() > 0)
          return tt_left.size() + tt_right.size() < G.size() ? Product::tt_factors
                                                             : Product::dense;
        if (compression.format.layout == TtLayout::matrix)
          // Small GEMMs and transposes: worth it only at half the dense work or less.
          return tt_matrix_work(tt, compression.format) < 0.5 * double(G.size())
                     ? Product::tt_cores
                     : Product::dense;
        return Product::dense;
      default:
        return Product::dense;
    }
  }

  // Y = (deployed weights) X, each column of Y independent of the other columns of X (see
  // batch_invariant_product; the CSR product is so by construction).
  void apply(const Eigen::Ref<const Matrix<T>>& X, Matrix<T>& Y) const {
    switch (product()) {
      case Product::sparse:
        csr_product(sparse, X, Y);
        break;
      case Product::tt_factors: {
        Matrix<T> inner(tt_right.rows(), X.cols());
        batch_invariant_product(tt_right, X, inner);
        Y.resize(tt_left.rows(), X.cols());
        batch_invariant_product(tt_left, inner, Y);
        break;
      }
      case Product::tt_cores:
        tt_matrix_apply(tt, compression.format, X, Y);
        break;
      default:
        Y.resize(deployed().rows(), X.cols());
        batch_invariant_product(deployed(), X, Y);
    }
  }

  // G <- TT-SVD of W at the given rank. TT-SVD is only quasi-optimal, so with keep_if_closer
  // the current G is kept when it is feasible (ranks <= rank) and closer to W than the new
  // one: then the G-step never raises the objective.
  void project_tensor_train(Index rank, bool keep_if_closer) {
    const TtFormat& f = compression.format;
    const bool matrix = f.layout == TtLayout::matrix;
    std::vector<T> tensor(matrix ? static_cast<std::size_t>(W.size()) : 0);
    if (matrix) f.interleave(W.data(), tensor.data(), true);
    TensorTrain<T> fresh =
        tt_svd(matrix ? tensor.data() : W.data(), f.tensor_modes(), rank, compression.tol);
    TtDeployment candidate = deploy(fresh);
    if (keep_if_closer && compression.tol == 0 && !tt.cores.empty()) {
      const auto ranks = tt.ranks();
      const bool feasible = *std::max_element(ranks.begin(), ranks.end()) <= rank;
      if (feasible && (W - candidate.G).template cast<double>().squaredNorm() >=
                          (W - G).template cast<double>().squaredNorm())
        return;
    }
    install(std::move(fresh), candidate);
  }

  // G from given cores (a saved model): their modes must be the layout's, their ranks at most
  // the layer's rank (or its initial rank, saved while annealing). W is set to G, so that
  // training resumes from the deployed weights.
  void restore_tensor_train(TensorTrain<T> cores) {
    if (cores.modes != compression.format.tensor_modes() ||
        cores.cores.size() != cores.modes.size())
      throw std::invalid_argument("nnbcd: the cores' modes differ from the layer's TT shape");
    Index r_prev = 1;
    for (std::size_t k = 0; k < cores.cores.size(); ++k) {
      if (cores.cores[k].rows() != r_prev * cores.modes[k])
        throw std::invalid_argument("nnbcd: the cores' ranks do not chain");
      r_prev = cores.cores[k].cols();
    }
    if (r_prev != 1) throw std::invalid_argument("nnbcd: the last core must end with rank 1");
    const auto ranks = cores.ranks();
    if (*std::max_element(ranks.begin(), ranks.end()) >
        std::max(compression.rank, compression.initial_rank))
      throw std::invalid_argument("nnbcd: the cores' ranks exceed the layer's TT rank");
    TtDeployment deployment = deploy(cores);
    install(std::move(cores), deployment);
    W = G;
  }

  // G of a pruned layer from its saved CSR form, at most the non-zeros its sparsity keeps
  // (layers pruned jointly: see Mlp::check_global_pruning); W <- G.
  void restore_pruned(const Csr<T>& saved) {
    if (saved.rows != W.rows() || saved.cols != W.cols())
      throw std::invalid_argument("nnbcd: the pruned weights do not have the layer's shape");
    if (!compression.global && saved.nnz() > kept_count(W.size(), compression.sparsity))
      throw std::invalid_argument("nnbcd: the pruned weights have more non-zeros than the "
                                  "layer's sparsity keeps");
    G = saved.to_dense();
    W = G;
    sparse = Csr<T>::from_dense(G);
  }

 private:
  // G as a matrix, and its row/column factors where the modes split.
  struct TtDeployment {
    RowMatrix<T> G, left, right;
  };

  TtDeployment deploy(const TensorTrain<T>& cores) const {
    const TtFormat& f = compression.format;
    TtDeployment d;
    d.G.resize(W.rows(), W.cols());
    if (const Index p = f.split(W.rows())) {
      d.left = cores.left_product(p);
      d.right = cores.right_product(p);
      d.G.noalias() = d.left * d.right;
    } else if (f.layout == TtLayout::matrix) {
      std::vector<T> tensor(static_cast<std::size_t>(W.size()));
      cores.to_full(tensor.data());
      f.interleave(tensor.data(), d.G.data(), false);
    } else {
      cores.to_full(d.G.data());
    }
    return d;
  }

  void install(TensorTrain<T> cores, TtDeployment& d) {
    tt = std::move(cores);
    G.swap(d.G);
    tt_left.swap(d.left);
    tt_right.swap(d.right);
  }
};

template <class T>
class Mlp {
 public:
  // Layer widths d_0 .. d_N (input first). Weights and biases start at zero. With an active
  // `conv`, layer 1 is that convolution (see conv.hpp): d_0 and d_1 must be its input and
  // output sizes, its W holds the filters as rows and its b one bias per filter.
  explicit Mlp(const std::vector<Index>& sizes, const ConvGeometry& conv = {})
      : sizes_(sizes), conv_(conv) {
    if (sizes.size() < 2) throw std::invalid_argument("nnbcd: sizes needs at least two widths");
    for (Index s : sizes)
      if (s < 1) throw std::invalid_argument("nnbcd: every layer width must be >= 1");
    if (conv.active()) {
      conv.validate();
      if (sizes.size() < 3)
        throw std::invalid_argument("nnbcd: a convolution needs a fully connected layer after it");
      if (sizes[0] != conv.input_size() || sizes[1] != conv.output_size())
        throw std::invalid_argument("nnbcd: sizes must start with the convolution's input and "
                                    "output sizes " + std::to_string(conv.input_size()) + ", " +
                                    std::to_string(conv.output_size()));
    }
    for (std::size_t i = 1; i < sizes.size(); ++i) {
      const bool convolution = i == 1 && conv.active();
      const Index rows = convolution ? conv.filters : sizes[i];
      const Index cols = convolution ? conv.patch_size() : sizes[i - 1];
      Layer<T> layer;
      layer.W = RowMatrix<T>::Zero(rows, cols);
      layer.b = Vector<T>::Zero(rows);
      layers_.push_back(std::move(layer));
    }
  }

  const std::vector<Index>& sizes() const { return sizes_; }
  // The first layer's convolution (inactive for a fully connected first layer).
  const ConvGeometry& conv() const { return conv_; }
  Index n_layers() const { return static_cast<Index>(layers_.size()); }
  Layer<T>& layer(Index i) { return layers_.at(static_cast<std::size_t>(i)); }
  const Layer<T>& layer(Index i) const { return layers_.at(static_cast<std::size_t>(i)); }

  void set_compression(Index i, const Compression& c) {
    Layer<T>& l = layer(i);
    c.validate(l.W.rows(), l.W.cols());
    l.compression = c;
    l.G.resize(l.compressed() ? l.W.rows() : 0, l.compressed() ? l.W.cols() : 0);
    l.sparse = Csr<T>();
    l.tt = TensorTrain<T>();
    l.tt_left.resize(0, 0);
    l.tt_right.resize(0, 0);
    // Project this layer only (the pruned ones jointly: a global threshold spans them), so
    // that the G of other layers, e.g. restored from a file, stays as it is.
    if (c.kind == Compression::Kind::tensor_train) l.project_tensor_train(c.rank_at(-1), false);
    if (c.kind == Compression::Kind::pruned) project_pruned();
  }

  // G_i <- projection of W_i onto its compressed set, for every compressed layer. Layers
  // pruned with global scope are projected jointly: the largest magnitudes across all of them.
  // `iteration` picks the annealed TT rank (negative: the final rank); keep_if_closer: see
  // Layer::project_tensor_train.
  void project(Index iteration = -1, bool keep_if_closer = false) {
    project_tensor_trains(iteration, keep_if_closer);
    project_pruned();
  }

  // G_i of every pruned layer, and its CSR form.
  void project_pruned() {
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

  // After restoring pruned layers: those pruned jointly (global scope) must hold no more
  // non-zeros than their shared sparsity keeps of them all.
  void check_global_pruning() const {
    Index size = 0, nonzeros = 0;
    double sparsity = 0;
    for (const auto& l : layers_) {
      if (l.compression.kind != Compression::Kind::pruned || !l.compression.global) continue;
      size += l.G.size();
      nonzeros += (l.G.array() != T(0)).count();
      sparsity = l.compression.sparsity;
    }
    if (nonzeros > kept_count(size, sparsity))
      throw std::invalid_argument(
          "nnbcd: the layers pruned with global scope have " + std::to_string(nonzeros) +
          " non-zeros, more than sparsity " + std::to_string(sparsity) + " keeps of their " +
          std::to_string(size) + " weights");
  }

  // TT layers are independent and each TT-SVD has serial eigendecompositions: with several
  // TT layers and threads, project one layer per thread (Eigen runs single-threaded inside).
  void project_tensor_trains(Index iteration, bool keep_if_closer) {
    std::vector<Layer<T>*> tt_layers;
    for (auto& l : layers_)
      if (l.compression.kind == Compression::Kind::tensor_train) tt_layers.push_back(&l);
    const auto project_one = [&](Layer<T>& l) {
      l.project_tensor_train(l.compression.rank_at(iteration), keep_if_closer);
    };
    const Index count = static_cast<Index>(tt_layers.size());
    if (count < 2 || current_threads() < 2) {
      for (Layer<T>* l : tt_layers) project_one(*l);
      return;
    }
    std::vector<std::exception_ptr> errors(tt_layers.size());
#pragma omp parallel for schedule(dynamic, 1)
    for (Index k = 0; k < count; ++k) {
      try {
        project_one(*tt_layers[static_cast<std::size_t>(k)]);
      } catch (...) {
        errors[static_cast<std::size_t>(k)] = std::current_exception();
      }
    }
    for (const auto& e : errors)
      if (e) std::rethrow_exception(e);
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
      if (i == 0 && conv_.active())
        convolve(X, next);
      else if (i == 0)
        l.apply(X, next);
      else
        l.apply(current, next);
      // Bias and ReLU on the layer's own units: filters x (n * positions) for the convolution.
      auto units = Eigen::Map<Matrix<T>>(next.data(), l.W.rows(), next.size() / l.W.rows());
      const bool hidden = i + 1 < n_layers();
      for_column_blocks(units.cols(), double(units.rows()), [&](Index j, Index m) {
        auto block = units.middleCols(j, m);
        block.colwise() += l.b;
        if (hidden) block = block.cwiseMax(T(0));
      });
      current.swap(next);
    }
    return current;
  }

  // The convolution without bias, Y (output_size x n) = W im2col(X), a chunk of samples at a
  // time so that the patches of a large batch are never all in memory.
  void convolve(const Eigen::Ref<const Matrix<T>>& X, Matrix<T>& Y) const {
    constexpr Index kChunk = 1024;
    const Layer<T>& l = layer(0);
    Y.resize(conv_.output_size(), X.cols());
    Matrix<T> patches, chunk;
    for (Index j = 0; j < X.cols(); j += kChunk) {
      const Index m = std::min(kChunk, X.cols() - j);
      im2col<T>(conv_, X.middleCols(j, m), patches);
      l.apply(patches, chunk);
      Y.middleCols(j, m) = Eigen::Map<const Matrix<T>>(chunk.data(), Y.rows(), m);
    }
  }

  // Takes every parameter of `other`, a network of the same architecture (e.g. a copy kept
  // as a snapshot). The storage is reused, so views of W, b and G stay valid.
  void assign(const Mlp& other) {
    bool same = sizes_ == other.sizes_ && conv_ == other.conv_;
    for (std::size_t i = 0; same && i < layers_.size(); ++i)
      same = layers_[i].compression.kind == other.layers_[i].compression.kind &&
             layers_[i].G.size() == other.layers_[i].G.size();
    if (!same)
      throw std::invalid_argument("nnbcd: assign needs a network of the same architecture");
    layers_ = other.layers_;
  }

  bool all_finite() const {
    for (const auto& l : layers_)
      if (!l.W.allFinite() || !l.b.allFinite() || !l.G.allFinite()) return false;
    return true;
  }

 private:
  std::vector<Index> sizes_;
  ConvGeometry conv_;
  std::vector<Layer<T>> layers_;
};

}  // namespace nnbcd
