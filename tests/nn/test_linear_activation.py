"""Linear, ReLU and Flatten: gradient checks, initialisation, shapes, bad inputs."""
import numpy as np
import pytest

from numpy_adam.gradcheck import check_module
from numpy_adam.gradcheck.report import LAYER_FLOOR, TOL
from numpy_adam.nn.activation import Flatten, ReLU
from numpy_adam.nn.linear import Linear

F64 = np.float64


def _assert_all_pass(results, what):
    for result in results:
        assert result.passed, f"{what} {result.tensor}: max rel error {result.max_rel_error:.2e}"


# ---------------------------------------------------------------------------- Linear

@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(batch, bias):
    rng = np.random.default_rng(batch)
    layer = Linear(6, 4, bias=bias, rng=rng, dtype=F64)
    results = check_module(layer, rng.standard_normal((batch, 6)), rng, tol=TOL, floor=LAYER_FLOOR)
    expected = ["input", "weight", "bias"] if bias else ["input", "weight"]
    assert [r.tensor for r in results] == expected, [r.tensor for r in results]
    _assert_all_pass(results, f"Linear batch {batch} bias={bias}")


def test_linear_forward_is_x_wt_plus_b():
    rng = np.random.default_rng(0)
    layer = Linear(5, 3, rng=rng, dtype=F64)
    x = rng.standard_normal((4, 5))
    np.testing.assert_allclose(layer.forward(x), x @ layer.weight.data.T + layer.bias.data,
                               rtol=1e-14, err_msg="y = x Wᵀ + b")


def test_linear_default_init_is_pytorch_uniform():
    layer = Linear(400, 300, rng=np.random.default_rng(0))
    bound = 1.0 / np.sqrt(400)
    w, b = layer.weight.data, layer.bias.data
    assert w.shape == (300, 400) and b.shape == (300,), (w.shape, b.shape)
    assert w.dtype == np.float32 and b.dtype == np.float32, "float32 by default"
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound, "U(−1/√in, 1/√in)"
    np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.01,
                               err_msg="std of U(−a, a) is a/√3")
    assert layer.weight.kind == "weight" and layer.bias.kind == "bias"


def test_linear_init_is_deterministic_per_generator():
    a = Linear(8, 3, rng=np.random.default_rng(42))
    b = Linear(8, 3, rng=np.random.default_rng(42))
    c = Linear(8, 3, rng=np.random.default_rng(43))
    np.testing.assert_array_equal(a.weight.data, b.weight.data, err_msg="same seed, same weights")
    assert not np.array_equal(a.weight.data, c.weight.data), "another seed must give other weights"


def test_linear_without_bias_has_no_bias_parameter():
    layer = Linear(3, 2, bias=False)
    assert layer.bias is None
    assert list(layer.state_dict()) == ["weight"], list(layer.state_dict())


def test_linear_gradients_land_in_the_flat_buffer():
    rng = np.random.default_rng(1)
    layer = Linear(3, 2, rng=rng, dtype=F64)
    flat = layer.flatten()
    x, dy = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    layer.forward(x)
    layer.backward(dy)
    np.testing.assert_allclose(flat.grad[:6].reshape(2, 3), dy.T @ x, rtol=1e-14,
                               err_msg="dW = dyᵀ x in the flat buffer")
    np.testing.assert_allclose(flat.grad[6:], dy.sum(0), rtol=1e-14, err_msg="db = Σ dy")


def test_linear_backward_assigns_rather_than_accumulates():
    rng = np.random.default_rng(2)
    layer = Linear(3, 2, rng=rng, dtype=F64)
    x, dy = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    for _ in range(2):
        layer.forward(x)
        layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, dy.T @ x, rtol=1e-14,
                               err_msg="a second backward must overwrite, not add")


# ---------------------------------------------------------------------------- ReLU

def test_relu_gradcheck_away_from_the_kink():
    rng = np.random.default_rng(3)
    shape = (3, 2, 4, 4)
    x = rng.choice([-1.0, 1.0], size=shape) * (0.1 + np.abs(rng.standard_normal(shape)))  # |x| ≥ 0.1
    _assert_all_pass(check_module(ReLU(), x, rng, tol=TOL, floor=LAYER_FLOOR), "ReLU")


def test_relu_values_and_gradient_at_zero():
    relu = ReLU()
    x = np.array([[-2.0, 0.0, 3.0, np.nan]])
    y = relu.forward(x)
    np.testing.assert_array_equal(y[:, :3], [[0.0, 0.0, 3.0]])
    assert np.isnan(y[0, 3]), "NaN must propagate, not be clipped to 0"
    np.testing.assert_array_equal(relu.backward(np.ones_like(x)), [[0.0, 0.0, 1.0, 0.0]],
                                  err_msg="gradient 1 where x > 0, else 0 (0 at x = 0, as PyTorch)")


# ---------------------------------------------------------------------------- Flatten

def test_flatten_gradcheck_and_shapes():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 3, 4))
    flatten = Flatten()
    assert flatten.forward(x).shape == (3, 24)
    _assert_all_pass(check_module(flatten, x, rng, tol=TOL, floor=LAYER_FLOOR), "Flatten")


@pytest.mark.parametrize("start_dim, end_dim, shape", [
    (1, -1, (2, 24)), (0, -1, (48,)), (2, 3, (2, 3, 8)), (1, 2, (2, 6, 4)), (-2, -1, (2, 3, 8)),
])
def test_flatten_dims_match_pytorch(start_dim, end_dim, shape):
    x = np.arange(48, dtype=np.float32).reshape(2, 3, 2, 4)
    flatten = Flatten(start_dim, end_dim)
    y = flatten.forward(x)
    assert y.shape == shape, f"Flatten({start_dim}, {end_dim}) gave {y.shape}, expected {shape}"
    np.testing.assert_array_equal(flatten.backward(y), x, err_msg="backward restores the shape")


# ---------------------------------------------------------------------------- bad inputs

BAD_FORWARD = [
    ("Linear 3-D input", lambda: Linear(3, 2), np.zeros((2, 3, 1), np.float32), ValueError, "2-D"),
    ("Linear wrong features", lambda: Linear(3, 2), np.zeros((2, 4), np.float32), ValueError,
     "3 channels/features"),
    ("Linear float16", lambda: Linear(3, 2), np.zeros((2, 3), np.float16), TypeError, "float16"),
    ("Linear int", lambda: Linear(3, 2), np.zeros((2, 3), np.int32), TypeError, "int32"),
    ("Linear dtype mismatch", lambda: Linear(3, 2), np.zeros((2, 3), F64), TypeError,
     "does not match"),
    ("Linear list", lambda: Linear(3, 2), [[0.0, 0.0, 0.0]], TypeError, "numpy.ndarray"),
    ("ReLU int", ReLU, np.zeros((2, 3), np.int64), TypeError, "int64"),
    ("ReLU float16", ReLU, np.zeros((2, 3), np.float16), TypeError, "float16"),
    ("Flatten int", Flatten, np.zeros((2, 3), np.int64), TypeError, "int64"),
    ("Flatten dims out of range", lambda: Flatten(2, -1), np.zeros((2, 3), np.float32), ValueError,
     "start_dim=2"),
]


@pytest.mark.parametrize("make, x, error, message", [case[1:] for case in BAD_FORWARD],
                         ids=[case[0] for case in BAD_FORWARD])
def test_bad_forward_inputs(make, x, error, message):
    with pytest.raises(error, match=message):
        make().forward(x)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"in_features": 0, "out_features": 2}, ValueError, "in_features"),
    ({"in_features": 2, "out_features": 2.5}, ValueError, "out_features"),
    ({"in_features": 2, "out_features": 2, "bias": 1}, TypeError, "bias"),
    ({"in_features": 2, "out_features": 2, "dtype": np.float16}, TypeError, "dtype"),
    ({"in_features": 2, "out_features": 2, "rng": 0}, TypeError, "rng"),
])
def test_linear_bad_constructor_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        Linear(**kwargs)


def test_flatten_bad_constructor_argument():
    with pytest.raises(TypeError, match="start_dim"):
        Flatten(1.5)
