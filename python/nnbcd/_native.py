"""Import the fastest compiled variant of the C++ core this CPU can run.

The wheel carries one extension per instruction set (see CMakeLists.txt), best first:
``x86_64_v4`` (AVX-512), ``x86_64_v3`` (AVX2/FMA), ``baseline``; a ``-DNNBCD_NATIVE=ON`` build
carries only ``native``. Set the environment variable ``NNBCD_CPU_VARIANT`` (e.g.
``baseline``) to force one.
"""

import importlib
import os

try:
    from . import _core_baseline as _probe  # runs on any CPU, so it can ask which others do
except ImportError:  # a -DNNBCD_NATIVE=ON build carries only _core_native
    from . import _core_native as _probe


def choose_variant(compiled, forced, cpu_supports):
    """The variant to import: ``forced`` if given, else the first of ``compiled`` (best first)
    that ``cpu_supports``. Raises ImportError rather than import code the CPU cannot run."""
    if forced is not None:
        if forced not in compiled:
            raise ImportError(
                f"NNBCD_CPU_VARIANT={forced!r} is not one of the compiled variants {compiled}"
            )
        if not cpu_supports(forced):
            raise ImportError(
                f"NNBCD_CPU_VARIANT={forced!r}: this CPU (or its OS) does not support the "
                f"instructions that variant was compiled for; unset it or choose one of "
                f"{[v for v in compiled if cpu_supports(v)]}"
            )
        return forced
    for variant in compiled:
        if cpu_supports(variant):
            return variant
    raise ImportError(f"none of the compiled variants {compiled} runs on this CPU")


_compiled = _probe.variants.split(",")
_variant = choose_variant(_compiled, os.environ.get("NNBCD_CPU_VARIANT"), _probe.cpu_supports)
core = importlib.import_module(f"nnbcd._core_{_variant}")
cpu_variant = core.variant
DivergenceError = core.DivergenceError
