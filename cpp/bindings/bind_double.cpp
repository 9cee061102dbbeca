#include "bind_scalar.hpp"

void nnbcd::bindings::bind_double(py::module_& m) { bind_scalar<double>(m, "64"); }
