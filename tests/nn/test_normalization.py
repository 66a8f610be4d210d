"""BatchNorm1d / BatchNorm2d: equal to the definition loops, gradient checks, running
statistics, eval mode, bad inputs."""
import numpy as np
import pytest

from numpy_adam.gradcheck import check_module
from numpy_adam.gradcheck.report import LAYER_FLOOR, TOL
from numpy_adam.nn import definitions
from numpy_adam.nn.batchnorm import BatchNorm1d, BatchNorm2d

F64 = np.float64

# (layer class, num_features, input shape)
SHAPES = [
    (BatchNorm2d, 3, (7, 3, 3, 3)),
    (BatchNorm1d, 5, (7, 5)),
    (BatchNorm1d, 3, (7, 3, 4)),
]
SHAPE_IDS = ["2d", "1d (N, C)", "1d (N, C, L)"]


def _train_a_few_steps(bn, shape, rng, steps=3):
    """Forward shifted, scaled batches so running stats move far from (0, 1)."""
    for _ in range(steps):
        bn.forward(2.0 + 3.0 * rng.standard_normal(shape))
    return bn


def assert_matches(actual, expected, what, rel=1e-12):
    """max |actual − expected| ≤ rel · max |expected| (float64, relative to the tensor's scale)."""
    err = np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-300)
    assert actual.shape == expected.shape and err < rel, f"{what}: relative error {err:.1e}"


@pytest.mark.parametrize("cls, features, shape", SHAPES, ids=SHAPE_IDS)
def test_train_mode_equals_the_definitions(cls, features, shape):
    """The compact backward formula against the staged chain rule of the definitions."""
    rng = np.random.default_rng(8)
    bn = cls(features, dtype=F64)
    bn.weight.data[...] = rng.uniform(0.5, 1.5, features)
    bn.bias.data[...] = rng.standard_normal(features)
    x, dy = 1.0 + 2.0 * rng.standard_normal(shape), rng.standard_normal(shape)
    y = bn.forward(x)
    dx = bn.backward(dy)
    w, b = bn.weight.data, bn.bias.data
    y_def, _, _ = definitions.batchnorm_train_forward(x, w, b, bn.eps)
    dx_def, dw_def, db_def = definitions.batchnorm_train_backward(x, w, dy, bn.eps)
    assert_matches(y, y_def, "y")
    assert_matches(dx, dx_def, "dx")
    assert_matches(bn.weight.grad, dw_def, "dweight")
    assert_matches(bn.bias.grad, db_def, "dbias")


@pytest.mark.parametrize("cls, features, shape", SHAPES, ids=SHAPE_IDS)
def test_eval_mode_equals_the_definitions(cls, features, shape):
    rng = np.random.default_rng(9)
    bn = _train_a_few_steps(cls(features, dtype=F64), shape, rng).eval()
    bn.weight.data[...] = rng.uniform(0.5, 1.5, features)
    bn.bias.data[...] = rng.standard_normal(features)
    x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
    y = bn.forward(x)
    dx = bn.backward(dy)
    stats = (bn.running_mean, bn.running_var)
    y_def = definitions.batchnorm_eval_forward(x, bn.weight.data, bn.bias.data, *stats, bn.eps)
    dx_def, dw_def, db_def = definitions.batchnorm_eval_backward(x, bn.weight.data, *stats, dy,
                                                                 bn.eps)
    assert_matches(y, y_def, "y")
    assert_matches(dx, dx_def, "dx")
    assert_matches(bn.weight.grad, dw_def, "dweight")
    assert_matches(bn.bias.grad, db_def, "dbias")


def test_train_forward_definition_returns_the_batch_statistics():
    rng = np.random.default_rng(10)
    x = 3.0 + rng.standard_normal((5, 2, 3, 4))
    _, mean, var = definitions.batchnorm_train_forward(x, np.ones(2), np.zeros(2), 1e-5)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-13)
    np.testing.assert_allclose(var, x.var(axis=(0, 2, 3)), rtol=1e-12, err_msg="biased variance")


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("cls, features, shape", SHAPES, ids=SHAPE_IDS)
def test_gradcheck(cls, features, shape, mode):
    rng = np.random.default_rng(0)
    bn = cls(features, dtype=F64)
    bn.weight.data[...] = rng.uniform(0.5, 1.5, features)  # non-trivial weight and bias
    bn.bias.data[...] = rng.standard_normal(features)
    if mode == "eval":
        _train_a_few_steps(bn, shape, rng).eval()
        assert np.all(np.abs(bn.running_mean) > 0.3), "running_mean should have moved from 0"
        assert np.all(bn.running_var > 1.5), "running_var should have moved from 1"
    for result in check_module(bn, rng.standard_normal(shape), rng, tol=TOL, floor=LAYER_FLOOR):
        assert result.passed, f"{cls.__name__} {mode} {result.tensor}: {result.max_rel_error:.2e}"


@pytest.mark.parametrize("cls, features, shape", SHAPES, ids=SHAPE_IDS)
def test_train_forward_normalises_per_channel(cls, features, shape):
    rng = np.random.default_rng(1)
    bn = cls(features, dtype=F64)
    x = 5.0 + 2.0 * rng.standard_normal(shape)
    y = bn.forward(x)
    axes = (0,) + tuple(range(2, len(shape)))
    var = x.var(axis=axes)  # biased
    np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-12, err_msg="per-channel mean")
    np.testing.assert_allclose(y.var(axis=axes), var / (var + bn.eps), rtol=1e-12,
                               err_msg="per-channel variance σ²/(σ²+ε)")


@pytest.mark.parametrize("cls, features, shape", SHAPES, ids=SHAPE_IDS)
def test_running_stats_follow_the_documented_update(cls, features, shape):
    rng = np.random.default_rng(2)
    bn = cls(features, momentum=0.1, dtype=F64)
    mean_buffer, var_buffer = bn.running_mean, bn.running_var
    axes = (0,) + tuple(range(2, len(shape)))
    m = shape[0] * int(np.prod(shape[2:]))
    expected_mean, expected_var = np.zeros(features), np.ones(features)
    for step in range(1, 4):
        x = 1.0 + 2.0 * rng.standard_normal(shape)
        bn.forward(x)
        expected_mean = 0.9 * expected_mean + 0.1 * x.mean(axis=axes)
        expected_var = 0.9 * expected_var + 0.1 * x.var(axis=axes) * m / (m - 1)  # unbiased
        np.testing.assert_allclose(bn.running_mean, expected_mean, rtol=1e-12,
                                   err_msg=f"running_mean, step {step}")
        np.testing.assert_allclose(bn.running_var, expected_var, rtol=1e-12,
                                   err_msg=f"running_var, step {step}")
        assert int(bn.num_batches_tracked) == step, f"num_batches_tracked after {step} steps"
    assert bn.running_mean is mean_buffer and bn.running_var is var_buffer, \
        "buffers must update in place"
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == (), \
        "num_batches_tracked is a 0-d int64 array, as in torch's state_dict"


def test_momentum_none_is_the_cumulative_average():
    rng = np.random.default_rng(3)
    bn = BatchNorm1d(4, momentum=None, dtype=F64)
    batches = [rng.standard_normal((6, 4)) + k for k in range(3)]
    for x in batches:
        bn.forward(x)
    np.testing.assert_allclose(bn.running_mean, np.mean([x.mean(0) for x in batches], axis=0),
                               rtol=1e-12, err_msg="cumulative average of batch means")


def test_eval_uses_running_statistics_and_leaves_them_alone():
    rng = np.random.default_rng(4)
    bn = _train_a_few_steps(BatchNorm2d(3, dtype=F64), (5, 3, 2, 2), rng).eval()
    before = {k: v.copy() for k, v in bn.state_dict().items()}
    x = rng.standard_normal((1, 3, 2, 2))  # batch 1 is fine in eval mode
    y = bn.forward(x)
    rm, rv = bn.running_mean[:, None, None], bn.running_var[:, None, None]
    np.testing.assert_allclose(y, (x - rm) / np.sqrt(rv + bn.eps), rtol=1e-12,
                               err_msg="eval forward uses running_mean / running_var")
    for key, value in bn.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=f"eval forward changed {key}")


def test_backward_uses_the_mode_of_its_forward():
    """Switching mode between forward and backward must not mix the two formulas."""
    rng = np.random.default_rng(5)
    x, dy = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    reference = BatchNorm1d(4, dtype=F64)
    reference.forward(x)
    expected = reference.backward(dy)
    bn = BatchNorm1d(4, dtype=F64)
    bn.forward(x)
    bn.eval()
    np.testing.assert_allclose(bn.backward(dy), expected, rtol=1e-12,
                               err_msg="train-mode forward needs the train-mode backward")


def test_float32_matches_float64():
    rng = np.random.default_rng(6)
    x, dy = rng.standard_normal((8, 3, 4, 4)), rng.standard_normal((8, 3, 4, 4))
    outputs = {}
    for dtype in (np.float32, np.float64):
        bn = BatchNorm2d(3, dtype=dtype)
        y = bn.forward(x.astype(dtype))
        dx = bn.backward(dy.astype(dtype))
        assert y.dtype == dtype and dx.dtype == dtype and bn.weight.grad.dtype == dtype, \
            f"{np.dtype(dtype)} layer must produce {np.dtype(dtype)} outputs"
        outputs[dtype] = (y, dx, bn.weight.grad.copy(), bn.running_var.copy())
    names = ["y", "dx", "dweight", "running_var"]
    for a, b, name in zip(outputs[np.float32], outputs[np.float64], names):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)


def test_gradients_are_assigned_into_a_flat_buffer():
    rng = np.random.default_rng(7)
    bn = BatchNorm2d(3, dtype=F64)
    flat = bn.flatten()
    x, dy = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal((4, 3, 2, 2))
    bn.forward(x)
    bn.backward(dy)
    np.testing.assert_allclose(flat.grad[3:], dy.sum(axis=(0, 2, 3)), rtol=1e-12,
                               err_msg="dbias must land in the flat gradient buffer")
    assert bn.weight.grad.base is flat.grad, "weight.grad must stay a view of the flat buffer"


def test_state_dict_parameters_and_kinds():
    bn = BatchNorm2d(4)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"], list(bn.state_dict())
    assert [p.kind for p in bn.parameters()] == ["batchnorm", "batchnorm"]
    bn.double()
    assert bn.running_mean.dtype == F64 and bn.num_batches_tracked.dtype == np.int64, \
        ".double() casts float buffers and keeps the int64 counter"


def test_batch_of_one_in_training_mode_raises():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm1d(3).forward(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm2d(3).forward(np.zeros((1, 3, 1, 1), dtype=np.float32))
    assert BatchNorm2d(3).forward(np.zeros((1, 3, 2, 1), dtype=np.float32)).shape == (1, 3, 2, 1), \
        "one sample with 2 positions is m = 2 values per channel"


BAD_INPUTS = [
    (BatchNorm2d, np.zeros((2, 3, 4), np.float32), ValueError, "4-D"),
    (BatchNorm2d, np.zeros((2, 4, 3, 3), np.float32), ValueError, "3 channels"),
    (BatchNorm1d, np.zeros((2, 3, 4, 4), np.float32), ValueError, "2-D"),
    (BatchNorm1d, np.zeros((2, 5), np.float32), ValueError, "3 channels"),
    (BatchNorm1d, np.zeros((2, 3), np.float16), TypeError, "float16"),
    (BatchNorm1d, np.zeros((2, 3), np.int64), TypeError, "int64"),
    (BatchNorm1d, np.zeros((2, 3), np.float64), TypeError, "does not match"),
    (BatchNorm1d, [[0.0, 1.0, 2.0]], TypeError, "numpy.ndarray"),
    (BatchNorm2d, np.zeros((0, 3, 2, 2), np.float32), ValueError, "empty batch"),
]


@pytest.mark.parametrize("cls, x, error, message", BAD_INPUTS,
                         ids=[f"{c.__name__}-{m}" for c, _, _, m in BAD_INPUTS])
def test_bad_inputs_raise(cls, x, error, message):
    with pytest.raises(error, match=message):
        cls(3).forward(x)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_features": 0}, "num_features"),
    ({"num_features": 3, "eps": 0.0}, "eps"),
    ({"num_features": 3, "momentum": 1.5}, "momentum"),
    ({"num_features": 3, "momentum": True}, "momentum"),
    ({"num_features": 3, "dtype": np.int32}, "dtype"),
])
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        BatchNorm2d(**kwargs)

