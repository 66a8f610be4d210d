r"""What a trajectory of Adam on f(x) = x² does in the long run: converges, cycles, spikes, grows.

The input is the parameter x over the last W steps of a run (its *tail*), one column per run,
with the run's learning rate α. Everything is measured on the tail:

    A          = max |x_t| over the tail's second half (last W/2 steps)   (the amplitude)
    amplitude  = A / α                                                    (what the map shows)
    growth     = A / (max |x| over an earlier window: the tail's first half, or one given)
    spike      = max_b B_b / median_b B_b,  B_b = max |x| over block b of SPIKE_BLOCK steps
    jump       = max_t |x_t − x_{t−1}| / α, the largest single step in units of α
    sign_rate  = sign changes of x per step over the 2nd half (zeros carry no sign)
    period     = 2 / sign_rate  (one full swing has two sign changes; inf without any)
    exact_period = smallest p ≤ EXACT_PERIOD_MAX with max_t |x_t − x_{t−p}| ≤ EXACT_TOL · A over
                 the 2nd half, else 0: a truly periodic orbit (the 2-cycle: p = 2)
    recurrence = smallest lag ≥ 2 at a local maximum of the autocorrelation of the 2nd half
                 within RECURRENCE_TOL of the highest such maximum, else 0: the period of a
                 quasi-periodic orbit to the nearest step (13 for β1 = β2: x_t ≈ A cos(ωt + φ)
                 with ω/2π ≈ 5/13, not exactly periodic)

Classes, decided in this order (the first that applies):

    GROWS      x is not finite, or A > |x0| and x either has no sign change in the 2nd half or
               growth > SETTLE_RATIO: the run ends farther out than it started and is not
               oscillating about 0 (a runaway or a long excursion).
    CONVERGES  A ≤ CONVERGED_AMPLITUDE · α and growth ≤ 1: |x| is tiny and not growing.
    SPIKES     spike > SPIKE_RATIO (bursts out of a quiet state) or jump > JUMP_RATIO (single
               steps far larger than α).
    UNSETTLED  growth outside [1/SETTLE_RATIO, SETTLE_RATIO]: still drifting at the end of the
               run (too few steps to tell); not a verdict on the long run.
    CYCLE      otherwise: a bounded oscillation of steady amplitude (a limit cycle: periodic,
               quasi-periodic or irregular; ``exact_period`` and ``recurrence`` tell which).

Why these thresholds (the numbers are the map's, :mod:`.phase_map`, full mode):

* CONVERGED_AMPLITUDE = 1e-6: on x² with ε = 0 Adam is scale-free (x → cx, α → cα maps runs
  onto runs), so a cycle's amplitude is a fixed multiple of α; the smallest one the map finds
  is 4.0e-4 α (β1 = β2 = 0.999). 1e-6 α is 2.6 decades below it; the runs that converge go
  far deeper (every convergent point of the full map ends at x = 0.0 exactly).
* SPIKE_RATIO = 10 with SPIKE_BLOCK = 16 steps: the block maxima of a steady oscillation are all
  near A — for a sinusoid of period ≥ 2 blocks the median block maximum is ≥ 0.7 A. Of the map's
  1585 cycle points at β2 > 0, 1561 have ratios ≤ 4 and the rest (irregular orbits, e.g.
  β1 = 0.8, β2 = 0.99) up to 9.6, so that is where the line between irregular and bursting
  falls; bursts out of a quiet phase (|x| falling 5 to 45 decades below α between bursts,
  e.g. β1 = 0.5, β2 = 0.99) give 10 to 1e89.
* JUMP_RATIO = 10: Adam's step |u| = |m̂|/(√v̂ + ε) is ≤ 1 for β1 = β2 (Cauchy–Schwarz); on the
  map it exceeds 3 only inside bursts (up to 13, which the spike ratio already flags) and at
  β2 = 0, where v̂ = g² and |u| = |m̂|/|g| is unbounded as g crosses 0 (up to 6.5e5 measured).
* SETTLE_RATIO = 2: the maxima of a periodic or quasi-periodic orbit over two windows agree to
  1e-4, an irregular orbit's to within a factor 1.45 on the map; a factor of 2 is a trend.
* EXACT_TOL = 1e-9 relative: an orbit that repeats in float64 repeats to rounding (≈1e-16);
  1e-9 separates that from a quasi-periodic orbit (which misses by 1e-3 or more).
"""
from __future__ import annotations

import numpy as np

CONVERGES, CYCLE, SPIKES, GROWS, UNSETTLED = range(5)
CLASS_NAMES = ("converges", "cycle", "spikes", "grows", "unsettled")

CONVERGED_AMPLITUDE = 1e-6  # max |x| / α below which a shrinking run counts as converged
SPIKE_BLOCK = 16            # steps per block for the spike measure
SPIKE_RATIO = 10.0          # max block maximum / median block maximum above which: spikes
JUMP_RATIO = 10.0           # a single step larger than this many α: spikes
SETTLE_RATIO = 2.0          # half-tail maxima differing by more than this: unsettled
EXACT_PERIOD_MAX = 64       # longest exact period looked for, steps
EXACT_TOL = 1e-9            # relative tolerance of an exact period
RECURRENCE_TOL = 0.01       # autocorrelation peaks this close to the best count as equal


def _columns(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 4 * SPIKE_BLOCK:
        raise ValueError(f"classify: x must be (W,) or (W, N) with W >= {4 * SPIKE_BLOCK}, got "
                         f"shape {x.shape}")
    return x


def sign_changes(x: np.ndarray) -> np.ndarray:
    """(N,) number of t where sign(x_t) differs from the last non-zero sign before t, per column
    of (W, N) ``x`` (exact zeros carry no sign)."""
    s = np.sign(x)
    # carry the last non-zero sign forward: index of the latest non-zero entry up to t
    idx = np.where(s != 0, np.arange(s.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    carried = np.take_along_axis(s, idx, axis=0)  # (W, N), 0 only before the first non-zero
    change = (carried[1:] != carried[:-1]) & (carried[:-1] != 0)
    return np.count_nonzero(change, axis=0)


def exact_period(x: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """(N,) smallest p ≤ EXACT_PERIOD_MAX with max |x_t − x_{t−p}| ≤ EXACT_TOL · amplitude, else
    0; x is (H, N), amplitude (N,) its max |x|. A constant column (amplitude 0) gets 0.

    Each p is first tried on the last 4·EXACT_PERIOD_MAX steps only; the columns that pass are
    then checked over all H steps (the screen only removes candidates, it never adds one).
    """
    n_rows = x.shape[0]
    out = np.zeros(x.shape[1], dtype=np.int64)
    tol = EXACT_TOL * amplitude
    screen = x[-min(4 * EXACT_PERIOD_MAX, n_rows):]
    for p in range(1, min(EXACT_PERIOD_MAX, n_rows // 4) + 1):
        cols = np.flatnonzero((out == 0) & (amplitude > 0))
        if cols.size == 0:
            break
        near = np.max(np.abs(screen[p:, cols] - screen[:-p, cols]), axis=0) <= tol[cols]
        cols = cols[near]
        if cols.size:
            miss = np.max(np.abs(x[p:, cols] - x[:-p, cols]), axis=0)
            out[cols[miss <= tol[cols]]] = p
    return out


def recurrence(x: np.ndarray) -> np.ndarray:
    """(N,) period estimate from the autocorrelation of each column of (H, N) ``x``: the smallest
    lag k ≥ 2 that is a local maximum of ρ(k) (unbiased, mean removed) within RECURRENCE_TOL of
    the highest local maximum over lags up to 3H/4; 0 without one (a constant or monotone x)."""
    h = x.shape[0]
    xc = x - x.mean(axis=0)
    n = 1 << int(np.ceil(np.log2(2 * h)))
    spec = np.fft.rfft(xc, n=n, axis=0)
    acf = np.fft.irfft(spec * np.conj(spec), n=n, axis=0)[:h]  # (H, N) Σ_t x_t x_{t+k}
    energy = acf[0].copy()
    kmax = 3 * h // 4
    rho = acf[:kmax + 2] / (h - np.arange(kmax + 2))[:, None]  # unbiased
    rho = np.divide(rho, energy / h, out=np.zeros_like(rho), where=energy > 0)
    k = np.arange(2, kmax + 1)
    peak = (rho[k] >= rho[k - 1]) & (rho[k] >= rho[k + 1]) & (rho[k] > 0)  # (K, N)
    values = np.where(peak, rho[k], -np.inf)
    best = values.max(axis=0)
    good = peak & (values >= best - RECURRENCE_TOL)
    first = np.argmax(good, axis=0)
    return np.where(good.any(axis=0), k[first], 0)


CHUNK = 256  # columns classified at a time (bounds the temporaries: W × CHUNK floats each)


def classify(x, lr, x0: float = 1.0, earlier=None) -> dict[str, np.ndarray]:
    """Measures and class of each tail, as defined in this module's docstring.

    x:  (W, N) the parameter over the last W ≥ 4·SPIKE_BLOCK steps of N runs (or (W,) for one)
    lr: α per run, a scalar or (N,)
    x0: the starting point (GROWS when max |x| over the 2nd half exceeds |x0|)
    earlier: optional (N,) max |x| over an earlier window of W/2 steps (e.g. from the run's
        middle); growth is then A / earlier, which sees drifts too slow to show between the
        tail's two halves (a damped oscillation of period ~1000 steps). Default: the 1st half.
    returns (N,) arrays: ``cls`` (int, index into CLASS_NAMES), ``amplitude`` (A/α), ``growth``,
    ``spike``, ``jump``, ``sign_rate``, ``period``, ``exact_period``, ``recurrence``
    """
    x = _columns(x)
    w, n = x.shape
    lr = np.broadcast_to(np.asarray(lr, dtype=np.float64), (n,))
    if earlier is not None:
        earlier = np.broadcast_to(np.asarray(earlier, dtype=np.float64), (n,))
    if n > CHUNK:
        parts = [classify(x[:, i:i + CHUNK], lr[i:i + CHUNK], x0,
                          None if earlier is None else earlier[i:i + CHUNK])
                 for i in range(0, n, CHUNK)]
        return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    a = np.abs(x)
    h = w // 2
    first, second = a[:w - h], a[w - h:]
    nb = w // SPIKE_BLOCK
    # NaN tails give NaN maxima (handled as not finite); ratios of subnormals overflow to inf
    with np.errstate(invalid="ignore", over="ignore"):
        amp = second.max(axis=0)
        amp_first = first.max(axis=0) if earlier is None else earlier
        growth = np.divide(amp, amp_first, out=np.where(amp > 0, np.inf, 1.0),
                           where=amp_first > 0)
        blocks = a[w - nb * SPIKE_BLOCK:].reshape(nb, SPIKE_BLOCK, n).max(axis=1)  # (nb, N)
        median = np.median(blocks, axis=0)
        top = blocks.max(axis=0)
        spike = np.divide(top, median, out=np.where(top > 0, np.inf, 1.0), where=median > 0)
        jump = np.max(np.abs(np.diff(x, axis=0)), axis=0) / lr
    finite = np.all(np.isfinite(x), axis=0)
    tail = np.where(np.isfinite(x[w - h:]), x[w - h:], 0.0)
    changes = sign_changes(tail)
    rate = changes / (h - 1)
    period = np.divide(2.0, rate, out=np.full(n, np.inf), where=rate > 0)

    cls = np.full(n, CYCLE, dtype=np.int64)
    unsettled = (growth > SETTLE_RATIO) | (growth < 1.0 / SETTLE_RATIO)
    cls[unsettled] = UNSETTLED
    cls[(spike > SPIKE_RATIO) | (jump > JUMP_RATIO)] = SPIKES
    cls[(amp <= CONVERGED_AMPLITUDE * lr) & (growth <= 1.0)] = CONVERGES
    beyond = ~(amp <= abs(x0))  # also NaN
    cls[~finite | (beyond & ((changes == 0) | (growth > SETTLE_RATIO)))] = GROWS
    return {"cls": cls, "amplitude": amp / lr, "growth": growth, "spike": spike, "jump": jump,
            "sign_rate": rate, "period": period,
            "exact_period": exact_period(tail, np.where(finite, amp, 0.0)),
            "recurrence": recurrence(tail)}


def two_cycle_amplitude(beta1, lr, eps=0.0):
    """Amplitude a of Adam's exact 2-cycle x = ±a on f(x) = x² once the bias corrections are 1.

    With x alternating +a, −a the gradient alternates ±2a, v settles at 4a² and m at ±μ with
    μ = −β1 μ + (1 − β1) 2a, i.e. μ = 2a r, r = (1 − β1)/(1 + β1); the step α μ/(2a + ε) must
    carry x from +a to −a: 2a = α 2a r/(2a + ε), so

        a = (α r − ε) / 2,     which exists iff ε < α (1 − β1)/(1 + β1),

    for every β2 (v is constant on the cycle). Returns a (NaN where ε ≥ α r).
    """
    r = (1.0 - np.asarray(beta1, dtype=np.float64)) / (1.0 + np.asarray(beta1, dtype=np.float64))
    a = (np.asarray(lr, dtype=np.float64) * r - eps) / 2.0
    return np.where(a > 0, a, np.nan)
