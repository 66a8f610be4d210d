"""SoftmaxCrossEntropy: values, gradient check, numerical stability, label validation."""
import numpy as np
import pytest

from numpy_adam.gradcheck import check_loss
from numpy_adam.gradcheck.report import LAYER_FLOOR, TOL
from numpy_adam.nn.loss import SoftmaxCrossEntropy


def _reference_loss(logits, labels):
    """Textbook −mean log softmax, fine for moderate logits."""
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(labels)), labels]))


@pytest.mark.parametrize("n, k", [(1, 2), (7, 10), (5, 3)])
def test_gradcheck(n, k):
    rng = np.random.default_rng(n * k)
    result = check_loss(SoftmaxCrossEntropy(), rng.standard_normal((n, k)),
                        rng.integers(0, k, size=n), tol=TOL, floor=LAYER_FLOOR)
    assert result.passed, f"dlogits ({n}, {k}): max rel error {result.max_rel_error:.2e}"


def test_value_and_gradient_formula():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, size=6)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, labels)
    assert isinstance(value, float), f"forward returns a Python float, got {type(value)}"
    np.testing.assert_allclose(value, _reference_loss(logits, labels), rtol=1e-13)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    onehot = np.eye(4)[labels]
    dlogits = loss.backward()
    np.testing.assert_allclose(dlogits, (p - onehot) / 6, rtol=1e-12, atol=1e-15,
                               err_msg="(softmax − onehot) / N")
    np.testing.assert_allclose(dlogits.sum(axis=1), 0.0, atol=1e-15, err_msg="rows sum to 0")


def test_uniform_logits_give_log_k():
    loss = SoftmaxCrossEntropy()
    value = loss.forward(np.zeros((3, 10)), np.array([0, 5, 9]))
    np.testing.assert_allclose(value, np.log(10.0), rtol=1e-15, err_msg="uniform softmax: log K")


def test_large_logits_are_stable():
    rng = np.random.default_rng(1)
    logits, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, size=5)
    loss = SoftmaxCrossEntropy()
    base = loss.forward(logits, labels)
    shifted = loss.forward(logits + 1000.0, labels)
    np.testing.assert_allclose(shifted, base, rtol=1e-12, err_msg="shift invariance at +1000")
    huge = loss.forward(np.array([[1e4, -1e4, 0.0]]), np.array([1]))
    assert np.isfinite(huge), "a confidently wrong prediction must give a finite loss"
    np.testing.assert_allclose(huge, 2e4, rtol=1e-12, err_msg="−log p = 2e4 for that row")
    assert np.all(np.isfinite(loss.backward())), "gradient finite too"


def test_float32_logits_give_float32_gradient():
    loss = SoftmaxCrossEntropy()
    loss.forward(np.zeros((2, 3), np.float32), np.array([0, 1], np.int32))
    assert loss.backward().dtype == np.float32, "dlogits keep the logits' dtype"


BAD = [
    ("float labels", np.zeros((3, 4)), np.array([0.0, 1.0, 2.0]), TypeError, "integer dtype"),
    ("bool labels", np.zeros((3, 4)), np.array([True, False, True]), TypeError, "integer dtype"),
    ("list labels", np.zeros((3, 4)), [0, 1, 2], TypeError, "numpy.ndarray"),
    ("2-D labels", np.zeros((3, 4)), np.zeros((3, 1), np.int64), ValueError, "1-D"),
    ("label count", np.zeros((3, 4)), np.array([0, 1]), ValueError, "2 labels for 3 rows"),
    ("label too large", np.zeros((3, 4)), np.array([0, 4, 1]), ValueError, r"0\.\.3 .* got 4"),
    ("negative label", np.zeros((3, 4)), np.array([0, -1, 1]), ValueError, "got -1"),
    ("1-D logits", np.zeros(4), np.array([0]), ValueError, "2-D"),
    ("int logits", np.zeros((3, 4), np.int64), np.array([0, 1, 2]), TypeError, "int64"),
    ("float16 logits", np.zeros((3, 4), np.float16), np.array([0, 1, 2]), TypeError, "float16"),
    ("no classes", np.zeros((3, 0)), np.array([0, 1, 2]), ValueError, "at least one class"),
]


@pytest.mark.parametrize("logits, labels, error, message", [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_bad_inputs(logits, labels, error, message):
    with pytest.raises(error, match=message):
        SoftmaxCrossEntropy().forward(logits, labels)

