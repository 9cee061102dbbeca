"""Import the fastest compiled variant of the C++ core this CPU can run.

The wheel carries one extension per instruction set (see CMakeLists.txt). Set the environment
variable ``NNBCD_CPU_VARIANT`` (e.g. ``baseline``) to force one.
"""

import importlib
import os

try:
    from . import _core_baseline as _probe
except ImportError:  # a -DNNBCD_NATIVE=ON build carries only _core_native
    from . import _core_native as _probe

_forced = os.environ.get("NNBCD_CPU_VARIANT")
_compiled = _probe.variants.split(",")
if _forced is not None and _forced not in _compiled:
    raise ImportError(
        f"NNBCD_CPU_VARIANT={_forced!r} is not one of the compiled variants {_compiled}"
    )
_variant = _forced or next(v for v in _compiled if _probe.cpu_supports(v))
core = importlib.import_module(f"nnbcd._core_{_variant}")
cpu_variant = core.variant
DivergenceError = core.DivergenceError
