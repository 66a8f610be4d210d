"""Figure 6's runs: Adam and SGD near the optimum of the noisy quadratic, for a range of noise.

f(x; ξ) = (x − ξ)² with ξ_t drawn afresh every step, the mean of B = 1 draws from N(0, s²)
(:mod:`numpy_adam.models.quadratic`), from x₀ = 1, for every s in NOISE_STDS:

* Adam with β1 = β2 = 0.99, α = 0.01, ε = 1e-12 — the note's x² setting (Figure 3);
* plain SGD (momentum 0) with the same α = 0.01, stable for 0 < α < 1, whose steady state is
  known in closed form (:mod:`.stationary`): Var x = α σ_ξ²/(1 − α), σ_ξ² = s²/B.

**Why these s.** Adam's step is Δ/α = sign(m̂)/√(γ²+1), γ = σ̂/|m̂|; near the optimum the
gradient g_t = 2(x_{t−1} − ξ_t) has second moment 4(E x² + σ_ξ²), so the spread σ̂ that sets the
step comes either from x's own movement (update-driven) or from ξ (sampling-driven), in the
ratio E x² : σ_ξ². At s = 0 only the first exists: Adam settles into its limit cycle (RMS x
≈ 3e-5, γ ≈ 190, x changes sign 0.77 times per step). A noise s is felt once 2s is comparable
to that cycle's gradient, s ≈ 1e-5, and takes over once σ_ξ² dominates E x²: with Adam's own
RMS x growing like √s this happens between s ≈ 1e-3 (sampling share ≈ 0.3) and s ≈ 0.1
(≈ 0.95). The decades s ∈ {1e-5, …, 1} therefore walk from update-driven to sampling-driven
spread, one point per decade on a log axis, with s = 0 as the noise-free end (measured
numbers: the summary of a reproduction, or ``numpy_adam.experiments.stationary.run_measures``).
At the top, s = 1, x's RMS (≈ 0.07) is still small against x₀ = 1: every run stays near the
optimum. B = 1 throughout: s alone sets σ_ξ.

**Why these lengths.** Adam reaches 0 from x₀ = 1 in about 150 steps and its limit cycle (or
noisy steady state) by about 3000; SGD's transient decays as (1 − 2α)^t = 0.98^t, below 1e-26
of x₀ after 3000 steps, far under its smallest steady RMS (√(α/(1 − α)) · 1e-5 ≈ 1e-6). The
measures use the last half of each run, so quick mode (6000 steps) already measures the steady
state; full mode (20000 steps) measures 10000 stationary steps, which pins SGD's E x² down to
about ±10 % (one standard error; the figure's closed form needs no more).

All runs of one seed share ξ's sequence (the data seed of :func:`~numpy_adam.training.build.
run_seeds`): Adam and SGD see the same draws at a given s, and since SGD is linear its runs at
different s are scaled copies of each other after the transient (x ∝ s), so their common offset
from the closed form is one sampling error, not seven.
"""
from __future__ import annotations

from dataclasses import replace

from ..training.config import TrainConfig
from .plan import Experiment

FIGURE = "figure6"
NOISE_STDS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
STEPS = {"quick": 6000, "full": 20000}
ADAM_LR, SGD_LR = 0.01, 0.01
BETA, EPS = 0.99, 1e-12
BATCH_SIZE = 1
TITLE = ("Figure 6 — f(x; ξ) = (x − ξ)², ξ ~ N(0, s²): Adam (β1 = β2 = 0.99) near the optimum "
         "against SGD's steady state")


def run_name(optimizer: str, noise_std: float) -> str:
    """"figure6-adam-s0.001": the run's directory name (s in %g form)."""
    return f"{FIGURE}-{optimizer}-s{noise_std:g}"


def noise_experiments(mode: str = "quick", seed: int = 0) -> list[Experiment]:
    """Figure 6's runs: for each s in NOISE_STDS (row = its index) Adam, then SGD.

    mode: "quick" (6000 steps per run) or "full" (20000); seed: the runs' seed (one for all).
    """
    if mode not in STEPS:
        raise ValueError(f"noise_experiments: mode must be one of {tuple(STEPS)}, got {mode!r}")
    steps = STEPS[mode]
    adam = TrainConfig(model="quadratic", optimizer="adam", lr=ADAM_LR, beta1=BETA, beta2=BETA,
                       eps=EPS, batch_size=BATCH_SIZE, steps=steps, seed=seed, x0=(1.0,),
                       checkpoint_every=steps)
    sgd = replace(adam, optimizer="sgd", lr=SGD_LR, momentum=0.0)  # betas: the probe's
    runs = []
    for row, s in enumerate(NOISE_STDS):
        runs.append(Experiment(run_name("adam", s), FIGURE, row, replace(
            adam, noise_std=s, label=f"Adam β1=β2={BETA:g}, s={s:g}")))
        runs.append(Experiment(run_name("sgd", s), FIGURE, row, replace(
            sgd, noise_std=s, label=f"SGD α={SGD_LR:g}, s={s:g}")))
    return runs
