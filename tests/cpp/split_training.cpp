// A run split over several "processes" as a C++ service would run one with MPI: every rank
// holds a shard of the samples (ShardSamples) and a Reduction that sums buffers over all ranks;
// every rank then solves the same global blocks. Here the ranks are threads and the Reduction
// sums their buffers in rank order. The oracle is the single-process Bcd on all samples.
//
//   split_training [RANKS]
//
// Prints "same" and exits 0 when every rank's weights and objectives equal the single-process
// run's to 1e-10 relative after 12 iterations (dense layer, globally pruned layers).
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nnbcd/nnbcd.hpp>

using nnbcd::Index;
using Matrix = nnbcd::Matrix<double>;

// Buffers deposited by every rank, summed in rank order once all have arrived.
class Hub {
 public:
  explicit Hub(int ranks) : ranks_(ranks), slots_(static_cast<std::size_t>(ranks)) {}

  template <class S>
  void sum(int rank, S* values, Index size) {
    std::unique_lock<std::mutex> lock(mutex_);
    slots_[static_cast<std::size_t>(rank)].assign(values, values + size);
    wait_for_all(lock);
    std::vector<double> total(static_cast<std::size_t>(size), 0.0);
    for (const auto& slot : slots_)
      for (Index k = 0; k < size; ++k) total[static_cast<std::size_t>(k)] += slot[k];
    wait_for_all(lock);  // nobody overwrites a slot before every rank has read them all
    for (Index k = 0; k < size; ++k) values[k] = S(total[static_cast<std::size_t>(k)]);
  }

 private:
  void wait_for_all(std::unique_lock<std::mutex>& lock) {
    const long generation = generation_;
    if (++arrived_ == ranks_) {
      arrived_ = 0;
      ++generation_;
      all_arrived_.notify_all();
    } else {
      all_arrived_.wait(lock, [&] { return generation_ != generation; });
    }
  }

  int ranks_, arrived_ = 0;
  long generation_ = 0;
  std::vector<std::vector<double>> slots_;
  std::mutex mutex_;
  std::condition_variable all_arrived_;
};

class RankReduction : public nnbcd::Reduction {
 public:
  RankReduction(Hub& hub, int rank) : hub_(hub), rank_(rank) {}
  void sum(double* values, Index size) override { hub_.sum(rank_, values, size); }
  void sum(float* values, Index size) override { hub_.sum(rank_, values, size); }

 private:
  Hub& hub_;
  int rank_;
};

nnbcd::Mlp<double> network() {
  nnbcd::Mlp<double> net({10, 16, 12, 3});
  for (Index i = 0; i < net.n_layers(); ++i) {
    auto& W = net.layer(i).W;
    for (Index r = 0; r < W.rows(); ++r)
      for (Index c = 0; c < W.cols(); ++c)
        W(r, c) = 0.4 * std::sin(1.3 * double(r) + 0.7 * double(c) + double(i));
    if (i + 1 < net.n_layers()) {
      nnbcd::Compression pruned;
      pruned.kind = nnbcd::Compression::Kind::pruned;
      pruned.sparsity = 0.6;
      pruned.global = true;
      net.set_compression(i, pruned);
    }
  }
  return net;
}

template <class A, class B>
bool close(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
  return (a - b).norm() <= 1e-10 * std::max(b.norm(), 1.0);
}

int main(int argc, char** argv) {
  const int ranks = argc > 1 ? std::stoi(argv[1]) : 3;
  const Index n = 101, iterations = 12;
  Matrix X(10, n), Y = Matrix::Zero(3, n);
  for (Index j = 0; j < n; ++j) {
    for (Index r = 0; r < X.rows(); ++r) X(r, j) = std::sin(0.37 * double(r + 3 * j));
    Y((j * 7) % 3, j) = 1;
  }
  nnbcd::Hyperparameters<double> h;
  h.tau = 1;
  h.tau_growth = 1.05;
  h.weight_decay = {0.01};

  nnbcd::Mlp<double> reference = network();
  std::vector<double> reference_objective;
  {
    nnbcd::Bcd<double> bcd(reference, nnbcd::ConstMatrixMap<double>(X.data(), 10, n),
                           nnbcd::ConstMatrixMap<double>(Y.data(), 3, n), h, 1);
    for (Index t = 0; t < iterations; ++t) {
      bcd.step();
      reference_objective.push_back(bcd.objective().total());
    }
  }

  Hub hub(ranks);
  std::vector<nnbcd::Mlp<double>> nets(static_cast<std::size_t>(ranks), network());
  std::vector<std::vector<double>> objectives(static_cast<std::size_t>(ranks));
  std::vector<std::string> errors(static_cast<std::size_t>(ranks));
  std::vector<std::thread> pool;
  for (int rank = 0; rank < ranks; ++rank)
    pool.emplace_back([&, rank] {
      try {
        // uneven shards: rank k holds columns [n k^2 / ranks^2, n (k+1)^2 / ranks^2)
        const Index begin = n * rank * rank / (ranks * ranks);
        const Index end = n * (rank + 1) * (rank + 1) / (ranks * ranks);
        RankReduction reduction(hub, rank);
        auto& net = nets[static_cast<std::size_t>(rank)];
        nnbcd::ShardSamples<double> samples(
            net, nnbcd::ConstMatrixMap<double>(X.col(begin).data(), 10, end - begin),
            nnbcd::ConstMatrixMap<double>(Y.col(begin).data(), 3, end - begin), &reduction);
        nnbcd::Bcd<double> bcd(net, samples, h, 1);
        if (bcd.n_samples() != n) throw std::runtime_error("the shards do not add up to n");
        for (Index t = 0; t < iterations; ++t) {
          bcd.step();
          objectives[static_cast<std::size_t>(rank)].push_back(bcd.objective().total());
        }
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(rank)] = e.what();
      }
    });
  for (auto& thread : pool) thread.join();

  for (int rank = 0; rank < ranks; ++rank) {
    const auto k = static_cast<std::size_t>(rank);
    if (!errors[k].empty()) {
      std::cout << "rank " << rank << ": " << errors[k] << "\n";
      return 1;
    }
    for (Index t = 0; t < iterations; ++t) {
      const double a = objectives[k][static_cast<std::size_t>(t)];
      const double b = reference_objective[static_cast<std::size_t>(t)];
      if (std::abs(a - b) > 1e-10 * std::abs(b)) {
        std::cout << "rank " << rank << ", iteration " << t + 1 << ": objective " << a
                  << " against " << b << "\n";
        return 1;
      }
    }
    for (Index i = 0; i < reference.n_layers(); ++i) {
      if (!close(nets[k].layer(i).W, reference.layer(i).W) ||
          !close(nets[k].layer(i).G, reference.layer(i).G) ||
          !close(nets[k].layer(i).b, reference.layer(i).b)) {
        std::cout << "rank " << rank << ": layer " << i << " differs\n";
        return 1;
      }
    }
  }
  std::cout << "same\n";
  return 0;
}
