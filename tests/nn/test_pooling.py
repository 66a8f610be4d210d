"""MaxPool2d: equal to the definition loops (ties included), gradient checks, argmax routing,
bad inputs."""
import numpy as np
import pytest

from numpy_adam.gradcheck import check_module
from numpy_adam.nn.definitions import maxpool2d_backward, maxpool2d_forward
from numpy_adam.nn.pooling import MaxPool2d


def tie_free(rng, shape):
    """Distinct values 1e-3 apart (a random permutation), so the finite-difference step
    h = 1e-5 never swaps an order inside a window (a swap would move the kink under the probe)."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) - size / 2) * 1e-3


CONFIGS = [((2, 2), (2, 2)), ((3, 3), (3, 3)), ((3, 3), (2, 2)), ((2, 2), (1, 1)), ((3, 2), (1, 2))]
CONFIG_IDS = ["2/2", "3/3", "3/2-overlap", "2/1-overlap", "3x2/1x2"]


# -- the reference equals the definitions --------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, stride", CONFIGS, ids=CONFIG_IDS)
def test_forward_and_backward_equal_the_definitions_with_many_ties(kernel, stride, dtype):
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, size=(3, 2, 7, 9)).astype(dtype)  # 5 values: ties in most windows
    pool = MaxPool2d(kernel, stride)
    y = pool(x)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = pool.backward(dy)
    assert y.dtype == dtype and dx.dtype == dtype, (y.dtype, dx.dtype)
    np.testing.assert_array_equal(y, maxpool2d_forward(x, pool.kernel_size, pool.stride),
                                  err_msg="forward differs from the loops")
    # overlapping windows add several dy at one pixel, in another order than the loops: rounding
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(dx, maxpool2d_backward(x, dy, pool.kernel_size, pool.stride),
                               rtol=0, atol=tol, err_msg="dx differs from the loops (ties?)")


# -- gradient checks ------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("kernel, stride", CONFIGS, ids=CONFIG_IDS)
def test_gradcheck(kernel, stride, batch):
    rng = np.random.default_rng(1)
    x = tie_free(rng, (batch, 2, 7, 9))
    results = check_module(MaxPool2d(kernel, stride), x, rng)
    assert [r.tensor for r in results] == ["input"], [r.tensor for r in results]
    assert results[0].max_rel_error < 1e-7, f"input: relative error {results[0].max_rel_error:.2e}"


# -- argmax routing, by hand ----------------------------------------------------------------
def test_tie_sends_gradient_to_the_first_maximum_in_row_major_order():
    x = np.array([[[[1.0, 5.0],
                    [5.0, 5.0]]]])  # one 2×2 window, maximum 5 at (0,1), (1,0), (1,1)
    pool = MaxPool2d(2)
    y = pool(x)
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == 5.0, y
    dx = pool.backward(np.full((1, 1, 1, 1), 2.0))
    expected = np.array([[[[0.0, 2.0], [0.0, 0.0]]]])
    np.testing.assert_array_equal(dx, expected, err_msg="gradient must go to the first max, (0, 1)")


def test_overlapping_windows_accumulate_at_a_shared_maximum():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 9.0  # the centre is the maximum of all four 2×2 windows with stride 1
    pool = MaxPool2d(2, stride=1)
    y = pool(x)
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), 9.0), err_msg="every window sees the centre")
    dy = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = pool.backward(dy)
    assert dx[0, 0, 1, 1] == 10.0, f"centre must receive 1+2+3+4, got {dx[0, 0, 1, 1]}"
    assert np.count_nonzero(dx) == 1, f"only the centre receives gradient, got {dx}"


def test_floor_output_size_and_default_stride():
    pool = MaxPool2d((2, 3))
    assert pool.stride == (2, 3), pool.stride
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 11)).astype(np.float32)
    y = pool(x)
    assert y.shape == (2, 3, 3, 3), y.shape
    dx = pool.backward(np.ones_like(y))
    assert dx.shape == x.shape and dx.dtype == np.float32, (dx.shape, dx.dtype)
    assert not dx[:, :, 6, :].any() and not dx[:, :, :, 9:].any(), "rows/columns outside every window get 0"


def test_no_parameters_and_empty_state_dict():
    pool = MaxPool2d(2)
    assert list(pool.parameters()) == [] and len(pool.state_dict()) == 0, "MaxPool2d has no state"


# -- bad inputs -----------------------------------------------------------------------------
@pytest.mark.parametrize("x, error, match", [
    (np.zeros((3, 5, 5)), ValueError, r"4-D input"),
    (np.zeros((1, 1, 5, 5), dtype=np.float16), TypeError, r"float32 or float64, got float16"),
    (np.zeros((1, 1, 5, 5), dtype=np.int32), TypeError, r"float32 or float64, got int32"),
    (np.zeros((1, 1, 1, 5)), ValueError, r"input height 1 \(padded: 1\) is smaller than the kernel height 2"),
    (np.zeros((1, 1, 5, 1)), ValueError, r"input width 1 \(padded: 1\) is smaller than the kernel width 2"),
    (np.zeros((0, 1, 5, 5)), ValueError, r"empty batch"),
])
def test_bad_forward_inputs(x, error, match):
    with pytest.raises(error, match=match):
        MaxPool2d(2)(x)


@pytest.mark.parametrize("kwargs, match", [
    (dict(kernel_size=0), r"kernel_size must be a positive integer, got 0"),
    (dict(kernel_size=(2, -1)), r"kernel_size must be a positive integer, got -1"),
    (dict(kernel_size=2, stride=0), r"stride must be a positive integer, got 0"),
    (dict(kernel_size=2, stride=(1, 2, 3)), r"stride must be an int or a pair"),
    (dict(kernel_size=2.0), r"kernel_size must be a positive integer, got 2.0"),
])
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaxPool2d(**kwargs)
