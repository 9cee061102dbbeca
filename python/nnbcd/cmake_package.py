"""Where the C++ package (``find_package(nnbcd CONFIG)``) installed with the wheel lives."""

import sysconfig
from pathlib import Path


def cmake_dir():
    """The directory holding ``nnbcdConfig.cmake`` (like ``pybind11 --cmakedir``)."""
    path = Path(__file__).resolve().parent / "share" / "cmake" / "nnbcd"
    if not (path / "nnbcdConfig.cmake").is_file():
        raise FileNotFoundError(f"no nnbcdConfig.cmake under {path}: this nnbcd was installed "
                                "without its C++ package")
    return path


def cmake_prefix_path():
    """CMAKE_PREFIX_PATH entries that find nnbcd and, when the cmeel-eigen wheel is installed,
    the Eigen headers it needs."""
    paths = [cmake_dir().parents[2]]
    eigen_prefix = Path(sysconfig.get_paths()["purelib"]) / "cmeel.prefix"
    if (eigen_prefix / "share" / "eigen3" / "cmake").is_dir():
        paths.append(eigen_prefix)
    return [str(p) for p in paths]
