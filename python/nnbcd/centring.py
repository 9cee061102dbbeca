"""Training on centred inputs, then folding the centre into the first layer's bias, so that the
trained network takes the inputs as they came.

Centring is what projected BCD needs from its inputs (``nnbcd.recipes``), and unlike a
per-feature scale it folds exactly into any first layer, compressed or not:
G_1 (x − c) + b_1 = G_1 x + (b_1 − G_1 c). A convolution is centred per channel (a per-pixel
centre would not fold into one bias per filter; without padding a constant channel value
gives the same patch everywhere).
"""

import numpy as np

from .convnet import ConvNet


def input_centre(model, X):
    """The centre, one value per input feature, that ``model`` is to be trained on ``X`` minus:
    each feature's mean, or for a ``ConvNet`` each channel's mean over its pixels."""
    X = np.asarray(X, dtype=np.float64)
    if isinstance(model, ConvNet):
        channels = model.input_shape[-1]
        per_channel = X.reshape(len(X), -1, channels).mean(axis=(0, 1))
        return np.tile(per_channel, X.shape[1] // channels)
    return X.mean(axis=0)


def fold_centre(model, centre):
    """Make ``model``, trained on inputs minus ``centre`` (``input_centre``), give the same
    outputs on the inputs themselves: b_1 <- b_1 − G_1 c with the deployed first weight."""
    centre = np.asarray(centre, dtype=np.float64)
    if isinstance(model, ConvNet):  # the first layer sees patches (kernel, kernel, channels)
        channels = model.input_shape[-1]
        centre = np.tile(centre[:channels], model.kernel * model.kernel)
    W = model.deployed_weights[0].astype(np.float64)
    bias = model.biases[0]
    bias[...] = (bias.astype(np.float64) - W @ centre).astype(bias.dtype)
