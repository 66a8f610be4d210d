"""Conv2d (and the im2col/col2im helpers): equal to the definition loops, gradient checks,
layer contract, bad inputs."""
import numpy as np
import pytest

from numpy_adam.gradcheck import check_module
from numpy_adam.nn.conv import Conv2d
from numpy_adam.nn.definitions import conv2d_backward, conv2d_forward
from numpy_adam.nn.im2col import col2im, im2col

REL = 1e-12  # reference vs definitions, float64: max |ours − loops| / max |loops|


def assert_matches(actual, expected, what):
    err = np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-300)
    assert actual.shape == expected.shape and err < REL, f"{what}: relative error {err:.1e}"


def make_conv(in_c, out_c, kernel, stride, padding, bias, seed=0):
    return Conv2d(in_c, out_c, kernel, stride=stride, padding=padding, bias=bias,
                  rng=np.random.default_rng(seed), dtype=np.float64)


# -- im2col / col2im ------------------------------------------------------------------------
@pytest.mark.parametrize("kernel, stride, padding", [((3, 3), (1, 1), (0, 0)), ((3, 2), (2, 1), (1, 2)),
                                                     ((2, 2), (3, 3), (0, 0)), ((5, 5), (2, 2), (2, 2))])
def test_col2im_is_the_adjoint_of_im2col(kernel, stride, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 9))
    cols = im2col(x, kernel, stride, padding)
    g = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * g)
    rhs = np.sum(x * col2im(g, x.shape, kernel, stride, padding))
    assert abs(lhs - rhs) < 1e-11 * max(1.0, abs(lhs)), f"<im2col x, g> = {lhs} but <x, col2im g> = {rhs}"


def test_im2col_entries_follow_the_documented_index_map():
    x = np.arange(2 * 3 * 6 * 7, dtype=np.float64).reshape(2, 3, 6, 7)
    cols = im2col(x, (2, 3), (2, 1), (1, 0))
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    for c, u, v, n, i, j in [(0, 0, 0, 0, 0, 0), (2, 1, 2, 1, 3, 4), (1, 1, 0, 0, 2, 1)]:
        assert cols[c, u, v, n, i, j] == x_pad[n, c, i * 2 + u, j + v], (c, u, v, n, i, j)
    assert cols.shape == (3, 2, 3, 2, 4, 5), cols.shape


# -- the reference equals the definitions (float64) ------------------------------------------
@pytest.mark.parametrize("kernel, stride, padding, bias", [
    (1, 1, 0, True), (3, 1, 1, True), (3, 2, 0, False), (5, 2, 2, True), ((3, 2), (1, 2), (2, 0), True),
    (3, 3, 1, False),
])
def test_forward_and_backward_equal_the_definitions(kernel, stride, padding, bias):
    rng = np.random.default_rng(2)
    conv = make_conv(3, 4, kernel, stride, padding, bias)
    x = rng.standard_normal((3, 3, 7, 9))
    y = conv(x)
    b = conv.bias.data if bias else None
    assert_matches(y, conv2d_forward(x, conv.weight.data, b, conv.stride, conv.padding), "y")
    dy = rng.standard_normal(y.shape)
    dx = conv.backward(dy)
    dx_def, dw_def, db_def = conv2d_backward(x, conv.weight.data, dy, conv.stride, conv.padding)
    assert_matches(dx, dx_def, "dx")
    assert_matches(conv.weight.grad, dw_def, "dweight")
    if bias:
        assert_matches(conv.bias.grad, db_def, "dbias")


# -- gradient checks ------------------------------------------------------------------------
@pytest.mark.parametrize("batch, bias", [(1, True), (7, False)])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_gradcheck(kernel, stride, padding, batch, bias):
    rng = np.random.default_rng(3)
    conv = make_conv(2, 3, kernel, stride, padding, bias, seed=4)
    x = rng.standard_normal((batch, 2, 7, 9))
    results = check_module(conv, x, rng)
    names = [r.tensor for r in results]
    assert names == (["input", "weight", "bias"] if bias else ["input", "weight"]), names
    for r in results:
        assert r.max_rel_error < 1e-7, f"{r.tensor}: relative error {r.max_rel_error:.2e}"


@pytest.mark.parametrize("batch, bias", [(7, True), (1, False)])
def test_gradcheck_other_batch_bias_pairs(batch, bias):
    rng = np.random.default_rng(5)
    conv = make_conv(2, 2, (3, 5), (2, 1), (1, 2), bias, seed=6)
    x = rng.standard_normal((batch, 2, 6, 9))
    for r in check_module(conv, x, rng):
        assert r.max_rel_error < 1e-7, f"{r.tensor}: relative error {r.max_rel_error:.2e}"


# -- layer contract -------------------------------------------------------------------------
def test_init_follows_pytorch_bounds_and_is_seeded():
    conv = Conv2d(4, 8, 3, rng=np.random.default_rng(7))
    bound = 1.0 / np.sqrt(4 * 3 * 3)
    assert conv.weight.shape == (8, 4, 3, 3) and conv.bias.shape == (8,), (conv.weight.shape, conv.bias.shape)
    assert conv.weight.data.dtype == np.float32, conv.weight.data.dtype
    largest = max(np.abs(conv.weight.data).max(), np.abs(conv.bias.data).max())
    assert largest <= bound, f"a value {largest} lies outside U(±1/√fan_in) = ±{bound}"
    assert np.abs(conv.weight.data).max() > 0.8 * bound, "weights should fill the U(±1/√fan_in) range"
    again = Conv2d(4, 8, 3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(conv.weight.data, again.weight.data, err_msg="same seed, same weights")
    assert (conv.weight.kind, conv.bias.kind) == ("weight", "bias")


def test_state_dict_keys_and_no_bias():
    assert list(Conv2d(2, 3, 3, rng=np.random.default_rng(0)).state_dict()) == ["weight", "bias"]
    no_bias = Conv2d(2, 3, 3, bias=False, rng=np.random.default_rng(0))
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"], list(no_bias.state_dict())


def test_double_path_and_float32_agree():
    rng = np.random.default_rng(8)
    conv = Conv2d(3, 4, 3, stride=2, padding=1, rng=np.random.default_rng(9))
    x = rng.standard_normal((2, 3, 8, 8))
    dy = rng.standard_normal((2, 4, 4, 4))
    y32 = conv(x.astype(np.float32))
    dx32 = conv.backward(dy.astype(np.float32))
    dw32 = conv.weight.grad.copy()
    assert y32.dtype == np.float32 and dx32.dtype == np.float32, (y32.dtype, dx32.dtype)
    conv.double()
    y64 = conv(x)
    dx64 = conv.backward(dy)
    dtypes = (y64.dtype, conv.weight.grad.dtype)
    assert dtypes == (np.float64, np.float64), dtypes
    np.testing.assert_allclose(y32, y64, atol=1e-5, err_msg="float32 forward far from float64")
    np.testing.assert_allclose(dx32, dx64, atol=1e-5, err_msg="float32 dx far from float64")
    np.testing.assert_allclose(dw32, conv.weight.grad, atol=1e-4, err_msg="float32 dW far from float64")


def test_backward_writes_gradients_in_place_into_flat_buffer():
    conv = make_conv(2, 3, 3, 1, 1, True)
    flat = conv.flatten()
    grad_views = [p.grad for p in conv.parameters()]
    x = np.random.default_rng(10).standard_normal((2, 2, 5, 5))
    y = conv(x)
    conv.backward(np.ones_like(y))
    assert all(p.grad is g for p, g in zip(conv.parameters(), grad_views)), "p.grad was re-bound"
    np.testing.assert_allclose(flat.grad[-3:], np.full(3, 2 * 5 * 5), rtol=1e-12,
                               err_msg="db must land in the flat gradient buffer")
    assert np.abs(flat.grad[:-3]).sum() > 0, "dW must land in the flat gradient buffer"


def test_backward_assigns_not_accumulates():
    conv = make_conv(2, 3, 3, 1, 0, True)
    x = np.random.default_rng(11).standard_normal((2, 2, 5, 5))
    for _ in range(2):
        y = conv(x)
        conv.backward(np.ones_like(y))
    np.testing.assert_allclose(conv.bias.grad, np.full(3, 2 * 3 * 3), rtol=1e-12,
                               err_msg="a second step must overwrite, not add to, the gradient")


# -- bad inputs -----------------------------------------------------------------------------
def _conv64():
    return make_conv(3, 2, 3, 1, 0, True)


@pytest.mark.parametrize("make, x, error, match", [
    (_conv64, np.zeros((3, 5, 5)), ValueError, r"4-D input"),
    (_conv64, np.zeros((1, 2, 5, 5)), ValueError, r"expected 3 channels"),
    (_conv64, np.zeros((1, 3, 5, 5), dtype=np.float16), TypeError, r"float32 or float64, got float16"),
    (_conv64, np.zeros((1, 3, 5, 5), dtype=np.int64), TypeError, r"float32 or float64, got int64"),
    (_conv64, np.zeros((1, 3, 5, 5), dtype=np.float32), TypeError,
     r"does not match the layer's parameter dtype float64"),
    (_conv64, np.zeros((1, 3, 2, 5)), ValueError,
     r"input height 2 \(padded: 2\) is smaller than the kernel height 3"),
    (lambda: make_conv(3, 2, 5, 1, 1, True), np.zeros((1, 3, 5, 2)), ValueError,
     r"input width 2 \(padded: 4\) is smaller than the kernel width 5"),
    (_conv64, [[[[0.0]]]], TypeError, r"numpy.ndarray"),
])
def test_bad_forward_inputs(make, x, error, match):
    with pytest.raises(error, match=match):
        make()(x)


@pytest.mark.parametrize("kwargs, match", [
    (dict(kernel_size=0), r"kernel_size must be a positive integer, got 0"),
    (dict(kernel_size=(3, -1)), r"kernel_size must be a positive integer, got -1"),
    (dict(kernel_size=(3, 3, 3)), r"kernel_size must be an int or a pair"),
    (dict(kernel_size=3, stride=0), r"stride must be a positive integer, got 0"),
    (dict(kernel_size=3, padding=-1), r"padding must be a non-negative integer, got -1"),
    (dict(kernel_size=3, padding=1.5), r"padding must be a non-negative integer, got 1.5"),
])
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2d(3, 2, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(in_channels=0), ValueError, r"in_channels must be a positive integer, got 0"),
    (dict(out_channels=-2), ValueError, r"out_channels must be a positive integer, got -2"),
    (dict(rng=42), TypeError, r"rng must be a numpy.random.Generator"),
    (dict(dtype=np.float16), TypeError, r"dtype must be float32 or float64, got float16"),
    (dict(bias=1), TypeError, r"bias must be True or False"),
])
def test_bad_constructor_arguments(kwargs, error, match):
    args = dict(in_channels=3, out_channels=2, kernel_size=3) | kwargs
    with pytest.raises(error, match=match):
        Conv2d(**args)
