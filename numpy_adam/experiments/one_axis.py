r"""Figure 7, "One axis": every optimizer maps the relative spread γ of a coordinate to a step.

γ = σ̂/|m̂|, σ̂² = max(v̂ − m̂², 0), from bias-corrected EMAs m̂, v̂ of the gradient g_t a method
uses (:mod:`numpy_adam.optim.stats`): Adam's and M-SVAG's own moments, a passive probe's for
the others (:mod:`numpy_adam.optim.probe`). One CNN run per method at batch 100, the same
data order and initialisation (one seed); the figure puts every method's measured steps and
its predicted curve on one γ axis (``plots.one_axis_figure``).

This module holds the runs (:func:`one_axis_experiments`) and the curves
(:func:`predicted_curve`); :mod:`.one_axis_exact` the exact per-element relations and their
check; :mod:`.one_axis_numbers` what the figure and the summary read.

**The curves**, each in its method's natural unit (u_t = Δθ/α the recorded step; t the step):

    scale-free, |Δθ|/α = |u|:
      Adam       1/√(γ² + 1)                      exact: |u| = 1/(√(γ²+1) + ε/|m̂|), β1 = β2
      SignSGD    1                                exact: u = sign(g_t)
      Signum     1                                exact: u = sign(m_t) = sign(m̂_t), β = β1
      Lion       1                                exact: u = sign(c_t),
                                                         c_t = β1 m_{t−1} + (1−β1) g_t
      RMSprop    no function of γ alone           exact: |u| = (|g_t|/|m̂_t|)/√((1−α^t)(γ²+1))
                 (RMS over a steady stretch ≈ 1)  (ε → 0; probe β2 = α)
    scale-free with the sum's growth, √t |Δθ|/α:
      Adagrad    no function of γ alone           exact: |u| = |g_t|/(√(Σ_{k≤t} g_k²) + ε)
                 (RMS ≈ 1)
    gradient-scaled, |Δθ|/(α|m̂|) = |u|/|m̂|:
      SGD        (1 − μ^t)/(1 − μ)                exact: b_t = m̂_t (1 − μ^t)/(1 − μ), probe β1 = μ,
                                                  dampening 0 (:mod:`numpy_adam.optim.sgd`)
      M-SVAG     1/(1 + κ_t γ²)                   exact, own m̂, v̂ (β1 = β2 = β);
                 κ_t = (1−β)(1+β^t)/(2β(1−β^{t−1})) → (1−β)/(2β)

So on log–log axes Adam falls like 1/γ, M-SVAG like 1/γ² (halving at γ = 1/√κ ≈ 4.2 for
β = 0.9, Adam's at √3), and the sign methods and SGD are flat: γ moves their *direction*
(sign(g_t) or sign(c_t) flips from step to step when γ is large), not their size.

RMSprop and Adagrad have no curve. RMSprop divides the current g_t, not a mean, by √v_t: its
|u| is γ's factor times |g_t|/|m̂_t|, a ratio that scatters around √(γ² + 1) (its square
averages to about γ² + 1 over a steady stretch), so the *root-mean-square* step stays ≈ 1
whatever γ: that is what is drawn and measured, per γ bin. Adagrad's s_t = Σ g_k² never
forgets, so its step depends on the whole history, not on the EMA's γ; for gradients whose
statistics stay put since t = 1, s_t ≈ t E[g²], so u_t² = g_t²/s_t averages to ≈ 1/t: its
natural unit is √t |Δθ|/α, whose RMS is ≈ 1 whatever γ. (Their exact relations hold per
element and are checked on the element sample, :mod:`.one_axis_exact`.)

**Settings, and why** (every run: batch 100, seed, weight decay 0, ε = 1e-8):

* (β1, β2) = (0.9, 0.9) for every method but Lion, so all γ sit on one axis (one EMA of
  ≈ 10 steps: short runs are many memory lengths long), and β1 = β2 makes v̂ ≥ m̂² exactly,
  so γ is defined on every element and Adam's identity is exact. With it Signum's β = β1 makes
  its m the probe's m; RMSprop's α = β2 makes its v the probe's v; SGD's μ = β1 with
  dampening 0 makes b_t = m̂_t(1 − μ^t)/(1 − μ); M-SVAG's β = β1 makes its m̂, v̂ exactly those
  of a (0.9, 0.9) probe.
* Lion keeps its default (β1, β2) = (0.9, 0.99) (:class:`~numpy_adam.optim.Lion`), and so
  does its probe (the config's betas are the probe's): with β1 = β2 Lion *is* Signum (here
  without decay), a duplicate panel. Its γ therefore comes from v̂ over ≈ 100 steps and m̂
  over ≈ 10; elements with v̂ < m̂² get γ = 0 (counted in ``zero_gamma_share``, not drawn).
  Its curve, 1, does not depend on γ.
* α: Adam 1e-3; SignSGD, Signum, Lion and RMSprop, whose elements move by ≈ α, take 3e-4,
  the order of Adam's per-element step α/√(γ²+1) (1.5–2e-4 at the median γ ≈ 5–6.5 of
  this CNN). SGD α = 1e-2 with μ = 0.9 (Figure 2's: effective rate α/(1 − μ) = 0.1);
  M-SVAG α = 0.1, that same effective rate (at r = 1 it steps α m̂). Adagrad α = 1e-2, the
  default of :class:`~numpy_adam.optim.Adagrad` (its step shrinks like 1/√t). Every one of
  these trains stably on this task (loss falls).
* Steps (QUICK_STEPS, FULL_STEPS) at batch 100; evaluation is off but for one test
  evaluation at the end, and the one checkpoint is at the end. At the 2-core rates
  :mod:`.reproduce` plans with (≈ 72 ms a step, 7 s an evaluation) a quick run takes ≈ 13 s
  (the eight ≈ 2 min), a full one ≈ 50 s (the eight ≈ 7 min); a machine shared with other
  work takes about three times as long. WARMUP steps are left out of the numbers:
  β^20 = 0.12 of the EMAs' zero start is left by then, and SGD's ramp (1 − μ^t) is done.
* ``sample_per_tensor`` stays at its default (32 elements of each of the 4 weights): the
  element densities are drawn from those, and every step is recorded (g_t is recovered from
  consecutive m̂, :func:`~.one_axis_exact.recovered_gradient`).
"""
from __future__ import annotations

import numpy as np

from ..optim import lion, sign
from ..optim.msvag import msvag_kappa
from ..records import Run
from ..training.config import TrainConfig
from .analysis import identity_curve
from .plan import Experiment

FIGURE = "figure7"
TITLE = "Figure 7 — One axis: every optimizer's step against the gradient's relative spread γ"
METHODS = ("adam", "sgd", "signsgd", "signum", "lion", "rmsprop", "adagrad", "msvag")
NAMES = {"adam": "Adam", "sgd": "SGD", "signsgd": "SignSGD", "signum": "Signum",
         "lion": "Lion", "rmsprop": "RMSprop", "adagrad": "Adagrad", "msvag": "M-SVAG"}
# Each method's natural unit (module docstring): the measured step is divided by α and then
# by |m̂| (gradient-scaled) or multiplied by √t (Adagrad), so its prediction does not move
# with the gradient's scale.
UNITS = {"alpha": "|Δθ|/α", "alpha_m": "|Δθ|/(α|m̂|)", "alpha_sqrt_t": "√t·|Δθ|/α"}
METHOD_UNITS = {"sgd": "alpha_m", "msvag": "alpha_m", "adagrad": "alpha_sqrt_t"}
BATCH_SIZE = 100
BETA = 0.9
QUICK_STEPS, FULL_STEPS = 80, 600
WARMUP = 20
SETTINGS = {  # per method: TrainConfig settings beyond the shared ones (reasons: docstring)
    "adam": dict(lr=1e-3, beta1=BETA, beta2=BETA),
    "sgd": dict(lr=1e-2, momentum=BETA, dampening=0.0, beta1=BETA, beta2=BETA),
    "signsgd": dict(lr=3e-4, beta1=BETA, beta2=BETA),
    "signum": dict(lr=3e-4, beta1=BETA, beta2=BETA),
    "lion": dict(lr=3e-4, beta1=0.9, beta2=0.99),
    "rmsprop": dict(lr=3e-4, beta1=BETA, beta2=BETA),
    "adagrad": dict(lr=1e-2, beta1=BETA, beta2=BETA),
    "msvag": dict(lr=1e-1, beta1=BETA, beta2=BETA),
}
CURVE_FORMULAS = {"adam": "1/√(γ²+1)", "sgd": "(1−μ^t)/(1−μ)", "signsgd": "1", "signum": "1",
                  "lion": "1", "msvag": "1/(1+κ_t γ²)", "rmsprop": None, "adagrad": None}
RMS_STATEMENTS = {"rmsprop": "RMS |Δθ|/α ≈ 1 at every γ (steady gradients)",
                  "adagrad": "RMS √t·|Δθ|/α ≈ 1 at every γ (gradient statistics steady "
                             "since t = 1)"}


def run_name(method: str) -> str:
    """"figure7-adam": a run's directory name."""
    return f"{FIGURE}-{method}"


def run_label(method: str, settings: dict) -> str:
    """"SGD α=0.01, μ=0.9, probe β1=β2=0.9": the method, its rate α (the unit of every
    panel) and the β's in its own terms, then the probe's where it has one."""
    b1, b2 = settings["beta1"], settings["beta2"]
    probe = f"probe β1=β2={b1:g}" if b1 == b2 else f"probe β1={b1:g}, β2={b2:g}"
    own = {"adam": f"β1=β2={b1:g}" if b1 == b2 else f"β1={b1:g}, β2={b2:g}",
           "sgd": f"μ={settings.get('momentum', 0.0):g}, {probe}", "signsgd": probe,
           "signum": f"β={b1:g}", "lion": f"β1={b1:g}, β2={b2:g}",
           "rmsprop": f"v's β2={b2:g}", "adagrad": probe, "msvag": f"β={b1:g}"}[method]
    return f"{NAMES[method]} α={settings['lr']:g}, {own}"


def one_axis_experiments(mode: str = "quick", seed: int = 0) -> list[Experiment]:
    """Figure 7's runs, one per method in METHODS order (row = its index).

    mode: "quick" (QUICK_STEPS steps per run) or "full" (FULL_STEPS); seed: one for all runs
    """
    lengths = {"quick": QUICK_STEPS, "full": FULL_STEPS}
    if mode not in lengths:
        raise ValueError(f"one_axis_experiments: mode must be one of {tuple(lengths)}, got "
                         f"{mode!r}")
    steps = lengths[mode]
    runs = []
    for row, method in enumerate(METHODS):
        s = SETTINGS[method]
        config = TrainConfig(model="cnn", optimizer=method, batch_size=BATCH_SIZE, steps=steps,
                             seed=seed, eval_every=steps, checkpoint_every=steps,
                             label=f"{run_label(method, s)}, batch {BATCH_SIZE}", **s)
        runs.append(Experiment(run_name(method), FIGURE, row, config))
    return runs


def method_of(run: Run) -> str:
    """The run's optimizer, checked to be one of METHODS with the settings its exact relation
    assumes (SGD: dampening 0, not nesterov, momentum = beta1; RMSprop: no momentum, not
    centered); ValueError otherwise."""
    cfg = run.config
    method = str(cfg.get("optimizer"))
    if method not in METHODS:
        raise ValueError(f"{run.path}: optimizer must be one of {METHODS} for Figure 7, got "
                         f"{method!r}")
    bad = {}
    if method == "sgd":
        bad = {k: cfg.get(k) for k, ok in (("dampening", 0.0), ("nesterov", False))
               if (cfg.get(k) or ok) != ok}
        if float(cfg.get("momentum") or 0.0) != float(cfg.get("beta1")):
            bad["momentum"] = f"{cfg.get('momentum')} (beta1 = {cfg.get('beta1')})"
    if method == "rmsprop":
        bad = {k: cfg.get(k) for k in ("momentum", "centered") if cfg.get(k)}
    if bad:
        raise ValueError(f"{run.path}: {method}'s relation needs SGD dampening 0, nesterov "
                         f"False and momentum = beta1, or RMSprop momentum 0 and not centered; "
                         f"got {bad}")
    return method


def unit_of(method: str) -> str:
    """The method's natural unit, a key of UNITS: "alpha_m" (|Δθ|/(α|m̂|)) for SGD and M-SVAG,
    "alpha_sqrt_t" (√t·|Δθ|/α) for Adagrad, else "alpha" (|Δθ|/α)."""
    return METHOD_UNITS.get(method, "alpha")


def predicted_curve(method: str, gamma, config: dict, step=None) -> np.ndarray | None:
    """The method's step as a function of γ, in its natural unit (module docstring table).

    gamma:  array-like of γ ≥ 0
    config: the run's config (momentum for SGD, beta1 = β for M-SVAG)
    step:   t ≥ 1, a scalar or an array broadcasting with gamma; None: the limit t → ∞
    returns: float64 array of the broadcast shape, or None for RMSprop and Adagrad (no
             function of γ alone: their RMS step is 1 in their units, RMS_STATEMENTS)
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    t = None if step is None else np.asarray(step, dtype=np.float64)
    shape = np.broadcast_shapes(gamma.shape, () if t is None else t.shape)
    if method == "adam":
        out = identity_curve(gamma)
    elif method in ("signsgd", "signum"):
        out = sign.predicted_update(gamma)
    elif method == "lion":
        out = lion.predicted_update(gamma)
    elif method == "sgd":  # b_t = m̂_t (1 − μ^t)/(1 − μ): the heavy ball, dampening 0
        mu = float(config["momentum"])
        out = np.full(gamma.shape, 1.0 / (1.0 - mu)) if t is None else (1.0 - mu ** t) / (1.0 - mu)
    elif method == "msvag":  # r = m̂²/(m̂² + κ σ̂²) = 1/(1 + κ γ²): msvag.predicted_update(γ, 1)
        beta = float(config["beta1"])
        if t is None:
            kappa = msvag_kappa(beta)
        else:  # κ_t from msvag_kappa itself, once per distinct step
            steps, where = np.unique(t, return_inverse=True)
            kappa = np.array([msvag_kappa(beta, int(s)) for s in steps])[where].reshape(t.shape)
        out = 1.0 / (1.0 + kappa * gamma * gamma)
    elif method in ("rmsprop", "adagrad"):
        return None
    else:
        raise ValueError(f"predicted_curve: method must be one of {METHODS}, got {method!r}")
    return np.broadcast_to(np.asarray(out, dtype=np.float64), shape).copy()


def sample_metrics(run: Run) -> dict:
    """The run's metrics, checked to hold the element sample at every step from 1 on (the
    relations recover g_t from consecutive m̂); ValueError otherwise."""
    metrics = run.metrics
    if "sample_m_hat" not in metrics or np.size(metrics["sample_m_hat"]) == 0:
        raise ValueError(f"{run.path}: the record has no element sample (sample_* keys); train "
                         "with sample_per_tensor > 0")
    step = np.asarray(metrics["step"])
    if not np.array_equal(step, np.arange(1, step.size + 1)):
        raise ValueError(f"{run.path}: Figure 7 needs every step recorded from 1 on (g_t is "
                         f"recovered from consecutive m̂), got steps {step[:3]}…{step[-1:]}")
    return metrics
