// One compiled variant of the extension. The build compiles this module once per instruction
// set (NNBCD_VARIANT); nnbcd/_native.py imports the best one the CPU can run.
#include <string>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

#include "bind_scalar.hpp"

#define NNBCD_STRINGIFY_(...) #__VA_ARGS__
#define NNBCD_STRINGIFY(...) NNBCD_STRINGIFY_(__VA_ARGS__)

namespace {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
struct CpuidRegisters {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegisters cpuid(unsigned leaf, unsigned subleaf = 0) {
  CpuidRegisters r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return {};
  return r;
}

bool has_bits(unsigned reg, unsigned mask) { return (reg & mask) == mask; }

// The register state the OS saves on a context switch (XCR0). Inline asm rather than _xgetbv,
// which would need -mxsave in the baseline build; only valid once CPUID reports OSXSAVE.
unsigned long long os_enabled_state() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

constexpr unsigned long long kXmmYmmState = 0x6;    // XCR0 bits 1, 2: SSE and AVX registers
constexpr unsigned long long kAvx512State = 0xE6;   // plus bits 5-7: opmask, ZMM 0-15, ZMM 16-31

bool supports_x86_64_v3() {
  const CpuidRegisters leaf1 = cpuid(1);
  const CpuidRegisters leaf7 = cpuid(7);
  const bool avx_fma_f16c_popcnt = has_bits(leaf1.ecx, bit_AVX | bit_FMA | bit_F16C | bit_POPCNT);
  const bool avx2_bmi = has_bits(leaf7.ebx, bit_AVX2 | bit_BMI | bit_BMI2);
  return avx_fma_f16c_popcnt && avx2_bmi && has_bits(leaf1.ecx, bit_OSXSAVE) &&
         has_bits(os_enabled_state(), kXmmYmmState);
}

bool supports_x86_64_v4() {
  const CpuidRegisters leaf7 = cpuid(7);
  return supports_x86_64_v3() &&
         has_bits(leaf7.ebx, bit_AVX512F | bit_AVX512BW | bit_AVX512DQ | bit_AVX512VL) &&
         has_bits(os_enabled_state(), kAvx512State);
}
#endif

bool cpu_supports(const std::string& variant) {
  // A native build is only ever run where it was built (CMakeLists.txt, NNBCD_NATIVE).
  if (variant == "baseline" || variant == "native") return true;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (variant == "x86_64_v3") return supports_x86_64_v3();
  if (variant == "x86_64_v4") return supports_x86_64_v4();
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
