// The NN-BCD iteration: one backward sweep of exact block updates. The per-sample blocks (U_i,
// V_i) run on the run's Samples; the global ones (W_i, b_i, G_i) here, from their sums.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "block_seconds.hpp"
#include "denormals.hpp"
#include "blocks.hpp"
#include "hyperparameters.hpp"
#include "mlp.hpp"
#include "objective.hpp"
#include "samples.hpp"
#include "threads.hpp"
#include "types.hpp"
#include "weight_sums.hpp"

namespace nnbcd {

// Raised when an iteration fails numerically (non-finite parameters, a Cholesky factorisation
// that breaks down); the iteration is undone first (Bcd::rollback).
class DivergenceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class T>
class Bcd {
 public:
  // One process, all samples: X (d_0 x n) and Y (d_N x n) are borrowed and must outlive this
  // object. The network is trained in place. U and V start from the network's forward pass.
  Bcd(Mlp<T>& net, ConstMatrixMap<T> X, ConstMatrixMap<T> Y, const Hyperparameters<T>& h,
      int n_threads = 0)
      : net_(net), h_(h), n_threads_(n_threads), last_good_(net), previous_(net) {
    h_.validate(net.n_layers());
    ThreadScope scope(n_threads_);
    FlushDenormals flush;
    local_ = std::make_unique<ShardSamples<T>>(net, X, Y);
    samples_ = local_.get();
    start();
  }

  // Samples held elsewhere (shards in other processes, see Samples), borrowed: they must
  // outlive this object and have been lifted with the network's current W and b.
  Bcd(Mlp<T>& net, Samples<T>& samples, const Hyperparameters<T>& h, int n_threads = 0)
      : net_(net),
        h_(h),
        n_threads_(n_threads),
        last_good_(net),
        samples_(&samples),
        previous_(net) {
    h_.validate(net.n_layers());
    ThreadScope scope(n_threads_);
    FlushDenormals flush;
    start();
  }

  Index n_layers() const { return net_.n_layers(); }
  Index n_samples() const { return samples_->n_samples(); }
  const Hyperparameters<T>& hyperparameters() const { return h_; }

  // The lifted variables of a single-process run.
  const Matrix<T>& U(Index i) const { return local().U(i); }
  const Matrix<T>& V(Index i) const { return local().V(i); }

  // Sweeps done so far.
  Index iteration() const { return iteration_; }

  // The tau the next step uses (0 during the dense warm start). Phi changes with it: it
  // decreases monotonically only while tau stays fixed (tau_growth = 1).
  T tau() const { return iteration_ < h_.dense_iterations ? T(0) : h_.tau; }
  void set_tau(T tau) {
    Hyperparameters<T> h = h_;
    h.tau = tau;
    h.tau_max = std::max(h.tau_max, tau);
    h.validate(net_.n_layers());
    h_ = h;
    tau_floor_ = tau;
  }

  // lambda_i from the next step on: none (empty), one for every layer, or one per layer. Phi
  // changes with it, so the extrapolation's reference point is evaluated afresh.
  void set_weight_decay(std::vector<T> weight_decay) {
    Hyperparameters<T> h = h_;
    h.weight_decay = std::move(weight_decay);
    h.validate(net_.n_layers());
    h_ = h;
    reference_.reset();
  }

  // The tau of the schedule: what tau() returns once the dense warm start is over.
  T scheduled_tau() const { return h_.tau; }

  // One backward sweep (DESIGN §2). A sweep that fails (a Cholesky factorisation that breaks
  // down, non-finite weights, an exception from the samples) is undone, see rollback; a
  // numerical failure throws DivergenceError, anything else is rethrown.
  void step() {
    if (diverged_)
      throw DivergenceError("nnbcd: this run diverged at iteration " +
                            std::to_string(iteration_) +
                            "; its lifted variables are invalid: start a new run");
    ThreadScope scope(n_threads_);
    FlushDenormals flush;
    {
      ScopedSeconds timer(seconds_.snapshot);
      last_good_ = net_;  // same shapes: copies into the existing storage
    }
    const std::string kept = "; the network keeps the parameters of iteration " +
                             std::to_string(iteration_) +
                             ". Scale the inputs, raise alpha, or train in float64";
    try {
      sweep();
    } catch (const std::runtime_error& e) {
      rollback();
      throw DivergenceError(std::string(e.what()) + " at iteration " +
                            std::to_string(iteration_ + 1) + kept);
    } catch (...) {
      rollback();
      throw;
    }
    ++iteration_;
    if (!net_.all_finite()) {
      rollback();
      throw DivergenceError("nnbcd: iteration " + std::to_string(iteration_) +
                            " produced non-finite weights" + kept);
    }
  }

  // Puts back the network's parameters from before the last step (e.g. after the objective
  // exploded) and ends the run: the lifted variables belong to the step that was undone.
  void rollback() {
    net_ = last_good_;
    all_parameters_changed();
    diverged_ = true;
  }

  // Continues a run from a checkpoint: the network's parameters must already be the saved ones,
  // and the samples' lifted variables (see Shard::restore); this sets the iteration count and
  // the schedule's tau.
  void restore(Index iteration, T scheduled_tau) {
    if (iteration < 0) throw std::invalid_argument("nnbcd: iteration must be >= 0");
    Hyperparameters<T> h = h_;
    h.tau = scheduled_tau;
    h.validate(net_.n_layers());
    h_ = h;
    iteration_ = iteration;
    previous_ = net_;
    momentum_ = 1;
    reference_.reset();
    all_parameters_changed();
    diverged_ = false;
  }

  // The same for a single-process run, with its lifted variables U_i, V_i.
  void restore(Index iteration, T scheduled_tau, std::vector<Matrix<T>> U,
               std::vector<Matrix<T>> V) {
    if (iteration < 0) throw std::invalid_argument("nnbcd: iteration must be >= 0");
    local().restore(net_, std::move(U), std::move(V));
    restore(iteration, scheduled_tau);
  }

  // The extrapolation's state (see extrapolate): t of the next one (1: none yet), how many were
  // undone, and the point the last sweep ended at (parameters here, lifted variables on the
  // samples of a single-process run; U, V are empty while t is 1).
  Index momentum() const { return momentum_; }
  Index restarts() const { return restarts_; }
  const Mlp<T>& kept_point() const { return previous_; }
  const Matrix<T>& kept_U(Index i) const { return local().previous_U().at(std::size_t(i)); }
  const Matrix<T>& kept_V(Index i) const { return local().previous_V().at(std::size_t(i)); }

  // Continues the extrapolation of a single-process run from a checkpoint (after restore).
  void restore_extrapolation(Index momentum, Index restarts, const std::vector<Matrix<T>>& W,
                             const std::vector<Vector<T>>& b, std::vector<Matrix<T>> U,
                             std::vector<Matrix<T>> V) {
    if (momentum < 1 || restarts < 0)
      throw std::invalid_argument("nnbcd: extrapolation momentum must be >= 1, restarts >= 0");
    if (static_cast<Index>(W.size()) != n_layers() || static_cast<Index>(b.size()) != n_layers())
      throw std::invalid_argument("nnbcd: the kept point needs W and b for every layer");
    if ((momentum > 1) != !U.empty())
      throw std::invalid_argument("nnbcd: the kept point's U and V go with momentum > 1");
    Mlp<T> kept = net_;
    for (Index i = 0; i < n_layers(); ++i) {
      Layer<T>& l = kept.layer(i);
      const auto& w = W[std::size_t(i)];
      const auto& c = b[std::size_t(i)];
      if (w.rows() != l.W.rows() || w.cols() != l.W.cols() || c.size() != l.b.size() ||
          !w.allFinite() || !c.allFinite())
        throw std::invalid_argument("nnbcd: the kept point's W_" + std::to_string(i) +
                                    " or b_" + std::to_string(i) +
                                    " has the wrong shape or is not finite");
      l.W = w;
      l.b = c;
    }
    local().restore_kept(net_, std::move(U), std::move(V));
    previous_ = std::move(kept);
    momentum_ = momentum;
    restarts_ = restarts;
    reference_.reset();
  }

  // Seconds spent in each block since the run started.
  BlockSeconds block_seconds() const {
    BlockSeconds total = seconds_;
    const BlockSeconds samples = samples_->block_seconds();
    total.v += samples.v;
    total.u += samples.u;
    total.w += samples.w;
    return total;
  }

  // Phi and its terms at the current point.
  Objective objective() {
    ThreadScope scope(n_threads_);
    FlushDenormals flush;
    ScopedSeconds timer(seconds_.objective);
    return evaluate_objective();
  }

 private:
  Objective evaluate_objective() {
    const ObjectiveSums sums = samples_->objective_sums(net_);
    Objective o;
    o.activation = 0.5 * double(h_.gamma) * sums.activation;
    o.linear = 0.5 * double(h_.rho) * sums.linear;
    o.loss = 0.5 * sums.loss;
    for (Index i = 0; i < n_layers(); ++i) {
      const Layer<T>& l = net_.layer(i);
      o.weight_decay += 0.5 * double(h_.decay(i)) * squared_norm(l.W);
      if (l.compressed()) o.compression_gap += 0.5 * squared_norm(l.W - l.G);
    }
    o.compression = double(tau()) * o.compression_gap;
    return o;
  }

  // Phi of the point a sweep starts from, kept without tau, so that it can be taken at the tau
  // of any later sweep.
  struct Reference {
    double without_compression;
    double compression_gap;
    explicit Reference(const Objective& o)
        : without_compression(o.without_compression()), compression_gap(o.compression_gap) {}
    double at(T tau) const { return without_compression + double(tau) * compression_gap; }
  };

  template <class E>
  static double squared_norm(const Eigen::MatrixBase<E>& e) {
    return e.template cast<double>().squaredNorm();
  }

  void start() {
    net_.project(0);  // G_i from the W_i the run starts with, even if W_i were edited by hand
  }

  Shard<T>& local() const {
    if (!local_) throw std::logic_error("nnbcd: this run's samples are held elsewhere");
    return local_->shard();
  }

  void all_parameters_changed() {
    for (Index i = 0; i < n_layers(); ++i) samples_->parameters_changed(i);
  }

  // Steps 1-7 for every layer, output layer first, then tau's schedule.
  void sweep() {
    const Index N = n_layers();
    const T tau_now = tau();
    // Phi where the sweep starts, for the extrapolation's test (its W V products are the ones
    // the sweep needs): known from the last extrapolation except after a restore.
    if (h_.extrapolation && momentum_ > 1 && !reference_) {
      ScopedSeconds timer(seconds_.extrapolation);
      reference_.emplace(evaluate_objective());
    }
    for (Index i = N - 1; i >= 0; --i)
      update_layer_parameters(i, samples_->update_lifted(net_, i, h_, centre(i)), tau_now);
    // Step 7 for every compressed layer at once: each G_i only meets W_i, so projecting after
    // the sweep is the same block update, and a global pruning threshold sees every W_i.
    {
      ScopedSeconds timer(seconds_.g);
      net_.project(iteration_ + 1, /*keep_if_closer=*/true);
      if (h_.overwrite_weights)
        for (Index i = 0; i < N; ++i)
          if (net_.layer(i).compressed()) {
            net_.layer(i).W = net_.layer(i).G;
            samples_->parameters_changed(i);
          }
    }
    if (h_.extrapolation) extrapolate();
    if (iteration_ >= h_.dense_iterations) h_.tau = next_tau();
  }

  // tau's schedule: fixed growth, or (target_gap > 0) growth while some compressed layer's W_i
  // is farther from its G_i than target_gap (the deployed network then lags the fit) and decay
  // while all are well within it (a smaller tau lets W_i move faster), never below the tau the
  // run started from (below it the gap stops closing late in the run: bench/results/target_gap.md).
  T next_tau() const {
    const T grown = std::min(h_.tau * h_.tau_growth, h_.tau_max);
    if (h_.target_gap == T(0)) return grown;
    const double gap = largest_relative_gap();
    if (gap > double(h_.target_gap)) return grown;
    if (gap < 0.5 * double(h_.target_gap)) return std::max(h_.tau / h_.tau_growth, tau_floor_);
    return h_.tau;
  }

  // max over compressed layers of ||W_i - G_i|| / ||W_i|| (0 for a zero W_i).
  double largest_relative_gap() const {
    double largest = 0;
    for (Index i = 0; i < n_layers(); ++i) {
      const Layer<T>& l = net_.layer(i);
      if (!l.compressed()) continue;
      const double norm = std::sqrt(squared_norm(l.W));
      if (norm > 0) largest = std::max(largest, std::sqrt(squared_norm(l.W - l.G)) / norm);
    }
    return largest;
  }

  // The point x the sweep ended at, moved on to y = x + beta (x - x_before) in every block (the
  // lifted U, V on the samples; W, b here, G_i <- P(W_i) of the moved W_i, and W_i <- G_i where
  // overwrite_weights), with Nesterov's beta = (t - 1) / (t + 2). y is kept where Phi(y) is no
  // higher than Phi where the sweep started (at this sweep's tau: the sweep only lowered it, so
  // Phi still never rises from one iteration to the next at a fixed tau, and Phi(x) need not be
  // evaluated); else the half step (x + y) / 2 is tried, and kept on the same test; else the run
  // stays at x. Either way a refused y halves t (not reset to 2: a reset every few sweeps keeps
  // beta small for good, bench/results/plateau.md, session 14). The kept point is where the
  // next sweep starts; its W V products are the ones that sweep needs, its Phi the next test's.
  void extrapolate() {
    ScopedSeconds timer(seconds_.extrapolation);
    if (momentum_ == 1) {  // the first sweep: no step to move along yet
      previous_ = net_;
      samples_->extrapolate(T(0));
      momentum_ = 2;
      reference_.emplace(evaluate_objective());
      return;
    }
    const T beta = T(momentum_ - 1) / T(momentum_ + 2);
    const double at_start = reference_->at(tau());
    Mlp<T> swept = net_;
    move_parameters(swept, beta);
    samples_->extrapolate(beta);
    Objective moved = evaluate_objective();
    if (moved.total() <= at_start) {
      reference_.emplace(moved);
      previous_ = std::move(swept);
      ++momentum_;
      return;
    }
    momentum_ = std::max<Index>(2, momentum_ / 2);
    move_parameters(swept, beta / 2);
    samples_->shorten_extrapolation(T(0.5));
    moved = evaluate_objective();
    if (moved.total() <= at_start) {
      reference_.emplace(moved);
      previous_ = std::move(swept);
      return;
    }
    net_ = swept;
    previous_ = std::move(swept);
    all_parameters_changed();
    samples_->shorten_extrapolation(T(0));
    reference_.emplace(evaluate_objective());
    ++restarts_;
  }

  // The network's parameters moved to swept + beta (swept - previous_), projected as the sweep
  // projects them.
  void move_parameters(const Mlp<T>& swept, T beta) {
    for (Index i = 0; i < n_layers(); ++i) {
      Layer<T>& l = net_.layer(i);
      const Layer<T>& from = swept.layer(i);
      const Layer<T>& before = previous_.layer(i);
      l.W = from.W + beta * (from.W - before.W);
      l.b = from.b + beta * (from.b - before.b);
    }
    net_.project(iteration_ + 1);
    for (Index i = 0; i < n_layers(); ++i) {
      if (h_.overwrite_weights && net_.layer(i).compressed()) net_.layer(i).W = net_.layer(i).G;
      samples_->parameters_changed(i);
    }
  }

  // The centre of layer i's weight sums, picked by its input's moments (see InputMoments): a
  // function of the current input alone, so a run continued from a checkpoint picks the same.
  // The first layer's input never changes: its centre is picked once.
  Vector<T> centre(Index i) {
    if (i == 0 && first_centre_) return *first_centre_;
    Vector<T> c = samples_->input_moments(net_, i).template centre<T>();
    if (i == 0) first_centre_ = c;
    return c;
  }

  // Steps 3 and 6 from layer i's sums.
  void update_layer_parameters(Index i, WeightSums<T> sums, T tau) {
    ScopedSeconds timer(seconds_.w);
    Layer<T>& l = net_.layer(i);
    const bool coupled = l.compressed() && tau > T(0);
    const WeightSums<T> totals = sums.totals();  // what the bias needs: the rest is consumed
    update_weights<T>(std::move(sums), l.W, h_.rho, h_.alpha, h_.decay(i),
                      coupled ? tau : T(0), coupled ? &l.G : nullptr);
    if (h_.train_bias) update_bias<T>(totals, l.W, l.b, h_.rho, h_.alpha);
    samples_->parameters_changed(i);
  }

  Mlp<T>& net_;
  Hyperparameters<T> h_;
  T tau_floor_ = h_.tau;  // the target gap's lower bound on tau: the tau the run started from
  int n_threads_;
  Index iteration_ = 0;
  Mlp<T> last_good_;  // the network's parameters before the step in progress
  std::unique_ptr<ShardSamples<T>> local_;  // the samples of a single-process run
  Samples<T>* samples_ = nullptr;
  std::optional<Vector<T>> first_centre_;  // of the first layer's weight sums
  Mlp<T> previous_;     // the parameters of the point the last sweep ended at (extrapolation)
  Index momentum_ = 1;  // t of the next extrapolation (1: the first, which only keeps x)
  Index restarts_ = 0;  // extrapolations undone because Phi would have risen at y and (x + y) / 2
  std::optional<Reference> reference_;  // Phi where the next sweep starts (extrapolation)
  bool diverged_ = false;
  BlockSeconds seconds_;
};

}  // namespace nnbcd
