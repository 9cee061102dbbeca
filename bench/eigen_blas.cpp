// Would building Eigen with EIGEN_USE_BLAS on a PyPI OpenBLAS speed up nnbcd's dense kernels?
// Times, in float32, the dense kernels of one NN-BCD iteration of the 561-1024-1024-1024-512-6
// network with n = 7352 samples (column-major, samples as columns). Self-contained: does not
// include nnbcd, only Eigen (the gram_lower panel pattern of cpp/include/nnbcd/linalg.hpp is
// copied below). Results and discussion: bench/eigen_blas.md.
//
// Build (each command on one line; outputs in /work/blas-exp, never in the repository):
//   E=$(python -c 'import site; print(site.getsitepackages()[0])')/cmeel.prefix/include/eigen3
//   # plain Eigen
//   nice -n 10 g++ -std=c++17 -O3 -mavx2 -mfma -fopenmp -DNDEBUG -I "$E"
//       bench/eigen_blas.cpp -o /work/blas-exp/eigen_plain
//   # Eigen + OpenBLAS. scipy-openblas32 exports only scipy_-prefixed symbols (scipy_sgemm_),
//   # which EIGEN_USE_BLAS cannot use, so the cmeel-openblas wheel (plain sgemm_, OpenBLAS
//   # 0.3.31, pthreads build) is used; it needs libgfortran.so.5, taken from Debian's
//   # libgfortran5 .deb (dpkg -x) because the system has none:
//   pip install --no-deps --target /work/blas-exp/site-cmeel /tmp/blaswheels/cmeel_openblas-*.whl
//   dpkg -x /var/cache/apt/archives/libgfortran5_12.2.0-14+deb12u1_amd64.deb /work/blas-exp/gf
//   B=/work/blas-exp/site-cmeel/cmeel.prefix/lib; G=/work/blas-exp/gf/usr/lib/x86_64-linux-gnu
//   nice -n 10 g++ -std=c++17 -O3 -mavx2 -mfma -fopenmp -DNDEBUG -DEIGEN_USE_BLAS -I "$E"
//       bench/eigen_blas.cpp -o /work/blas-exp/eigen_blas -L"$B" -lopenblas
//       -Wl,--disable-new-dtags -Wl,-rpath,"$B:$G"
//   (--disable-new-dtags: an RPATH, unlike a RUNPATH, also serves libopenblas's own
//   libgfortran.so.5 dependency)
//
// Run (2 threads):
//   OMP_NUM_THREADS=2 flock /tmp/cpu.lock /work/blas-exp/eigen_plain
//   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 flock /tmp/cpu.lock /work/blas-exp/eigen_blas
// Optional arguments: timed repetitions (default 5; the best is reported, after 1 warm-up) and
// OpenMP thread count (default 2), e.g. `eigen_plain 5 1` for single-threaded kernels.
// A third build, plain Eigen with -march=native (AVX-512 on this machine, like OpenBLAS's
// SKYLAKEX kernels), separates "OpenBLAS kernels" from "wider vectors":
//   nice -n 10 g++ -std=c++17 -O3 -march=native -fopenmp -DNDEBUG -I "$E"
//       bench/eigen_blas.cpp -o /work/blas-exp/eigen_native
#include <Eigen/Cholesky>
#include <Eigen/Dense>

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>

#ifdef EIGEN_USE_BLAS
extern "C" {
char* openblas_get_config(void);
int openblas_get_parallel(void);  // 0 sequential, 1 pthreads, 2 OpenMP
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
}
#endif

using Mat = Eigen::MatrixXf;
using Index = Eigen::Index;

static int g_reps = 5;

// Best wall time of g_reps runs of `run`, after one warm-up; `prep` (untimed) runs before each.
static double best_time(const std::function<void()>& prep, const std::function<void()>& run) {
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r <= g_reps; ++r) {
    prep();
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const auto t1 = std::chrono::steady_clock::now();
    if (r > 0) best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

static void report(const char* name, double flops, double seconds) {
  std::printf("%-44s %9.2f ms %8.1f GFLOP/s\n", name, 1e3 * seconds, flops / seconds * 1e-9);
  std::fflush(stdout);
}

// The SYRK-panel pattern of nnbcd::gram_lower: the lower triangle of M M^T cut into 4*threads
// column panels, each one GEMM on one thread of an OpenMP parallel for.
static void gram_panels(const Mat& M, Mat& A, int threads) {
  const Index d = M.rows();
  const Index panels = std::min<Index>(4 * threads, d);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (Index p = 0; p < panels; ++p) {
    const Index begin = d * p / panels, width = d * (p + 1) / panels - begin;
    A.block(begin, begin, d - begin, width).noalias() =
        M.middleRows(begin, d - begin) * M.middleRows(begin, width).transpose();
  }
}

int main(int argc, char** argv) {
  if (argc > 1) g_reps = std::max(1, std::atoi(argv[1]));
  const int threads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 2;
  omp_set_num_threads(threads);  // Eigen's GEMM reads omp_get_max_threads()
  const Index n = 7352, d = 1024;

#ifdef EIGEN_USE_BLAS
  std::printf("build: Eigen %d.%d.%d + EIGEN_USE_BLAS, %s\n", EIGEN_WORLD_VERSION,
              EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION, openblas_get_config());
  const int par = openblas_get_parallel();
  std::printf("openblas_get_parallel() = %d (%s), openblas_get_num_threads() = %d\n", par,
              par == 0 ? "sequential" : par == 1 ? "pthreads" : "OpenMP",
              openblas_get_num_threads());
#else
  std::printf("build: Eigen %d.%d.%d, own kernels\n", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION,
              EIGEN_MINOR_VERSION);
#endif
  std::printf("omp_get_max_threads() = %d, Eigen::nbThreads() = %d, best of %d after warm-up\n\n",
              omp_get_max_threads(), Eigen::nbThreads(), g_reps);

  std::srand(12345);
  const Mat W = Mat::Random(d, d) * 0.03f;
  const Mat V = Mat::Random(d, n).cwiseAbs();
  const Mat U = Mat::Random(d, n);
  Mat C(d, n), G(d, d);

  // 1. W V  (1024x1024 * 1024x7352)
  {
    const double t = best_time([] {}, [&] { C.noalias() = W * V; });
    report("GEMM W*V       (1024x1024 * 1024x7352)", 2.0 * d * d * n, t);
  }
  // 2. (U - b) V^T: 1024x7352 * 7352x1024, long inner dimension
  {
    const double t = best_time([] {}, [&] { G.noalias() = V * U.transpose(); });
    report("GEMM V*U^T     (1024x7352 * 7352x1024)", 2.0 * d * d * n, t);
  }
  // 3. lower triangle of V V^T through rankUpdate (SYRK)
  Mat A(d, d);
  {
    const double t = best_time([&] { A.setZero(); },
                               [&] { A.selfadjointView<Eigen::Lower>().rankUpdate(V, 1.f); });
    report("SYRK rankUpdate (V V^T, lower)", double(d) * d * n, t);
  }
  // 3b. the same through nnbcd's panel pattern (8 panels, omp parallel for, one GEMM each)
  {
    Mat P(d, d);
    const double t = best_time([&] { P.setZero(); }, [&] { gram_panels(V, P, threads); });
    report("SYRK 8 GEMM panels in omp parallel for", double(d) * d * n, t);
    const float err = (P.triangularView<Eigen::Lower>().toDenseMatrix() -
                       A.triangularView<Eigen::Lower>().toDenseMatrix())
                          .cwiseAbs()
                          .maxCoeff() /
                      A.cwiseAbs().maxCoeff();
    std::printf("    panels vs rankUpdate: max rel. diff %.2e\n", err);
#ifdef EIGEN_USE_BLAS
    // The usual workaround for a pthreads OpenBLAS called from an OpenMP region: drop
    // OpenBLAS to one thread around the region (process-global state in a pthreads build).
    const int saved = openblas_get_num_threads();
    const double t1 = best_time([&] { P.setZero(); }, [&] {
      openblas_set_num_threads(1);
      gram_panels(V, P, threads);
      openblas_set_num_threads(saved);
    });
    report("SYRK panels, openblas_set_num_threads(1)", double(d) * d * n, t1);
#endif
  }
  // 4. Cholesky of S = V V^T / n + I (1024x1024, SPD; LLT reads the lower triangle), then
  //    solves with 1024 right-hand sides.
  Mat S = A / float(n);
  S.diagonal().array() += 1.f;
  Eigen::LLT<Mat> llt(d);
  {
    // compute() copies S into the factor first (4 MiB, well under a millisecond); both builds pay it.
    const double t = best_time([] {}, [&] { llt.compute(S); });
    report("Cholesky LLT<MatrixXf> 1024", double(d) * d * d / 3.0, t);
  }
  const Mat B0 = U.leftCols(d);
  Mat B(d, d);
  {
    const double t = best_time([&] { B = B0; }, [&] { llt.solveInPlace(B); });
    report("LLT solveInPlace, 1024 RHS", 2.0 * d * d * d, t);
    Mat Sfull = S.selfadjointView<Eigen::Lower>();
    std::printf("    residual |S X - B|/|B| = %.2e\n", (Sfull * B - B0).norm() / B0.norm());
  }
  // 4b. the same solves as nnbcd::solve_in_place does them: 2 column blocks in omp parallel for
  {
    const double t = best_time([&] { B = B0; }, [&] {
#pragma omp parallel for schedule(static) num_threads(threads)
      for (int tb = 0; tb < threads; ++tb) {
        const Index begin = d * tb / threads, end = d * (tb + 1) / threads;
        llt.solveInPlace(B.middleCols(begin, end - begin));
      }
    });
    report("LLT solves, 2 col. blocks in omp parallel", 2.0 * d * d * d, t);
  }
  std::printf("\nchecksum %.6e\n", double(C.sum()) + double(G.sum()) + double(B.sum()));
  return 0;
}
