// Thread control without global state.
//
// omp_set_num_threads changes the calling thread's own ICV, and Eigen's GEMM reads it through
// omp_get_max_threads() (as long as nobody calls Eigen::setNbThreads). So each call sets the
// thread count it was asked for and restores the previous one: two models trained from two
// threads never see each other's setting. Eigen products called inside our own parallel loops
// run on one thread (Eigen does not nest), so the two never oversubscribe.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "types.hpp"

namespace nnbcd {

// CPUs a cgroup CPU quota allows, read under `root` (cgroup v2's cpu.max, then v1's
// cpu/cpu.cfs_quota_us over cpu.cfs_period_us); 0 when there is no quota or nothing to read.
inline double cgroup_cpu_quota(const std::string& root = "/sys/fs/cgroup") {
  std::ifstream v2(root + "/cpu.max");
  std::string limit;
  double period = 0;
  if (v2 >> limit >> period) {
    if (limit == "max") return 0;
    try {
      const double quota = std::stod(limit);
      return quota > 0 && period > 0 ? quota / period : 0;
    } catch (const std::exception&) {
      return 0;
    }
  }
  std::ifstream v1_quota(root + "/cpu/cpu.cfs_quota_us");
  std::ifstream v1_period(root + "/cpu/cpu.cfs_period_us");
  double quota = 0;
  if (v1_quota >> quota && v1_period >> period && quota > 0 && period > 0) return quota / period;
  return 0;
}

// Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (a container
// limited to 2 CPUs on a 64-core host gets 2, not 64). The quota is read once per process:
// every call with n_threads = 0 comes here, and reading it cost ~20 us per small predict.
inline int usable_cores() {
#ifdef _OPENMP
  const int cores = omp_get_num_procs();  // the affinity mask's size
#else
  const int cores = std::max(1u, std::thread::hardware_concurrency());
#endif
  static const double quota = cgroup_cpu_quota();
  return quota > 0 ? std::max(1, std::min(cores, static_cast<int>(std::ceil(quota)))) : cores;
}

// Number of threads "n_threads" means: 0 = the usable cores, otherwise exactly that many.
inline int resolve_threads(int n_threads) {
#ifdef _OPENMP
  return n_threads > 0 ? n_threads : usable_cores();
#else
  (void)n_threads;
  return 1;
#endif
}

class ThreadScope {
 public:
  explicit ThreadScope(int n_threads) {
#ifdef _OPENMP
    previous_ = omp_get_max_threads();
    omp_set_num_threads(resolve_threads(n_threads));
#else
    (void)n_threads;
#endif
  }
  ~ThreadScope() {
#ifdef _OPENMP
    omp_set_num_threads(previous_);
#endif
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int previous_ = 1;
};

inline int current_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Threads worth using for `work` elementary operations: a parallel region costs a few
// microseconds, far more when another process holds a core and a thread misses the barrier, so
// small jobs run on one thread.
inline int threads_for(double work) {
  constexpr double kMinWorkPerThread = 1 << 15;
  const double useful = std::max(1.0, work / kMinWorkPerThread);
  return static_cast<int>(std::min<double>(current_threads(), useful));
}

// Applies f(first_column, column_count) to contiguous column ranges of [0, n), in parallel;
// `work_per_column` sizes the job (see threads_for). Static partitioning: for a given thread
// count the split, and so every result, is identical from run to run.
template <class F>
void for_column_blocks(Index n, double work_per_column, F&& f) {
  // no more threads than columns: an idle thread still costs the region (one sample's CSR block)
  const int threads = static_cast<int>(
      std::min<Index>(threads_for(double(n) * work_per_column), std::max<Index>(n, 1)));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (int t = 0; t < threads; ++t) {
    const Index begin = n * t / threads, end = n * (t + 1) / threads;
    if (end > begin) f(begin, end - begin);
  }
}

// Deterministic parallel reduction over columns: one partial result per static column block,
// combined in block order, so a given thread count always gives the same result.
template <class R, class F>
R reduce_over_columns(Index n, double work_per_column, const R& zero, F&& column_block_partial) {
  const int threads = threads_for(double(n) * work_per_column);
  std::vector<R> partial(threads, zero);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (int t = 0; t < threads; ++t) {
    const Index begin = n * t / threads, end = n * (t + 1) / threads;
    if (end > begin) partial[t] = column_block_partial(begin, end - begin);
  }
  R total = partial[0];
  for (int t = 1; t < threads; ++t) total += partial[t];
  return total;
}

// Sum over columns in double (see reduce_over_columns).
template <class F>
double sum_over_columns(Index n, double work_per_column, F&& column_block_sum) {
  return reduce_over_columns(n, work_per_column, 0.0, column_block_sum);
}

}  // namespace nnbcd
