// Many threads predicting with one loaded model at once must give exactly what one thread does.
//
//   concurrent_inference MODEL [THREADS]
//
// The batch is generated here (deterministic, 257 samples); exit status 0 and "identical" when
// every concurrent result equals the single-threaded one bit for bit.
#include <cmath>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <nnbcd/model_file.hpp>

template <class T>
int check(const std::string& path, int threads) {
  const nnbcd::Mlp<T> model = nnbcd::load_model<T>(path);
  nnbcd::Matrix<T> X(model.sizes().front(), 257);
  for (nnbcd::Index j = 0; j < X.cols(); ++j)
    for (nnbcd::Index i = 0; i < X.rows(); ++i) X(i, j) = T(std::sin(0.37 * double(i + 3 * j)));
  const nnbcd::Matrix<T> reference = model.forward(X, 1);
  std::vector<int> mismatches(static_cast<std::size_t>(threads), 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int repeat = 0; repeat < 20; ++repeat)
        if (model.forward(X, 1) != reference) ++mismatches[static_cast<std::size_t>(t)];
    });
  for (auto& thread : pool) thread.join();
  int total = 0;
  for (int m : mismatches) total += m;
  if (total != 0) {
    std::cout << total << " concurrent results differ from the single-threaded one\n";
    return 1;
  }
  std::cout << "identical\n";
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: concurrent_inference MODEL [THREADS]\n";
    return 2;
  }
  try {
    const int threads = argc > 2 ? std::stoi(argv[2]) : 8;
    return nnbcd::model_dtype(argv[1]) == "float32" ? check<float>(argv[1], threads)
                                                     : check<double>(argv[1], threads);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
