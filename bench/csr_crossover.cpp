// Dense GEMM vs the CSR product (nnbcd::csr_product) vs Eigen's sparse product, for magnitude-
// pruned float32 weights: where does the sparse product start to pay off?
//
//   E=$(python -c "import cmeel, os; print(os.path.join(cmeel.__path__[0], '..', 'cmeel.prefix', 'include', 'eigen3'))")
//   g++ -O3 -DNDEBUG -fopenmp -mavx -mavx2 -mfma -mbmi -mbmi2 -mf16c -std=c++17
//       -I cpp/include -I "$E" bench/csr_crossover.cpp -o csr_crossover_v3
//   g++ -O3 -DNDEBUG -fopenmp -std=c++17 -I cpp/include -I "$E" bench/csr_crossover.cpp
//       -o csr_crossover_baseline
//   (each g++ command on one line)
//   ./csr_crossover_v3 [--n 10000] [--eigen-n 500] [--threads 1,2] [--min-time 0.3]
//
// Prints a markdown table. Exits non-zero when a CSR product differs from the dense product of
// to_dense() by more than 1e-5 relative (max-norm), when the thread counts disagree bitwise, or
// when the self-tests of Csr fail. Eigen's sparse product is up to 17x slower than ours, so it
// is timed on one thread, on the first --eigen-n samples only, and scaled to n (its cost is
// linear in n). Results and discussion: bench/csr_crossover.md.
#include <nnbcd/csr.hpp>

#include <Eigen/Sparse>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace nnbcd;
using T = float;

namespace {

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Times f and g alternately (so that both see the same background load) and returns the best
// time of each: at least 2 rounds, more until min_time has been spent (at most 10). The minimum
// is the robust statistic on a shared, noisy machine; the first round doubles as the warm-up.
std::pair<double, double> best_times(const std::function<void()>& f, const std::function<void()>& g,
                                     double min_time) {
  double best_f = 1e300, best_g = 1e300, total = 0;
  for (int round = 0; round < 10 && (round < 2 || total < min_time); ++round) {
    double t0 = seconds();
    f();
    const double tf = seconds() - t0;
    t0 = seconds();
    g();
    const double tg = seconds() - t0;
    best_f = std::min(best_f, tf);
    best_g = std::min(best_g, tg);
    total += tf + tg;
  }
  return {best_f, best_g};
}

double best_time(const std::function<void()>& f, double min_time) {
  return best_times(f, [] {}, min_time).first;
}

std::string load_average() {
  std::string text = "?";
  if (FILE* file = std::fopen("/proc/loadavg", "r")) {
    char buffer[128] = {};
    if (std::fgets(buffer, sizeof buffer, file)) text = buffer;
    std::fclose(file);
    while (!text.empty() && text.back() == '\n') text.pop_back();
  }
  return text;
}

// A Gaussian matrix with all but the round(density * size) largest magnitudes zeroed: the
// unstructured pattern that magnitude pruning produces.
RowMatrix<T> pruned_gaussian(Index rows, Index cols, double density, std::mt19937_64& rng) {
  std::normal_distribution<T> normal;
  RowMatrix<T> W(rows, cols);
  for (Index i = 0; i < W.size(); ++i) W.data()[i] = normal(rng);
  const Index keep = std::min<Index>(W.size(), Index(std::llround(density * double(W.size()))));
  if (keep == W.size()) return W;
  std::vector<T> magnitude(std::size_t(W.size()));
  for (Index i = 0; i < W.size(); ++i) magnitude[std::size_t(i)] = std::abs(W.data()[i]);
  auto nth = magnitude.begin() + (W.size() - keep);
  std::nth_element(magnitude.begin(), nth, magnitude.end());
  const T threshold = keep > 0 ? *nth : std::numeric_limits<T>::infinity();
  for (Index i = 0; i < W.size(); ++i)
    if (std::abs(W.data()[i]) < threshold) W.data()[i] = T(0);
  return W;
}

double relative_max_error(const Matrix<T>& Y, const Matrix<T>& reference) {
  const double scale = std::max<double>(reference.cwiseAbs().maxCoeff(), 1e-30);
  return double((Y - reference).cwiseAbs().maxCoeff()) / scale;
}

int failures = 0;

void expect(bool ok, const std::string& what) {
  if (!ok) {
    std::printf("FAIL: %s\n", what.c_str());
    ++failures;
  }
}

template <class F>
void expect_invalid(F&& f, const std::string& what) {
  try {
    f();
  } catch (const std::invalid_argument&) {
    return;
  }
  expect(false, what + " was accepted");
}

// Edge cases the timing runs do not reach: empty rows, partial blocks, strided X, aliasing,
// and check() on corrupted matrices.
void self_test() {
  std::mt19937_64 rng(7);
  for (Index rows : {1, 3, 17, 40})
    for (Index cols : {1, 5, 16, 37}) {
      RowMatrix<T> W = pruned_gaussian(rows, cols, 0.3, rng);
      if (rows > 2) W.row(1).setZero();  // an empty row
      const Csr<T> A = Csr<T>::from_dense(W);
      A.check();
      expect(A.to_dense() == W, "to_dense(from_dense(W)) == W");
      expect(A.nnz() == Index((W.array() != T(0)).count()), "nnz counts the non-zeros");
      for (Index n : {0, 1, 15, 16, 17, 33, 70}) {
        Matrix<T> big = Matrix<T>::Random(cols + 3, n), Y;
        auto X = big.middleRows(1, cols);  // outer stride != rows
        for (int threads : {1, 2}) {
          ThreadScope scope(threads);
          csr_product(A, X, Y);
          const Matrix<T> reference = W * X;
          expect(Y.rows() == rows && Y.cols() == n, "shape of Y");
          if (n > 0) expect(relative_max_error(Y, reference) <= 1e-5, "small product");
        }
      }
    }
  {  // Y aliasing X
    RowMatrix<T> W = pruned_gaussian(20, 20, 0.5, rng);
    const Csr<T> A = Csr<T>::from_dense(W);
    Matrix<T> X = Matrix<T>::Random(20, 40);
    const Matrix<T> reference = W * X;
    csr_product(A, X, X);
    expect(relative_max_error(X, reference) <= 1e-5, "aliased product");
  }
  {  // an all-zero matrix, and one with no columns
    const Csr<T> Z = Csr<T>::from_dense(RowMatrix<T>::Zero(4, 6));
    Matrix<T> Y;
    csr_product(Z, Matrix<T>::Random(6, 20), Y);
    expect(Z.nnz() == 0 && Y.rows() == 4 && Y.isZero(0), "zero matrix");
    const Csr<T> E = Csr<T>::from_dense(RowMatrix<T>(3, 0));
    csr_product(E, Matrix<T>(0, 20), Y);
    expect(Y.rows() == 3 && Y.cols() == 20 && Y.isZero(0), "no columns");
  }
  {  // check() rejects corrupted matrices; the product rejects a wrong X
    RowMatrix<T> W(3, 4);
    W << 1, 0, 2, 0, 0, 0, 0, 0, 3, 4, 0, 5;
    const Csr<T> good = Csr<T>::from_dense(W);
    good.check();
    expect(good.row_start == std::vector<Index>({0, 2, 2, 5}), "row_start");
    expect(good.column == std::vector<int32_t>({0, 2, 0, 1, 3}), "column");
    auto corrupt = [&](const char* what, const std::function<void(Csr<T>&)>& edit) {
      Csr<T> bad = good;
      edit(bad);
      expect_invalid([&] { bad.check(); }, what);
    };
    corrupt("decreasing row_start", [](Csr<T>& A) { A.row_start[1] = 3, A.row_start[2] = 2; });
    corrupt("row_start[0] != 0", [](Csr<T>& A) { A.row_start[0] = 1; });
    corrupt("row_start too short", [](Csr<T>& A) { A.row_start.pop_back(); });
    corrupt("row_start[rows] != nnz", [](Csr<T>& A) { A.row_start[3] = 4; });
    corrupt("column out of range", [](Csr<T>& A) { A.column[4] = 4; });
    corrupt("negative column", [](Csr<T>& A) { A.column[0] = -1; });
    corrupt("repeated column", [](Csr<T>& A) { A.column[3] = 0; });
    corrupt("decreasing columns", [](Csr<T>& A) { std::swap(A.column[2], A.column[3]); });
    corrupt("value/column sizes", [](Csr<T>& A) { A.value.push_back(1); });
    corrupt("negative rows", [](Csr<T>& A) { A.rows = -1; });
    Matrix<T> Y;
    expect_invalid([&] { csr_product(good, Matrix<T>::Zero(5, 2), Y); }, "X with wrong rows");
    Csr<T> bad = good;
    bad.value.pop_back();
    expect_invalid([&] { csr_product(bad, Matrix<T>::Zero(4, 2), Y); }, "inconsistent sizes");
  }
}

std::vector<int> parse_list(const char* s) {
  std::vector<int> out;
  for (const char* p = s; *p;) {
    out.push_back(std::atoi(p));
    p = std::strchr(p, ',');
    if (!p) break;
    ++p;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Index n = 10000, eigen_n = 500;
  double min_time = 0.3;
  std::vector<int> thread_counts = {1, 2};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n"))
      n = std::atol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--eigen-n"))
      eigen_n = std::atol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads"))
      thread_counts = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--min-time"))
      min_time = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  eigen_n = std::min(eigen_n, n);

  self_test();
  std::printf("self-test: %s\n", failures ? "FAILED" : "ok");

#if defined(__AVX2__) && defined(__FMA__)
  const char* build = "AVX2+FMA";
#elif defined(__AVX__)
  const char* build = "AVX";
#else
  const char* build = "baseline x86-64 (SSE2)";
#endif
  std::printf("build: %s, Eigen SIMD: %s, float32, n = %ld samples, CSR tile %d samples\n\n",
              build, Eigen::SimdInstructionSetsInUse(), long(n), detail::CsrTile<T>::B);
  std::printf("load average at start: %s\n\n", load_average().c_str());
  std::printf("| W (d_out x d_in) | density | nnz | threads | dense GEMM ms | CSR ms | "
              "Eigen sparse ms%s | dense / CSR | csr_is_faster | max rel. error |\n",
              eigen_n < n ? " (1 thread, scaled)" : " (1 thread)");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");

  const std::vector<std::pair<Index, Index>> shapes = {
      {300, 784}, {100, 300}, {1024, 1024}, {1024, 5408}};
  const std::vector<double> densities = {0.01, 0.02, 0.05, 0.10, 0.20, 0.30, 0.50};
  std::mt19937_64 rng(2024);
  int model_wrong = 0, rows_total = 0;
  for (const auto& shape : shapes) {
    const Index rows = shape.first, cols = shape.second;
    const Matrix<T> X = Matrix<T>::Random(cols, n);
    for (double density : densities) {
      const RowMatrix<T> W = pruned_gaussian(rows, cols, density, rng);
      const Csr<T> A = Csr<T>::from_dense(W);
      A.check();
      const RowMatrix<T> W_dense = A.to_dense();
      if (W_dense != W) {
        std::printf("FAIL: to_dense() differs from the pruned matrix\n");
        ++failures;
      }
      Matrix<T> reference, first_threads_result;
      for (std::size_t t = 0; t < thread_counts.size(); ++t) {
        const int threads = thread_counts[t];
        ThreadScope scope(threads);
        Matrix<T> Y_dense, Y;
        const auto times = best_times([&] { Y_dense.noalias() = W_dense * X; },
                                      [&] { csr_product(A, X, Y); }, min_time);
        const double dense = times.first, csr = times.second;
        if (t == 0) reference = Y_dense;
        const double error = relative_max_error(Y, reference);
        if (!(error <= 1e-5)) ++failures;
        if (t == 0)
          first_threads_result = Y;
        else if (Y != first_threads_result) {
          std::printf("FAIL: %d threads do not reproduce %d threads bitwise\n", threads,
                      thread_counts[0]);
          ++failures;
        }
        // Eigen's SparseMatrix<RowMajor> * dense, once, on one thread (its OpenMP path spins
        // badly when the machine is shared), on the first eigen_n samples, scaled to n.
        char eigen_text[32] = "-";
        if (eigen_n > 0 && t == 0) {
          ThreadScope one(1);
          const Eigen::SparseMatrix<T, Eigen::RowMajor> S = W_dense.sparseView();
          const auto X_part = X.leftCols(eigen_n);
          Matrix<T> Y_eigen;
          const double eigen = best_time([&] { Y_eigen.noalias() = S * X_part; }, min_time) *
                               double(n) / double(eigen_n);
          std::snprintf(eigen_text, sizeof eigen_text, "%.1f", 1e3 * eigen);
          if (!(relative_max_error(Y_eigen, reference.leftCols(eigen_n)) <= 1e-5)) {
            std::printf("FAIL: Eigen's sparse product differs\n");
            ++failures;
          }
        }
        const bool predicted = csr_is_faster<T>(rows, cols, A.nnz());
        const bool measured = csr < dense;
        ++rows_total;
        if (predicted != measured) ++model_wrong;
        std::printf("| %ld x %ld | %g%% | %ld | %d | %.1f | %.1f | %s | %.2f | %s%s | %.1e%s |\n",
                    long(rows), long(cols), 100 * density, long(A.nnz()), threads, 1e3 * dense,
                    1e3 * csr, eigen_text, dense / csr, predicted ? "yes" : "no",
                    predicted == measured ? "" : " (wrong)", error,
                    error <= 1e-5 ? "" : " FAIL");
        std::fflush(stdout);
      }
    }
  }
  std::printf("\nload average at end: %s\n", load_average().c_str());
  std::printf("\ncsr_is_faster agrees with the measurement in %d of %d rows\n",
              rows_total - model_wrong, rows_total);
  if (failures) std::printf("%d FAILURES\n", failures);
  return failures ? 1 : 0;
}
