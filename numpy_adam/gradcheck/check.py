"""Gradient checks: a module's backward against centred finite differences, in float64.

For a module f with input x, parameters θ and a random upstream gradient u (same shape as
y = f(x)), the scalar probe is

    L(x, θ) = Σ_i u_i · f(x, θ)_i ,

so ∂L/∂x = backward(u) and ∂L/∂θ = θ.grad after that backward. Each element is compared
with the centred difference, contracted with u *after* subtracting the outputs,

    ∂L/∂z_j ≈ Σ_i u_i · (f(z + h e_j)_i − f(z − h e_j)_i) / (2h),

so outputs that do not depend on z_j cancel exactly instead of adding round-off (as in
CS231n's ``eval_numerical_gradient_array``). The error is O(h²) (truncation) plus
O(ε_machine·|y|/h) (round-off) over the affected outputs. The reported error per tensor is

    max_j |a_j − n_j| / max(|a_j| + |n_j|, floor)

(a the analytic, n the numerical gradient): relative where gradients are large, absolute
below ``floor``, so elements whose true gradient is 0 (or ~1e-5) do not divide by round-off.
The default floor 1e-3 with tolerance 1e-7 still demands an absolute error below 1e-10 on
such elements; at floor 1e-6, round-off of ~1e-11 on gradients of ~1e-5 failed correct
layers for some seeds.

Buffers (batchnorm running statistics) are restored after every probe, so a check leaves
the module as it found it, and the probe is evaluated in the module's current mode
(train or eval).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..nn.module import Module


@dataclass(frozen=True)
class GradCheckResult:
    """One tensor's check: ``tensor`` is "input" or a parameter name."""

    tensor: str
    max_rel_error: float
    passed: bool


def relative_error(analytic: np.ndarray, numerical: np.ndarray, floor: float = 1e-3) -> float:
    """max_j |a_j − n_j| / max(|a_j| + |n_j|, floor); 0.0 for empty tensors."""
    if analytic.shape != numerical.shape:
        raise ValueError(f"shapes differ: analytic {analytic.shape}, numerical {numerical.shape}")
    if analytic.size == 0:
        return 0.0
    denom = np.maximum(np.abs(analytic) + np.abs(numerical), floor)
    return float(np.max(np.abs(analytic - numerical) / denom))


def numerical_gradient(f: Callable[[], "np.ndarray | float"], z: np.ndarray, h: float = 1e-5,
                       upstream: np.ndarray | None = None) -> np.ndarray:
    """Centred differences of ``Σ upstream · f()`` (or of a scalar ``f()`` when ``upstream`` is
    None) with respect to every element of ``z``.

    ``z`` is perturbed in place (and restored), so ``f`` must read it, e.g. a parameter's
    ``.data`` or the input array the closure captured.
    """
    grad = np.zeros(z.shape, dtype=np.float64)
    flat = z.reshape(-1)  # a view: z is perturbed through it
    if not np.shares_memory(flat, z):
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    gflat = grad.reshape(-1)
    for j in range(flat.size):
        original = flat[j]
        flat[j] = original + h
        plus = np.array(f(), dtype=np.float64)
        flat[j] = original - h
        minus = np.array(f(), dtype=np.float64)
        flat[j] = original
        difference = plus - minus
        gflat[j] = (difference if upstream is None else np.sum(upstream * difference)) / (2.0 * h)
    return grad


def check_module(module: Module, x: np.ndarray, rng: np.random.Generator, h: float = 1e-5,
                 tol: float = 1e-7, floor: float = 1e-3) -> list[GradCheckResult]:
    """Check ∂L/∂x and ∂L/∂θ of ``module`` at ``x`` (both float64) against finite differences.

    Returns one :class:`GradCheckResult` per tensor: the input first, then every
    parameter in ``named_parameters()`` order.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks run in float64, got input dtype {x.dtype}")
    for name, p in module.named_parameters():
        if p.data.dtype != np.float64:
            raise TypeError(f"gradient checks run in float64, parameter {name!r} is {p.data.dtype}; "
                            "call module.double() first")
    x = np.ascontiguousarray(x).copy()
    saved_buffers = {name: np.array(value, copy=True) for name, value in module.named_buffers()}

    def restore_buffers():
        for name, value in module.named_buffers():  # the buffers themselves: restore in place
            value[...] = saved_buffers[name]

    y = module.forward(x)
    upstream = rng.standard_normal(y.shape)
    analytic = {"input": module.backward(upstream)}
    for name, p in module.named_parameters():
        analytic[name] = p.grad.copy()
    restore_buffers()

    def probe() -> np.ndarray:
        value = module.forward(x).copy()
        restore_buffers()
        return value

    results = []
    targets = [("input", x)] + [(name, p.data) for name, p in module.named_parameters()]
    for name, z in targets:
        numerical = numerical_gradient(probe, z, h, upstream)
        err = relative_error(analytic[name], numerical, floor)
        results.append(GradCheckResult(name, err, err < tol))
    return results


def check_loss(loss_module, logits: np.ndarray, labels: np.ndarray, h: float = 1e-5,
               tol: float = 1e-7, floor: float = 1e-3) -> GradCheckResult:
    """Check ``loss_module.backward()`` (∂loss/∂logits) for a loss with
    ``forward(logits, labels) -> float``, in float64."""
    logits = np.ascontiguousarray(logits, dtype=np.float64).copy()
    loss_module.forward(logits, labels)
    analytic = loss_module.backward()
    numerical = numerical_gradient(lambda: float(loss_module.forward(logits, labels)), logits, h)
    err = relative_error(analytic, numerical, floor)
    return GradCheckResult("logits", err, err < tol)


def max_relative_difference(fast: np.ndarray, reference: np.ndarray) -> float:
    """max |fast − reference| / max |reference|: how far a fast twin's array is from the
    reference tier's, on the reference's own scale (the measure the tier tests bound).

    fast, reference: arrays of one shape (ValueError otherwise); an all-zero reference is
    scaled by 1e-30, so any difference from it counts as huge.
    """
    fast, reference = np.asarray(fast), np.asarray(reference)
    if fast.shape != reference.shape:
        raise ValueError(f"max_relative_difference: shapes {fast.shape} and {reference.shape} differ")
    scale = max(float(np.max(np.abs(reference), initial=0.0)), 1e-30)
    return float(np.max(np.abs(fast - reference), initial=0.0)) / scale
