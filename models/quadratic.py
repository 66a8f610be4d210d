"""The note's 1-D quadratic f(x) = x² and its diagonal N-dimensional variant.

    f(x) = Σ_i a_i x_i²            (a_i > 0 the curvatures; a = 1, D = 1 is the note's f(x) = x²)
    g    = ∇f(x) = 2 a ⊙ x

Full batch and noise-free: the gradient at a point is exact, so any spread the optimizer
sees (σ̂² = v̂ − m̂²) comes from the gradient *changing over time*, not from sampling.
That is why Adam with β1 = β2 = 0.99 does not settle at x = 0: as x → 0 the mean m̂ shrinks
faster than the spread, γ = σ̂/|m̂| grows, the step shrinks — and then overshoots, the
gradient changes sign and grows back, while gradient descent's |g| decays monotonically.
"""
from __future__ import annotations

import numpy as np

from numpy_adam.nn.module import Module, Parameter


class Quadratic(Module):
    """f(x) = Σ_i a_i x_i² as a Module whose only parameter is ``x`` (kind "weight", tracked).

    Args:
        x0: starting point, a scalar or a (D,) array (default 1.0, the note's 1-D problem).
        curvature: a, a positive scalar or (D,) array (default 1.0).
        dtype: float64 by default, so the per-element identity can be checked to 1e-6.

    forward() -> f (float); backward() assigns x.grad = 2 a ⊙ x (returns None: there is no input).
    """

    def __init__(self, x0=1.0, curvature=1.0, *, dtype=np.float64):
        super().__init__()
        x0 = np.atleast_1d(np.asarray(x0, dtype=dtype))
        if x0.ndim != 1 or not np.all(np.isfinite(x0)):
            raise ValueError(f"Quadratic: x0 must be a finite scalar or 1-D array, got {x0!r}")
        curvature = np.broadcast_to(np.asarray(curvature, dtype=dtype), x0.shape).copy()
        if not np.all(curvature > 0):
            raise ValueError(f"Quadratic: curvature must be positive, got {curvature!r}")
        self.curvature = curvature  # (D,) a
        self.x = Parameter(x0, kind="weight")
        self.flat = self.flatten()
        self._forwarded = False

    def forward(self) -> float:
        """f(x) = Σ a x²."""
        self._forwarded = True
        x = self.x.data
        with np.errstate(over="ignore"):  # a diverging run gives inf, which the engine reports
            return float(np.sum(self.curvature * x * x))

    def backward(self) -> None:
        """g = 2 a ⊙ x, written into ``x.grad`` in place."""
        if not self._forwarded:
            raise RuntimeError("Quadratic.backward called without a preceding forward")
        self._forwarded = False
        self.x.grad[...] = 2.0 * self.curvature * self.x.data

    def extra_repr(self) -> str:
        return f"dim={self.x.data.size}"
