"""The gradcheck report passes on the real layers, and the checks it runs can fail."""
import numpy as np
import pytest

import numpy_adam.gradcheck.report as report
from numpy_adam.models.cifar_cnn import CifarCNN
from numpy_adam.gradcheck import check_module
from numpy_adam.nn.activation import ReLU
from numpy_adam.nn.linear import Linear

LAYER_LABELS = ["Conv2d", "MaxPool2d k2 s2", "MaxPool2d k3 s2 (overlapping)",
                "BatchNorm2d train", "BatchNorm2d eval", "BatchNorm1d train", "BatchNorm1d eval",
                "Linear", "ReLU", "Flatten", "SoftmaxCrossEntropy", "CifarCNN"]


class OffInputGradLinear(Linear):
    """A Linear whose dx is 1 % too large (its weight gradient stays right)."""

    def backward(self, dy):
        return 1.01 * super().backward(dy)


class OffWeightGradLinear(Linear):
    """A Linear whose weight gradient misses the last sample (its dx stays right)."""

    def backward(self, dy):
        x = self._cache.x
        dx = super().backward(dy)
        self.weight.grad[...] -= np.outer(dy[-1], x[-1])
        return dx


class OffReLU(ReLU):
    """A ReLU whose backward is 1 % too large."""

    def backward(self, dy):
        return 1.01 * super().backward(dy)


def test_report_passes_and_prints_a_row_per_layer(capsys):
    status = report.run_report(seed=0)
    out = capsys.readouterr().out
    assert status == 0, f"run_report returned {status}:\n{out}"
    lines = out.splitlines()
    for label in LAYER_LABELS:
        assert any(line.startswith(label) for line in lines), f"no row for {label!r}:\n{out}"
    rows = [line for line in lines if line.endswith(("pass", "FAIL"))]
    assert rows and all(line.endswith("pass") for line in rows), f"every row must pass:\n{out}"
    network_rows = [line for line in rows if line.startswith("CifarCNN")]
    assert len(network_rows) == 1 + 14, f"input and 14 parameter tensors of the CNN:\n{out}"
    assert lines[-1].startswith(f"gradcheck: all {len(rows)} checks passed"), lines[-1]


@pytest.mark.parametrize("layer_cls, failing", [
    (OffInputGradLinear, {"input"}),
    (OffWeightGradLinear, {"weight"}),
])
def test_check_module_fails_on_a_wrong_backward(layer_cls, failing):
    rng = np.random.default_rng(0)
    layer = layer_cls(5, 3, rng=rng, dtype=np.float64)
    results = check_module(layer, rng.standard_normal((4, 5)), rng, tol=report.TOL,
                           floor=report.LAYER_FLOOR)
    failed = {r.tensor for r in results if not r.passed}
    assert failed == failing, f"expected exactly {failing} to fail, got {results}"
    worst = max(r.max_rel_error for r in results)
    assert worst > 1e-3, f"a wrong gradient must be far above tolerance, got {worst:.2e}"


def test_whole_network_check_catches_a_one_percent_error_in_one_layer():
    rng = np.random.default_rng(0)
    model = CifarCNN(channels=(2, 3), hidden=5, rng=rng, dtype=np.float64, image_size=8)
    model.relu2 = OffReLU()  # everything upstream of relu2 gets a 1 % wrong gradient
    wrapped = report.ModelWithLoss(model, rng.integers(0, 10, size=4))
    results = check_module(wrapped, rng.standard_normal((4, 3, 8, 8)), rng, h=report.NETWORK_H,
                           tol=report.TOL, floor=report.NETWORK_FLOOR)
    failed = {r.tensor for r in results if not r.passed}
    assert {"input", "model.conv1.weight", "model.conv2.weight"} <= failed, \
        f"layers before relu2 must fail even with the network floor: {results}"
    assert not failed & {"model.fc1.weight", "model.fc2.weight", "model.bn3.weight"}, \
        f"layers after relu2 are right and must pass: {results}"


def test_report_returns_1_and_says_so_when_a_check_fails(monkeypatch, capsys):
    def broken_cases(rng):
        return [("Broken Linear", OffInputGradLinear(4, 2, rng=rng, dtype=np.float64),
                 rng.standard_normal((3, 4)))]

    def small_network(rng):  # keeps this test fast; the real network is checked above
        model = Linear(4, 10, rng=rng, dtype=np.float64)
        wrapped = report.ModelWithLoss(model, np.array([1, 7]))
        return "Linear + loss", wrapped, rng.standard_normal((2, 4))

    monkeypatch.setattr(report, "layer_cases", broken_cases)
    monkeypatch.setattr(report, "network_case", small_network)
    status = report.run_report(seed=0)
    out = capsys.readouterr().out
    assert status == 1, f"a failing check must give status 1:\n{out}"
    assert any(line.startswith("Broken Linear") and line.endswith("FAIL")
               for line in out.splitlines()), out
    assert "1 of" in out.splitlines()[-1] and "FAILED" in out.splitlines()[-1], out


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError, match="seed"):
        report.run_report(seed=seed)
