"""Which compiled variant of the core is imported (nnbcd/_native.py), and the CPU probe behind it.

That every variant the CPU runs trains like the baseline is
test_training.py::test_every_compiled_cpu_variant_gives_the_same_result.
"""

import os
import platform
import subprocess
import sys

import pytest

from nnbcd import _native
from nnbcd._native import choose_variant

X86_VARIANT_FLAGS = {  # /proc/cpuinfo names of what each variant is compiled for
    "x86_64_v3": {"avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "popcnt"},
}
X86_VARIANT_FLAGS["x86_64_v4"] = X86_VARIANT_FLAGS["x86_64_v3"] | {
    "avx512f", "avx512bw", "avx512dq", "avx512vl"}


def linux_cpu_flags():
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def import_nnbcd_with(forced_variant):
    """Import nnbcd in a fresh interpreter with NNBCD_CPU_VARIANT set."""
    env = dict(os.environ, NNBCD_CPU_VARIANT=forced_variant)
    return subprocess.run([sys.executable, "-c", "import nnbcd; print(nnbcd.cpu_variant)"],
                          env=env, capture_output=True, text=True)


def test_the_first_supported_variant_is_chosen():
    compiled = ["x86_64_v4", "x86_64_v3", "baseline"]
    assert choose_variant(compiled, None, lambda v: True) == "x86_64_v4"
    assert choose_variant(compiled, None, lambda v: v != "x86_64_v4") == "x86_64_v3"
    assert choose_variant(compiled, None, lambda v: v == "baseline") == "baseline"


def test_a_forced_variant_is_chosen_when_the_cpu_runs_it():
    compiled = ["x86_64_v4", "x86_64_v3", "baseline"]
    assert choose_variant(compiled, "baseline", lambda v: True) == "baseline"
    assert choose_variant(compiled, "x86_64_v3", lambda v: v != "x86_64_v4") == "x86_64_v3"


def test_a_forced_variant_the_cpu_cannot_run_is_refused():
    compiled = ["x86_64_v4", "x86_64_v3", "baseline"]
    with pytest.raises(ImportError, match=r"'x86_64_v4'.*does not support.*\['x86_64_v3', "):
        choose_variant(compiled, "x86_64_v4", lambda v: v != "x86_64_v4")


def test_a_forced_variant_that_was_not_compiled_is_refused():
    with pytest.raises(ImportError, match="not one of the compiled variants"):
        choose_variant(["x86_64_v3", "baseline"], "x86_64_v4", lambda v: True)
    refused = import_nnbcd_with("no_such_variant")
    assert refused.returncode != 0
    assert "ImportError: NNBCD_CPU_VARIANT='no_such_variant' is not one of" in refused.stderr


def test_a_native_build_is_imported_without_forcing_it():
    # A -DNNBCD_NATIVE=ON build compiles only "native", which the probe must accept.
    assert _native._probe.cpu_supports("native")
    assert choose_variant(["native"], None, _native._probe.cpu_supports) == "native"


def test_the_probe_refuses_what_it_does_not_know():
    assert _native._probe.cpu_supports("baseline")
    assert not _native._probe.cpu_supports("no_such_variant")


@pytest.mark.skipif(platform.machine() != "x86_64" or not sys.platform.startswith("linux"),
                    reason="compares with Linux's x86-64 /proc/cpuinfo")
def test_the_probe_agrees_with_the_kernel():
    # Linux lists a feature only where the OS has also enabled its registers (XCR0), which the
    # probe checks itself with XGETBV.
    flags = linux_cpu_flags()
    for variant, needed in X86_VARIANT_FLAGS.items():
        assert _native._probe.cpu_supports(variant) == needed.issubset(flags), variant


@pytest.mark.skipif("x86_64_v4" not in _native._compiled, reason="no x86-64 dispatch build")
def test_an_avx512_cpu_gets_the_v4_variant():
    expected = "x86_64_v4" if _native._probe.cpu_supports("x86_64_v4") else "x86_64_v3"
    env = {k: v for k, v in os.environ.items() if k != "NNBCD_CPU_VARIANT"}
    chosen = subprocess.run([sys.executable, "-c", "import nnbcd; print(nnbcd.cpu_variant)"],
                            env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert chosen == expected


def test_forcing_a_compiled_variant_this_cpu_cannot_run_raises_importerror_not_sigill():
    unsupported = [v for v in _native._compiled if not _native._probe.cpu_supports(v)]
    if unsupported:  # a real one: the import must stop before loading its code
        refused = import_nnbcd_with(unsupported[0])
    else:  # this CPU runs them all: make the probe say no to the best one
        best = _native._compiled[0]
        if best == "baseline":
            pytest.skip("only the baseline variant is compiled")
        script = (
            "import importlib, os, sys\n"
            "import nnbcd\n"  # imported with NNBCD_CPU_VARIANT=baseline
            f"os.environ['NNBCD_CPU_VARIANT'] = {best!r}\n"
            f"nnbcd._native._probe.cpu_supports = lambda v: v != {best!r}\n"
            "importlib.reload(nnbcd._native)\n"
        )
        env = dict(os.environ, NNBCD_CPU_VARIANT="baseline")
        refused = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                                 text=True)
    assert refused.returncode == 1, refused.stderr  # an exception, not a signal
    assert "ImportError: NNBCD_CPU_VARIANT=" in refused.stderr
    assert "does not support the instructions" in refused.stderr
