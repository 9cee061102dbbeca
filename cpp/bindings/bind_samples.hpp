// Bindings for runs whose samples are split into shards: a Shard (what a worker holds), the
// WeightSums it returns, and Samples, which Python subclasses to drive shards held elsewhere.
#pragma once

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nnbcd/denormals.hpp>
#include <nnbcd/mlp.hpp>
#include <nnbcd/samples.hpp>
#include <nnbcd/shard.hpp>
#include <nnbcd/threads.hpp>
#include <nnbcd/weight_sums.hpp>

#include "bind_common.hpp"

namespace nnbcd::bindings {

// A shard plus the Python arrays it borrows, kept alive here.
template <class T>
struct ShardState {
  CArray<T> X, Y;
  std::unique_ptr<Shard<T>> shard;
};

inline InputMoments moments_from(double count, Vector<double> sum, Vector<double> squares) {
  if (!(count > 0) || sum.size() != squares.size())
    throw std::invalid_argument(
        "nnbcd: input moments need count > 0 and sum, squares of the same length");
  InputMoments m;
  m.count = count;
  m.sum = std::move(sum);
  m.squares = std::move(squares);
  return m;
}

// Samples implemented in Python (e.g. shards on Dask workers). The sweep calls these with the
// GIL released; each override takes it back.
template <class T>
class PySamples : public Samples<T> {
 public:
  Index n_samples() const override { PYBIND11_OVERRIDE_PURE(Index, Samples<T>, n_samples, ); }
  WeightSums<T> update_lifted(const Mlp<T>& net, Index i, const Hyperparameters<T>& h,
                              const Vector<T>& centre) override {
    PYBIND11_OVERRIDE_PURE(WeightSums<T>, Samples<T>, update_lifted, &net, i, h.gamma, h.rho,
                           h.alpha, centre);
  }
  InputMoments input_moments(const Mlp<T>& net, Index i) override {
    using Moments = std::tuple<double, Vector<double>, Vector<double>>;
    Moments m = [&]() -> Moments {
      PYBIND11_OVERRIDE_PURE_NAME(Moments, Samples<T>, "input_moments", input_moments, &net, i);
    }();
    return moments_from(std::get<0>(m), std::move(std::get<1>(m)), std::move(std::get<2>(m)));
  }
  ObjectiveSums objective_sums(const Mlp<T>& net) override {
    using Terms = std::tuple<double, double, double>;
    const Terms t = [&]() -> Terms {
      PYBIND11_OVERRIDE_PURE_NAME(Terms, Samples<T>, "objective_sums", objective_sums, &net);
    }();
    return {std::get<0>(t), std::get<1>(t), std::get<2>(t)};
  }
  void parameters_changed(Index i) override {
    PYBIND11_OVERRIDE_PURE(void, Samples<T>, parameters_changed, i);
  }
  void extrapolate(T beta) override {
    PYBIND11_OVERRIDE_PURE(void, Samples<T>, extrapolate, beta);
  }
  void shorten_extrapolation(T fraction) override {
    PYBIND11_OVERRIDE_PURE(void, Samples<T>, shorten_extrapolation, fraction);
  }
};

template <class T>
WeightSums<T> weight_sums_from(Vector<T> centre, double count, Vector<double> input_sum,
                               Matrix<T> input_gram, Matrix<T> cross, Vector<double> unit_sum) {
  const Index d_in = input_sum.size(), d_out = unit_sum.size();
  if ((centre.size() != 0 && centre.size() != d_in) || input_gram.rows() != d_in ||
      input_gram.cols() != d_in || cross.rows() != d_in || cross.cols() != d_out || !(count > 0))
    throw std::invalid_argument(
        "nnbcd: weight sums need count > 0, centre (d_in,) or empty, input_sum (d_in,), "
        "input_gram (d_in, d_in), cross (d_in, d_out) and unit_sum (d_out,)");
  WeightSums<T> sums;
  sums.centre = std::move(centre);
  sums.count = count;
  sums.input_sum = std::move(input_sum);
  sums.input_gram = std::move(input_gram);
  sums.cross = std::move(cross);
  sums.unit_sum = std::move(unit_sum);
  return sums;
}

inline py::tuple objective_terms(const ObjectiveSums& o) {
  return py::make_tuple(o.activation, o.linear, o.loss);
}

template <class T>
void bind_samples(py::module_& m, const std::string& s) {
  using Sums = WeightSums<T>;
  py::class_<Sums>(m, ("WeightSums" + s).c_str(), py::module_local())
      .def(py::init(&weight_sums_from<T>), py::arg("centre"), py::arg("count"),
           py::arg("input_sum"), py::arg("input_gram"), py::arg("cross"), py::arg("unit_sum"))
      .def_readonly("centre", &Sums::centre)
      .def_readonly("count", &Sums::count)
      .def_readonly("input_sum", &Sums::input_sum)
      .def_readonly("input_gram", &Sums::input_gram)
      .def_readonly("cross", &Sums::cross)
      .def_readonly("unit_sum", &Sums::unit_sum)
      .def("__iadd__", [](Sums& a, const Sums& b) -> Sums& { return a += b; }, py::is_operator(),
           release_gil())
      .def("arrays", [](const Sums& a) {
        return py::make_tuple(a.centre, a.count, a.input_sum, a.input_gram, a.cross, a.unit_sum);
      });

  py::class_<Samples<T>, PySamples<T>>(m, ("Samples" + s).c_str(), py::module_local())
      .def(py::init<>());

  using State = ShardState<T>;
  py::class_<State>(m, ("Shard" + s).c_str(), py::module_local())
      .def(py::init([](const Mlp<T>& net, CArray<T> X, CArray<T> Y, int n_threads) {
             auto state = std::make_unique<State>();
             state->X = std::move(X);
             state->Y = std::move(Y);
             const auto x = columns(state->X, "X");
             const auto y = columns(state->Y, "Y");
             py::gil_scoped_release release;
             ThreadScope scope(n_threads);
             FlushDenormals flush;
             state->shard = std::make_unique<Shard<T>>(net, x, y);
             return state;
           }),
           py::arg("net"), py::arg("X"), py::arg("Y"), py::arg("n_threads") = 0)
      .def_property_readonly("n_samples", [](const State& s) { return s.shard->n_samples(); })
      .def("update_lifted",
           [](State& s, const Mlp<T>& net, Index i, T gamma, T rho, T alpha,
              const Vector<T>& centre, int n_threads) {
             ThreadScope scope(n_threads);
             FlushDenormals flush;
             s.shard->update_lifted(net, i, gamma, rho, alpha);
             return s.shard->weight_sums(net, i, centre);
           },
           py::arg("net"), py::arg("i"), py::arg("gamma"), py::arg("rho"), py::arg("alpha"),
           py::arg("centre"), py::arg("n_threads") = 0, release_gil())
      .def("input_moments",
           [](State& s, Index i, int n_threads) {
             InputMoments m;
             {
               py::gil_scoped_release release;
               ThreadScope scope(n_threads);
               FlushDenormals flush;
               m = s.shard->input_moments(i);
             }
             return py::make_tuple(m.count, m.sum, m.squares);
           },
           py::arg("i"), py::arg("n_threads") = 0)
      .def("objective_sums",
           [](State& s, const Mlp<T>& net, int n_threads) {
             ObjectiveSums o;
             {
               py::gil_scoped_release release;
               ThreadScope scope(n_threads);
               FlushDenormals flush;
               o = s.shard->objective_sums(net);
             }
             return objective_terms(o);
           },
           py::arg("net"), py::arg("n_threads") = 0)
      .def("parameters_changed", [](State& s, Index i) { s.shard->parameters_changed(i); })
      .def("extrapolate",
           [](State& s, T beta, int n_threads) {
             ThreadScope scope(n_threads);
             FlushDenormals flush;
             s.shard->extrapolate(beta);
           },
           py::arg("beta"), py::arg("n_threads") = 0, release_gil())
      .def("shorten_extrapolation",
           [](State& s, T fraction, int n_threads) {
             ThreadScope scope(n_threads);
             FlushDenormals flush;
             s.shard->shorten_extrapolation(fraction);
           },
           py::arg("fraction"), py::arg("n_threads") = 0, release_gil())
      .def("restore",
           [](State& s, const Mlp<T>& net, std::vector<Matrix<T>> U, std::vector<Matrix<T>> V) {
             py::gil_scoped_release release;
             s.shard->restore(net, std::move(U), std::move(V));
           })
      .def("U", [](const State& s, Index i) { return Matrix<T>(s.shard->U(i)); })
      .def("V", [](const State& s, Index i) { return Matrix<T>(s.shard->V(i)); });
}

}  // namespace nnbcd::bindings
