#include "bind_scalar.hpp"

void nnbcd::bindings::bind_float(py::module_& m) { bind_scalar<float>(m, "32"); }
