// Training flushes subnormal floats to zero.
//
// An operation on a subnormal number (below 1.2e-38 in float32) costs ~100 cycles on x86. The
// lifted variables of units a ReLU has switched off decay geometrically towards zero, and once
// they reach the subnormal range they slow every product that reads them: an iteration of
// LeNet-300-100 on MNIST (plain BCD, pruned to 90 %) went from 1.0 s at iteration 100 to 3.2 s
// at 140 and 14 s at 200. Flush-to-zero and denormals-are-zero, as TensorFlow and oneDNN set
// them, change no result by more than the smallest normal number. The mode belongs to each
// thread: a FlushDenormals sets it on the calling thread and on the OpenMP team that will run
// the work (the thread count of the enclosing ThreadScope), and puts the previous mode back when
// it goes out of scope, so the caller's own arithmetic (numpy's, in Python) is left as it was.
#pragma once

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <xmmintrin.h>
#define NNBCD_FLUSH_DENORMALS_X86 1
#endif

#include "threads.hpp"

namespace nnbcd {

namespace denormals {

#if defined(NNBCD_FLUSH_DENORMALS_X86)
constexpr unsigned kFlushBits = 0x8040;  // MXCSR: flush-to-zero (bit 15), denormals-are-zero (6)
inline unsigned read_mode() { return _mm_getcsr(); }
inline void write_mode(unsigned mode) { _mm_setcsr(mode); }
#elif defined(__aarch64__)
constexpr unsigned kFlushBits = 1u << 24;  // FPCR.FZ
inline unsigned read_mode() {
  unsigned long fpcr;
  __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
  return static_cast<unsigned>(fpcr);
}
inline void write_mode(unsigned mode) {
  const unsigned long fpcr = mode;
  __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr));
}
#else
constexpr unsigned kFlushBits = 0;
inline unsigned read_mode() { return 0; }
inline void write_mode(unsigned) {}
#endif

// Per thread: the mode before the outermost scope, and how many scopes are open (nested scopes,
// a step's objective inside the step, must not put the flushing mode back as "previous").
struct Saved {
  unsigned mode = 0;
  int depth = 0;
};

inline Saved& saved() {
  thread_local Saved s;
  return s;
}

inline void enter() {
  Saved& s = saved();
  if (s.depth++ == 0) {
    s.mode = read_mode();
    write_mode(s.mode | kFlushBits);
  }
}

inline void leave() {
  Saved& s = saved();
  if (s.depth > 0 && --s.depth == 0) write_mode(s.mode);
}

// Runs f on each thread of a team of `threads` (the pool threads later regions reuse).
template <class F>
void on_team(int threads, F f) {
#pragma omp parallel num_threads(threads) if (threads > 1)
  f();
}

}  // namespace denormals

class FlushDenormals {
 public:
  FlushDenormals() : threads_(current_threads()) { denormals::on_team(threads_, denormals::enter); }
  ~FlushDenormals() { denormals::on_team(threads_, denormals::leave); }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  int threads_;
};

}  // namespace nnbcd
