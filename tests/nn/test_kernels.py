"""Fast paths against the plain NumPy oracle, float64 (~1e-12): Numba im2col/col2im, Conv2d's
channel-major path, the fused BatchNorm+ReLU+MaxPool stage and CifarCNN(fused=True)."""
import numpy as np
import pytest

from numpy_adam.models.cifar_cnn import CifarCNN
from numpy_adam.nn.activation import ReLU
from numpy_adam.nn.batchnorm import BatchNorm2d
from numpy_adam.nn.conv import Conv2d
from numpy_adam.nn.fused import BatchNormReLUMaxPool
from numpy_adam.nn.im2col import col2im, im2col, output_shape
from numpy_adam.nn.kernels import col2im_cn, im2col_cn
from numpy_adam.nn.loss import SoftmaxCrossEntropy
from numpy_adam.nn.pooling import MaxPool2d

TOL = dict(rtol=1e-12, atol=1e-12)
WINDOWS = [((5, 5), (1, 1), (2, 2)), ((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 2), (0, 1)),
           ((2, 2), (2, 2), (0, 0))]


@pytest.mark.parametrize("kernel, stride, padding", WINDOWS)
def test_im2col_and_col2im_kernels_match_plain(kernel, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 7, 9))  # (N, C, H, W)
    expected = im2col(x, kernel, stride, padding)
    cols = np.full(expected.shape, np.nan)
    im2col_cn(x.transpose(1, 0, 2, 3), *kernel, *stride, *padding, cols)
    np.testing.assert_array_equal(cols, expected, err_msg="im2col_cn gathers the same windows")
    dcols = rng.standard_normal(expected.shape)
    dx = np.full((2, 3, 7, 9), np.nan)  # (C, N, H, W), overwritten
    col2im_cn(dcols, *stride, *padding, dx)
    np.testing.assert_allclose(dx.transpose(1, 0, 2, 3), col2im(dcols, x.shape, kernel, stride, padding),
                               **TOL, err_msg="col2im_cn scatter-adds as col2im")


@pytest.mark.parametrize("kernel, stride, padding", WINDOWS)
def test_conv_fast_path_matches_plain(kernel, stride, padding):
    rng = np.random.default_rng(1)
    fast = Conv2d(2, 4, kernel, stride, padding, rng=np.random.default_rng(2), dtype=np.float64)
    plain = Conv2d(2, 4, kernel, stride, padding, rng=np.random.default_rng(2), dtype=np.float64)
    plain.fast = False
    x = rng.standard_normal((3, 2, 7, 9))
    y = fast.forward(x)
    np.testing.assert_allclose(y, plain.forward(x), **TOL, err_msg="forward")
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(fast.backward(dy), plain.backward(dy), **TOL, err_msg="dx")
    np.testing.assert_allclose(fast.weight.grad, plain.weight.grad, **TOL, err_msg="dW")
    np.testing.assert_allclose(fast.bias.grad, plain.bias.grad, **TOL, err_msg="db")


def _plain_stage(x, bn, pool):
    relu = ReLU()
    return [bn, relu, pool], pool(relu(bn(x)))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 2), ((2, 3), (1, 2))])
def test_fused_stage_matches_plain_layers(training, kernel, stride):
    rng = np.random.default_rng(3)
    x = 0.5 + rng.standard_normal((4, 3, 8, 9))  # (N, C, H, W), tie-free
    bn_plain, bn_fused = BatchNorm2d(3, dtype=np.float64), BatchNorm2d(3, dtype=np.float64)
    for bn in (bn_plain, bn_fused):
        bn.weight.data[...] = [1.5, -0.7, 0.9]
        bn.bias.data[...] = [0.1, 0.2, -0.3]
        bn.running_mean[...] = [0.2, 0.4, 0.5]
        bn.running_var[...] = [1.3, 0.8, 2.0]
        bn.train(training)
    layers, y_plain = _plain_stage(x, bn_plain, MaxPool2d(kernel, stride))
    stage = BatchNormReLUMaxPool(bn_fused, MaxPool2d(kernel, stride))
    x_cn = np.ascontiguousarray(x.transpose(1, 0, 2, 3))
    y_cn = stage.forward(x_cn)
    np.testing.assert_allclose(y_cn.transpose(1, 0, 2, 3), y_plain, **TOL, err_msg="forward")
    assert np.all(x_cn == x.transpose(1, 0, 2, 3)), "input kept without overwrite_input"
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(bn_fused, name), getattr(bn_plain, name), **TOL,
                                   err_msg=name)
    dy = rng.standard_normal(y_plain.shape)
    d = dy
    for layer in reversed(layers):
        d = layer.backward(d)
    dx_cn = stage.backward(np.ascontiguousarray(dy.transpose(1, 0, 2, 3)))
    np.testing.assert_allclose(dx_cn.transpose(1, 0, 2, 3), d, **TOL, err_msg="dx")
    np.testing.assert_allclose(bn_fused.weight.grad, bn_plain.weight.grad, **TOL, err_msg="dγ")
    np.testing.assert_allclose(bn_fused.bias.grad, bn_plain.bias.grad, **TOL, err_msg="dβ")


def test_fused_stage_float32_and_ties_follow_plain():
    """float32 at float32 precision; an all-negative window (ReLU ties at 0) routes nothing."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 2, 6, 6)).astype(np.float32)
    x[0, 0, :2, :2] = -50.0  # one window entirely below the mean: relu output 0 everywhere
    bn_plain, bn_fused = BatchNorm2d(2), BatchNorm2d(2)
    layers, y_plain = _plain_stage(x, bn_plain, MaxPool2d(2))
    stage = BatchNormReLUMaxPool(bn_fused, MaxPool2d(2), overwrite_input=True)
    y_cn = stage.forward(np.ascontiguousarray(x.transpose(1, 0, 2, 3)))
    assert y_cn.dtype == np.float32, y_cn.dtype
    np.testing.assert_allclose(y_cn.transpose(1, 0, 2, 3), y_plain, rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y_plain.shape).astype(np.float32)
    d = dy
    for layer in reversed(layers):
        d = layer.backward(d)
    dx_cn = stage.backward(np.ascontiguousarray(dy.transpose(1, 0, 2, 3)))
    assert dx_cn.dtype == np.float32, dx_cn.dtype
    np.testing.assert_allclose(dx_cn.transpose(1, 0, 2, 3), d, rtol=1e-4, atol=1e-5)


def test_fused_stage_errors():
    stage = BatchNormReLUMaxPool(BatchNorm2d(2, dtype=np.float64), MaxPool2d(2))
    with pytest.raises(RuntimeError, match="without a preceding forward"):
        stage.backward(np.zeros((2, 1, 2, 2)))
    with pytest.raises(ValueError, match="C=2"):
        stage.forward(np.zeros((3, 1, 4, 4)))
    with pytest.raises(TypeError, match="dtype"):
        stage.forward(np.zeros((2, 2, 4, 4), np.float32))
    stage.forward(np.random.default_rng(0).standard_normal((2, 2, 4, 4)))
    with pytest.raises(ValueError, match="expected the forward output"):
        stage.backward(np.zeros((2, 2, 3, 3)))
    with pytest.raises(TypeError, match="BatchNorm2d"):
        BatchNormReLUMaxPool(MaxPool2d(2), MaxPool2d(2))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_cifar_cnn_fused_matches_plain(training):
    rng = np.random.default_rng(5)
    models = [CifarCNN(channels=(3, 4), hidden=6, rng=np.random.default_rng(6), dtype=np.float64,
                       image_size=8, fused=fused) for fused in (True, False)]
    x, labels = rng.standard_normal((5, 3, 8, 8)), rng.integers(0, 10, size=5)
    warm = 1.0 + rng.standard_normal((5, 3, 8, 8))
    outputs = []
    for model in models:
        model.forward(warm)  # moves the running statistics
        model.train(training)
        loss = SoftmaxCrossEntropy()
        value = loss.forward(model.forward(x), labels)
        outputs.append((value, model.backward(loss.backward()), model.state_dict(),
                        model.flat.grad.copy()))
    (v1, dx1, s1, g1), (v2, dx2, s2, g2) = outputs
    assert abs(v1 - v2) < 1e-12, (v1, v2)
    np.testing.assert_allclose(dx1, dx2, **TOL, err_msg="dx")
    np.testing.assert_allclose(g1, g2, **TOL, err_msg="flat gradient")
    for key in s1:
        np.testing.assert_allclose(s1[key], s2[key], **TOL, err_msg=key)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
def test_cifar_cnn_without_input_grad_gives_the_same_parameter_grads(fused):
    rng = np.random.default_rng(7)
    x, labels = rng.standard_normal((4, 3, 8, 8)), rng.integers(0, 10, size=4)
    grads = []
    for input_grad in (True, False):
        model = CifarCNN(channels=(2, 3), hidden=5, rng=np.random.default_rng(8), dtype=np.float64,
                         image_size=8, fused=fused, input_grad=input_grad)
        loss = SoftmaxCrossEntropy()
        loss.forward(model.forward(x), labels)
        dx = model.backward(loss.backward())
        assert (dx is None) == (not input_grad), f"input_grad={input_grad} returned {type(dx)}"
        grads.append(model.flat.grad.copy())
    np.testing.assert_array_equal(grads[0], grads[1], err_msg="parameter gradients must not change")
    with pytest.raises(TypeError, match="input_grad"):
        CifarCNN(input_grad=1)
