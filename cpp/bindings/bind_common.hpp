// What every binding file shares: the numpy array type and the samples-as-columns view.
#pragma once

#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <nnbcd/types.hpp>

namespace nnbcd::bindings {

namespace py = pybind11;
using release_gil = py::call_guard<py::gil_scoped_release>;

template <class T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// (n, d) C-contiguous array viewed as the d x n column-major matrix it already is.
template <class T>
ConstMatrixMap<T> columns(const CArray<T>& a, const char* name) {
  if (a.ndim() != 2) throw std::invalid_argument(std::string("nnbcd: ") + name + " must be 2-D");
  return ConstMatrixMap<T>(a.data(), a.shape(1), a.shape(0));
}

}  // namespace nnbcd::bindings
