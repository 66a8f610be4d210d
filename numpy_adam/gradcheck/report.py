"""``numpy-adam gradcheck``: every layer's backward against finite differences, as a table.

Runs :func:`numpy_adam.gradcheck.check_module` (float64, centred differences, random
upstream gradient) over every layer type and configuration the CNN relies on and a few it
does not — Conv2d (stride, padding, rectangular kernels, no bias), MaxPool2d (overlapping
and not, random normal inputs so windows are tie-free), BatchNorm2d/1d in train and eval
mode, Linear, ReLU (inputs away from the kink), Flatten — then
:func:`~numpy_adam.gradcheck.check_loss` on SoftmaxCrossEntropy and finally a tiny float64
CifarCNN together with the loss (:class:`ModelWithLoss`). All of these are the reference
tier (plain NumPy); the fast tier that training runs (FastCifarCNN and its Numba stages) is
tested against them in tests/nn/test_fast_tier.py and tests/models/test_cifar_cnn_fast.py.

Tolerances: max relative error < 1e-7 for every tensor. The relative error's denominator
is floored (``floor`` of :func:`~numpy_adam.gradcheck.relative_error`), because a centred
difference carries an absolute round-off of a few ulps of the probe L = Σ u·y over h:
≈ 1e-11 … 1e-10 for single layers at h = 1e-6. On an element whose true gradient is
1e-5 that is a 1e-6 *relative* error although nothing is wrong, and such elements turn up
for some seeds. So:

* single layers: floor 1e-3 — agreement to 1e-7 relative above 1e-3, to 1e-10 absolute
  below (the gradients are of order 1);
* the whole network: floor 0.1 and h = 2e-6. Its conv and fc biases sit right before
  train-mode batchnorm, so their true gradient is exactly 0; most input and weight
  gradients of the mean loss are small (1e-6 … 1e-3); and a larger h crosses ReLU and
  max-pool kinks (with widths 2 and 3, each conv1 weight moves many pre-activations).
  The check then demands agreement to 1e-8 absolute below 0.1 and 1e-7 relative above.

Both are many orders of magnitude below the error of a real mistake (a missing term, a
wrong transpose, a skipped layer); the tests show that a 1 % error in one layer's
backward fails the whole-network check. Over 40 seeds the worst errors were about 3e-8
(layers) and 1e-8 (network).
"""
from __future__ import annotations

import numbers
import time

import numpy as np

from numpy_adam.models.cifar_cnn import CifarCNN

from .check import GradCheckResult, check_loss, check_module
from ..nn.activation import Flatten, ReLU
from ..nn.batchnorm import BatchNorm1d, BatchNorm2d
from ..nn.conv import Conv2d
from ..nn.linear import Linear
from ..nn.loss import SoftmaxCrossEntropy
from ..nn.module import Module
from ..nn.pooling import MaxPool2d

TOL = 1e-7
LAYER_FLOOR = 1e-3
NETWORK_H, NETWORK_FLOOR = 2e-6, 0.1
F64 = np.float64


class ModelWithLoss(Module):
    """A model followed by SoftmaxCrossEntropy on fixed labels, as one Module for checks.

    forward(x) -> the mean loss as a 0-d array (so check_module's upstream is a scalar u);
    backward(u) -> dx = model.backward(u · ∂loss/∂logits). Parameters are the model's,
    named ``"model.<name>"``.
    """

    def __init__(self, model: Module, labels: np.ndarray):
        super().__init__()
        self.model = model
        self.labels = labels  # (N,) integers
        self.loss = SoftmaxCrossEntropy()

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.array(self.loss.forward(self.model.forward(x), self.labels))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.model.backward(self.loss.backward() * dy)


def _trained_bn(bn: Module, shape: tuple, rng: np.random.Generator, steps: int = 3) -> Module:
    """Run a few training forwards on shifted, scaled data so the running statistics are
    far from their initial 0 and 1, then switch to eval mode."""
    for _ in range(steps):
        bn.forward(2.0 + 3.0 * rng.standard_normal(shape))
    return bn.eval()


def _away_from_zero(shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Random signs, magnitudes ≥ 0.1: no element within h of ReLU's kink."""
    return rng.choice([-1.0, 1.0], size=shape) * (0.1 + np.abs(rng.standard_normal(shape)))


def layer_cases(rng: np.random.Generator) -> list[tuple[str, Module, np.ndarray]]:
    """(label, float64 module, float64 input) for every layer configuration checked."""
    normal = rng.standard_normal
    bn2d_eval = _trained_bn(BatchNorm2d(3, dtype=F64), (7, 3, 3, 3), rng)
    bn1d_eval = _trained_bn(BatchNorm1d(5, dtype=F64), (7, 5), rng)
    return [
        ("Conv2d 3→4 k3 s1 p0", Conv2d(3, 4, 3, rng=rng, dtype=F64), normal((2, 3, 7, 7))),
        ("Conv2d 3→4 k3 s2 p1", Conv2d(3, 4, 3, stride=2, padding=1, rng=rng, dtype=F64),
         normal((2, 3, 7, 7))),
        ("Conv2d 2→3 k(3,2) s(2,1) p(1,0) no bias",
         Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), bias=False, rng=rng, dtype=F64),
         normal((2, 2, 6, 5))),
        ("Conv2d 3→2 k5 s1 p2 (CNN's)", Conv2d(3, 2, 5, padding=2, rng=rng, dtype=F64),
         normal((2, 3, 6, 6))),
        ("MaxPool2d k2 s2", MaxPool2d(2), normal((2, 3, 6, 6))),
        ("MaxPool2d k3 s2 (overlapping)", MaxPool2d(3, stride=2), normal((2, 3, 7, 7))),
        ("BatchNorm2d train", BatchNorm2d(3, dtype=F64), normal((7, 3, 3, 3))),
        ("BatchNorm2d eval", bn2d_eval, normal((7, 3, 3, 3))),
        ("BatchNorm1d train (N, C)", BatchNorm1d(5, dtype=F64), normal((7, 5))),
        ("BatchNorm1d train (N, C, L)", BatchNorm1d(3, dtype=F64), normal((7, 3, 4))),
        ("BatchNorm1d eval", bn1d_eval, normal((7, 5))),
        ("Linear 6→4", Linear(6, 4, rng=rng, dtype=F64), normal((7, 6))),
        ("Linear 6→4 no bias, batch 1", Linear(6, 4, bias=False, rng=rng, dtype=F64),
         normal((1, 6))),
        ("ReLU", ReLU(), _away_from_zero((3, 2, 4, 4), rng)),
        ("Flatten", Flatten(), normal((3, 2, 3, 4))),
    ]


def network_case(rng: np.random.Generator) -> tuple[str, ModelWithLoss, np.ndarray]:
    """A tiny float64 CifarCNN (widths 2, 3, hidden 5) with the loss on a batch of four
    8×8 images (8 → 4 → 2 through the pools; only fc1's width differs from 32×32, and
    4 samples keep batchnorm's statistics non-degenerate)."""
    model = CifarCNN(channels=(2, 3), hidden=5, rng=rng, dtype=F64, image_size=8)
    x = rng.standard_normal((4, 3, 8, 8))
    labels = rng.integers(0, model.num_classes, size=4)
    return "CifarCNN(2, 3, hidden 5) 8×8 + loss *", ModelWithLoss(model, labels), x


def _row(layer: str, result: GradCheckResult) -> str:
    verdict = "pass" if result.passed else "FAIL"
    return f"{layer:<40} {result.tensor:<22} {result.max_rel_error:>13.2e}  {verdict}"


def run_report(seed: int = 0) -> int:
    """Run every check, print one row per (layer, tensor) and a summary line.

    Returns 0 when every check passes, 1 otherwise (the CLI's exit status).
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"run_report: seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    print(f"gradient check: float64, centred differences, max relative error < {TOL:g} "
          f"(denominator floor {LAYER_FLOOR:g}; seed {seed})")
    print(f"{'layer':<40} {'tensor':<22} {'max rel error':>13}  result")
    print("-" * 84)
    results = []
    for label, module, x in layer_cases(rng):
        for result in check_module(module, x, rng, tol=TOL, floor=LAYER_FLOOR):
            results.append(result)
            print(_row(label, result), flush=True)

    logits = rng.standard_normal((7, 10))
    labels = rng.integers(0, 10, size=7)
    result = check_loss(SoftmaxCrossEntropy(), logits, labels, tol=TOL, floor=LAYER_FLOOR)
    results.append(result)
    print(_row("SoftmaxCrossEntropy", result), flush=True)

    label, module, x = network_case(rng)
    for result in check_module(module, x, rng, h=NETWORK_H, tol=TOL, floor=NETWORK_FLOOR):
        results.append(result)
        print(_row(label, result), flush=True)

    print("-" * 84)
    print(f"* whole network: h = {NETWORK_H:g}, denominator floor {NETWORK_FLOOR:g}; finite "
          "differences of the loss\n  are not accurate to 1e-7 relative on its tiny gradients "
          "(see numpy_adam.gradcheck.report)")
    failed = sum(not r.passed for r in results)
    elapsed = time.perf_counter() - start
    if failed:
        print(f"gradcheck: {failed} of {len(results)} checks FAILED ({elapsed:.1f} s)")
        return 1
    print(f"gradcheck: all {len(results)} checks passed ({elapsed:.1f} s)")
    return 0
