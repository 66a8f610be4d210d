"""CifarCNN: shapes, flat parameters, whole-network gradient checks, state_dict, bad inputs,
and a PyTorch twin with copied weights (float64)."""
import numpy as np
import pytest

from numpy_adam.models.cifar_cnn import CifarCNN
from numpy_adam.gradcheck import check_module
from numpy_adam.gradcheck.report import NETWORK_FLOOR, NETWORK_H, TOL, ModelWithLoss
from numpy_adam.nn.loss import SoftmaxCrossEntropy

F64 = np.float64
KEYS = ["conv1.weight", "conv1.bias",
        "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
        "conv2.weight", "conv2.bias",
        "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked",
        "fc1.weight", "fc1.bias",
        "bn3.weight", "bn3.bias", "bn3.running_mean", "bn3.running_var", "bn3.num_batches_tracked",
        "fc2.weight", "fc2.bias"]


def test_shapes_dtypes_and_state_dict_keys():
    model = CifarCNN(rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((4, 3, 32, 32)).astype(np.float32)
    logits = model.forward(x)
    assert logits.shape == (4, 10) and logits.dtype == np.float32, (logits.shape, logits.dtype)
    dx = model.backward(np.ones_like(logits))
    assert dx.shape == x.shape and dx.dtype == np.float32, (dx.shape, dx.dtype)
    assert list(model.state_dict()) == KEYS, list(model.state_dict())
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes["conv1.weight"] == (16, 3, 5, 5) and shapes["conv2.weight"] == (32, 16, 5, 5)
    assert shapes["fc1.weight"] == (128, 32 * 8 * 8) and shapes["fc2.weight"] == (10, 128)


def test_parameters_are_views_of_one_flat_buffer():
    model = CifarCNN(channels=(4, 6), hidden=8, rng=np.random.default_rng(0))
    flat = model.flat
    assert flat.names == tuple(name for name, _ in model.named_parameters()), flat.names
    assert flat.data.size == sum(p.data.size for p in model.parameters())
    for p in model.parameters():
        assert p.data.base is flat.data and p.grad.base is flat.grad, f"{p} is not a flat view"
    kinds = {s.name: s.kind for s in flat.segments}
    assert [s.name for s in flat.segments if s.kind == "weight"] == \
        ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"], "kind weight: conv and fc weights"
    assert kinds["conv1.bias"] == "bias" and kinds["bn3.weight"] == "batchnorm", kinds
    assert model.flatten().data is flat.data, "flattening again must reuse the buffer"

    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((3, 3, 32, 32)).astype(np.float32), np.array([0, 3, 9])
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), labels)
    model.backward(loss.backward())
    fc2 = next(s for s in flat.segments if s.name == "fc2.weight")
    np.testing.assert_array_equal(flat.grad[fc2.offset:fc2.stop], model.fc2.weight.grad.ravel(),
                                  err_msg="gradients land in the flat gradient buffer")
    assert np.all(np.isfinite(flat.grad)) and np.any(flat.grad != 0), "a real gradient"


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_whole_network_gradcheck_with_loss(mode):
    """conv→BN→ReLU→pool→conv→BN→ReLU→pool→fc→BN→ReLU→fc + loss, float64, tiny widths,
    8×8 images (random normal inputs keep the pools tie-free). See numpy_adam.gradcheck.report
    for the floor and h of whole-network checks."""
    rng = np.random.default_rng(11)
    model = CifarCNN(channels=(2, 3), hidden=5, rng=rng, dtype=F64, image_size=8)
    if mode == "eval":
        for _ in range(3):
            model.forward(1.0 + 2.0 * rng.standard_normal((4, 3, 8, 8)))
        model.eval()
    wrapped = ModelWithLoss(model, rng.integers(0, 10, size=4))
    results = check_module(wrapped, rng.standard_normal((4, 3, 8, 8)), rng, h=NETWORK_H,
                           tol=TOL, floor=NETWORK_FLOOR)
    assert len(results) == 1 + len(list(model.parameters())), "input and every parameter checked"
    for result in results:
        assert result.passed, f"{mode} {result.tensor}: max rel error {result.max_rel_error:.2e}"


def test_initialisation_is_deterministic_per_generator():
    a = CifarCNN(channels=(2, 3), hidden=4, rng=np.random.default_rng(5)).state_dict()
    b = CifarCNN(channels=(2, 3), hidden=4, rng=np.random.default_rng(5)).state_dict()
    c = CifarCNN(channels=(2, 3), hidden=4, rng=np.random.default_rng(6)).state_dict()
    for key in KEYS:
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"same seed, different {key}")
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"]), "another seed, same weights"


def test_state_dict_round_trip_and_key_errors():
    source = CifarCNN(channels=(2, 3), hidden=4, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
    source.forward(x)  # moves the running statistics
    target = CifarCNN(channels=(2, 3), hidden=4, rng=np.random.default_rng(1))
    target.load_state_dict(source.state_dict())
    source.eval()
    target.eval()
    np.testing.assert_array_equal(target.forward(x), source.forward(x),
                                  err_msg="loaded model must compute what the source computes")
    assert target.conv1.weight.data.base is target.flat.data, "loading keeps the flat layout"

    state = source.state_dict()
    del state["bn2.running_var"]
    with pytest.raises(KeyError, match="bn2.running_var"):
        target.load_state_dict(state)
    state = source.state_dict()
    state["fc3.weight"] = np.zeros((1, 1), np.float32)
    with pytest.raises(KeyError, match="fc3.weight"):
        target.load_state_dict(state)
    state = source.state_dict()
    state["fc1.weight"] = np.zeros((4, 7), np.float32)
    with pytest.raises(ValueError, match="fc1.weight"):
        target.load_state_dict(state)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"channels": (16,)}, ValueError, "channels"),
    ({"channels": (0, 32)}, ValueError, "channels"),
    ({"channels": "ab"}, ValueError, "channels"),
    ({"kernel_size": 4}, ValueError, "odd"),
    ({"kernel_size": 0}, ValueError, "kernel_size"),
    ({"hidden": 0}, ValueError, "hidden"),
    ({"num_classes": -1}, ValueError, "num_classes"),
    ({"image_size": 10}, ValueError, "image_size"),
    ({"dtype": np.int32}, TypeError, "dtype"),
    ({"rng": 42}, TypeError, "rng"),
])
def test_bad_constructor_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        CifarCNN(**kwargs)


@pytest.mark.parametrize("x, error, message", [
    (np.zeros((2, 3, 28, 28), np.float32), ValueError, "32×32"),
    (np.zeros((2, 1, 32, 32), np.float32), ValueError, "3 channels"),
    (np.zeros((2, 3, 32), np.float32), ValueError, "4-D"),
    (np.zeros((2, 3, 32, 32), np.float16), TypeError, "float16"),
    (np.zeros((2, 3, 32, 32), np.uint8), TypeError, "uint8"),
    (np.zeros((2, 3, 32, 32), np.float64), TypeError, "does not match"),
], ids=["image size", "channels", "rank", "float16", "uint8", "dtype mismatch"])
def test_bad_forward_inputs(x, error, message):
    with pytest.raises(error, match=message):
        CifarCNN(channels=(2, 3), hidden=4).forward(x)


# ---------------------------------------------------------------------------- PyTorch twin

def _torch_twin(torch, channels, kernel_size, hidden, num_classes=10):
    from numpy_adam.models.torch_twin import torch_cifar_cnn

    return torch_cifar_cnn(torch, channels, kernel_size, hidden, num_classes).double()


def _assert_close(ours, theirs, name, rtol=1e-10, floor=1e-3):
    """Relative to the tensor's largest entry, floored: the conv and fc biases right before
    train-mode batchnorm have a true gradient of exactly 0 (both sides give ~1e-16 noise)."""
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    scale = max(float(np.max(np.abs(theirs))), floor)
    err = float(np.max(np.abs(ours - theirs))) / scale
    assert err < rtol, f"{name}: max |ours − torch| / max |torch| = {err:.2e}"


@pytest.mark.torch
def test_matches_a_torch_twin_with_copied_weights():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    ours = CifarCNN(rng=rng, dtype=F64)
    twin = _torch_twin(torch, (16, 32), 5, 128)
    assert list(twin.state_dict()) == KEYS, "the twin's keys must be ours"
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    loss = SoftmaxCrossEntropy()
    for step in range(2):  # two training steps with the same plain SGD update on both sides
        x, labels = rng.standard_normal((6, 3, 32, 32)), rng.integers(0, 10, size=6)
        value = loss.forward(ours.forward(x), labels)
        dx = ours.backward(loss.backward())
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        value_t = torch.nn.functional.cross_entropy(twin(xt), torch.from_numpy(labels))
        twin.zero_grad()
        value_t.backward()
        _assert_close(np.array(value), value_t, f"loss, step {step}")
        _assert_close(dx, xt.grad, f"dx, step {step}")
        torch_params = dict(twin.named_parameters())
        for name, p in ours.named_parameters():
            _assert_close(p.grad, torch_params[name].grad, f"d{name}, step {step}")
        ours.flat.data[...] -= 0.1 * ours.flat.grad
        with torch.no_grad():
            for p in twin.parameters():
                p -= 0.1 * p.grad
    torch_state = twin.state_dict()
    for key, value in ours.state_dict().items():
        _assert_close(value, torch_state[key], f"{key} after two steps")

    ours.eval()
    twin.eval()
    x = rng.standard_normal((5, 3, 32, 32))
    _assert_close(ours.forward(x), twin(torch.from_numpy(x)), "eval logits")


@pytest.mark.torch
def test_torch_weights_load_into_ours():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    twin = _torch_twin(torch, (4, 6), 3, 16)
    twin.train()
    with torch.no_grad():  # move the running statistics away from (0, 1)
        twin(torch.randn(8, 3, 32, 32, dtype=torch.float64))
    ours = CifarCNN(channels=(4, 6), kernel_size=3, hidden=16, dtype=F64)
    ours.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})
    ours.eval()
    twin.eval()
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32))
    _assert_close(ours.forward(x), twin(torch.from_numpy(x)), "logits with torch's weights")
    assert int(ours.bn1.num_batches_tracked) == 1, "num_batches_tracked comes across"
