// One compiled variant of the extension. The build compiles this module once per instruction
// set (NNBCD_VARIANT); nnbcd/_native.py imports the best one the CPU can run.
#include <string>

#include "bind_scalar.hpp"

#define NNBCD_STRINGIFY_(...) #__VA_ARGS__
#define NNBCD_STRINGIFY(...) NNBCD_STRINGIFY_(__VA_ARGS__)

namespace {

bool cpu_supports(const std::string& variant) {
  if (variant == "baseline") return true;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (variant == "x86_64_v3")
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
           __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("popcnt");
#endif
  return false;
}

}  // namespace

PYBIND11_MODULE(NNBCD_MODULE_NAME, m) {
  namespace py = pybind11;
  m.doc() = "nnbcd C++ core (" NNBCD_STRINGIFY(NNBCD_VARIANT) " build)";
  m.attr("variant") = NNBCD_STRINGIFY(NNBCD_VARIANT);
  m.attr("variants") = NNBCD_STRINGIFY(NNBCD_VARIANTS);  // compiled, best first, comma-separated
#ifdef _OPENMP
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif
  m.def("cpu_supports", &cpu_supports, py::arg("variant"));
  m.def("max_threads", [](int n_threads) { return nnbcd::resolve_threads(n_threads); },
        py::arg("n_threads") = 0);
  m.def("usable_cores", &nnbcd::usable_cores);
  m.def("cgroup_cpu_quota", &nnbcd::cgroup_cpu_quota, py::arg("root"));
  m.def(
      "default_tt_shape",
      [](bool matrix_layout, nnbcd::Index d_out, nnbcd::Index d_in) -> py::object {
        const auto f = nnbcd::TtFormat::default_for(
            matrix_layout ? nnbcd::TtLayout::matrix : nnbcd::TtLayout::reshape, d_out, d_in);
        if (!matrix_layout) return py::tuple(py::cast(f.modes));
        return py::make_tuple(py::tuple(py::cast(f.row_modes)), py::tuple(py::cast(f.col_modes)));
      },
      py::arg("matrix_layout"), py::arg("d_out"), py::arg("d_in"));
  py::class_<nnbcd::ConvGeometry>(m, "ConvGeometry", py::module_local())
      .def(py::init([](nnbcd::Index height, nnbcd::Index width, nnbcd::Index channels,
                       nnbcd::Index filters, nnbcd::Index kernel, nnbcd::Index stride) {
             nnbcd::ConvGeometry g{height, width, channels, filters, kernel, stride};
             g.validate();
             return g;
           }),
           py::arg("height"), py::arg("width"), py::arg("channels"), py::arg("filters"),
           py::arg("kernel"), py::arg("stride"))
      .def_property_readonly("out_height", &nnbcd::ConvGeometry::out_height)
      .def_property_readonly("out_width", &nnbcd::ConvGeometry::out_width)
      .def_property_readonly("patch_size", &nnbcd::ConvGeometry::patch_size)
      .def_property_readonly("input_size", &nnbcd::ConvGeometry::input_size)
      .def_property_readonly("output_size", &nnbcd::ConvGeometry::output_size);
  py::register_local_exception<nnbcd::DivergenceError>(m, "DivergenceError", PyExc_FloatingPointError);
  nnbcd::bindings::bind_float(m);
  nnbcd::bindings::bind_double(m);
}
