"""Print the prefix of the cmeel-eigen wheel visible to this interpreter, or nothing.

Run as a script by CMakeLists.txt with the Python that runs the build, so that pip's isolated
build environment (found only through this interpreter's sys.path) is searched, not just the
target's site-packages; imported by ``nnbcd.cmake_package`` for C++ users. It imports nothing
from nnbcd: the build runs it before nnbcd exists.
"""

import importlib.metadata
from pathlib import Path


def cmeel_eigen_prefix():
    try:
        distribution = importlib.metadata.distribution("cmeel-eigen")
    except importlib.metadata.PackageNotFoundError:
        return None
    prefix = Path(distribution.locate_file("cmeel.prefix"))
    return prefix if (prefix / "share" / "eigen3" / "cmake").is_dir() else None


if __name__ == "__main__":
    prefix = cmeel_eigen_prefix()
    if prefix is not None:
        print(prefix.resolve())
