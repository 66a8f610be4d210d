"""Cross-checks against PyTorch (float64, copied weights): outputs, every gradient and the
batchnorm running statistics of Linear, BatchNorm1d/2d, ReLU and the loss."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from numpy_adam.nn.activation import Flatten, ReLU  # noqa: E402
from numpy_adam.nn.batchnorm import BatchNorm1d, BatchNorm2d  # noqa: E402
from numpy_adam.nn.linear import Linear  # noqa: E402
from numpy_adam.nn.loss import SoftmaxCrossEntropy  # noqa: E402

pytestmark = pytest.mark.torch
F64 = np.float64
RTOL = 1e-10


def assert_close(ours, theirs, name):
    """Agreement to RTOL relative to the reference's scale (float64 on both sides)."""
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} vs torch {theirs.shape}"
    scale = max(float(np.max(np.abs(theirs), initial=0.0)), 1e-300)
    err = float(np.max(np.abs(ours - theirs), initial=0.0)) / scale
    assert err < RTOL, f"{name}: max |ours − torch| / max |torch| = {err:.2e}"


def _load_into_torch(ours, twin):
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})


def _forward_backward(ours, twin, x, dy):
    """Run both; return (y, dx) of ours and of torch."""
    y = ours.forward(x)
    dx = ours.backward(dy)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = twin(xt)
    yt.backward(torch.from_numpy(dy))
    return (y, dx), (yt, xt.grad)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch", [1, 7])
def test_linear_matches_torch(bias, batch):
    rng = np.random.default_rng(0)
    ours = Linear(6, 4, bias=bias, rng=rng, dtype=F64)
    twin = torch.nn.Linear(6, 4, bias=bias).double()
    _load_into_torch(ours, twin)
    x, dy = rng.standard_normal((batch, 6)), rng.standard_normal((batch, 4))
    (y, dx), (yt, dxt) = _forward_backward(ours, twin, x, dy)
    assert_close(y, yt, "y")
    assert_close(dx, dxt, "dx")
    for name, p in ours.named_parameters():
        assert_close(p.grad, dict(twin.named_parameters())[name].grad, f"d{name}")


BN_CASES = [
    (BatchNorm2d, torch.nn.BatchNorm2d, 3, (7, 3, 4, 5)),
    (BatchNorm1d, torch.nn.BatchNorm1d, 5, (7, 5)),
    (BatchNorm1d, torch.nn.BatchNorm1d, 3, (7, 3, 6)),
]


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("ours_cls, torch_cls, features, shape", BN_CASES,
                         ids=["2d", "1d (N, C)", "1d (N, C, L)"])
def test_batchnorm_matches_torch_in_train_and_eval(ours_cls, torch_cls, features, shape, momentum):
    rng = np.random.default_rng(1)
    ours = ours_cls(features, momentum=momentum, dtype=F64)
    ours.weight.data[...] = rng.uniform(0.5, 1.5, features)
    ours.bias.data[...] = rng.standard_normal(features)
    twin = torch_cls(features, momentum=momentum).double()
    _load_into_torch(ours, twin)
    twin.train()
    for step in range(3):  # a few training steps: outputs, gradients, running statistics
        x, dy = 1.0 + 2.0 * rng.standard_normal(shape), rng.standard_normal(shape)
        (y, dx), (yt, dxt) = _forward_backward(ours, twin, x, dy)
        assert_close(y, yt, f"train y, step {step}")
        assert_close(dx, dxt, f"train dx, step {step}")
        assert_close(ours.weight.grad, twin.weight.grad, f"train dweight, step {step}")
        assert_close(ours.bias.grad, twin.bias.grad, f"train dbias, step {step}")
        twin.zero_grad()
        assert_close(ours.running_mean, twin.running_mean, f"running_mean, step {step}")
        assert_close(ours.running_var, twin.running_var, f"running_var, step {step}")
        assert int(ours.num_batches_tracked) == int(twin.num_batches_tracked), "num_batches_tracked"
    ours.eval()
    twin.eval()
    x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
    (y, dx), (yt, dxt) = _forward_backward(ours, twin, x, dy)
    assert_close(y, yt, "eval y")
    assert_close(dx, dxt, "eval dx")
    assert_close(ours.weight.grad, twin.weight.grad, "eval dweight")
    assert_close(ours.bias.grad, twin.bias.grad, "eval dbias")


def test_relu_and_flatten_match_torch():
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((3, 2, 4, 4)), rng.standard_normal((3, 2, 4, 4))
    (y, dx), (yt, dxt) = _forward_backward(ReLU(), torch.nn.ReLU(), x, dy)
    assert_close(y, yt, "ReLU y")
    assert_close(dx, dxt, "ReLU dx")
    dy_flat = rng.standard_normal((3, 32))
    (y, dx), (yt, dxt) = _forward_backward(Flatten(), torch.nn.Flatten(), x, dy_flat)
    assert_close(y, yt, "Flatten y")
    assert_close(dx, dxt, "Flatten dx")


@pytest.mark.parametrize("n, k", [(1, 3), (8, 10)])
def test_loss_matches_torch_cross_entropy(n, k):
    rng = np.random.default_rng(3)
    logits, labels = 3.0 * rng.standard_normal((n, k)), rng.integers(0, k, size=n)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, labels)
    dlogits = loss.backward()
    zt = torch.from_numpy(logits.copy()).requires_grad_(True)
    vt = F.cross_entropy(zt, torch.from_numpy(labels))
    vt.backward()
    assert_close(np.array(value), vt, "loss")
    assert_close(dlogits, zt.grad, "dlogits")
