"""The main job: ``python -m nnbcd train``."""

import re
import subprocess
import sys


def test_train_on_digits_prints_progress_and_accuracy():
    result = subprocess.run(
        [sys.executable, "-m", "nnbcd", "train", "--iterations", "30", "--threads", "1"],
        capture_output=True, text=True, check=True, timeout=300)
    lines = result.stdout.splitlines()
    progress = [line for line in lines if line.startswith("iter ")]
    assert len(progress) == 30
    assert re.search(r"objective \S+ +train 0\.\d{4} +validation 0\.\d{4} +\d+\.\d+ s", progress[-1])
    final = re.search(r"final test accuracy (\d\.\d+)", lines[-1])
    assert final and float(final.group(1)) > 0.9
