"""Layers with hand-written backward passes (PyTorch names, NCHW, manual backprop).

Three tiers, each tested against the one above it:

    definitions.py              loops straight from the formulas (conv, max-pool, batchnorm)
    conv.py, pooling.py,        the reference layers exported here: plain NumPy, im2col and
    batchnorm.py, linear.py,    one GEMM per conv; the gradient checks and the PyTorch
    activation.py, loss.py      cross-checks run on these
    fast_conv.py, fast_fused.py,  the fast tier: Numba kernels in the channel-major layout,
    fast_kernels.py             used by ``models/cifar_cnn_fast.py`` for training

Shared plumbing: module.py (Module, Parameter), flat.py (one flat parameter buffer),
checks.py (argument checks), im2col.py (NumPy im2col/col2im), threads.py (Numba's
threading layer), lanes.py (the fast tier's own threads, sharing a stage's work).
"""
from .activation import Flatten, ReLU
from .batchnorm import BatchNorm1d, BatchNorm2d
from .conv import Conv2d
from .flat import FlatParameters, Segment, flatten_parameters
from .linear import Linear
from .loss import SoftmaxCrossEntropy
from .module import Module, Parameter, Sequential
from .pooling import MaxPool2d
from .threads import apply_thread_policy

# Process-wide, before any parallel Numba kernel (the optimizer's) first runs; see threads.py.
apply_thread_policy()

__all__ = ["Module", "Parameter", "Sequential", "Conv2d", "MaxPool2d", "BatchNorm1d", "BatchNorm2d",
           "Linear", "ReLU", "Flatten", "SoftmaxCrossEntropy", "FlatParameters", "Segment",
           "flatten_parameters"]
