"""SpectralChannelMajorConv2d beyond the shared cases of tests/nn/test_fast_tier.py: more
geometries (odd and even periods, no padding, non-square kernels, a kernel as large as the
padded input, no bias) in float64, and float32 at the CNN's shapes against the float64
reference within the stated tolerance."""
import numpy as np
import pytest

from numpy_adam.gradcheck import max_relative_difference
from numpy_adam.nn.conv import Conv2d
from numpy_adam.nn.fast_conv import swap_batch_and_channels as cm
from numpy_adam.nn.fast_spectral_conv import SpectralChannelMajorConv2d

# (C, O, kernel, padding, H, W)
GEOMETRIES = [(2, 3, (5, 5), (2, 2), 8, 8), (3, 2, (3, 3), (0, 0), 7, 6),
              (2, 4, (2, 3), (1, 0), 5, 9), (1, 2, (4, 4), (0, 0), 4, 4),
              (4, 1, (1, 1), (0, 0), 3, 5), (2, 2, (3, 5), (2, 1), 6, 7)]
# float32 against float64, max |fast − reference| / max |reference| (measured 1–3e-7 at N = 6
# and 100): the transforms sum
# P·Q terms twice and the mixing C or O or N products, each rounding at ~6e-8 relative
FLOAT32_REL = 2e-6


def _pair(c, o, kernel, padding, dtype, bias=True, seed=5):
    make = lambda d: Conv2d(c, o, kernel, padding=padding, bias=bias,  # noqa: E731
                            rng=np.random.default_rng(seed), dtype=d)
    return make(np.float64), SpectralChannelMajorConv2d(make(dtype))


def _run(reference, fast, x, dtype):
    """Forward and backward of both; returns [(name, fast result, reference result)]."""
    rng = np.random.default_rng(9)
    y = reference.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = reference.backward(dy)
    y_fast = cm(fast.forward(cm(x.astype(dtype))))
    dx_fast = cm(fast.backward(cm(dy.astype(dtype))))
    pairs = [("y", y_fast, y), ("dx", dx_fast, dx),
             ("dweight", fast.conv.weight.grad, reference.weight.grad)]
    if reference.bias is not None:
        pairs.append(("dbias", fast.conv.bias.grad, reference.bias.grad))
    return pairs


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
@pytest.mark.parametrize("c, o, kernel, padding, h, w", GEOMETRIES)
def test_float64_matches_conv2d(c, o, kernel, padding, h, w, bias):
    reference, fast = _pair(c, o, kernel, padding, np.float64, bias)
    x = np.random.default_rng(h * w).standard_normal((3, c, h, w))
    for name, got, want in _run(reference, fast, x, np.float64):
        assert got.dtype == np.float64 and got.shape == want.shape, name
        err = max_relative_difference(got, want)
        assert err < 1e-12, f"{name}: relative difference {err:.1e}"


@pytest.mark.parametrize("c, o, side", [(3, 16, 32), (16, 32, 16)], ids=["conv1", "conv2"])
def test_float32_at_the_cnn_shapes_is_within_the_stated_tolerance(c, o, side):
    reference, fast = _pair(c, o, 5, 2, np.float32, seed=7)
    x = np.random.default_rng(0).standard_normal((6, c, side, side))
    for name, got, want in _run(reference, fast, x, np.float32):
        assert got.dtype == np.float32, name
        err = max_relative_difference(got.astype(np.float64), want)
        assert err < FLOAT32_REL, f"{name}: relative error {err:.1e} > {FLOAT32_REL:g}"


def test_backward_without_forward_and_twice_raise():
    _, fast = _pair(2, 3, 3, 1, np.float64)
    dy = np.zeros((3, 1, 4, 4))
    with pytest.raises(RuntimeError, match="backward"):
        fast.backward(dy)
    fast.forward(np.zeros((2, 1, 4, 4)))
    fast.backward(dy)
    with pytest.raises(RuntimeError, match="backward"):
        fast.backward(dy)


def test_wrong_grad_shape_raises():
    _, fast = _pair(2, 3, 3, 1, np.float64)
    fast.forward(np.zeros((2, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"\(3, 1, 4, 4\)"):
        fast.backward(np.zeros((3, 1, 4, 5)))
