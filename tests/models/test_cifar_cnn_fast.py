"""FastCifarCNN against CifarCNN: the same parameters and state_dict; each fast stage against
the reference layers it replaces, inside the network; and the whole network (logits, every
parameter gradient, running statistics), in train and eval mode, float64 and float32.

Tolerance, per tensor, max |fast − reference| / max |reference|:
    float64  1e-12
    float32  1e-4   (through two batchnorms whose statistics the fast tier sums in float64)
Except the conv and fc1 biases in train mode: they sit right before a batchnorm, so their
true gradient is exactly 0 and both sides hold only rounding noise, below 1e-12 (float64)
or 1e-5 (float32) in absolute value.
Every test here but the *cifar_size* cases also runs under NUMBA_DISABLE_JIT=1
(tests/nn/test_no_jit.py), so the kernels are checked as plain Python too.
"""
import numpy as np
import pytest

from numpy_adam.gradcheck import max_relative_difference
from numpy_adam.nn.fast_conv import swap_batch_and_channels as cm
from numpy_adam.models.cifar_cnn import CifarCNN
from numpy_adam.models.cifar_cnn_fast import FastCifarCNN
from numpy_adam.nn.loss import SoftmaxCrossEntropy

REL = {np.float64: 1e-12, np.float32: 1e-4}
ZERO = {np.float64: 1e-12, np.float32: 1e-5}
BEFORE_TRAIN_BATCHNORM = ("conv1.bias", "conv2.bias", "fc1.bias")  # true gradient 0 in train mode
DTYPES = [np.float64, np.float32]
DTYPE_IDS = ["float64", "float32"]
TINY = dict(channels=(3, 4), hidden=6, image_size=8)
CIFAR_SIZE = dict()  # the defaults: channels (16, 32), k = 5, hidden 128, 32×32


def assert_matches(fast, reference, dtype, what):
    assert fast.shape == reference.shape and fast.dtype == reference.dtype, (what, fast.dtype)
    err = max_relative_difference(fast, reference)
    assert err < REL[dtype], f"{what}: relative error {err:.1e} > {REL[dtype]:g}"


def twins(dtype, mode, seed=0, warm_batch=8, **config):
    """(CifarCNN, FastCifarCNN) with the same weights; for eval mode both first run one
    training forward/backward on the same batch, so the running statistics have moved."""
    models = (CifarCNN(rng=np.random.default_rng(seed), dtype=dtype, **config),
              FastCifarCNN(rng=np.random.default_rng(seed), dtype=dtype, **config))
    if mode == "eval":
        s = models[0].image_size
        warm = (1.0 + 2.0 * np.random.default_rng(seed + 1).standard_normal((warm_batch, 3, s, s)))
        for model in models:
            model.backward(np.zeros_like(model.forward(warm.astype(dtype))))
            model.eval()
    return models


def test_same_parameters_state_dict_and_flat_layout():
    reference, fast = twins(np.float32, "train", **TINY)
    assert isinstance(fast, CifarCNN), "a subclass: constructor, checks and state are inherited"
    ref_state, fast_state = reference.state_dict(), fast.state_dict()
    assert list(fast_state) == list(ref_state), "the fast stages add no state_dict keys"
    for key in ref_state:
        np.testing.assert_array_equal(fast_state[key], ref_state[key], err_msg=key)
    assert fast.flat.names == reference.flat.names
    assert all(p.data.base is fast.flat.data for p in fast.parameters()), "flat views"
    other = FastCifarCNN(rng=np.random.default_rng(9), **TINY)
    other.load_state_dict(ref_state)  # and back: either way
    np.testing.assert_array_equal(other.flat.data, reference.flat.data)


def test_constructor_checks_are_inherited_and_name_the_class():
    with pytest.raises(ValueError, match="FastCifarCNN: kernel_size must be odd"):
        FastCifarCNN(kernel_size=4)
    with pytest.raises(ValueError, match=r"FastCifarCNN: expected 8×8 images"):
        FastCifarCNN(**TINY).forward(np.zeros((2, 3, 16, 16), np.float32))


def _stages_forward(reference, fast, x, dtype):
    """Each fast stage fed the reference's input to that stage; returns the reference's
    intermediate activations for the backward comparison."""
    r = reference
    a1 = r.conv1(x)
    assert_matches(cm(fast.conv1_cn.forward(fast.to_channel_major(x))), a1, dtype, "conv1 y")
    b1 = r.pool1(r.relu1(r.bn1(a1)))
    assert_matches(cm(fast.block1.forward(cm(a1))), b1, dtype, "block1 y")
    a2 = r.conv2(b1)
    assert_matches(cm(fast.conv2_cn.forward(cm(b1))), a2, dtype, "conv2 y")
    b2 = r.pool2(r.relu2(r.bn2(a2)))
    assert_matches(cm(fast.block2.forward(cm(a2))), b2, dtype, "block2 y")
    flat = r.flatten_features(b2)
    np.testing.assert_array_equal(fast.flatten_cn(cm(b2)), flat, err_msg="flatten_cn")
    for layer in ("bn1", "bn2"):
        for name in ("running_mean", "running_var"):
            assert_matches(getattr(getattr(fast, layer), name), getattr(getattr(r, layer), name),
                           dtype, f"{layer}.{name}")
    return flat.shape, b2.shape, a2.shape, b1.shape, a1.shape


def _stages_backward(reference, fast, shapes, rng, dtype):
    """Each fast stage fed the same upstream gradient as the reference layers it replaces."""
    r, f = reference, fast
    flat_shape, b2_shape, a2_shape, b1_shape, a1_shape = shapes
    d = rng.standard_normal(flat_shape).astype(dtype)
    np.testing.assert_array_equal(cm(f.unflatten_cn(d)), r.flatten_features.backward(d),
                                  err_msg="unflatten_cn")
    d = rng.standard_normal(b2_shape).astype(dtype)
    assert_matches(cm(f.block2.backward(cm(d))),
                   r.bn2.backward(r.relu2.backward(r.pool2.backward(d))), dtype, "block2 dx")
    d = rng.standard_normal(a2_shape).astype(dtype)
    assert_matches(cm(f.conv2_cn.backward(cm(d))), r.conv2.backward(d), dtype, "conv2 dx")
    d = rng.standard_normal(b1_shape).astype(dtype)
    assert_matches(cm(f.block1.backward(cm(d))),
                   r.bn1.backward(r.relu1.backward(r.pool1.backward(d))), dtype, "block1 dx")
    d = rng.standard_normal(a1_shape).astype(dtype)
    r.conv1.backward(d)
    assert f.conv1_cn.backward_params_only(cm(d)) is None
    ref_params = dict(r.named_parameters())
    for name, p in f.named_parameters():
        if name.split(".")[0] in ("conv1", "bn1", "conv2", "bn2"):
            assert_matches(p.grad, ref_params[name].grad, dtype, f"d{name}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("config", [TINY, CIFAR_SIZE], ids=["tiny", "cifar_size"])
def test_each_stage_matches_the_reference_layers(config, mode, dtype):
    reference, fast = twins(dtype, mode, **config)
    rng = np.random.default_rng(1)
    s = reference.image_size
    x = rng.standard_normal((4, 3, s, s)).astype(dtype)
    shapes = _stages_forward(reference, fast, x, dtype)
    _stages_backward(reference, fast, shapes, rng, dtype)


def _step(model, x, labels):
    loss = SoftmaxCrossEntropy()
    logits = model.forward(x)
    loss.forward(logits, labels)
    return logits, model.backward(loss.backward())


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("config, batch", [(TINY, 4), (CIFAR_SIZE, 8)], ids=["tiny", "cifar_size"])
def test_whole_network_matches_the_reference(config, batch, mode, dtype):
    """Batches of 4 or more: with 2 samples, train-mode bn3 maps each feature to ±1 and its
    input gradient vanishes (up to ε), so below bn3 there would be only rounding to compare."""
    reference, fast = twins(dtype, mode, **config)
    rng = np.random.default_rng(2)
    s = reference.image_size
    for step in range(2):  # the second step starts from the running statistics of the first
        x = rng.standard_normal((batch, 3, s, s)).astype(dtype)
        labels = rng.integers(0, reference.num_classes, size=batch)
        logits, dx = _step(reference, x, labels)
        fast_logits, fast_dx = _step(fast, x, labels)
        assert dx.shape == x.shape and fast_dx is None, "the fast twin computes no input gradient"
        assert_matches(fast_logits, logits, dtype, f"logits, step {step}")
        ref_params = dict(reference.named_parameters())
        for name, p in fast.named_parameters():
            if mode == "train" and name in BEFORE_TRAIN_BATCHNORM:
                noise = max(np.max(np.abs(p.grad)), np.max(np.abs(ref_params[name].grad)))
                assert noise < ZERO[dtype], f"d{name} should be 0 up to rounding, got {noise:.1e}"
            else:
                assert_matches(p.grad, ref_params[name].grad, dtype, f"d{name}, step {step}")
        ref_state = reference.state_dict()
        for key, value in fast.state_dict().items():
            if key.endswith("num_batches_tracked"):
                assert value == ref_state[key], key
            else:
                assert_matches(value, ref_state[key], dtype, f"{key}, step {step}")


def test_eval_after_train_and_dtype_casts_keep_the_stages_in_step():
    """The stages read their layers at call time: mode switches and .to(dtype) apply."""
    reference, fast = twins(np.float32, "train", **TINY)
    for model in (reference, fast):
        model.double()
        model.flatten()
        model.eval()
    x = np.random.default_rng(3).standard_normal((3, 3, 8, 8))
    assert_matches(fast.forward(x), reference.forward(x), np.float64, "logits after .double()")
