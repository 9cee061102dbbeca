// Python bindings of the core for one scalar type; "suffix" is "32" or "64".
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nnbcd/nnbcd.hpp>

#include "bind_common.hpp"
#include "bind_samples.hpp"

namespace nnbcd::bindings {

// A training run: the C++ state plus the Python arrays it borrows, kept alive here.
template <class T>
struct TrainingState {
  CArray<T> X, Y;
  py::object samples;  // the Samples of a run whose samples are held elsewhere
  std::unique_ptr<Bcd<T>> bcd;
  std::mutex mutex;  // one step at a time, even if Python threads share the object
};

// Cores as numpy arrays of shape (r_{k-1}, n_k, r_k).
template <class T>
py::list tt_cores_to_numpy(const TensorTrain<T>& tt) {
  py::list cores;
  for (Index k = 0; k < tt.order(); ++k) {
    const RowMatrix<T>& c = tt.cores[static_cast<std::size_t>(k)];
    CArray<T> core({tt.rank(k), tt.modes[k], tt.rank(k + 1)});
    std::copy(c.data(), c.data() + c.size(), core.mutable_data());
    cores.append(core);
  }
  return cores;
}

template <class T>
TensorTrain<T> tt_from_numpy(const std::vector<CArray<T>>& cores) {
  if (cores.empty()) throw std::invalid_argument("nnbcd: cores is empty");
  TensorTrain<T> tt;
  Index r_prev = 1;
  for (std::size_t k = 0; k < cores.size(); ++k) {
    const CArray<T>& c = cores[k];
    const std::string name = "nnbcd: cores[" + std::to_string(k) + "]";
    if (c.ndim() != 3) throw std::invalid_argument(name + " must be 3-D (r_prev, n, r_next)");
    if (c.shape(0) != r_prev)
      throw std::invalid_argument(name + " has r_prev = " + std::to_string(c.shape(0)) +
                                  ", the previous core ends with rank " + std::to_string(r_prev));
    if (k + 1 == cores.size() && c.shape(2) != 1)
      throw std::invalid_argument(name + ": the last core must end with rank 1");
    if (c.shape(1) < 1 || c.shape(2) < 1)
      throw std::invalid_argument(name + " has an empty mode or rank");
    tt.modes.push_back(c.shape(1));
    tt.cores.push_back(Eigen::Map<const RowMatrix<T>>(c.data(), c.shape(0) * c.shape(1),
                                                      c.shape(2)));
    r_prev = c.shape(2);
  }
  return tt;
}

template <class T>
Hyperparameters<T> hyperparameters(T gamma, T rho, T alpha, T tau, T tau_growth, T tau_max,
                                   T target_gap, std::vector<T> weight_decay,
                                   Index dense_iterations, bool train_bias,
                                   bool overwrite_weights, bool extrapolation) {
  Hyperparameters<T> h;
  h.gamma = gamma;
  h.rho = rho;
  h.alpha = alpha;
  h.tau = tau;
  h.tau_growth = tau_growth;
  h.tau_max = tau_max;
  h.target_gap = target_gap;
  h.weight_decay = std::move(weight_decay);
  h.dense_iterations = dense_iterations;
  h.train_bias = train_bias;
  h.overwrite_weights = overwrite_weights;
  h.extrapolation = extrapolation;
  return h;
}

template <class T>
void bind_blocks(py::module_& m, const std::string& s) {
  m.def(("output_v" + s).c_str(),
        [](const ConstMatrixRef<T>& Y, const ConstMatrixRef<T>& U, Matrix<T> V, T gamma,
           T alpha) {
          update_output_v<T>(Y, U, V, gamma, alpha);
          return V;
        },
        release_gil());
  m.def(("output_u" + s).c_str(),
        [](const ConstMatrixRef<T>& V, const ConstWeightRef<T>& W, const ConstVectorRef<T>& b,
           const ConstMatrixRef<T>& Vprev, T gamma, T rho) {
          require_shape(W.cols() == Vprev.rows(), "W is d_out x d_in, V_prev d_in x n");
          const Matrix<T> WV = W * Vprev;
          Matrix<T> U(V.rows(), V.cols());
          update_output_u<T>(V, WV, b, U, gamma, rho);
          return U;
        },
        release_gil());
  m.def(("weights" + s).c_str(),
        [](const ConstMatrixRef<T>& U, const ConstMatrixRef<T>& Vprev, RowMatrix<T> W,
           const ConstVectorRef<T>& b, T rho, T alpha, T weight_decay, T tau,
           std::optional<RowMatrix<T>> G) {
          update_weights<T>(centred_weight_sums<T>(U, Vprev, b), W, rho, alpha, weight_decay,
                            tau, G ? &G.value() : nullptr);
          return W;
        },
        release_gil());
  m.def(("bias" + s).c_str(),
        [](const ConstMatrixRef<T>& U, const ConstMatrixRef<T>& Vprev, const ConstWeightRef<T>& W,
           Vector<T> b, T rho, T alpha) {
          update_bias<T>(weight_sums<T>(U, Vprev, b, Vector<T>()), W, b, rho, alpha);
          return b;
        },
        release_gil());
  m.def(("hidden_v" + s).c_str(),
        [](const ConstMatrixRef<T>& U, const ConstMatrixRef<T>& Unext,
           const ConstWeightRef<T>& Wnext, const ConstVectorRef<T>& bnext, T rho, T gamma,
           VUpdateForm form) {
          Matrix<T> V(U.rows(), U.cols());
          update_hidden_v<T>(U, Unext, Wnext, bnext, V, rho, gamma, form);
          return V;
        },
        release_gil());
  m.def(("hidden_u" + s).c_str(),
        [](const ConstMatrixRef<T>& V, const ConstMatrixRef<T>& Vprev, const ConstWeightRef<T>& W,
           const ConstVectorRef<T>& b, Matrix<T> U, T rho, T gamma, T alpha) {
          require_shape(W.cols() == Vprev.rows(), "W is d_out x d_in, V_prev d_in x n");
          const Matrix<T> WV = W * Vprev;
          update_hidden_u<T>(V, WV, b, U, rho, gamma, alpha);
          return U;
        },
        release_gil());
}

template <class T>
void bind_scalar(py::module_& m, const std::string& s) {
  if (!py::hasattr(m, "VUpdateForm"))
    py::enum_<VUpdateForm>(m, "VUpdateForm", py::module_local())
        .value("automatic", VUpdateForm::automatic)
        .value("direct", VUpdateForm::direct)
        .value("woodbury", VUpdateForm::woodbury);
  m.def(("relu_prox" + s).c_str(),
        [](const CArray<T>& a, const CArray<T>& c, T eta, int n_threads) {
          if (a.size() != c.size()) throw std::invalid_argument("nnbcd: a and c differ in size");
          CArray<T> out(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
          const T* pa = a.data();
          const T* pc = c.data();
          T* po = out.mutable_data();
          const Index size = a.size();
          {
            py::gil_scoped_release release;
            ThreadScope scope(n_threads);
            for_column_blocks(size, 1.0, [&](Index begin, Index count) {
              for (Index k = begin; k < begin + count; ++k) po[k] = relu_prox(pa[k], pc[k], eta);
            });
          }
          return out;
        });
  m.def(("magnitude_prune" + s).c_str(), [](const CArray<T>& w, double sparsity) {
    CArray<T> out(std::vector<py::ssize_t>(w.shape(), w.shape() + w.ndim()));
    const T* source = w.data();
    T* target = out.mutable_data();
    const Index size = w.size();
    py::gil_scoped_release release;
    magnitude_prune(source, target, size, sparsity);
    return out;
  });
  m.def(("tt_svd" + s).c_str(),
        [](const CArray<T>& a, Index max_rank, double tol) {
          std::vector<Index> modes(a.shape(), a.shape() + a.ndim());
          TensorTrain<T> tt;
          {
            py::gil_scoped_release release;
            tt = tt_svd(a.data(), modes, max_rank, tol);
          }
          return tt_cores_to_numpy(tt);
        });
  m.def(("im2col" + s).c_str(),
        [](const CArray<T>& images, const ConvGeometry& g) {
          const auto X = columns(images, "images");
          Matrix<T> patches;
          {
            py::gil_scoped_release release;
            im2col<T>(g, X, patches);
          }
          return patches;
        });
  m.def(("tt_to_full" + s).c_str(), [](const std::vector<CArray<T>>& cores) {
    const TensorTrain<T> tt = tt_from_numpy(cores);
    CArray<T> out(std::vector<py::ssize_t>(tt.modes.begin(), tt.modes.end()));
    T* target = out.mutable_data();
    py::gil_scoped_release release;
    tt.to_full(target);
    return out;
  });
  bind_blocks<T>(m, s);

  // module_local: every compiled variant registers the same C++ types.
  py::class_<Mlp<T>>(m, ("Mlp" + s).c_str(), py::module_local())
      .def(py::init<const std::vector<Index>&>())
      .def(py::init([](const std::vector<Index>& sizes, const ConvGeometry& conv) {
             return Mlp<T>(sizes, conv);
           }),
           py::arg("sizes"), py::arg("conv"))
      .def_property_readonly("sizes", &Mlp<T>::sizes)
      .def("weight", [](Mlp<T>& net, Index i) -> RowMatrix<T>& { return net.layer(i).W; },
           py::return_value_policy::reference_internal)
      .def("bias", [](Mlp<T>& net, Index i) -> Vector<T>& { return net.layer(i).b; },
           py::return_value_policy::reference_internal)
      .def("compressed_weight",
           [](Mlp<T>& net, Index i) -> RowMatrix<T>& { return net.layer(i).G; },
           py::return_value_policy::reference_internal)
      .def("set_pruning",
           [](Mlp<T>& net, Index i, double sparsity, bool global) {
             Compression c;
             c.kind = Compression::Kind::pruned;
             c.sparsity = sparsity;
             c.global = global;
             net.set_compression(i, c);
           },
           release_gil())
      .def("set_tensor_train",
           [](Mlp<T>& net, Index i, bool matrix_layout, const std::vector<Index>& modes,
              const std::vector<Index>& row_modes, const std::vector<Index>& col_modes,
              Index rank, double tol, Index initial_rank, Index anneal_iterations) {
             Compression c;
             c.kind = Compression::Kind::tensor_train;
             c.format.layout = matrix_layout ? TtLayout::matrix : TtLayout::reshape;
             c.format.modes = modes;
             c.format.row_modes = row_modes;
             c.format.col_modes = col_modes;
             c.rank = rank;
             c.tol = tol;
             c.initial_rank = initial_rank;
             c.anneal_iterations = anneal_iterations;
             net.set_compression(i, c);
           },
           release_gil())
      .def("tt_cores", [](const Mlp<T>& net, Index i) { return tt_cores_to_numpy(net.layer(i).tt); })
      .def("restore_tensor_train",
           [](Mlp<T>& net, Index i, const std::vector<CArray<T>>& cores) {
             net.layer(i).restore_tensor_train(tt_from_numpy(cores));
           })
      .def("restore_pruned",
           [](Mlp<T>& net, Index i, const CArray<T>& values,
              const CArray<std::int64_t>& column_indices, const CArray<std::int64_t>& row_offsets) {
             Layer<T>& l = net.layer(i);
             if (values.ndim() != 1 || column_indices.ndim() != 1 || row_offsets.ndim() != 1 ||
                 column_indices.size() != values.size() || row_offsets.size() != l.W.rows() + 1)
               throw std::invalid_argument(
                   "nnbcd: CSR arrays must be values (nnz,), column_indices (nnz,) and "
                   "row_offsets (rows + 1,)");
             l.restore_pruned(Csr<T>::from_arrays(l.W.rows(), l.W.cols(), values.data(),
                                                  column_indices.data(), row_offsets.data(),
                                                  values.size()));
           })
      .def("check_global_pruning", &Mlp<T>::check_global_pruning)
      .def("project", [](Mlp<T>& net) { net.project(); }, release_gil())
      .def("product",
           [](const Mlp<T>& net, Index i) {
             switch (net.layer(i).product()) {
               case Product::sparse: return "sparse";
               case Product::tt_factors: return "tt_factors";
               case Product::tt_cores: return "tt_cores";
               default: return "dense";
             }
           })
      .def("forward", &Mlp<T>::forward, py::arg("X"), py::arg("n_threads") = 0, release_gil())
      .def("all_finite", &Mlp<T>::all_finite)
      .def("copy", [](const Mlp<T>& net) { return Mlp<T>(net); }, release_gil())
      .def("assign", &Mlp<T>::assign, py::arg("other"), release_gil());

  bind_samples<T>(m, s);

  py::class_<TrainingState<T>>(m, ("Bcd" + s).c_str(), py::module_local())
      .def(py::init([](Mlp<T>& net, py::object samples, T gamma, T rho, T alpha, T tau,
                       T tau_growth, T tau_max, T target_gap, std::vector<T> weight_decay,
                       Index dense_iterations, bool train_bias, bool overwrite_weights,
                       bool extrapolation, int n_threads) {
             Samples<T>& held = samples.cast<Samples<T>&>();
             auto state = std::make_unique<TrainingState<T>>();
             state->samples = std::move(samples);
             const Hyperparameters<T> h =
                 hyperparameters(gamma, rho, alpha, tau, tau_growth, tau_max, target_gap,
                                 std::move(weight_decay), dense_iterations, train_bias,
                                 overwrite_weights, extrapolation);
             py::gil_scoped_release release;
             state->bcd = std::make_unique<Bcd<T>>(net, held, h, n_threads);
             return state;
           }),
           py::keep_alive<1, 2>(), py::arg("net"), py::arg("samples"), py::arg("gamma"),
           py::arg("rho"), py::arg("alpha"), py::arg("tau"), py::arg("tau_growth"),
           py::arg("tau_max"), py::arg("target_gap"), py::arg("weight_decay"),
           py::arg("dense_iterations"), py::arg("train_bias"), py::arg("overwrite_weights"),
           py::arg("extrapolation"), py::arg("n_threads"))
      .def(py::init([](Mlp<T>& net, CArray<T> X, CArray<T> Y, T gamma, T rho, T alpha, T tau,
                       T tau_growth, T tau_max, T target_gap, std::vector<T> weight_decay,
                       Index dense_iterations, bool train_bias, bool overwrite_weights,
                       bool extrapolation, int n_threads) {
             auto state = std::make_unique<TrainingState<T>>();
             state->X = std::move(X);
             state->Y = std::move(Y);
             const Hyperparameters<T> h =
                 hyperparameters(gamma, rho, alpha, tau, tau_growth, tau_max, target_gap,
                                 std::move(weight_decay), dense_iterations, train_bias,
                                 overwrite_weights, extrapolation);
             const auto x = columns(state->X, "X");
             const auto y = columns(state->Y, "Y");
             py::gil_scoped_release release;
             state->bcd = std::make_unique<Bcd<T>>(net, x, y, h, n_threads);
             return state;
           }),
           py::keep_alive<1, 2>(), py::arg("net"), py::arg("X"), py::arg("Y"), py::arg("gamma"),
           py::arg("rho"), py::arg("alpha"), py::arg("tau"), py::arg("tau_growth"),
           py::arg("tau_max"), py::arg("target_gap"), py::arg("weight_decay"),
           py::arg("dense_iterations"), py::arg("train_bias"), py::arg("overwrite_weights"),
           py::arg("extrapolation"), py::arg("n_threads"))
      .def_property(
          "tau",
          [](TrainingState<T>& s) {
            std::lock_guard<std::mutex> lock(s.mutex);
            return s.bcd->tau();
          },
          [](TrainingState<T>& s, T tau) {
            std::lock_guard<std::mutex> lock(s.mutex);
            s.bcd->set_tau(tau);
          })
      .def_property(
          "weight_decay",
          [](TrainingState<T>& s) {
            std::lock_guard<std::mutex> lock(s.mutex);
            return s.bcd->hyperparameters().weight_decay;
          },
          [](TrainingState<T>& s, std::vector<T> weight_decay) {
            std::lock_guard<std::mutex> lock(s.mutex);
            s.bcd->set_weight_decay(std::move(weight_decay));
          })
      .def_property_readonly("scheduled_tau",
                             [](TrainingState<T>& s) {
                               std::lock_guard<std::mutex> lock(s.mutex);
                               return s.bcd->scheduled_tau();
                             })
      .def("rollback",
           [](TrainingState<T>& s) {
             std::lock_guard<std::mutex> lock(s.mutex);
             s.bcd->rollback();
           },
           release_gil())
      .def("restore",
           [](TrainingState<T>& s, Index iteration, T scheduled_tau, std::vector<Matrix<T>> U,
              std::vector<Matrix<T>> V) {
             py::gil_scoped_release release;
             std::lock_guard<std::mutex> lock(s.mutex);
             s.bcd->restore(iteration, scheduled_tau, std::move(U), std::move(V));
           },
           py::arg("iteration"), py::arg("scheduled_tau"), py::arg("U"), py::arg("V"))
      .def_property_readonly("restarts",
                             [](TrainingState<T>& s) {
                               std::lock_guard<std::mutex> lock(s.mutex);
                               return s.bcd->restarts();
                             })
      .def("extrapolation_state",
           [](TrainingState<T>& s) {
             std::lock_guard<std::mutex> lock(s.mutex);
             const auto& kept = s.bcd->kept_point();
             std::vector<Matrix<T>> W, U, V;
             std::vector<Vector<T>> b;
             for (Index i = 0; i < kept.n_layers(); ++i) {
               W.push_back(kept.layer(i).W);
               b.push_back(kept.layer(i).b);
             }
             if (s.bcd->momentum() > 1)
               for (Index i = 0; i < kept.n_layers(); ++i) {
                 U.push_back(s.bcd->kept_U(i));
                 V.push_back(s.bcd->kept_V(i));
               }
             return py::make_tuple(s.bcd->momentum(), s.bcd->restarts(), W, b, U, V);
           })
      .def("restore_extrapolation",
           [](TrainingState<T>& s, Index momentum, Index restarts, std::vector<Matrix<T>> W,
              std::vector<Vector<T>> b, std::vector<Matrix<T>> U, std::vector<Matrix<T>> V) {
             py::gil_scoped_release release;
             std::lock_guard<std::mutex> lock(s.mutex);
             s.bcd->restore_extrapolation(momentum, restarts, W, b, std::move(U), std::move(V));
           },
           py::arg("momentum"), py::arg("restarts"), py::arg("W"), py::arg("b"), py::arg("U"),
           py::arg("V"))
      .def("restore_schedule",
           [](TrainingState<T>& s, Index iteration, T scheduled_tau) {
             std::lock_guard<std::mutex> lock(s.mutex);
             s.bcd->restore(iteration, scheduled_tau);
           },
           py::arg("iteration"), py::arg("scheduled_tau"))
      .def_property_readonly("iteration",
                             [](TrainingState<T>& s) {
                               std::lock_guard<std::mutex> lock(s.mutex);
                               return s.bcd->iteration();
                             })
      .def("step",
           [](TrainingState<T>& s) {
             std::lock_guard<std::mutex> lock(s.mutex);
             s.bcd->step();
           },
           release_gil())
      .def("objective",
           [](TrainingState<T>& s) {
             Objective o;
             {
               py::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(s.mutex);
               o = s.bcd->objective();
             }
             py::dict d;
             d["total"] = o.total();
             d["loss"] = o.loss;
             d["activation"] = o.activation;
             d["linear"] = o.linear;
             d["compression"] = o.compression;
             d["weight_decay"] = o.weight_decay;
             return d;
           })
      .def("block_seconds",
           [](TrainingState<T>& s) {
             BlockSeconds b;
             {
               std::lock_guard<std::mutex> lock(s.mutex);
               b = s.bcd->block_seconds();
             }
             py::dict d;
             d["V"] = b.v;
             d["U"] = b.u;
             d["W"] = b.w;
             d["G"] = b.g;
             d["snapshot"] = b.snapshot;
             d["objective"] = b.objective;
             d["extrapolation"] = b.extrapolation;
             return d;
           })
      .def("U", [](TrainingState<T>& s, Index i) { return Matrix<T>(s.bcd->U(i)); })
      .def("V", [](TrainingState<T>& s, Index i) { return Matrix<T>(s.bcd->V(i)); });
}

void bind_float(py::module_& m);
void bind_double(py::module_& m);

}  // namespace nnbcd::bindings
