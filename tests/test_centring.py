"""Folding an input centre into the first layer: the network then gives on X what it gave on
X − c, for every kind of first layer."""

import numpy as np
import pytest

import nnbcd
from nnbcd.centring import fold_centre, input_centre


def networks():
    yield nnbcd.MLP([12, 16, 3], compression=[nnbcd.TensorTrain(2), None], dtype="float64")
    yield nnbcd.MLP([12, 16, 3], compression=[nnbcd.Pruned(0.7), None], dtype="float64")
    yield nnbcd.ConvNet(input_shape=(5, 4, 3), filters=4, kernel=2, stride=1, hidden=(8,),
                        n_classes=3, dtype="float64")


@pytest.mark.parametrize("model", list(networks()), ids=["tt", "pruned", "convnet"])
def test_folded_centre_gives_the_outputs_on_centred_inputs(model):
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, (40, model.sizes[0])) + rng.normal(0, 5, model.sizes[0])
    for b in model.biases:
        b[...] = rng.normal(size=b.shape)
    centre = input_centre(model, X)
    on_centred = model.decision_function(X - centre)
    fold_centre(model, centre)
    np.testing.assert_allclose(model.decision_function(X), on_centred, rtol=1e-10, atol=1e-10)


def test_centre_is_per_feature_for_an_mlp_and_per_channel_for_a_convnet():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 60)) + np.arange(60)
    mlp = nnbcd.MLP([60, 4, 2])
    np.testing.assert_allclose(input_centre(mlp, X), X.mean(axis=0))
    conv = nnbcd.ConvNet(input_shape=(5, 4, 3), filters=2, kernel=2, stride=1, hidden=(4,),
                         n_classes=2)
    channel_means = X.reshape(30, 20, 3).mean(axis=(0, 1))
    np.testing.assert_allclose(input_centre(conv, X), np.tile(channel_means, 20))
