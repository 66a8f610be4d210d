"""The note's 1-D quadratic f(x) = x², its diagonal N-dimensional variant, and its noisy twin.

    f(x; ξ) = Σ_i a_i (x_i − ξ_i)²     (a_i > 0 the curvatures; a = 1, D = 1 is the note's x²)
    g       = ∇f(x; ξ) = 2 a ⊙ (x − ξ)

**Noise-free (s = 0, the default): ξ ≡ 0**, so f(x) = Σ a x² and g = 2 a ⊙ x, full batch: the
gradient at a point is exact, and any spread the optimizer sees (σ̂² = v̂ − m̂²) comes from the
gradient *changing over time*, not from sampling. That is why Adam with β1 = β2 = 0.99 does not
settle at x = 0: as x → 0 the mean m̂ shrinks faster than the spread, γ = σ̂/|m̂| grows, the step
shrinks — and then overshoots, the gradient changes sign and grows back, while gradient
descent's |g| decays monotonically.

**Noisy (s > 0): the minimiser moves.** Each step :meth:`Quadratic.resample` draws ξ afresh,
per coordinate the mean of B draws from N(0, s²) (B = ``batch_size``):

    ξ_i = (1/B) Σ_{k=1..B} z_ik,   z_ik ~ N(0, s²)   ⇒   ξ_i ~ N(0, σ_ξ²),  σ_ξ² = s²/B

— the sample mean of a mini-batch of B "examples" whose optimum is z_ik. The gradient is then a
mini-batch gradient: unbiased, E_ξ g = 2 a ⊙ x (the gradient of x²), with sampling variance
4 a² σ_ξ², so Adam's spread σ̂ now has two sources, the movement of x (update-driven) and
ξ (sampling-driven); the noise experiment (:mod:`numpy_adam.experiments.noise_plan`) moves
between the two by varying s.

Bitwise promise: with s = 0 no random number is drawn, ξ stays an array of zeros, and
x − 0.0 = x exactly in IEEE arithmetic (also for −0.0), so f and g are bit for bit those of the
noise-free x² (tests/models/test_noisy_quadratic.py).
"""
from __future__ import annotations

import math

import numpy as np

from numpy_adam.nn.module import Module, Parameter


class Quadratic(Module):
    """f(x; ξ) = Σ_i a_i (x_i − ξ_i)² as a Module whose only parameter is ``x`` (kind "weight",
    tracked); ξ ≡ 0 (the noise-free x²) unless ``noise_std`` > 0.

    Args:
        x0: starting point, a scalar or a (D,) array (default 1.0, the note's 1-D problem).
        curvature: a, a positive scalar or (D,) array (default 1.0).
        dtype: float64 by default, so the per-element identity can be checked to 1e-6.
        noise_std: s ≥ 0, the spread of one "example"'s optimum (default 0: no noise).
        batch_size: B ≥ 1, the draws averaged into one ξ (σ_ξ² = s²/B); default 1.
        rng: the ``np.random.Generator`` ξ is drawn from; required when noise_std > 0,
             never used when noise_std = 0.

    resample() -> ξ draws a fresh (D,) ξ (a no-op returning zeros when s = 0);
    forward() -> f at the current x and ξ (float); backward() assigns x.grad = 2 a ⊙ (x − ξ)
    (returns None: there is no input). ``xi`` holds the current ξ; ``noise_free_loss()``
    is f(x; 0) = Σ a x², the noise-free loss (the test loss of a noisy run).
    """

    def __init__(self, x0=1.0, curvature=1.0, *, dtype=np.float64, noise_std=0.0, batch_size=1,
                 rng=None):
        super().__init__()
        x0 = np.atleast_1d(np.asarray(x0, dtype=dtype))
        if x0.ndim != 1 or not np.all(np.isfinite(x0)):
            raise ValueError(f"Quadratic: x0 must be a finite scalar or 1-D array, got {x0!r}")
        curvature = np.broadcast_to(np.asarray(curvature, dtype=dtype), x0.shape).copy()
        if not np.all(curvature > 0):
            raise ValueError(f"Quadratic: curvature must be positive, got {curvature!r}")
        if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or \
                not 0.0 <= noise_std < math.inf:
            raise ValueError(f"Quadratic: noise_std must be a finite number >= 0, got "
                             f"{noise_std!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
                batch_size < 1:
            raise ValueError(f"Quadratic: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        if noise_std > 0 and not isinstance(rng, np.random.Generator):
            raise ValueError(f"Quadratic: rng must be an np.random.Generator when noise_std > 0 "
                             f"(ξ is drawn from it), got {rng!r}")
        self.curvature = curvature  # (D,) a
        self.noise_std = float(noise_std)  # s
        self.batch_size = int(batch_size)  # B
        self.rng = rng if noise_std > 0 else None
        self.xi = np.zeros_like(x0)  # (D,) ξ of the current step; 0 until resample()
        self.x = Parameter(x0, kind="weight")
        self.flat = self.flatten()
        self._forwarded = False

    @property
    def noise_var(self) -> float:
        """σ_ξ² = s²/B, the variance of each coordinate of ξ."""
        return self.noise_std ** 2 / self.batch_size

    def resample(self) -> np.ndarray:
        """Draw this step's ξ: per coordinate the mean of B draws from N(0, s²); returns it.

        With s = 0 nothing is drawn (ξ stays 0), so a noise-free run consumes no random numbers.
        """
        if self.noise_std > 0:
            draws = self.rng.normal(0.0, self.noise_std, size=(self.batch_size, self.xi.size))
            self.xi = draws.mean(axis=0).astype(self.xi.dtype, copy=False)  # (D,)
        return self.xi

    def forward(self) -> float:
        """f(x; ξ) = Σ a (x − ξ)²."""
        self._forwarded = True
        r = self.x.data - self.xi  # exactly x when ξ = 0
        with np.errstate(over="ignore"):  # a diverging run gives inf, which the engine reports
            return float(np.sum(self.curvature * r * r))

    def backward(self) -> None:
        """g = 2 a ⊙ (x − ξ), written into ``x.grad`` in place."""
        if not self._forwarded:
            raise RuntimeError("Quadratic.backward called without a preceding forward")
        self._forwarded = False
        self.x.grad[...] = 2.0 * self.curvature * (self.x.data - self.xi)

    def noise_free_loss(self) -> float:
        """f(x; 0) = Σ a x²: the loss about the optimum's mean, E_ξ f − Σ a σ_ξ² (no ξ drawn)."""
        x = self.x.data
        with np.errstate(over="ignore"):
            return float(np.sum(self.curvature * x * x))

    def extra_repr(self) -> str:
        noise = f", noise_std={self.noise_std:g}, batch_size={self.batch_size}" \
            if self.noise_std > 0 else ""
        return f"dim={self.x.data.size}{noise}"
