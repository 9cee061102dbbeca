// Magnitude pruning: the exact projection onto {G : ||G||_0 <= k}, i.e. keep the k
// largest-magnitude entries and zero the rest.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "types.hpp"

namespace nnbcd {

// Entries kept at sparsity s: k = round((1 - s) * size), halves rounded up.
inline Index kept_count(Index size, double sparsity) {
  if (!(sparsity >= 0.0 && sparsity < 1.0))
    throw std::invalid_argument("nnbcd: sparsity must be in [0, 1), got " +
                                std::to_string(sparsity));
  const double kept = std::floor((1.0 - sparsity) * double(size) + 0.5);
  return std::min<Index>(size, static_cast<Index>(kept));
}

// One array taking part in a joint projection: `size` entries read from `source`, written
// (kept or zeroed) to `target` (which may equal source).
template <class T>
struct PruneSlice {
  const T* source;
  T* target;
  Index size;
};

// Keep the `keep` largest magnitudes across all slices together. Ties are broken by position:
// earlier slices first, then lower index (row-major order for weights), so the result never
// depends on the selection algorithm. O(total size): one nth_element on a copy of the
// magnitudes finds the threshold, one pass applies it.
template <class T>
void prune_largest(const std::vector<PruneSlice<T>>& slices, Index keep) {
  Index total = 0;
  for (const auto& s : slices) total += s.size;
  if (keep < 0 || keep > total) throw std::invalid_argument("nnbcd: cannot keep that many");
  if (keep == total) {
    for (const auto& s : slices)
      if (s.target != s.source) std::copy(s.source, s.source + s.size, s.target);
    return;
  }
  T threshold = std::numeric_limits<T>::infinity();  // keep == 0: nothing passes
  Index ties_to_keep = 0;
  if (keep > 0) {
    std::vector<T> magnitude;
    magnitude.reserve(static_cast<std::size_t>(total));
    for (const auto& s : slices)
      for (Index k = 0; k < s.size; ++k) magnitude.push_back(std::abs(s.source[k]));
    auto kth = magnitude.begin() + (keep - 1);
    std::nth_element(magnitude.begin(), kth, magnitude.end(), std::greater<T>());
    threshold = *kth;
    // Entries strictly above the threshold are all kept; the rest of the quota goes to the
    // first entries equal to it.
    const Index above = static_cast<Index>(
        std::count_if(magnitude.begin(), kth, [&](T m) { return m > threshold; }));
    ties_to_keep = keep - above;
  }
  for (const auto& s : slices)
    for (Index k = 0; k < s.size; ++k) {
      const T m = std::abs(s.source[k]);
      bool kept = m > threshold;
      if (!kept && m == threshold && ties_to_keep > 0) {
        kept = true;
        --ties_to_keep;
      }
      s.target[k] = kept ? s.source[k] : T(0);
    }
}

// The projection of one array at the given sparsity.
template <class T>
void magnitude_prune(const T* source, T* target, Index size, double sparsity) {
  prune_largest<T>({{source, target, size}}, kept_count(size, sparsity));
}

}  // namespace nnbcd
