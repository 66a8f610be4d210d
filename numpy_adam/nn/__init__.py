"""Layers with hand-written backward passes (PyTorch names, NCHW, manual backprop)."""
from .activation import Flatten, ReLU
from .batchnorm import BatchNorm1d, BatchNorm2d
from .conv import Conv2d
from .flat import FlatParameters, Segment, flatten_parameters
from .linear import Linear
from .loss import SoftmaxCrossEntropy
from .module import Module, Parameter, Sequential
from .pooling import MaxPool2d

__all__ = ["Module", "Parameter", "Sequential", "Conv2d", "MaxPool2d", "BatchNorm1d", "BatchNorm2d",
           "Linear", "ReLU", "Flatten", "SoftmaxCrossEntropy", "FlatParameters", "Segment",
           "flatten_parameters"]
