// What the weight and bias updates need of the samples: sums over them, so that a run whose
// samples are split into shards (other processes, other machines) adds its shards' sums and
// solves the same update as one process would (DESIGN §2, steps 3 and 6).
#pragma once

#include <algorithm>
#include <stdexcept>

#include "linalg.hpp"
#include "threads.hpp"
#include "types.hpp"

namespace nnbcd {

// Count, row sums and row sums of squares of a layer's input, in double: what picks the centre
// of its weight sums, at O(d n) against the sums' O(d^2 n). Shards' moments add up.
struct InputMoments {
  double count = 0;
  Vector<double> sum, squares;

  // 0 (empty), or, where some row's mean exceeds 4 of its standard deviations (mean^2 > 16
  // variance, i.e. 17 sum^2 > 16 n squares), the means rounded to T.
  template <class T>
  Vector<T> centre() const {
    if (!(17 * sum.array().square() > 16 * count * squares.array()).any()) return Vector<T>();
    return (sum / std::max(count, 1.0)).template cast<T>();
  }
};

template <class T>
InputMoments input_moments(const ConstMatrixRef<T>& V) {
  const Index d = V.rows();
  const Matrix<double> totals = reduce_over_columns(
      V.cols(), 2.0 * double(d), Matrix<double>(Matrix<double>::Zero(d, 2)),
      [&](Index begin, Index count) {
        Matrix<double> partial = Matrix<double>::Zero(d, 2);
        for (Index j = begin; j < begin + count; ++j) {
          const auto v = V.col(j).template cast<double>();
          partial.col(0) += v;
          partial.col(1) += v.cwiseAbs2();
        }
        return partial;
      });
  InputMoments m;
  m.count = double(V.cols());
  m.sum = totals.col(0);
  m.squares = totals.col(1);
  return m;
}

// Sums over the samples j of one layer's input v_j (a column of V_{i-1}, X, or X's patches),
// taken around a centre m, and of u_j (a column of U_i) around the bias b they were taken with:
//   count n,  input_sum s = Σ (v_j - m),  input_gram Σ (v_j - m)(v_j - m)^T (lower triangle),
//   cross Σ (v_j - m)(u_j - b)^T,  unit_sum z = Σ (u_j - b).
// The sums of shards taken around the same m and b add up to the sums over their union.
// Why a centre: for unscaled inputs (X ~ N(100, 1), activations ~100) products summed around 0
// carry float rounding errors ~eps n |mu|^2, above the proximal shift alpha, and the float
// Cholesky of the weight update breaks down; around m ~ the means they do not (the means enter
// the update exactly, see update_weights). m empty means m = 0; InputMoments picks it.
template <class T>
struct WeightSums {
  Vector<T> centre;
  double count = 0;
  Vector<double> input_sum;
  Matrix<T> input_gram;
  Matrix<T> cross;
  Vector<double> unit_sum;

  Index inputs() const { return input_sum.size(); }
  Index units() const { return unit_sum.size(); }

  // The exact row means of the input, mu = m + s / n.
  Vector<double> means() const {
    Vector<double> mu = input_sum / std::max(count, 1.0);
    if (centre.size() > 0) mu += centre.template cast<double>();
    return mu;
  }

  // The sums without the products (input_gram, cross): all a bias update needs.
  WeightSums totals() const {
    WeightSums t;
    t.centre = centre;
    t.count = count;
    t.input_sum = input_sum;
    t.unit_sum = unit_sum;
    return t;
  }

  WeightSums& operator+=(const WeightSums& other) {
    const bool same_centre = centre.size() == other.centre.size() &&
                             (centre.size() == 0 || centre == other.centre);
    if (!same_centre || other.inputs() != inputs() || other.units() != units() ||
        other.input_gram.rows() != input_gram.rows() || other.cross.rows() != cross.rows() ||
        other.cross.cols() != cross.cols())
      throw std::invalid_argument(
          "nnbcd: weight sums of different layers or centres cannot be added");
    count += other.count;
    input_sum += other.input_sum;
    input_gram += other.input_gram;
    cross += other.cross;
    unit_sum += other.unit_sum;
    return *this;
  }
};

// The input part of the sums (count, input_sum, input_gram) of V around `centre`.
template <class T>
void add_input_sums(const ConstMatrixRef<T>& V, WeightSums<T>& sums) {
  const Vector<T>* centre = sums.centre.size() > 0 ? &sums.centre : nullptr;
  sums.count = double(V.cols());
  sums.input_sum = row_sums<double>(V);
  if (centre != nullptr) sums.input_sum -= sums.count * centre->template cast<double>();
  gram_lower(V, T(1), T(0), sums.input_gram, centre);
}

// The sums of U (d_out x n), its input V (d_in x n) and b around `centre` (empty: 0). `input`,
// when given, holds the input part already, around the same centre (the first layer's input
// never changes between sweeps).
template <class T>
WeightSums<T> weight_sums(const ConstMatrixRef<T>& U, const ConstMatrixRef<T>& V,
                          const ConstVectorRef<T>& b, const Vector<T>& centre,
                          const WeightSums<T>* input = nullptr) {
  require_shape(U.cols() == V.cols() && U.rows() == b.size() &&
                    (centre.size() == 0 || centre.size() == V.rows()),
                "U is d_out x n, V d_in x n, b d_out, the centre d_in");
  WeightSums<T> sums;
  if (input != nullptr) {
    sums = *input;
  } else {
    sums.centre = centre;
    add_input_sums(V, sums);
  }
  const Vector<T>* m = sums.centre.size() > 0 ? &sums.centre : nullptr;
  sums.cross.setZero(V.rows(), U.rows());
  add_product_over_samples(V, U, T(1), sums.cross, m);
  sums.cross.noalias() -= sums.input_sum.template cast<T>() * b.transpose();
  sums.unit_sum = row_sums<double>(U) - sums.count * b.template cast<double>();
  return sums;
}

// The sums around the centre the input's moments pick (see InputMoments): what a single set of
// samples uses (the block functions' reference).
template <class T>
WeightSums<T> centred_weight_sums(const ConstMatrixRef<T>& U, const ConstMatrixRef<T>& V,
                                  const ConstVectorRef<T>& b) {
  return weight_sums<T>(U, V, b, input_moments<T>(V).template centre<T>());
}

}  // namespace nnbcd
