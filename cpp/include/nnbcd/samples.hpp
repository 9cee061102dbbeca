// Where a run's samples live. The sweep (Bcd) runs the per-sample blocks through this interface
// and receives the sums the global blocks need, summed over every shard: one process holding
// all samples (ShardSamples without a Reduction), one shard per process reduced by the caller
// (ShardSamples with a Reduction, e.g. MPI_Allreduce), or shards driven from elsewhere (the
// Python Dask backend implements Samples itself).
#pragma once

#include <utility>

#include "hyperparameters.hpp"
#include "shard.hpp"
#include "weight_sums.hpp"

namespace nnbcd {

template <class T>
class Samples {
 public:
  virtual ~Samples() = default;
  virtual Index n_samples() const = 0;
  // Steps 1-2 (i the output layer) or 4-5 (a hidden i, after W_{i+1}, b_{i+1} changed) on
  // every shard with `net`'s current parameters; returns layer i's WeightSums around `centre`.
  virtual WeightSums<T> update_lifted(const Mlp<T>& net, Index i, const Hyperparameters<T>& h,
                                      const Vector<T>& centre) = 0;
  // The moments of layer i's input rows (they pick the centre).
  virtual InputMoments input_moments(const Mlp<T>& net, Index i) = 0;
  virtual ObjectiveSums objective_sums(const Mlp<T>& net) = 0;
  // net's W_i or b_i changed since the last call that read them.
  virtual void parameters_changed(Index i) = 0;
  // Shard::extrapolate and Shard::shorten_extrapolation on every shard.
  virtual void extrapolate(T beta) = 0;
  virtual void shorten_extrapolation(T fraction) = 0;
  // Seconds spent in the per-sample blocks, where they are measured.
  virtual BlockSeconds block_seconds() const { return {}; }
};

// Sums buffers in place over every process of a run whose samples are split (e.g.
// MPI_Allreduce with MPI_SUM); each process then solves the same global blocks.
class Reduction {
 public:
  virtual ~Reduction() = default;
  virtual void sum(double* values, Index size) = 0;
  virtual void sum(float* values, Index size) = 0;
};

// The samples of this process, in one Shard; with a Reduction, the shard of this process in a
// run split over several. Every call then reduces, so it is collective: every process makes
// the same calls in the same order (each one's Bcd does, step by step and objective by
// objective).
template <class T>
class ShardSamples : public Samples<T> {
 public:
  ShardSamples(const Mlp<T>& net, ConstMatrixMap<T> X, ConstMatrixMap<T> Y,
               Reduction* reduction = nullptr)
      : shard_(net, X, Y), reduction_(reduction) {}

  Shard<T>& shard() { return shard_; }
  const Shard<T>& shard() const { return shard_; }

  Index n_samples() const override {
    if (reduction_ == nullptr) return shard_.n_samples();
    double n = double(shard_.n_samples());
    reduction_->sum(&n, 1);
    return Index(n);
  }

  InputMoments input_moments(const Mlp<T>&, Index i) override {
    InputMoments m = shard_.input_moments(i);
    if (reduction_ != nullptr) {
      reduction_->sum(&m.count, 1);
      reduction_->sum(m.sum.data(), m.sum.size());
      reduction_->sum(m.squares.data(), m.squares.size());
    }
    return m;
  }

  WeightSums<T> update_lifted(const Mlp<T>& net, Index i, const Hyperparameters<T>& h,
                              const Vector<T>& centre) override {
    shard_.update_lifted(net, i, h.gamma, h.rho, h.alpha);
    WeightSums<T> sums = shard_.weight_sums(net, i, centre);
    if (reduction_ != nullptr) {
      reduction_->sum(&sums.count, 1);
      reduction_->sum(sums.input_sum.data(), sums.input_sum.size());
      reduction_->sum(sums.input_gram.data(), sums.input_gram.size());
      reduction_->sum(sums.cross.data(), sums.cross.size());
      reduction_->sum(sums.unit_sum.data(), sums.unit_sum.size());
    }
    return sums;
  }

  ObjectiveSums objective_sums(const Mlp<T>& net) override {
    ObjectiveSums o = shard_.objective_sums(net);
    if (reduction_ != nullptr) {
      double terms[3] = {o.activation, o.linear, o.loss};
      reduction_->sum(terms, 3);
      o = {terms[0], terms[1], terms[2]};
    }
    return o;
  }

  void parameters_changed(Index i) override { shard_.parameters_changed(i); }
  void extrapolate(T beta) override { shard_.extrapolate(beta); }
  void shorten_extrapolation(T fraction) override { shard_.shorten_extrapolation(fraction); }
  BlockSeconds block_seconds() const override { return shard_.block_seconds(); }

 private:
  Shard<T> shard_;
  Reduction* reduction_;
};

}  // namespace nnbcd
