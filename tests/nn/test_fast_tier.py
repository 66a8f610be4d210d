"""The fast tier against the reference tier, stage by stage: the Numba im2col/col2im against
the NumPy ones, ChannelMajorConv2d and (stride 1) DirectChannelMajorConv2d against Conv2d,
and the fused BatchNormReLUMaxPool
against BatchNorm2d → ReLU → MaxPool2d; forward, backward and every gradient, in float64
and float32, train and eval mode.

Tolerance, per tensor, max |fast − reference| / max |reference| (the two differ only in
the order of their sums):
    float64  1e-12
    float32  1e-5    (batch statistics summed in float64 by the fast stage, in float32 by
                      BatchNorm2d: a few float32 ulps)
The whole network is in tests/models/test_cifar_cnn_fast.py. These tests also run as plain
Python under NUMBA_DISABLE_JIT=1 (tests/nn/test_no_jit.py), so their inputs stay small.
"""
import numpy as np
import pytest

from numpy_adam.gradcheck import max_relative_difference
from numpy_adam.nn.activation import ReLU
from numpy_adam.nn.batchnorm import BatchNorm2d
from numpy_adam.nn.conv import Conv2d
from numpy_adam.nn.fast_conv import ChannelMajorConv2d
from numpy_adam.nn.fast_conv import swap_batch_and_channels as cm
from numpy_adam.nn.fast_direct_conv import DirectChannelMajorConv2d
from numpy_adam.nn.fast_spectral_conv import SpectralChannelMajorConv2d
from numpy_adam.nn.fast_fused import BatchNormReLUMaxPool
from numpy_adam.nn.fast_kernels import col2im_cn, im2col_cn
from numpy_adam.nn.im2col import col2im, im2col
from numpy_adam.nn.linear import Linear
from numpy_adam.nn.pooling import MaxPool2d

REL = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]
DTYPE_IDS = ["float64", "float32"]
WINDOWS = [((5, 5), (1, 1), (2, 2)), ((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 2), (0, 1)),
           ((2, 2), (2, 2), (0, 0))]


def assert_matches(fast, reference, dtype, what):
    assert fast.shape == reference.shape and fast.dtype == reference.dtype, (what, fast.dtype)
    err = max_relative_difference(fast, reference)
    assert err < REL[dtype], f"{what}: relative error {err:.1e} > {REL[dtype]:g}"


# -- im2col / col2im kernels ----------------------------------------------------------------
@pytest.mark.parametrize("kernel, stride, padding", WINDOWS)
def test_im2col_and_col2im_kernels_match_numpy(kernel, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 7, 9))  # (N, C, H, W)
    expected = im2col(x, kernel, stride, padding)
    cols = np.full(expected.shape, np.nan)
    im2col_cn(x.transpose(1, 0, 2, 3), *kernel, *stride, *padding, cols, 0, x.shape[0])
    np.testing.assert_array_equal(cols, expected, err_msg="im2col_cn gathers the same windows")
    dcols = rng.standard_normal(expected.shape)
    dx = np.full((2, 3, 7, 9), np.nan)  # (C, N, H, W), overwritten
    col2im_cn(dcols, *stride, *padding, dx, 0, dx.shape[1])
    assert_matches(cm(dx), col2im(dcols, x.shape, kernel, stride, padding), np.float64,
                   "col2im_cn scatter-adds as col2im")


# -- ChannelMajorConv2d, DirectChannelMajorConv2d, SpectralChannelMajorConv2d vs Conv2d ------
FAST_CONVS = [ChannelMajorConv2d, DirectChannelMajorConv2d, SpectralChannelMajorConv2d]
# every window for im2col; the stride-1 ones for the direct and spectral convolutions
CONV_CASES = [(fast, *window) for fast in FAST_CONVS for window in WINDOWS
              if fast is ChannelMajorConv2d or window[1] == (1, 1)]


def _conv_pair(kernel, stride, padding, dtype, bias=True, fast_conv=ChannelMajorConv2d):
    """(reference Conv2d, fast stage on another Conv2d with the same weights)."""
    make = lambda: Conv2d(2, 4, kernel, stride, padding, bias=bias,  # noqa: E731
                          rng=np.random.default_rng(2), dtype=dtype)
    return make(), fast_conv(make())


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("fast_conv, kernel, stride, padding", CONV_CASES)
def test_conv_matches_the_reference(fast_conv, kernel, stride, padding, dtype):
    rng = np.random.default_rng(1)
    reference, fast = _conv_pair(kernel, stride, padding, dtype, fast_conv=fast_conv)
    x = rng.standard_normal((3, 2, 7, 9)).astype(dtype)
    y = reference.forward(x)
    assert_matches(cm(fast.forward(cm(x))), y, dtype, "y")
    dy = rng.standard_normal(y.shape).astype(dtype)
    assert_matches(cm(fast.backward(cm(dy))), reference.backward(dy), dtype, "dx")
    assert_matches(fast.conv.weight.grad, reference.weight.grad, dtype, "dweight")
    assert_matches(fast.conv.bias.grad, reference.bias.grad, dtype, "dbias")


@pytest.mark.parametrize("fast_conv", FAST_CONVS)
def test_conv_backward_params_only_assigns_the_same_gradients_and_returns_none(fast_conv):
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((4, 2, 6, 6))  # (C|O, N, H, W)
    grads = []
    for params_only in (False, True):
        _, fast = _conv_pair(3, 1, 1, np.float64, fast_conv=fast_conv)
        fast.forward(x)
        result = fast.backward_params_only(dy) if params_only else fast.backward(dy)
        assert (result is None) == params_only, type(result)
        grads.append((fast.conv.weight.grad.copy(), fast.conv.bias.grad.copy()))
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b, err_msg="the same parameter gradients")


@pytest.mark.parametrize("fast_conv", FAST_CONVS)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_conv_backward_uses_the_latest_forward(mode, fast_conv):
    """The workspace (im2col columns, padded rows) is reused from one forward to the next
    (training mode): backward must see the latest forward's input, in either mode."""
    rng = np.random.default_rng(4)
    reference, fast = _conv_pair(3, 1, 1, np.float64, bias=False, fast_conv=fast_conv)
    fast.conv.train(mode == "train")
    x1, x2 = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 2, 5, 5))
    fast.forward(cm(x1))
    fast.forward(cm(x2))
    dy = rng.standard_normal((2, 4, 5, 5))
    reference.forward(x2)
    assert_matches(cm(fast.backward(cm(dy))), reference.backward(dy), np.float64, "dx")
    assert_matches(fast.conv.weight.grad, reference.weight.grad, np.float64, "dweight")


# -- BatchNormReLUMaxPool vs BatchNorm2d → ReLU → MaxPool2d ----------------------------------
def _batchnorms(dtype, training):
    """Two BatchNorm2d(3) with the same non-trivial weight, bias and running statistics."""
    pair = []
    for _ in range(2):
        bn = BatchNorm2d(3, dtype=dtype)
        bn.weight.data[...] = [1.5, -0.7, 0.9]
        bn.bias.data[...] = [0.1, 0.2, -0.3]
        bn.running_mean[...] = [0.2, 0.4, 0.5]
        bn.running_var[...] = [1.3, 0.8, 2.0]
        pair.append(bn.train(training))
    return pair


def _reference_stage(bn, pool, x, dy):
    """y and dx of pool(relu(bn(x))), the reference layers one by one."""
    relu = ReLU()
    y = pool(relu(bn(x)))
    return y, bn.backward(relu.backward(pool.backward(dy)))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 2), ((2, 3), (1, 2))])
def test_fused_stage_matches_the_reference_layers(kernel, stride, training, dtype):
    rng = np.random.default_rng(5)
    x = (0.5 + rng.standard_normal((4, 3, 8, 9))).astype(dtype)  # (N, C, H, W)
    bn_ref, bn_fast = _batchnorms(dtype, training)
    pool = MaxPool2d(kernel, stride)
    stage = BatchNormReLUMaxPool(bn_fast, MaxPool2d(kernel, stride))
    x_cn = cm(x)
    y_cn = stage.forward(x_cn)
    dy = rng.standard_normal((4, 3) + y_cn.shape[2:]).astype(dtype)  # (N, C, H', W')
    y, dx = _reference_stage(bn_ref, pool, x, dy)
    assert_matches(cm(y_cn), y, dtype, "y")
    np.testing.assert_array_equal(x_cn, cm(x), err_msg="input kept without overwrite_input")
    for name in ("running_mean", "running_var"):
        assert_matches(getattr(bn_fast, name), getattr(bn_ref, name), dtype, name)
    assert int(bn_fast.num_batches_tracked) == int(bn_ref.num_batches_tracked)
    assert_matches(cm(stage.backward(cm(dy))), dx, dtype, "dx")
    assert_matches(bn_fast.weight.grad, bn_ref.weight.grad, dtype, "dweight")
    assert_matches(bn_fast.bias.grad, bn_ref.bias.grad, dtype, "dbias")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_fused_stage_ties_and_all_negative_windows_follow_the_reference(dtype):
    """A window below the mean gives ReLU output 0 everywhere (it routes no gradient), and
    integer-valued inputs tie inside most windows (the first maximum wins)."""
    rng = np.random.default_rng(6)
    x = rng.integers(-2, 3, size=(5, 2, 6, 6)).astype(dtype)
    x[0, 0, :2, :2] = -50.0
    bn_ref, bn_fast = BatchNorm2d(2, dtype=dtype), BatchNorm2d(2, dtype=dtype)
    stage = BatchNormReLUMaxPool(bn_fast, MaxPool2d(2), overwrite_input=True)
    y_cn = stage.forward(cm(x))
    dy = rng.standard_normal((5, 2, 3, 3)).astype(dtype)
    y, dx = _reference_stage(bn_ref, MaxPool2d(2), x, dy)
    assert_matches(cm(y_cn), y, dtype, "y")
    assert_matches(cm(stage.backward(cm(dy))), dx, dtype, "dx")
    assert_matches(bn_fast.weight.grad, bn_ref.weight.grad, dtype, "dweight")


def test_fused_stage_overwrite_input_writes_the_normalised_input():
    bn = BatchNorm2d(2, dtype=np.float64)
    x_cn = np.random.default_rng(7).standard_normal((2, 3, 4, 4))
    original = x_cn.copy()
    BatchNormReLUMaxPool(bn, MaxPool2d(2), overwrite_input=True).forward(x_cn)
    mean, std = original.mean(axis=(1, 2, 3)), np.sqrt(original.var(axis=(1, 2, 3)) + bn.eps)
    np.testing.assert_allclose(x_cn, (original - mean[:, None, None, None]) / std[:, None, None, None],
                               rtol=1e-12, atol=1e-12, err_msg="x̂ in place of the input")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_fused_stage_backward_can_hold_the_batch_statistics_fixed(dtype):
    """After a train-mode forward, ``hold_batch_statistics`` gives the reference layers'
    eval-mode backward with the batch's mean and biased variance as running statistics
    (μ, σ² as constants), which differs from the train-mode backward."""
    rng = np.random.default_rng(8)
    x = (0.5 + rng.standard_normal((4, 3, 6, 6))).astype(dtype)
    bn_ref, bn_fast = _batchnorms(dtype, training=False)
    bn_ref.running_mean[...] = x.mean(axis=(0, 2, 3))
    bn_ref.running_var[...] = x.var(axis=(0, 2, 3))
    stage = BatchNormReLUMaxPool(bn_fast.train(), MaxPool2d(2))
    y_cn = stage.forward(cm(x))
    dy = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    y, dx = _reference_stage(bn_ref, MaxPool2d(2), x, dy)
    assert_matches(cm(y_cn), y, dtype, "y")
    held = cm(stage.backward(cm(dy), hold_batch_statistics=True))
    assert_matches(held, dx, dtype, "dx with the statistics held")
    assert_matches(bn_fast.weight.grad, bn_ref.weight.grad, dtype, "dweight")
    stage.forward(cm(x))
    through = cm(stage.backward(cm(dy)))
    assert max_relative_difference(through, held) > 1e-2, "the default flows through μ, σ²"


# -- bad arguments --------------------------------------------------------------------------
@pytest.mark.parametrize("make, x, error, match", [
    (lambda: ChannelMajorConv2d(Conv2d(3, 2, 3, dtype=np.float64)), np.zeros((2, 1, 5, 5)),
     ValueError, r"ChannelMajorConv2d: expected a channel-major \(C=3, N, H, W\) array"),
    (lambda: ChannelMajorConv2d(Conv2d(3, 2, 3, dtype=np.float64)), np.zeros((3, 1, 5)),
     ValueError, r"\(C=3, N, H, W\)"),
    (lambda: ChannelMajorConv2d(Conv2d(3, 2, 3, dtype=np.float64)), np.zeros((3, 1, 5, 5), np.float32),
     TypeError, r"input dtype float32 does not match the layer's parameter dtype float64"),
    (lambda: ChannelMajorConv2d(Conv2d(3, 2, 3, dtype=np.float64)), np.zeros((3, 1, 2, 5)),
     ValueError, r"input height 2 \(padded: 2\) is smaller than the kernel height 3"),
    (lambda: DirectChannelMajorConv2d(Conv2d(3, 2, 3, dtype=np.float64)), np.zeros((2, 1, 5, 5)),
     ValueError, r"DirectChannelMajorConv2d: expected a channel-major \(C=3, N, H, W\) array"),
    (lambda: DirectChannelMajorConv2d(Conv2d(3, 2, 3, dtype=np.float64)),
     np.zeros((3, 1, 5, 5), np.float32), TypeError, r"float32 does not match .* float64"),
    (lambda: DirectChannelMajorConv2d(Conv2d(3, 2, 3, dtype=np.float64)), np.zeros((3, 1, 5, 2)),
     ValueError, r"input width 2 \(padded: 2\) is smaller than the kernel width 3"),
    (lambda: SpectralChannelMajorConv2d(Conv2d(3, 2, 3, dtype=np.float64)),
     np.zeros((2, 1, 5, 5)), ValueError,
     r"SpectralChannelMajorConv2d: expected a channel-major \(C=3, N, H, W\) array"),
    (lambda: SpectralChannelMajorConv2d(Conv2d(3, 2, 3, dtype=np.float64)),
     np.zeros((3, 1, 5, 5), np.float32), TypeError, r"float32 does not match .* float64"),
    (lambda: SpectralChannelMajorConv2d(Conv2d(3, 2, 3, dtype=np.float64)), np.zeros((3, 1, 2, 5)),
     ValueError, r"input height 2 \(padded: 2\) is smaller than the kernel height 3"),
    (lambda: BatchNormReLUMaxPool(BatchNorm2d(2, dtype=np.float64), MaxPool2d(2)),
     np.zeros((3, 1, 4, 4)), ValueError, r"BatchNormReLUMaxPool: expected .*\(C=2, N, H, W\)"),
    (lambda: BatchNormReLUMaxPool(BatchNorm2d(2, dtype=np.float64), MaxPool2d(2)),
     np.zeros((2, 2, 4, 4), np.float32), TypeError, r"float32 does not match"),
    (lambda: BatchNormReLUMaxPool(BatchNorm2d(2, dtype=np.float64), MaxPool2d(1)),
     np.zeros((2, 1, 1, 1)), ValueError, r"more than 1 value per channel"),
], ids=["conv channels", "conv rank", "conv dtype", "conv too small", "direct channels",
        "direct dtype", "direct too small", "spectral channels", "spectral dtype",
        "spectral too small", "fused channels",
        "fused dtype", "fused one value"])
def test_bad_forward_inputs(make, x, error, match):
    with pytest.raises(error, match=match):
        make().forward(x)


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="ChannelMajorConv2d: conv must be a Conv2d, got Linear"):
        ChannelMajorConv2d(Linear(2, 2))
    with pytest.raises(TypeError, match="DirectChannelMajorConv2d: conv must be a Conv2d, got Linear"):
        DirectChannelMajorConv2d(Linear(2, 2))
    with pytest.raises(ValueError, match=r"only stride 1 is supported, got stride \(2, 1\); use "
                                         "ChannelMajorConv2d"):
        DirectChannelMajorConv2d(Conv2d(3, 2, 3, stride=(2, 1)))
    with pytest.raises(TypeError, match="SpectralChannelMajorConv2d: conv must be a Conv2d"):
        SpectralChannelMajorConv2d(Linear(2, 2))
    with pytest.raises(ValueError, match=r"only stride 1 is supported, got stride \(1, 2\); use "
                                         "ChannelMajorConv2d"):
        SpectralChannelMajorConv2d(Conv2d(3, 2, 3, stride=(1, 2)))
    with pytest.raises(TypeError, match="bn must be a BatchNorm2d, got MaxPool2d"):
        BatchNormReLUMaxPool(MaxPool2d(2), MaxPool2d(2))
    with pytest.raises(TypeError, match="pool must be a MaxPool2d, got ReLU"):
        BatchNormReLUMaxPool(BatchNorm2d(2), ReLU())
