"""Conv2d and MaxPool2d against torch.nn.Conv2d / MaxPool2d with copied weights, in float64."""
import numpy as np
import pytest

from numpy_adam.nn.conv import Conv2d
from numpy_adam.nn.pooling import MaxPool2d

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

ATOL = 1e-10


def torch_grads(module, x, dy):
    """Forward x through a torch module, backward dy; return y, dx as numpy."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = module(xt)
    yt.backward(torch.tensor(dy, dtype=torch.float64))
    return yt.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("in_c, out_c, kernel, stride, padding, bias, shape", [
    (3, 4, 3, 1, 0, True, (2, 3, 8, 8)),
    (3, 5, 5, 1, 2, True, (4, 3, 7, 9)),
    (2, 3, 3, 2, 1, False, (3, 2, 9, 7)),
    (1, 2, (3, 5), (2, 1), (1, 2), True, (2, 1, 8, 10)),
    (4, 2, 1, 1, 0, True, (1, 4, 5, 6)),
    (2, 2, 4, 3, 2, True, (2, 2, 11, 10)),
])
def test_conv2d_matches_torch(in_c, out_c, kernel, stride, padding, bias, shape):
    rng = np.random.default_rng(0)
    ours = Conv2d(in_c, out_c, kernel, stride=stride, padding=padding, bias=bias,
                  rng=np.random.default_rng(1), dtype=np.float64)
    theirs = torch.nn.Conv2d(in_c, out_c, kernel, stride=stride, padding=padding, bias=bias,
                             dtype=torch.float64)
    with torch.no_grad():
        for name, p in ours.named_parameters():
            getattr(theirs, name).copy_(torch.from_numpy(p.data))
    assert list(ours.state_dict()) == list(theirs.state_dict()), "state_dict keys differ from torch"
    x = rng.standard_normal(shape)
    y = ours(x)
    dy = rng.standard_normal(y.shape)
    dx = ours.backward(dy)
    y_t, dx_t = torch_grads(theirs, x, dy)
    np.testing.assert_allclose(y, y_t, rtol=0, atol=ATOL, err_msg="forward differs from torch")
    np.testing.assert_allclose(dx, dx_t, rtol=0, atol=ATOL, err_msg="dx differs from torch")
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=0, atol=ATOL,
                               err_msg="dW differs from torch")
    if bias:
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=0, atol=ATOL,
                                   err_msg="db differs from torch")


def test_state_dict_moves_both_ways():
    ours = Conv2d(3, 4, 3, rng=np.random.default_rng(2))
    theirs = torch.nn.Conv2d(3, 4, 3)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    back = Conv2d(3, 4, 3, rng=np.random.default_rng(3))
    back.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value,
                                      err_msg=f"{key} changed on the round trip")


@pytest.mark.parametrize("kernel, stride, shape", [
    (2, None, (2, 3, 8, 8)),
    (3, 3, (3, 2, 7, 9)),
    (3, 2, (2, 2, 9, 7)),
    (2, 1, (1, 3, 6, 5)),
    ((3, 2), (1, 2), (2, 1, 8, 9)),
])
def test_maxpool2d_matches_torch(kernel, stride, shape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)  # continuous values: no ties
    ours = MaxPool2d(kernel, stride)
    y = ours(x)
    dy = rng.standard_normal(y.shape)
    dx = ours.backward(dy)
    y_t, dx_t = torch_grads(torch.nn.MaxPool2d(kernel, stride), x, dy)
    np.testing.assert_allclose(y, y_t, rtol=0, atol=ATOL, err_msg="forward differs from torch")
    np.testing.assert_allclose(dx, dx_t, rtol=0, atol=ATOL, err_msg="dx differs from torch")


def test_initialization_distribution_matches_torch_bounds():
    """Same U(±1/√fan_in) bounds as torch's default init (the draws themselves differ)."""
    with torch.random.fork_rng():  # seed torch's init without touching the caller's generator
        torch.manual_seed(0)
        theirs = torch.nn.Conv2d(6, 64, 5)
    ours = Conv2d(6, 64, 5, rng=np.random.default_rng(5))
    for name in ("weight", "bias"):
        t_max = float(getattr(theirs, name).detach().abs().max())
        o_max = float(np.abs(getattr(ours, name).data).max())
        bound = 1.0 / np.sqrt(6 * 5 * 5)
        assert t_max <= bound + 1e-7 and o_max <= bound + 1e-7, (name, t_max, o_max, bound)
        assert o_max > 0.9 * bound and t_max > 0.9 * bound, f"{name}: both should fill ±{bound:.4f}"
