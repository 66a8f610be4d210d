"""The backward contract every layer, fast stage, the loss and both models share.

    forward(x) caches what backward needs; backward(dy) consumes that cache.
    * backward before any forward raises RuntimeError "<Class>.backward called without a
      preceding forward";
    * a second backward for one forward raises the same error ("... or twice for one forward");
    * dy must have the forward output's shape (ValueError) and dtype (TypeError), both
      naming the class; a rejected dy leaves the cache, so a correct dy still works.

The loss's backward takes no dy (it is the end of the graph): only the first two rules
apply to it. Every case runs in float64, so a float32 dy is the wrong dtype.
"""
from typing import Callable, NamedTuple

import numpy as np
import pytest

from numpy_adam.models.cifar_cnn import CifarCNN
from numpy_adam.models.cifar_cnn_fast import FastCifarCNN
from numpy_adam.nn.activation import Flatten, ReLU
from numpy_adam.nn.batchnorm import BatchNorm1d, BatchNorm2d
from numpy_adam.nn.conv import Conv2d
from numpy_adam.nn.fast_conv import ChannelMajorConv2d
from numpy_adam.nn.fast_fused import BatchNormReLUMaxPool
from numpy_adam.nn.linear import Linear
from numpy_adam.nn.loss import SoftmaxCrossEntropy
from numpy_adam.nn.pooling import MaxPool2d

F64 = np.float64


class Case(NamedTuple):
    name: str                                # the class name the messages carry
    forward: Callable[[], object]            # one forward on a fixed float64 input
    backward: Callable[[np.ndarray], object]


def _normal(*shape):
    return np.random.default_rng(sum(shape)).standard_normal(shape)


def _conv():
    return Conv2d(3, 2, 3, rng=np.random.default_rng(0), dtype=F64)


def _module(make, x):
    def build():
        layer = make()
        return Case(type(layer).__name__, lambda: layer.forward(x), layer.backward)
    return build


def _loss():
    loss = SoftmaxCrossEntropy()
    return Case("SoftmaxCrossEntropy", lambda: loss.forward(_normal(4, 10), np.arange(4)),
                lambda dy: loss.backward())


def _tiny_model(cls):
    return lambda: cls(channels=(2, 3), hidden=4, rng=np.random.default_rng(0), dtype=F64,
                       image_size=8)


CASES = {
    "Conv2d": _module(_conv, _normal(2, 3, 5, 5)),
    "MaxPool2d": _module(lambda: MaxPool2d(2), _normal(2, 3, 4, 5)),
    "BatchNorm2d": _module(lambda: BatchNorm2d(3, dtype=F64), _normal(2, 3, 4, 4)),
    "BatchNorm1d": _module(lambda: BatchNorm1d(3, dtype=F64), _normal(4, 3)),
    "Linear": _module(lambda: Linear(3, 2, rng=np.random.default_rng(0), dtype=F64), _normal(4, 3)),
    "ReLU": _module(ReLU, _normal(4, 3)),
    "Flatten": _module(Flatten, _normal(2, 3, 2, 2)),
    "ChannelMajorConv2d": _module(lambda: ChannelMajorConv2d(_conv()), _normal(3, 2, 5, 5)),
    "BatchNormReLUMaxPool": _module(
        lambda: BatchNormReLUMaxPool(BatchNorm2d(3, dtype=F64), MaxPool2d(2)), _normal(3, 2, 4, 4)),
    "SoftmaxCrossEntropy": _loss,
    "CifarCNN": _module(_tiny_model(CifarCNN), _normal(2, 3, 8, 8)),
    "FastCifarCNN": _module(_tiny_model(FastCifarCNN), _normal(2, 3, 8, 8)),
}
WITH_DY = [name for name in CASES if name != "SoftmaxCrossEntropy"]

def re_shape(shape):
    """A shape as it appears in a message, escaped for a regular expression."""
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("case", CASES)
def test_backward_before_forward_raises(case):
    c = CASES[case]()
    with pytest.raises(RuntimeError, match=rf"^{c.name}\.backward called without a preceding forward"):
        c.backward(np.zeros(1))


@pytest.mark.parametrize("case", CASES)
def test_backward_twice_for_one_forward_raises(case):
    c = CASES[case]()
    y = np.asarray(c.forward())
    c.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match=rf"^{c.name}\.backward called without a preceding "
                                           r"forward \(or twice for one forward\)"):
        c.backward(np.ones_like(y))


@pytest.mark.parametrize("case", WITH_DY)
def test_dy_of_the_wrong_shape_raises_and_keeps_the_cache(case):
    c = CASES[case]()
    y = c.forward()
    wrong = np.zeros(y.shape[:-1] + (y.shape[-1] + 1,))
    with pytest.raises(ValueError, match=rf"^{c.name}\.backward: dy has shape {re_shape(wrong.shape)}, "
                                         rf"expected the forward output shape {re_shape(y.shape)}"):
        c.backward(wrong)
    c.backward(np.ones_like(y))  # the forward's cache survived the rejected dy


@pytest.mark.parametrize("case", WITH_DY)
def test_dy_of_the_wrong_dtype_raises_and_keeps_the_cache(case):
    c = CASES[case]()
    y = c.forward()
    assert y.dtype == F64, y.dtype
    with pytest.raises(TypeError, match=rf"^{c.name}\.backward: dy has dtype float32, expected the "
                                        "forward output dtype float64"):
        c.backward(np.ones(y.shape, np.float32))
    c.backward(np.ones_like(y))
