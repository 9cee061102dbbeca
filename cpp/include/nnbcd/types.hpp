// Matrix aliases shared by the whole core.
//
// Samples are columns: a d x n column-major matrix has exactly the memory of a C-contiguous
// numpy array of shape (n, d), so data crosses the Python boundary without copies. Weights are
// the paper's W (d_out x d_in) stored row-major, i.e. a C-contiguous numpy (d_out, d_in) array.
#pragma once

#include <stdexcept>
#include <string>

#include <Eigen/Core>

namespace nnbcd {

using Index = Eigen::Index;

template <class T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

template <class T>
using ConstMatrixMap = Eigen::Map<const Matrix<T>>;

template <class T>
using MatrixRef = Eigen::Ref<Matrix<T>>;
template <class T>
using ConstMatrixRef = Eigen::Ref<const Matrix<T>>;
template <class T>
using WeightRef = Eigen::Ref<RowMatrix<T>>;
template <class T>
using ConstWeightRef = Eigen::Ref<const RowMatrix<T>>;
template <class T>
using VectorRef = Eigen::Ref<Vector<T>>;
template <class T>
using ConstVectorRef = Eigen::Ref<const Vector<T>>;

inline void require_shape(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("nnbcd: inconsistent shapes: ") + what);
}

}  // namespace nnbcd
