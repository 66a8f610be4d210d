"""The per-sample spread probes, plain (BatchSpread) and fast (FastBatchSpread, what training
uses), against an explicit loop over samples (one backward each, with every batchnorm frozen
at the batch's statistics) in float64, and against each other in float32 and over lanes."""
import numpy as np
import pytest

from numpy_adam.models.batch_spread import BatchSpread, per_element_spread
from numpy_adam.models.batch_spread_fast import FastBatchSpread
from numpy_adam.models.cifar_cnn import CifarCNN
from numpy_adam.models.cifar_cnn_fast import LANES_MIN_BATCH, FastCifarCNN
from numpy_adam.nn import lanes as lanes_module
from numpy_adam.nn.lanes import Lanes
from numpy_adam.nn.loss import SoftmaxCrossEntropy

TINY = dict(channels=(2, 3), hidden=5, image_size=8)
BATCH = 5
PROBES = [BatchSpread, FastBatchSpread]


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((BATCH, 3, 8, 8)), rng.integers(0, 10, BATCH))


def _trained_model(dtype=np.float64, seed=1):
    """A tiny model whose batchnorm affine parameters are not the trivial 1 and 0."""
    model = CifarCNN(rng=np.random.default_rng(seed), dtype=dtype, **TINY)
    rng = np.random.default_rng(seed + 1)
    for name, p in model.named_parameters():
        if name.startswith("bn"):
            p.data = p.data + 0.3 * rng.standard_normal(p.data.shape)
    return model


def _frozen_per_sample_gradients(model, x, labels):
    """The oracle: batch statistics from a train-mode forward of the whole batch (batchnorm
    momentum 1, so the running statistics become the batch's; the unbiased variance is turned
    back into the biased one it normalised with), then, in eval mode with those statistics,
    one forward and backward per sample of its own loss l_i."""
    oracle = CifarCNN(rng=np.random.default_rng(0), dtype=np.float64, **TINY)
    oracle.load_state_dict(model.state_dict())
    for bn in (oracle.bn1, oracle.bn2, oracle.bn3):
        bn.momentum = 1.0
    oracle.train().forward(x)
    for bn, m in ((oracle.bn1, BATCH * 8 * 8), (oracle.bn2, BATCH * 4 * 4), (oracle.bn3, BATCH)):
        bn.running_var[...] *= (m - 1) / m
    oracle.eval()
    grads = {name: [] for name in ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight")}
    for i in range(BATCH):
        loss = SoftmaxCrossEntropy()
        loss.forward(oracle.forward(x[i:i + 1]), labels[i:i + 1])
        oracle.backward(loss.backward())
        params = dict(oracle.named_parameters())
        for name in grads:
            grads[name].append(params[name].grad.copy())
    return {name: np.stack(g) for name, g in grads.items()}  # (B, *shape)


@pytest.mark.parametrize("probe_cls", PROBES)
def test_moments_match_an_explicit_loop_over_samples(probe_cls):
    x, labels = _batch()
    model = _trained_model()
    moments = probe_cls(model).moments(x, labels)
    per_sample = _frozen_per_sample_gradients(model, x, labels)
    for name, g in per_sample.items():
        total, squares = moments[name]
        np.testing.assert_allclose(total, g.sum(axis=0), rtol=1e-10, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(squares, (g * g).sum(axis=0), rtol=1e-10, atol=1e-13,
                                   err_msg=name)
        g_bar, s = per_element_spread(total, squares, BATCH)
        np.testing.assert_allclose(s, g.std(axis=0, ddof=1), rtol=1e-7, atol=1e-12,
                                   err_msg=f"{name}: s is the per-sample standard deviation")


@pytest.mark.parametrize("probe_cls", PROBES)
def test_the_batchnorm_convention_is_batch_statistics_held_fixed(probe_cls):
    """With μ, σ² held fixed, the per-sample mean equals the minibatch gradient after the last
    batchnorm (fc2) and differs before one (conv1, fc1), where the true gradient also flows
    through μ and σ². Holding the statistics otherwise (running ones, or per sample) breaks the
    first equality, dropping them breaks the second."""
    x, labels = _batch(1)
    model = _trained_model(seed=3)
    moments = probe_cls(model).moments(x, labels)
    loss = SoftmaxCrossEntropy()
    model.train()
    loss.forward(model.forward(x), labels)
    model.backward(loss.backward())
    grads = {n: p.grad for n, p in model.named_parameters()}
    np.testing.assert_allclose(moments["fc2.weight"][0] / BATCH, grads["fc2.weight"], rtol=1e-10)
    for name in ("conv1.weight", "fc1.weight"):
        gap = np.max(np.abs(moments[name][0] / BATCH - grads[name])) / np.max(np.abs(grads[name]))
        assert gap > 1e-3, f"{name}: the frozen-statistics mean must differ from the true gradient"


@pytest.mark.parametrize("probe_cls", PROBES)
def test_the_probe_leaves_the_model_alone_and_reads_its_current_parameters(probe_cls):
    x, labels = _batch(2)
    model = _trained_model(dtype=np.float32, seed=4)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    probe = probe_cls(model)
    mean_abs_g, sigma = probe.measure(x.astype(np.float32), labels)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k} changed")
    assert probe.names == ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight")
    assert mean_abs_g.shape == sigma.shape == (4,) and np.all(sigma > 0) and np.all(mean_abs_g > 0)
    model.fc2.weight.data = 2.0 * model.fc2.weight.data
    again, _ = probe.measure(x.astype(np.float32), labels)
    assert again[2] != mean_abs_g[2], "a changed fc2 weight changes fc1's per-sample gradients"
    with pytest.raises(ValueError, match="at least 2 samples"):
        probe.measure(x[:1].astype(np.float32), labels[:1])


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("over_lanes", [False, True], ids=["one lane", "over lanes"])
def test_the_fast_probe_matches_the_plain_one(over_lanes, dtype, rtol, monkeypatch):
    """Same moments from a fast model's probe, on the calling thread and over three lanes
    (every stage split: at the lanes' threshold batch, and with no minimum share); float32
    within a few ulps of summed products (measured 7.8e-7 here, 2.6e-6 at CIFAR size), as the
    two order their sums differently."""
    batch = LANES_MIN_BATCH if over_lanes else BATCH
    lanes, splits = Lanes(3), []
    if over_lanes:
        monkeypatch.setattr(lanes_module, "MIN_SHARE_ELEMENTS", 1)
        monkeypatch.setattr(lanes_module, "_SHARED", lanes)  # the fast twins' lanes
        split = lanes.split
        monkeypatch.setattr(lanes, "split", lambda share, total, *args, **kwargs: (
            splits.append(total), split(share, total, *args, **kwargs)))
    rng = np.random.default_rng(7)
    x = rng.standard_normal((batch, 3, 8, 8)).astype(dtype)
    labels = rng.integers(0, 10, batch)
    model = FastCifarCNN(rng=np.random.default_rng(8), dtype=dtype, **TINY)
    plain = BatchSpread(model).moments(x, labels)
    fast = FastBatchSpread(model).moments(x, labels)
    assert list(fast) == list(plain)
    for name in plain:
        for what, a, b in zip(("sum", "sum of squares"), fast[name], plain[name]):
            assert a.dtype == np.float64 and a.shape == b.shape
            err = np.max(np.abs(a - b)) / np.max(np.abs(b))
            assert err < rtol, f"{name} {what}: relative difference {err:.1e}"
    if over_lanes:  # the probe's own per-sample products went over the lanes too
        assert batch in splits and len(splits) >= 8, splits
