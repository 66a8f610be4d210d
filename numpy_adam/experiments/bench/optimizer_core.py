"""Optimizer core: one Adam step over n float32 elements, five ways, against bandwidth.

    fused+stats          numpy_adam.optim.Adam.step(): the NaN/Inf scan of g, the Numba
                         kernel with the statistics' sums in-pass, then γ's element mean from
                         the element sample (SAMPLE_SIZE elements, as training keeps)
    fused+stats kernel   the same kernel pass alone, without the scan of g, called through
                         the public kernel API (:func:`kernel_pass`)
    fused                Adam.step(compute_stats=False)
    numpy                Adam as one would write it in NumPy, in place (:func:`numpy_adam_step`)
    torch                torch.optim.Adam(fused=True) on CPU, else foreach=True (if installed),
                         timed in its own process (:mod:`.isolated`)

Each is reported as ms/step, elements/s, and % of the memory-bandwidth limit
bandwidth / (7 × 4 bytes per element) (:mod:`.bandwidth`): an Adam step must read θ, g, m,
v and write θ, m, v. ``Adam.step`` reads g once more for its NaN/Inf check (8 transfers).

:func:`bench_compute_rate` measures the other limit, arithmetic: the kernel on one thread
over buffers that stay in cache (no memory traffic), in ns per element. Per element, the
update needs one √ and one ÷ (u = m̂/(√v̂ + ε)); the statistics' sums add one more √
(σ̂ = √(v̂ − m̂²)) and the float64 forming of v̂ − m̂², but no ÷ (γ = σ̂/|m̂| is averaged over
the element sample after the step, :mod:`numpy_adam.optim.stats`); on x86 cores √ and ÷
share one divider unit. Over n elements the kernel cannot be faster than that rate × n /
threads, whatever the memory does.
"""
from __future__ import annotations

import numpy as np

from numpy_adam.nn.module import Parameter
from numpy_adam.optim import Adam
from numpy_adam.optim.adam import adam_scalars
from numpy_adam.optim.kernels import adam_step_kernel, build_chunks, runs_parallel
from numpy_adam.optim.stats import bias_corrections
from numpy_adam.training.config import TrainConfig

from .bandwidth import ADAM_BYTES_PER_ELEMENT
from .timing import (SETTLE_SECONDS, WARM_SECONDS, interleaved_medians, median_ms,
                     median_ratio)

LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8
SAMPLE_SIZE = TrainConfig.sample_per_tensor  # training's element sample, which γ comes from


def training_adam(params) -> Adam:
    """Adam over ``params`` as training builds it, element sample included, so a timed
    ``step()`` pays for every statistic a training step computes."""
    return Adam(params, lr=LR, betas=(BETA1, BETA2), eps=EPS, sample_size=SAMPLE_SIZE)


def numpy_adam_step(theta, g, m, v, t):
    """Adam as one would write it in NumPy, in place (temporaries and all), t from 1:

    m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;  θ ← θ − α m̂/(√v̂ + ε)
    """
    c1, c2 = bias_corrections(BETA1, BETA2, t)  # m̂ = c1 m, v̂ = c2 v
    m *= BETA1
    m += (1 - BETA1) * g
    v *= BETA2
    v += (1 - BETA2) * g * g
    m_hat = c1 * m
    v_hat = c2 * v
    theta -= LR * m_hat / (np.sqrt(v_hat) + EPS)


def kernel_pass(adam: Adam, compute_stats: bool, parallel: bool):
    """A callable that runs the kernel pass of ``adam``'s next step t + 1 alone, through the
    public kernel API: no NaN/Inf scan of g, and t is not advanced (each call repeats step
    t + 1 on the state it finds). The scalars are rebuilt on each call, as ``step()`` does."""
    chunks = build_chunks(adam.flat.segment_bounds(), adam.tracked)
    v_max = adam.v_max if adam.v_max is not None else np.empty(0, adam.dtype)

    def run():
        adam_step_kernel(adam.flat.data, adam.flat.grad, adam.m, adam.v, v_max, chunks,
                         adam_scalars(adam.hparams, adam.t + 1, adam.dtype), compute_stats,
                         parallel)
    return run


def bench_optimizer_core(sizes, bandwidth: float, rounds: int, torch=None) -> list[dict]:
    """One row per size n: ms, elements/s and % of bandwidth per candidate, ratio vs torch.

    Inputs: sizes (ints), bandwidth (bytes/s, measured), rounds, torch module or None.
    """
    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        theta0 = rng.standard_normal(n, dtype=np.float32)
        g0 = rng.standard_normal(n, dtype=np.float32)
        param = Parameter(theta0, kind="weight")
        adam = training_adam([("w", param)])
        adam.flat.grad[...] = g0
        theta, g = theta0.copy(), g0.copy()
        m, v = np.zeros_like(theta), np.zeros_like(theta)
        state = {"t": 0}

        def plain():
            state["t"] += 1
            numpy_adam_step(theta, g, m, v, state["t"])

        candidates = {"fused+stats": adam.step,
                      "fused+stats kernel": kernel_pass(adam, True, runs_parallel(n)),
                      "fused": lambda: adam.step(compute_stats=False), "numpy": plain}
        if torch is not None:  # the same θ0, g0 (drawn from default_rng(n)) in the worker
            candidates["torch"] = torch.candidate("adam", n)
        inner = max(3, 2_000_000 // n)  # sub-millisecond steps are timed in batches
        # each candidate timed with the others quiet and itself warm: a 0.3 s pause first, so
        # the previous candidate's idle threads (OpenBLAS, Numba, torch's OpenMP ones in its own
        # process) stop spinning, then untimed calls for 0.1 s to wake its own and get past
        # the slow start after the pause. Without the pause, Adam.step() measured well above
        # its time alone (README, Performance).
        times = interleaved_medians(candidates, rounds=rounds, inner=inner, warm_calls=1,
                                    settle=SETTLE_SECONDS, warm_seconds=WARM_SECONDS)
        row = {"n": int(n), "ms": {}, "elements_per_s": {}, "pct_bandwidth": {}}
        limit = bandwidth / ADAM_BYTES_PER_ELEMENT  # elements/s at the bandwidth limit
        for name, t in times.items():
            sec = float(np.median(t))
            row["ms"][name] = 1e3 * sec
            row["elements_per_s"][name] = n / sec
            row["pct_bandwidth"][name] = 100.0 * (n / sec) / limit
        if torch is not None:
            row["torch_adam"] = torch.time("adam", n, 1)["adam"]
            row["speed_vs_torch"] = {name: 1.0 / median_ratio(times, name, "torch")
                                     for name in times if name != "torch"}
        rows.append(row)
    return rows


IN_CACHE_SIZES = (1 << 15, 1 << 16)  # θ, g, m, v: 0.5 and 1 MiB, inside a core's L2 cache
IN_CACHE_CALLS = 50                  # kernel calls per timing of the in-cache rate
NONFINITE_CHECK_BYTES = 4            # Adam.step()'s NaN/Inf check reads g once (float32)


def _in_cache_adam(n: int) -> Adam:
    """An Adam over n float32 elements, one step taken."""
    rng = np.random.default_rng(n)
    param = Parameter(rng.standard_normal(n, dtype=np.float32), kind="weight")
    adam = Adam([("w", param)], lr=LR, betas=(BETA1, BETA2), eps=EPS)
    adam.flat.grad[...] = rng.standard_normal(n, dtype=np.float32)
    adam.step()
    return adam


def bench_compute_rate(rounds: int, threads: int, n_large: int = 10**7, torch=None,
                       bandwidth: float | None = None) -> dict:
    """ns per element of the Adam kernel on one thread, in cache, with and without statistics;
    the floor that rate puts on a step over ``n_large`` elements on ``threads`` threads; and,
    with torch, that floor against torch's fused Adam over ``n_large`` elements, timed in
    the same interleaved rounds (a shared machine's speed drifts over minutes, so a floor
    from one moment against torch's time from another would not prove anything).

    With ``bandwidth`` (bytes/s, :mod:`.bandwidth`) also the floor of the whole
    ``Adam.step()`` with statistics: the kernel's arithmetic floor plus the exact NaN/Inf check
    of g before it, which must read g (4 bytes per element) before anything is written, so it
    cannot overlap the kernel: t_step ≥ t_kernel floor + 4 n / bandwidth. (The bandwidth term
    is an estimate, not a bound; see :mod:`.bandwidth`.)

    The rate is the difference of two in-cache sizes, (t(2¹⁶) − t(2¹⁵)) / 2¹⁵, so the fixed
    cost of a call (building the scalars, the Numba dispatch) cancels.

    Output: {"elements": IN_CACHE_SIZES, "ns_per_element": {variant: ns},
             "floor_ms": {variant: ms for n_large elements on ``threads`` threads},
             "n_large": n_large, "threads": threads,
             with torch also "torch_ms" and "best_speed_vs_torch": {variant: the speed vs
             torch's fused Adam the floor allows, median over rounds of torch / floor};
             with bandwidth also "step_floor": {"check_ms": 4 n / bandwidth, "ms": the
             kernel-with-statistics floor plus check_ms, and with torch "best_speed_vs_torch"}}
    """
    small, big = (_in_cache_adam(n) for n in IN_CACHE_SIZES)

    def in_cache(adam, compute_stats):
        kernel = kernel_pass(adam, compute_stats, parallel=False)  # one thread: one core's rate

        def run():
            for _ in range(IN_CACHE_CALLS):
                kernel()
        return run

    kernels = {"fused+stats kernel": True, "fused kernel": False}
    candidates = {}
    for name, compute_stats in kernels.items():
        candidates[f"{name} small"] = in_cache(small, compute_stats)
        candidates[f"{name} big"] = in_cache(big, compute_stats)
    if torch is not None:
        candidates["torch"] = torch.candidate("adam", n_large)
    times = interleaved_medians(candidates, rounds=rounds, warm_calls=1, settle=SETTLE_SECONDS,
                                warm_seconds=WARM_SECONDS)
    extra = IN_CACHE_CALLS * (IN_CACHE_SIZES[1] - IN_CACHE_SIZES[0])  # element updates
    per_element = {name: (times[f"{name} big"] - times[f"{name} small"]) / extra
                   for name in kernels}  # seconds per element per round
    floor = {name: t * n_large / threads for name, t in per_element.items()}  # seconds
    result = {"elements": list(IN_CACHE_SIZES), "n_large": int(n_large), "threads": int(threads),
              "ns_per_element": {k: 1e9 * float(np.median(t)) for k, t in per_element.items()},
              "floor_ms": median_ms(floor)}
    if torch is not None:
        result["torch_ms"] = 1e3 * float(np.median(times["torch"]))
        result["best_speed_vs_torch"] = {k: float(np.median(times["torch"] / t))
                                         for k, t in floor.items()}
    if bandwidth is not None:
        check = NONFINITE_CHECK_BYTES * n_large / bandwidth  # seconds: one read of g
        step = floor["fused+stats kernel"] + check
        result["step_floor"] = {"check_ms": 1e3 * check, "ms": 1e3 * float(np.median(step))}
        if torch is not None:
            result["step_floor"]["best_speed_vs_torch"] = float(np.median(times["torch"] / step))
    return result
