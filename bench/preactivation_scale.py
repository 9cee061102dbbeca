"""The RMS of every layer's pre-activations W_i V_{i-1} at the start (before the first
projection) of the suite's tensor-train networks, for each initialisation given: what the
start sets for the whole run (bench/results/init_scale.md).

    python bench/preactivation_scale.py ['[["kaiming_normal", 0.01], ["normal", 0.01]]']
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402

import nnbcd  # noqa: E402
from nnbcd.ops import im2col  # noqa: E402

SAMPLES = 1000


def preactivation_rms(model, X):
    """RMS of W_i V_{i-1} per layer, the convolution's on its patches (nnbcd's own forward
    pass is of the deployed, projected network, so it is redone here from the raw W)."""
    V, rms = X, []
    if isinstance(model, nnbcd.ConvNet):
        V = im2col(X.reshape(-1, *model.input_shape), model.kernel, model.stride)
    for W in model.weights:
        U = V @ W.T
        rms.append(float(np.sqrt(np.mean(U ** 2))))
        V = np.maximum(U, 0).reshape(len(X), -1)  # the feature maps flattened per sample
    return rms


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    inits = json.loads(argv[0]) if argv else [["kaiming_normal", 0.01], ["normal", 0.01],
                                              ["kaiming_normal", 0.1]]
    for name in ("digits-tt", "tt-mlp", "cnn-r40"):
        problem = suite.PROBLEMS[name]
        X = np.asarray(suite.load(problem.data, suite.DEFAULT_MNIST)[0][:SAMPLES], np.float64)
        for init, scale in inits:
            model = suite.network(problem, 0, "float64", init_scale=scale, init=init)
            print(f"{name:10s} {init:15s} {scale:<6g}",
                  " ".join(f"{r:.1e}" for r in preactivation_rms(model, X)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
