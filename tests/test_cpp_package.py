"""The C++ package as a service uses it: cpp/examples/predict and a concurrency check, built
with CMake against the installed nnbcd (find_package), agree with Python on saved models."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnbcd

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    build = tmp_path_factory.mktemp("cpp-build")
    prefix = subprocess.run([sys.executable, "-m", "nnbcd", "cmake-prefix-path"], check=True,
                            capture_output=True, text=True).stdout.strip()
    for command in (["cmake", "-S", str(HERE / "cpp"), "-B", str(build),
                     f"-DCMAKE_PREFIX_PATH={prefix}"],
                    ["cmake", "--build", str(build), "-j", "2"]):
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    return {"predict": build / "examples" / "predict",
            "concurrent": build / "concurrent_inference", "split": build / "split_training"}


def _models():
    rng = np.random.default_rng(0)
    yield "tt", nnbcd.MLP([16, 16, 8, 3], compression=[
        nnbcd.TensorTrain(3, shape=(4, 4, 4, 4)), nnbcd.TensorTrain(2, layout="matrix"), None],
        seed=1, dtype="float32"), rng.standard_normal((30, 16))
    yield "pruned", nnbcd.MLP([10, 12, 8, 3], compression=[
        nnbcd.Pruned(0.7), nnbcd.Pruned(0.5), None], seed=2, dtype="float64"), \
        rng.standard_normal((30, 10))
    yield "convnet", nnbcd.ConvNet(input_shape=(6, 6, 2), filters=3, kernel=3, stride=1,
                                   hidden=(16,), n_classes=3, compression=[
                                       None, nnbcd.TensorTrain(3, shape=(4, 4, 4, 4, 3)), None],
                                   seed=3, dtype="float32"), rng.standard_normal((30, 72))


@pytest.mark.parametrize("kind", ["tt", "pruned", "convnet"])
def test_predict_agrees_with_python(programs, kind, tmp_path):
    _, model, X = next(m for m in _models() if m[0] == kind)
    nnbcd.BCD().fit(model, X, np.arange(len(X)) % 3, 3)
    model.save(tmp_path / "model.safetensors")
    np.savetxt(tmp_path / "samples.txt", X, fmt="%.17g")
    done = subprocess.run([str(programs["predict"]), str(tmp_path / "model.safetensors"),
                           str(tmp_path / "samples.txt")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    outputs = np.array([[float(x) for x in line[1].split()] for line in lines])
    expected = model.decision_function(X)
    tol = 1e-4 if model.dtype == np.float32 else 1e-7  # predict prints 9 digits
    np.testing.assert_allclose(outputs, expected, rtol=tol, atol=tol)
    np.testing.assert_array_equal([int(line[0]) for line in lines], outputs.argmax(axis=1))


def test_concurrent_inference_is_identical_to_one_thread(programs, tmp_path):
    for kind, model, _ in _models():
        model.save(tmp_path / f"{kind}.safetensors")
        done = subprocess.run([str(programs["concurrent"]), str(tmp_path / f"{kind}.safetensors"),
                               "8"], capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.strip() == "identical", done.stdout + \
            done.stderr


@pytest.mark.parametrize("ranks", [1, 3])
def test_a_run_split_over_ranks_with_a_reduction_equals_one_process(programs, ranks):
    # The C++ service's view of #19: each rank a ShardSamples with a summing Reduction.
    done = subprocess.run([str(programs["split"]), str(ranks)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "same", done.stdout + done.stderr


def test_predict_refuses_a_corrupt_file_cleanly(programs, tmp_path):
    _, model, X = next(_models())
    model.save(tmp_path / "model.safetensors")
    data = bytearray((tmp_path / "model.safetensors").read_bytes())
    for name, corrupt in [("truncated", data[:len(data) // 2]),
                          ("flipped", data[:-3] + bytes([data[-3] ^ 4]) + data[-2:])]:
        (tmp_path / name).write_bytes(bytes(corrupt))
        done = subprocess.run([str(programs["predict"]), str(tmp_path / name), "-"],
                              input="0 " * 16, capture_output=True, text=True)
        assert done.returncode == 1 and done.stderr.startswith("error:"), done.stderr
        assert done.stdout == ""
