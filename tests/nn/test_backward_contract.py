"""The backward contract every layer shares (checks.forward_cache, check_grad_output):
backward before forward, a dy of the wrong shape, and a second backward for one forward are
each refused with a message naming the layer."""
import numpy as np
import pytest

from numpy_adam.nn.conv import Conv2d
from numpy_adam.nn.pooling import MaxPool2d

LAYERS = [  # (name, factory, input x, a dy of the wrong shape, the message for it)
    ("Conv2d",
     lambda: Conv2d(3, 2, 3, rng=np.random.default_rng(0), dtype=np.float64),
     np.zeros((1, 3, 5, 5)), np.zeros((1, 2, 3, 4)),
     r"dy has shape \(1, 2, 3, 4\), expected the forward output shape \(1, 2, 3, 3\)"),
    ("MaxPool2d", lambda: MaxPool2d(2), np.zeros((1, 1, 4, 5)), np.zeros((1, 1, 2, 3)),
     r"dy has shape \(1, 1, 2, 3\), expected the forward output shape \(1, 1, 2, 2\)"),
]


@pytest.mark.parametrize("name, make, x, wrong_dy, wrong_match", LAYERS, ids=[l[0] for l in LAYERS])
def test_backward_before_forward_and_twice_and_wrong_dy(name, make, x, wrong_dy, wrong_match):
    layer = make()
    with pytest.raises(RuntimeError, match=rf"{name}.backward called without a preceding forward"):
        layer.backward(np.zeros_like(wrong_dy))
    y = layer(x)
    with pytest.raises(ValueError, match=wrong_match):
        layer.backward(wrong_dy)
    layer.backward(np.zeros_like(y))
    with pytest.raises(RuntimeError, match=r"or twice for one forward"):
        layer.backward(np.zeros_like(y))
