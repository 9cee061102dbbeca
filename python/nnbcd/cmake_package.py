"""Where the C++ package (``find_package(nnbcd CONFIG)``) installed with the wheel lives."""

from pathlib import Path

from . import __path__ as _package_path
from ._eigen_prefix import cmeel_eigen_prefix


def cmake_dir():
    """The directory holding ``nnbcdConfig.cmake`` (like ``pybind11 --cmakedir``)."""
    # every folder of the package: an editable install keeps the built files (the C++ package
    # among them) in site-packages and the Python sources in the checkout
    candidates = [Path(p).resolve() / "share" / "cmake" / "nnbcd" for p in _package_path]
    for path in candidates:
        if (path / "nnbcdConfig.cmake").is_file():
            return path
    raise FileNotFoundError(f"no nnbcdConfig.cmake under {' or '.join(map(str, candidates))}: "
                            "this nnbcd was installed without its C++ package")


def cmake_prefix_path():
    """CMAKE_PREFIX_PATH entries that find nnbcd and, when the cmeel-eigen wheel is installed,
    the Eigen headers it needs."""
    paths = [cmake_dir().parents[2]]
    eigen_prefix = cmeel_eigen_prefix()
    if eigen_prefix is not None:
        paths.append(eigen_prefix)
    return [str(p) for p in paths]
