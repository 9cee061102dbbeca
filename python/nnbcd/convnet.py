"""A convolutional network: one convolution, then fully connected layers (the paper's CNN)."""

import numpy as np

from . import _validation as v
from ._native import core
from .mlp import MLP, check_sizes
from .model_file import register


@register
class ConvNet(MLP):
    """A ReLU convolution (``filters`` filters of ``kernel`` × ``kernel``, ``stride``, no
    padding), then fully connected ReLU layers of widths ``hidden``, then a linear output of
    ``n_classes``. Trained by ``nnbcd.BCD`` like an ``MLP``: the convolution's block updates
    work on the image patches (im2col), and its filter update is a k²C × k²C system.

    Parameters
    ----------
    input_shape : (height, width, channels)
        Images are HWC. ``X`` may be (n, height, width, channels), (n, height, width) for one
        channel, or flattened to (n, height · width · channels) in that order.
    filters, kernel, stride : int
    hidden : sequence of int
        Widths of the fully connected hidden layers. The first one sees the feature maps
        flattened HWC: (out_height, out_width, filters).
    n_classes : int
    compression : None or list
        One spec per layer, the convolution first (None, ``nnbcd.Pruned`` or
        ``nnbcd.TensorTrain``); the convolution's weight matrix is (filters, k²C).
    init, init_scale, seed, dtype
        As for ``MLP``; the filters' fan-in is k²C. The filters have one bias each.
    """

    def __init__(self, input_shape=(28, 28, 1), filters=32, kernel=3, stride=2,
                 hidden=(1024, 1024), n_classes=10, compression=None, init="kaiming_normal",
                 init_scale=1.0, seed=0, dtype="float32"):
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
            raise ValueError("input_shape must be (height, width, channels), got "
                             f"{input_shape!r}")
        self.input_shape = tuple(v.check_int("input_shape", s, 1) for s in input_shape)
        self.filters = v.check_int("filters", filters, 1)
        self.kernel = v.check_int("kernel", kernel, 1)
        self.stride = v.check_int("stride", stride, 1)
        if not isinstance(hidden, (tuple, list)):
            raise TypeError(f"hidden must be a sequence of layer widths, got {hidden!r}")
        self.hidden = tuple(check_sizes([1, *hidden, 1])[1:-1])
        self.n_classes = v.check_int("n_classes", n_classes, 1)
        height, width, channels = self.input_shape
        self._geometry = core.ConvGeometry(height, width, channels, self.filters, self.kernel,
                                           self.stride)
        sizes = [self._geometry.input_size, self._geometry.output_size, *self.hidden,
                 self.n_classes]
        self._build(sizes, compression, init, init_scale, seed, dtype, self._geometry)

    @property
    def feature_map_shape(self):
        """(out_height, out_width, filters): the convolution's output, before flattening."""
        return (self._geometry.out_height, self._geometry.out_width, self.filters)

    def check_input(self, X, name="X"):
        """``X`` as flattened HWC images, (n_samples, H*W*C), from (n, H, W, C), (n, H, W)
        (one channel) or (n, H*W*C); ``ValueError`` naming ``name`` otherwise."""
        X = np.asarray(X)
        height, width, channels = self.input_shape
        images = (height, width, channels) if channels > 1 or X.ndim == 4 else (height, width)
        if X.ndim > 2:
            if X.shape[1:] != images:
                raise ValueError(f"{name} holds images of shape {X.shape[1:]}, but the network "
                                 f"expects {self.input_shape} (height, width, channels)")
            X = X.reshape(X.shape[0], -1)
        return super().check_input(X, name)

    def training_bytes(self, n_samples):
        """As for ``MLP``, plus the image patches BCD keeps: k²C × (n · positions)."""
        positions = self._geometry.out_height * self._geometry.out_width
        patches = self._geometry.patch_size * positions * n_samples * self.dtype.itemsize
        return super().training_bytes(n_samples) + patches

    def _connectivity(self, deployed):
        # The convolution's unit (position, filter) is fed when the filter has a non-zero.
        positions = self._geometry.out_height * self._geometry.out_width
        fed = np.tile((deployed[0] != 0).any(axis=1), positions)[:, None]
        return [fed] + super()._connectivity(deployed[1:])

    def _live_weights(self, i, W, alive):
        if i > 0:
            return super()._live_weights(i, W, alive)
        live_filters = alive[1].reshape(-1, self.filters).any(axis=0)
        return (W != 0) & live_filters[:, None]

    def _conv_metadata(self):
        return {"input_shape": list(self.input_shape), "filters": self.filters,
                "kernel": self.kernel, "stride": self.stride}

    @classmethod
    def _from_metadata(cls, meta, sizes, common):
        conv = meta["conv"]
        return cls(tuple(conv["input_shape"]), conv["filters"], conv["kernel"], conv["stride"],
                   tuple(sizes[2:-1]), sizes[-1], **common)

    def __repr__(self):
        return (f"ConvNet(input_shape={self.input_shape}, filters={self.filters}, "
                f"kernel={self.kernel}, stride={self.stride}, hidden={self.hidden}, "
                f"n_classes={self.n_classes}, dtype={self.dtype.name!r})")
