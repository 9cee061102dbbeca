"""Every code snippet of the README runs as written: the Python blocks in order, in one
namespace (later blocks use the data of the first), and the C++ service — its CMakeLists.txt,
its service.cpp and the shell commands that build and run it — against the installed nnbcd."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnbcd

README = Path(__file__).resolve().parents[1] / "README.md"
FENCED = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


TEXT = README.read_text(encoding="utf-8")


def _blocks(language):
    return [m for m in FENCED.finditer(TEXT) if m.group(1) == language]


def test_python_snippets_run_as_written(tmp_path, monkeypatch):
    blocks = _blocks("python")
    assert len(blocks) >= 8, "the README's Python snippets went missing"
    monkeypatch.chdir(tmp_path)  # they write model.safetensors and run.ckpt
    namespace = {"__name__": "__readme__"}
    for k, block in enumerate(blocks):
        line = TEXT[:block.start()].count("\n") + 2
        code = compile("\n" * (line - 1) + block.group(2), str(README), "exec")
        exec(code, namespace)  # a failure's traceback points at the README line
        if k == 0:  # "≈ 0.98", on a split of its own choosing
            assert namespace["clf"].score(namespace["X_test"], namespace["y_test"]) >= 0.95
    # figures the later snippets state in their comments
    assert round(namespace["paper_net"].compression_ratio, 4) == 0.0147
    assert np.count_nonzero(namespace["model"].weights[0]) > 0
    assert nnbcd.load("model.safetensors").sizes == namespace["model"].sizes


@pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")
def test_cpp_service_builds_and_runs_as_written(tmp_path):
    (cmake,), (cpp,) = _blocks("cmake"), _blocks("cpp")
    (tmp_path / "CMakeLists.txt").write_text(cmake.group(2))
    (tmp_path / "service.cpp").write_text(cpp.group(2))
    after = TEXT[cpp.end():]
    commands = re.search(r"\n\n((?:    .*\n)+)", after).group(1)
    commands = [line.strip() for line in commands.splitlines()]
    assert commands[0].startswith("cmake -S . -B build") and "./build/service" in commands[-1]

    model = nnbcd.MLP([12, 16, 16, 3], compression=[
        nnbcd.TensorTrain(2), nnbcd.Pruned(0.5), None], seed=0, dtype="float32")
    model.save(tmp_path / "model.safetensors")
    # `python` in the README's commands is this interpreter
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    first, second = done.stdout.splitlines()
    assert len(first.split(":")[1].split()) == 3  # one output per class
    before, after = (float(x) for x in second.removeprefix("objective ").split(" -> "))
    assert after < before  # five exact BCD sweeps at fixed tau lower the objective
