"""nnbcd: train compressed neural networks with gradient-free block coordinate descent."""

from . import blocks, datasets, ops
from ._native import DivergenceError, cpu_variant
from .bcd import BCD
from .training_state import TrainingState
from .callbacks import EarlyStopping
from .classifier import NNBCDClassifier
from .compression import Pruned, TensorTrain
from .convnet import ConvNet
from .history import History
from .mlp import MLP
from .model_file import ModelFileError, load
from .regressor import NNBCDRegressor
from ._version import __version__


__all__ = ["BCD", "EarlyStopping", "ConvNet", "MLP", "History", "NNBCDClassifier", "NNBCDRegressor", "Pruned",
           "TensorTrain", "TrainingState", "DivergenceError", "ModelFileError", "load", "blocks",
           "datasets", "ops", "cpu_variant", "__version__"]
