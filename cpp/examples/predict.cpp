// Batch inference with a saved nnbcd model, as a service would run it.
//
//   predict [--threads N] MODEL [SAMPLES]
//
// SAMPLES (default, or "-": standard input) holds one sample per line, d_0 numbers separated by
// whitespace; blank lines are skipped. For each sample, one line: the predicted class (the
// largest output), a tab, and the outputs. All samples are read and checked before any output,
// so a bad input gives an error and no partial result. Errors: "error: ..." and exit status 1.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <nnbcd/model_file.hpp>

namespace {

const char* const kUsage = "usage: predict [--threads N] MODEL [SAMPLES|-]";

struct Options {
  std::string model;
  std::string samples = "-";
  int threads = 0;  // all cores
};

Options parse_arguments(int argc, char** argv) {
  Options options;
  std::vector<std::string> positional;
  for (int k = 1; k < argc; ++k) {
    const std::string arg = argv[k];
    if (arg == "--threads") {
      if (++k == argc) throw std::runtime_error("--threads needs a value\n" + std::string(kUsage));
      const std::string value = argv[k];
      char* end = nullptr;
      errno = 0;
      const long threads = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno != 0 || threads < 0 || threads > 4096)
        throw std::runtime_error("--threads must be an integer in [0, 4096] (0: all cores), got '" +
                                 value + "'");
      options.threads = static_cast<int>(threads);
    } else if (arg.size() > 1 && arg[0] == '-') {
      throw std::runtime_error("unknown option " + arg + "\n" + kUsage);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.empty() || positional.size() > 2) throw std::runtime_error(kUsage);
  options.model = positional[0];
  if (positional.size() == 2) options.samples = positional[1];
  return options;
}

// The samples as the columns of a features x n matrix.
template <class T>
nnbcd::Matrix<T> read_samples(std::istream& in, nnbcd::Index features) {
  std::vector<T> values;  // sample after sample: the column-major matrix's memory
  std::string line;
  for (long line_number = 1; std::getline(in, line); ++line_number) {
    const std::string where = "line " + std::to_string(line_number);
    nnbcd::Index count = 0;
    const char* p = line.c_str();
    const char* const line_end = p + line.size();
    const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (true) {
      while (p < line_end && is_space(*p)) ++p;
      if (p == line_end) break;
      // strtod reads "." decimals: this program never changes the C locale.
      char* end = nullptr;
      const T value = std::is_same_v<T, float> ? std::strtof(p, &end) : std::strtod(p, &end);
      if (end == p || (end < line_end && !is_space(*end)) || !std::isfinite(value))
        throw std::runtime_error(where + ": expected a finite number at '" +
                                 std::string(p, std::min<std::size_t>(line_end - p, 40)) + "'");
      values.push_back(value);
      ++count;
      p = end;
    }
    if (count != 0 && count != features)
      throw std::runtime_error(where + " has " + std::to_string(count) +
                               " values, the model expects " + std::to_string(features));
  }
  if (in.bad()) throw std::runtime_error("cannot read the samples");
  const nnbcd::Index n = static_cast<nnbcd::Index>(values.size()) / features;
  return Eigen::Map<nnbcd::Matrix<T>>(values.data(), features, n);
}

template <class T>
void predict(const Options& options) {
  const nnbcd::Mlp<T> model = nnbcd::load_model<T>(options.model);
  const nnbcd::Index features = model.sizes().front();
  nnbcd::Matrix<T> X;
  if (options.samples == "-") {
    X = read_samples<T>(std::cin, features);
  } else {
    std::ifstream file(options.samples);
    if (!file) throw std::runtime_error("cannot open " + options.samples);
    X = read_samples<T>(file, features);
  }
  const nnbcd::Matrix<T> Y = model.forward(X, options.threads);
  std::cout << std::setprecision(9);
  for (nnbcd::Index j = 0; j < Y.cols(); ++j) {
    nnbcd::Index best = 0;
    Y.col(j).maxCoeff(&best);
    std::cout << best << '\t';
    for (nnbcd::Index i = 0; i < Y.rows(); ++i) std::cout << (i ? " " : "") << Y(i, j);
    std::cout << '\n';
  }
  std::cout.flush();
  if (!std::cout) throw std::runtime_error("cannot write the predictions");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse_arguments(argc, argv);
    if (nnbcd::model_dtype(options.model) == "float32")
      predict<float>(options);
    else
      predict<double>(options);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
}
