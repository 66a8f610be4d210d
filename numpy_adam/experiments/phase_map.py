r"""Where Adam stops converging on f(x) = x²: a phase map over β1, β2, α and ε (Figure 8).

Full batch, g = 2x, from x0 = 1, every grid point one element of float64 arrays stepped all at
once: :func:`adam_x_squared` is :func:`numpy_adam.optim.adam.adam_update` line by line on (N,)
arrays (the same operation order, (1 − β) formed in float64 as the scalars are, c1 = 1/(1 − β1^t)
and c2 from :func:`numpy_adam.optim.stats.bias_corrections`), so each element equals a single
:class:`numpy_adam.optim.Adam` run bit for bit (tests/experiments/test_phase_map.py). Each
run's tail is classified by :mod:`.phase_classify` (converges, cycle, spikes, grows, unsettled).

ε = 1e-12 is the map's main setting (as in Figure 3): it keeps 0/0 away and is far below every
scale the dynamics reach. ε = 1e-8 (PyTorch's default) is mapped beside it, and a sweep of ε at
fixed α finds where ε starts to matter.

**Why α hardly matters.** For ε = 0 the step u = m̂/√v̂ does not change when x, m, √v are all
scaled by c, so the run (x0, α) is c times the run (x0/c, α/c): x/α depends on α only through
the starting distance x0/α (how long the approach takes, and where it ends up) and ε/α. A limit
cycle's amplitude is therefore a fixed multiple of α — the README's max|x| = 0.00406 α.

**What the map shows** (``phase_map("full")``: β1, β2 ∈ {0, .1, .2, .5, .7, .8, .9, .95, .98,
.99, .995, .999}, 7 α from 1e-4 to 1e-1 in half decades, 1e5 steps, 1008 points per ε; numbers
from :func:`summary`, ε = 1e-12 unless stated):

* Adam almost never converges on x²: 80.7 % of the points end in a cycle, 13.7 % in spikes,
  1.8 % grow (all at β2 = 0), 3.9 % converge, none is left unsettled after 1e5 steps.
* β1 = β2 = β: a cycle at all 84 points. For β ≥ 0.7 it is quasi-periodic, x_t ≈ A cos(ωt + φ)
  with 0.770 sign changes per step (autocorrelation peak at 13 steps, no exact period), and
  A/α = 0.1458, 0.0906, 0.0426, 0.0207, 0.00816, 0.00406, 0.00203, 0.000404 at β = 0.7, 0.8,
  0.9, 0.95, 0.98, 0.99, 0.995, 0.999: A/α/(1 − β) falls from 0.49 to 0.404, and A/α is the same
  at all 7 α to ≤ 2e-5 (relative). β = 0.1, 0.2: the exact 2-cycle below; β = 0: sign descent,
  whose 2-cycles are neutral (A/α between 0.62 and 0.91, set by x0/α).
* β1 > β2 > 0: a cycle at all 385 points, A/α from 0.00095 to 37 (slow, large swings when β1 is
  near 1 and β2 is not). β2 = 0 < β1 (v̂ = g², so |u| = |m̂|/|g| is unbounded as g crosses 0):
  single steps of up to 6.5e5 α; 45 of 77 points spike, 18 grow beyond x0, 14 cycle.
* β1 < β2: 330 cycles, 93 spikes, 39 convergent points. The spikes are bursts at β2 ≥ 0.98
  with 0.2 ≤ β1 ≤ 0.95: |x| falls 5 to 45 decades below α and bursts back to ~α, every ~10² to
  10³ steps. (Our reading: v̂ remembers larger gradients, so the step α m̂/√v̂ contracts x; as v̂
  decays the rate α/√v̂ grows until the origin is unstable.)
* Every convergent point has x = 0.0 exactly at the end: β1 ∈ {0, 0.1, 0.2} at β2 ∈ {0.995,
  0.999} and β1 = 0.5 at β2 = 0.999, at 3 to 7 of the 7 α (at the others the run bursts or
  ends on the 2-cycle; e.g. β1 = 0.5, β2 = 0.999 spikes with A = 3.4 α at α = 0.1, where x0/α
  is only 10). Float64 reaches x = 0, where g = 0
  and (once m underflows) nothing moves. The same contraction that bursts back at larger β1
  would, without underflow, regrow here too (the linearisation's growth factor |1 − 2α/√v̂|
  has no bound as v̂ → 0); "converges" on this map means "reached float64's zero".
* The exact 2-cycle x = ±a, a = (α r − ε)/2, r = (1 − β1)/(1 + β1)
  (:func:`~.phase_classify.two_cycle_amplitude`) exists for every (β1, β2). Started on it and
  perturbed by 1e-6 (:func:`two_cycle_growth`, 2e4 steps) it attracts for β1 ≤ 0.15 at every
  probed β2 (≤ 0.3 at β2 ≤ 0.1, ≤ 0.2 at β2 = 0.5, 0.7; neutral at β1 = β2 = 0) and repels from
  the next probed β1 up (0.2 … 0.35). The runs from x0 = 1 end on it (period 2; A/α = r/2 to
  1.5e-8 where β2 > 0) at 169 points, all with β1 ≤ 0.2 where it attracts or is neutral; on the
  diagonal at β ≥ 0.9 the quasi-periodic cycle is 1.62 times the 2-cycle's amplitude.
* ε: the sweep at α = 1e-2 (β1 = β2 = 0.5, 0.9, 0.99) keeps a cycle at ε = 0.99 α r and
  converges at ε = 1.01 α r for all three. Below, A(ε) = A(0) (1 − ε/(α r)) to 0.15 % at
  β = 0.99 and to 1.5 % at 0.9 (ε ≤ 0.9 α r); at β = 0.5 the run switches to the 2-cycle
  (ε ≥ 0.8 α r). Why α r: once v̂ ≪ ε², Adam is EMA momentum at rate α/ε, whose linearisation
  on x² is stable iff α/ε < (1 + β1)/(1 − β1) (Jury), i.e. ε > α r — exactly where the 2-cycle
  stops existing. On the grid ε/(α r) ≤ 0.2, so ε = 1e-8 scales the diagonal amplitudes by
  1 − ε/(α r) (0.98 at β = 0.99, α = 1e-4; 0.80 at β = 0.999, α = 1e-4) and changes the class
  of 34 of 1008 points: 26 at β2 = 0, 7 with a spike ratio of 6 to 22 (next to the threshold
  10) and one bursting point (β1 = 0.2, β2 = 0.995) that reaches x = 0 with ε = 1e-8.

Bock & Weiß (2019, ICANN, "Non-convergence and limit cycles in the Adam optimizer") say in their
abstract that for quadratic objectives Adam with bias correction has 2-limit-cycles for all
choices of the hyperparameters, and that they analyse the cycles' stability. The closed form
above is such a cycle for every (β1, β2, α > ε/r), and the map finds it where the probe says it
attracts. Their stability conditions (e.g. whether they take a β1 < √β2 form) could not be
read here (only the abstract was available) and are not claimed; the measured region
where the 2-cycle attracts, β1 ≲ 0.15–0.3 shrinking as β2 grows, is not of the form
β1 < √β2, and the map's non-convergence does not need the 2-cycle at all: at β1 ≥ 0.5 it
repels, and Adam oscillates on another orbit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from numpy_adam.optim.stats import bias_corrections
from numpy_adam.records.atomic import atomic_save_npz

from .phase_classify import CLASS_NAMES, CONVERGES, CYCLE, classify, two_cycle_amplitude

X0 = 1.0
BLOCK = 1000  # steps per block of the recorded |x| envelope
GRIDS = {
    "quick": dict(betas=(0.0, 0.2, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999),
                  lrs=(1e-4, 1e-3, 1e-2, 1e-1), steps=40_000, tail=4096,
                  sweep_factors=(0.5, 0.9, 0.99, 1.01, 1.1, 2.0), probe_steps=8000),
    # β1 = β2 = 0.999 settles into its cycle only after 4e4–5e4 steps from x0 = 1 (measured at
    # α = 1e-3 … 1e-1), and α = 1e-4 needs ≈ 1e4 steps to reach 0: hence 1e5 steps
    "full": dict(betas=(0.0, 0.1, 0.2, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999),
                 lrs=tuple(10.0 ** np.arange(-4.0, -0.99, 0.5)), steps=100_000, tail=4096,
                 sweep_factors=(0.25, 0.5, 0.8, 0.9, 0.95, 0.99, 1.01, 1.05, 1.25, 2.0, 4.0),
                 probe_steps=20_000),
}
EPSILONS = (1e-12, 1e-8)
SWEEP_BETAS, SWEEP_LR = (0.5, 0.9, 0.99), 1e-2
PROBE_BETAS1 = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.7, 0.9, 0.99)
PROBE_LR, PROBE_EPS, PROBE_DELTA, PROBE_T0 = 1e-2, 1e-12, 1e-6, 10 ** 6


@dataclass
class AdamRun:
    """What :func:`adam_x_squared` keeps: tail (W, N) x over the last W steps; block_max
    (steps // block, N) max |x| per block; earlier (N,) max |x| over the W/2 steps that start
    2W steps before the end (1.5 W before the tail's second half), the reference the tail's
    amplitude is compared with to tell a settled orbit from a slow drift; x, m, v (N,) the final
    state; t the last step."""

    tail: np.ndarray
    block_max: np.ndarray
    earlier: np.ndarray
    x: np.ndarray
    m: np.ndarray
    v: np.ndarray
    t: int


def adam_x_squared(beta1, beta2, lr, eps, steps: int, *, x0=X0, m0=0.0, v0=0.0, t0: int = 1,
                   keep_last: int = 0, block: int = BLOCK) -> AdamRun:
    """Adam on f(x) = x² (g = 2x), N independent runs stepped together in float64.

    beta1, beta2, lr, eps, x0, m0, v0: scalars or (N,) arrays (broadcast to one (N,) shape)
                                    (N-dimensional inputs are flattened)
    steps: number of steps, t = t0 … t0 + steps − 1 (t0 > 1 starts from a given m, v)
    keep_last: W, the number of final steps whose x is kept (W = steps: the whole trajectory)

    Each step is :func:`~numpy_adam.optim.adam.adam_update` for λ = 0, no amsgrad:
    m ← β1 m + (1 − β1) g; v ← β2 v + ((1 − β2) g) g; u = (c1 m)/(√(c2 v) + ε); x ← x − α u.
    """
    b1, b2, a, e, x, m, v = (np.array(z, dtype=np.float64).ravel() for z in np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(z, dtype=np.float64)) for z in (beta1, beta2, lr, eps,
                                                                    x0, m0, v0))))
    om1, om2 = 1.0 - b1, 1.0 - b2
    values, index = np.unique(np.concatenate([b1, b2]), return_inverse=True)
    i1, i2 = index[:b1.size], index[b1.size:]
    c = np.empty(values.size)
    keep_last = min(int(keep_last), steps)
    tail = np.empty((keep_last, x.size))
    block_max = np.zeros((steps // block, x.size))
    envelope, earlier = np.zeros(x.size), np.zeros(x.size)
    start = max(steps - 2 * keep_last, 0)
    middle = range(start, start + max(keep_last // 2, 1))
    saturated = False
    for k in range(steps):
        t = t0 + k
        if not saturated:  # 1/(1 − β^t) reaches 1.0 exactly and stays there: stop recomputing
            for j, beta in enumerate(values):
                c[j] = bias_corrections(float(beta), float(beta), t)[0]
            saturated = bool(np.all(c == 1.0))
            c1, c2 = c[i1], c[i2]
        g = 2.0 * x
        m = b1 * m + om1 * g
        v = b2 * v + om2 * g * g
        u = (c1 * m) / (np.sqrt(c2 * v) + e)
        x = x - a * u
        np.maximum(envelope, np.abs(x), out=envelope)
        if k in middle:
            np.maximum(earlier, np.abs(x), out=earlier)
        if (k + 1) % block == 0 and (k + 1) // block <= block_max.shape[0]:
            block_max[(k + 1) // block - 1] = envelope
            envelope[:] = 0.0
        if k >= steps - keep_last:
            tail[k - (steps - keep_last)] = x
    return AdamRun(tail=tail, block_max=block_max, earlier=earlier, x=x, m=m, v=v,
                   t=t0 + steps - 1)


def two_cycle_growth(beta1, beta2, lr=PROBE_LR, eps=PROBE_EPS, steps: int = 4000,
                     delta: float = PROBE_DELTA) -> np.ndarray:
    """How a perturbation of the exact 2-cycle evolves: stable where the result is < 1.

    Starts at step t0 = 1e6 (c1 = c2 = 1 exactly in float64) on the 2-cycle of
    :func:`~.phase_classify.two_cycle_amplitude` — x = a(1 + δ), m = −μ = −2a r, v = 4a², so the
    next step would give x = −a without δ — and returns max | |x_t| − a | / (a δ) over the last
    10 % of the steps: < 1 the cycle attracts, > 1 it repels (NaN where no 2-cycle exists).
    """
    b1, b2 = np.broadcast_arrays(np.asarray(beta1, float), np.asarray(beta2, float))
    shape, b1, b2 = b1.shape, b1.ravel(), b2.ravel()
    a = two_cycle_amplitude(b1, lr, eps)
    r = (1.0 - b1) / (1.0 + b1)
    ok = np.isfinite(a)
    safe = np.where(ok, a, 1.0)
    run = adam_x_squared(b1, b2, lr, eps, steps, x0=safe * (1.0 + delta), m0=-2.0 * safe * r,
                         v0=4.0 * safe * safe, t0=PROBE_T0, keep_last=max(steps // 10, 1))
    with np.errstate(invalid="ignore", over="ignore"):
        dev = np.max(np.abs(np.abs(run.tail) - safe), axis=0) / (safe * delta)
    dev = np.where(np.all(np.isfinite(run.tail), axis=0), dev, np.inf)
    return np.where(ok, dev, np.nan).reshape(shape)


@dataclass
class PhaseMap:
    """A phase map and its settings. Grid arrays have shape (n_eps, n_beta1, n_beta2, n_lr)."""

    mode: str
    steps: int
    x0: float
    betas1: np.ndarray
    betas2: np.ndarray
    lrs: np.ndarray
    eps: np.ndarray
    cls: np.ndarray            # class index, see phase_classify.CLASS_NAMES
    amplitude: np.ndarray      # max |x| over the last half of the tail, / α
    growth: np.ndarray
    spike: np.ndarray
    jump: np.ndarray           # largest single step in the tail, / α
    sign_rate: np.ndarray
    period: np.ndarray         # 2 / sign_rate, steps
    exact_period: np.ndarray
    recurrence: np.ndarray
    min_abs_x: np.ndarray      # smallest recorded block maximum of |x| (how deep it went)
    final_zero: np.ndarray     # x == 0.0 exactly at the end
    block_max: np.ndarray      # (n_blocks, *grid) max |x| / α per BLOCK steps
    sweep_betas: np.ndarray    # ε sweep: β1 = β2 = sweep_betas[i], α = sweep_lr,
    sweep_factors: np.ndarray  #   ε = factor · α (1 − β)/(1 + β)
    sweep_lr: float
    sweep_cls: np.ndarray      # (n_sweep_betas, n_factors)
    sweep_amplitude: np.ndarray
    probe_betas1: np.ndarray   # 2-cycle probe: β1 axis (β2 axis: betas2)
    probe_growth: np.ndarray   # (n_probe_betas1, n_beta2) two_cycle_growth at PROBE_LR, PROBE_EPS
    tail_steps: int = 0
    class_names: tuple = field(default=CLASS_NAMES)


def phase_map(mode: str = "quick") -> PhaseMap:
    """Run the grid of ``GRIDS[mode]`` (every point and the ε sweep in one vectorised run),
    classify every tail, and probe the 2-cycle's stability."""
    if mode not in GRIDS:
        raise ValueError(f"phase_map: mode must be one of {tuple(GRIDS)}, got {mode!r}")
    grid = GRIDS[mode]
    betas, lrs, eps = (np.array(grid["betas"]), np.array(grid["lrs"]), np.array(EPSILONS))
    shape = (eps.size, betas.size, betas.size, lrs.size)
    E, B1, B2, L = np.meshgrid(eps, betas, betas, lrs, indexing="ij")
    sb, sf = np.array(SWEEP_BETAS), np.array(grid["sweep_factors"])
    SB, SF = np.meshgrid(sb, sf, indexing="ij")
    sweep_eps = SF * SWEEP_LR * (1.0 - SB) / (1.0 + SB)
    n = B1.size
    run = adam_x_squared(np.concatenate([B1.ravel(), SB.ravel()]),
                         np.concatenate([B2.ravel(), SB.ravel()]),
                         np.concatenate([L.ravel(), np.full(SB.size, SWEEP_LR)]),
                         np.concatenate([E.ravel(), sweep_eps.ravel()]),
                         grid["steps"], keep_last=grid["tail"])
    lr_all = np.concatenate([L.ravel(), np.full(SB.size, SWEEP_LR)])
    c = classify(run.tail, lr_all, X0, earlier=run.earlier)
    P1, P2 = np.meshgrid(np.array(PROBE_BETAS1), betas, indexing="ij")
    probe = two_cycle_growth(P1, P2, steps=grid["probe_steps"])
    grid_of = {k: c[k][:n].reshape(shape) for k in c}
    blocks = run.block_max[:, :n] / L.ravel()
    return PhaseMap(
        mode=mode, steps=grid["steps"], x0=X0, betas1=betas, betas2=betas.copy(), lrs=lrs,
        eps=eps, min_abs_x=run.block_max[:, :n].min(axis=0).reshape(shape),
        final_zero=(run.x[:n] == 0.0).reshape(shape),
        block_max=blocks.reshape((-1,) + shape), sweep_betas=sb, sweep_factors=sf,
        sweep_lr=SWEEP_LR, sweep_cls=c["cls"][n:].reshape(SB.shape),
        sweep_amplitude=c["amplitude"][n:].reshape(SB.shape),
        probe_betas1=np.array(PROBE_BETAS1), probe_growth=probe,
        tail_steps=grid["tail"], **grid_of)


_SCALARS = ("mode", "steps", "x0", "sweep_lr", "tail_steps")


def save_phase_map(result: PhaseMap, path):
    """Write ``result`` as an uncompressed .npz at ``path`` atomically (no pickle needed)."""
    arrays = {}
    for f in fields(PhaseMap):
        value = getattr(result, f.name)
        arrays[f.name] = np.array(value, dtype=str) if f.name in ("mode", "class_names") \
            else np.asarray(value)
    return atomic_save_npz(path, **arrays)


def load_phase_map(path) -> PhaseMap:
    """Read a file written by :func:`save_phase_map` (``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as data:
        missing = [f.name for f in fields(PhaseMap) if f.name not in data.files]
        if missing:
            raise ValueError(f"{path}: not a phase map record, missing {missing}")
        values = {f.name: data[f.name] for f in fields(PhaseMap)}
    for name in _SCALARS:
        values[name] = values[name].item()
    values["mode"] = str(values["mode"])
    values["class_names"] = tuple(str(s) for s in values["class_names"])
    return PhaseMap(**values)


def _stats(values) -> dict:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return {"n": 0, "min": math.nan, "median": math.nan, "max": math.nan}
    return {"n": int(v.size), "min": float(v.min()), "median": float(np.median(v)),
            "max": float(v.max())}


def summary(result: PhaseMap) -> dict:
    """The numbers the README quotes, per ε (keys "eps=1e-12", …):

    fractions: share of grid points per class (also split into β1 ≤ β2 and β1 > β2);
    cycle_amplitude: min/median/max of A/α over the cycle points;
    diagonal: per β = β1 = β2, the class per α, A/α per α, max/min of A/α over α, A/α/(1 − β),
              the recurrence and sign-change rate at the largest α;
    converging: the (β1, β2, α) points that converge, and how many ended at exactly 0;
    two_cycle_points: points with exact period 2, and their A/α against (1 − β1)/(2(1 + β1));
    and once: the ε sweep (per β the largest factor with a cycle, the smallest that converges,
    the amplitude against the linear law A(0)(1 − ε/(α r))) and the 2-cycle probe (per β2 the
    largest probed β1 where the 2-cycle attracts and the smallest where it repels).
    """
    out = {"mode": result.mode, "steps": int(result.steps), "class_names": list(CLASS_NAMES)}
    b1 = result.betas1[:, None, None]
    b2 = result.betas2[None, :, None]
    upper = np.broadcast_to(b1 <= b2, result.cls.shape[1:])
    for i, e in enumerate(result.eps):
        cls, amp = result.cls[i], result.amplitude[i]
        rec = {"fractions": {}, "fractions_b1_le_b2": {}, "fractions_b1_gt_b2": {}}
        for k, name in enumerate(CLASS_NAMES):
            rec["fractions"][name] = float(np.mean(cls == k))
            rec["fractions_b1_le_b2"][name] = float(np.mean(cls[upper] == k))
            rec["fractions_b1_gt_b2"][name] = float(np.mean(cls[~upper] == k))
        rec["cycle_amplitude"] = _stats(amp[cls == CYCLE])
        diagonal = {}
        for j, beta in enumerate(result.betas1):
            k2 = int(np.flatnonzero(result.betas2 == beta)[0])
            a = amp[j, k2]
            cyc = cls[j, k2] == CYCLE
            diagonal[f"{beta:g}"] = {
                "cls": [CLASS_NAMES[c] for c in cls[j, k2]], "amplitude": a.tolist(),
                "spread_over_lr": float(a[cyc].max() / a[cyc].min()) if cyc.any() else math.nan,
                "per_one_minus_beta": float(np.median(a[cyc]) / (1 - beta)) if cyc.any()
                else math.nan,
                "recurrence": int(result.recurrence[i, j, k2, -1]),
                "sign_rate": float(result.sign_rate[i, j, k2, -1])}
        rec["diagonal"] = diagonal
        conv = np.argwhere(cls == CONVERGES)
        rec["converging"] = [(float(result.betas1[p]), float(result.betas2[q]),
                              float(result.lrs[s])) for p, q, s in conv]
        rec["converging_exact_zero"] = int(np.count_nonzero(result.final_zero[i][cls == CONVERGES]))
        two = np.argwhere((result.exact_period[i] == 2) & (cls == CYCLE))
        rec["two_cycle_points"] = [
            (float(result.betas1[p]), float(result.betas2[q]), float(result.lrs[s]),
             float(amp[p, q, s]), float((1 - result.betas1[p]) / (2 * (1 + result.betas1[p]))))
            for p, q, s in two]
        out[f"eps={e:g}"] = rec
    sweep = {}
    for j, beta in enumerate(result.sweep_betas):
        f, c, a = result.sweep_factors, result.sweep_cls[j], result.sweep_amplitude[j]
        on_grid = np.flatnonzero(np.isclose(result.betas1, beta))
        lr_at = np.flatnonzero(np.isclose(result.lrs, result.sweep_lr))
        a0 = result.amplitude[0, on_grid[0], on_grid[0], lr_at[0]] \
            if on_grid.size and lr_at.size else math.nan
        sweep[f"{beta:g}"] = {
            "largest_factor_with_cycle": float(f[c == CYCLE].max()) if (c == CYCLE).any()
            else math.nan,
            "smallest_factor_converging": float(f[c == CONVERGES].min())
            if (c == CONVERGES).any() else math.nan,
            "amplitude": a.tolist(),
            # A(ε) / (A(ε≈0) (1 − ε/(α r))): 1 where the amplitude falls linearly in ε
            "ratio_to_linear": [float(v / (a0 * (1 - x))) if x < 1 and c[k] == CYCLE
                                else math.nan for k, (v, x) in enumerate(zip(a, f))]}
    out["eps_sweep"] = sweep
    attracts = result.probe_growth < 1.0
    out["two_cycle_attracts_up_to_beta1"] = {
        f"{b2:g}": float(result.probe_betas1[attracts[:, q]].max()) if attracts[:, q].any()
        else math.nan for q, b2 in enumerate(result.betas2)}
    out["two_cycle_repels_from_beta1"] = {
        f"{b2:g}": float(result.probe_betas1[~attracts[:, q]].min()) if (~attracts[:, q]).any()
        else math.nan for q, b2 in enumerate(result.betas2)}
    return out
