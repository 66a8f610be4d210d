"""RMSprop's and Adagrad's fused kernels equal their plain NumPy boxes (rmsprop_update,
adagrad_update, probe_update, spread_stats), step by step, for every option combination.

Also run under NUMBA_DISABLE_JIT=1 by test_rmsprop_adagrad_no_jit.py (keep it self-contained).
"""
import itertools
import os

import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim import kernels
from numpy_adam.optim.adagrad import Adagrad, adagrad_scalars, adagrad_update
from numpy_adam.optim.kernels_rms import adagrad_step_kernel, rmsprop_step_kernel
from numpy_adam.optim.probe import probe_scalars, probe_update
from numpy_adam.optim.rmsprop import RMSprop, rmsprop_scalars, rmsprop_update
from numpy_adam.optim.stats import FIELDS, spread_stats, stats_from_sums

# 200 steps compiled; as plain Python (the no-JIT run) every element and every statistics lane
# is interpreted, so the same code paths run for 5 steps (t = 1 and later steps)
STEPS = 5 if os.environ.get("NUMBA_DISABLE_JIT") == "1" else 200
PROBE = (0.9, 0.99)


def _table(**axes):
    """{id: kwargs} for every combination of the axes' values; an id names the non-default
    ones (the first value of each axis is its default)."""
    names = list(axes)
    table = {}
    for values in itertools.product(*axes.values()):
        kw = dict(zip(names, values))
        parts = [f"{n}={v}" for n, v in kw.items() if v != axes[n][0]]
        table["-".join(parts) or "plain"] = kw
    return table


RMSPROP_OPTIONS = _table(momentum=[0.0, 0.9], centered=[False, True], weight_decay=[0.0, 0.05],
                         maximize=[False, True], probe_betas=[None, PROBE])
ADAGRAD_OPTIONS = _table(lr_decay=[0.0, 0.01], initial_accumulator_value=[0.0, 0.1],
                         weight_decay=[0.0, 0.05], maximize=[False, True],
                         probe_betas=[None, PROBE])
CASES = ([("rmsprop", kw) for kw in RMSPROP_OPTIONS.values()]
         + [("adagrad", kw) for kw in ADAGRAD_OPTIONS.values()])
IDS = [f"rmsprop-{k}" for k in RMSPROP_OPTIONS] + [f"adagrad-{k}" for k in ADAGRAD_OPTIONS]
CLASSES = {"rmsprop": RMSprop, "adagrad": Adagrad}


class Reference:
    """The plain boxes stepped beside an optimizer: same θ_0, same hyperparameters."""

    def __init__(self, opt):
        self.kind = "rmsprop" if isinstance(opt, RMSprop) else "adagrad"
        self.hp = opt.hparams.as_dict()
        self.betas = opt.probe_betas
        self.segments = [opt.flat.segments[i] for i in opt.tracked]
        layout = opt.sample_layout  # γ's mean is over the optimizer's sampled elements
        self.gamma_at = [layout.element[layout.slot == k] for k in range(len(self.segments))] \
            if layout.size else None
        self.theta = opt.flat.data.copy()
        zeros = np.zeros_like(self.theta)
        self.t = 0
        self.v, self.g_avg, self.b, self.m_p, self.v_p = (zeros.copy() for _ in range(5))
        self.s = np.full_like(self.theta, self.hp.pop("initial_accumulator_value", 0.0))

    def step(self, g):
        """One step; returns the plain SpreadStats of that step."""
        self.t += 1
        if self.kind == "rmsprop":
            self.theta, self.v, self.g_avg, self.b, u, d = rmsprop_update(
                self.theta, g, self.v, self.g_avg, self.b, **self.hp)
        else:
            self.theta, self.s, u, d = adagrad_update(self.theta, g, self.s, self.t, **self.hp)
        if self.betas is None:
            return spread_stats(self.m_p, self.v_p, u, self.t, 0.0, 0.0, self.segments,
                                has_spread=False)
        self.m_p, self.v_p = probe_update(d, self.m_p, self.v_p, *self.betas)
        return spread_stats(self.m_p, self.v_p, u, self.t, *self.betas, self.segments,
                            gamma_at=self.gamma_at)

    def pairs(self, opt):
        """(name, kernel array, reference array) for every state array the optimizer keeps."""
        names = {"v": self.v, "g_avg": self.g_avg, "b": self.b, "s": self.s}
        pairs = [(n, a, names[n]) for n, a in opt._arrays().items() if n in names]
        if opt.probe is not None:
            pairs += [("probe_m", opt.probe.m, self.m_p), ("probe_v", opt.probe.v, self.v_p)]
        return pairs


def _compare_run(opt, grads, theta_tol, rtol):
    """Step ``opt`` and the reference through ``grads``; θ, state and statistics must agree at
    every step (the worst step is named)."""
    ref = Reference(opt)
    theta_diff, state_diff, got, want = [], [], [], []
    for t, g in enumerate(grads, start=1):
        opt.flat.grad[:] = g
        opt.step()
        expected = ref.step(g)
        theta_diff.append(np.max(np.abs(opt.flat.data - ref.theta)))
        state_diff.append(max(np.max(np.abs(a - b) / (np.abs(b) + theta_tol))
                              for _, a, b in ref.pairs(opt)))
        stats = opt.last_stats
        assert stats.names == expected.names and stats.step == t, (stats.names, stats.step, t)
        got.append([getattr(stats, f) for f in FIELDS])
        want.append([getattr(expected, f) for f in FIELDS])
    worst = int(np.argmax(theta_diff))
    assert theta_diff[worst] < theta_tol, (
        f"max |θ_kernel − θ_reference| = {theta_diff[worst]:.3g} at step {worst + 1}")
    worst = int(np.argmax(state_diff))
    assert state_diff[worst] < rtol, (
        f"state arrays differ by {state_diff[worst]:.3g} (relative) at step {worst + 1}")
    got, want = np.array(got), np.array(want)  # (steps, 5, L)
    if ref.gamma_at is not None and ref.betas is not None:
        assert np.isfinite(got[:, FIELDS.index("gamma")]).any(), "no finite γ from the sample"
    for k, field in enumerate(FIELDS):
        np.testing.assert_allclose(got[:, k], want[:, k], rtol=rtol, atol=1e-300, equal_nan=True,
                                   err_msg=f"statistic {field} (steps × tensors)")
    return ref


@pytest.mark.parametrize("kind, options", CASES, ids=IDS)
def test_kernel_equals_reference_float64(kind, options, small_chunks, make_params,
                                         gradient_stream):
    rng = np.random.default_rng(80)
    opt = CLASSES[kind](make_params(rng), lr=0.01, track=("weight", "batchnorm"), sample_size=3,
                        **options)
    assert (opt.probe is not None) == (options["probe_betas"] is not None)
    theta0 = opt.flat.data.copy()
    grads = gradient_stream(rng, opt.flat.data.size, STEPS)
    _compare_run(opt, grads, theta_tol=1e-12, rtol=1e-12)
    assert np.min(np.abs(opt.flat.data - theta0)[1:]) > 0, "every element with a gradient moved"
    has_spread = np.isfinite(opt.last_stats.sigma).all()
    assert has_spread == (opt.probe is not None), "m̂, σ̂, γ exist exactly with a probe"


FLOAT32_CASES = {
    "rmsprop-centered-momentum-wd-probe": ("rmsprop", dict(momentum=0.9, centered=True,
                                                           weight_decay=0.05, probe_betas=PROBE)),
    "rmsprop-plain": ("rmsprop", dict()),
    "adagrad-decay-init-wd-probe": ("adagrad", dict(lr_decay=0.01, initial_accumulator_value=0.1,
                                                    weight_decay=0.05, probe_betas=PROBE)),
    "adagrad-maximize": ("adagrad", dict(maximize=True)),
}


@pytest.mark.parametrize("kind, options", list(FLOAT32_CASES.values()), ids=list(FLOAT32_CASES))
def test_float32_kernel_within_float32_tolerance(kind, options, small_chunks, make_params,
                                                 gradient_stream):
    rng = np.random.default_rng(81)
    opt = CLASSES[kind](make_params(rng, dtype=np.float32), lr=0.01, sample_size=1000, **options)
    for name, array in opt._arrays().items():
        assert array.dtype == np.float32, f"state {name} must keep θ's dtype, got {array.dtype}"
    grads = gradient_stream(rng, opt.flat.data.size, STEPS, dtype=np.float32)
    _compare_run(opt, grads, theta_tol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind, options", [("rmsprop", dict(momentum=0.9, centered=True,
                                                            probe_betas=PROBE)),
                                           ("adagrad", dict(lr_decay=0.01, probe_betas=PROBE))],
                         ids=["rmsprop", "adagrad"])
def test_threaded_path_equals_reference(kind, options, small_chunks, monkeypatch, make_params,
                                        gradient_stream):
    """Buffers of PARALLEL_MIN_SIZE or more run chunks over threads (prange): same results."""
    monkeypatch.setattr(kernels, "PARALLEL_MIN_SIZE", 0)
    rng = np.random.default_rng(82)
    opt = CLASSES[kind](make_params(rng), lr=0.01, **options)
    assert all(opt._group_parallel), "PARALLEL_MIN_SIZE = 0 must select the threaded path"
    _compare_run(opt, gradient_stream(rng, opt.flat.data.size, min(STEPS, 30)), 1e-12, 1e-12)


def test_tensor_spanning_many_blocks(make_params, gradient_stream):
    """A 2500-element tensor: several BLOCK-lane blocks in one chunk and a partial last one."""
    rng = np.random.default_rng(83)
    layout = (("w", (25, 100), "weight"), ("b", (7,), "bias"), ("w2", (300,), "weight"))
    assert 2 * kernels.BLOCK < 2500 < kernels.CHUNK_SIZE, "layout must span blocks in one chunk"
    for cls, options in ((RMSprop, dict(centered=True)), (Adagrad, dict())):
        opt = cls(make_params(rng, layout=layout), lr=0.01, probe_betas=PROBE, **options)
        _compare_run(opt, gradient_stream(rng, opt.flat.data.size, min(STEPS, 20)), 1e-12, 1e-12)


@pytest.mark.parametrize("kind", ["rmsprop", "adagrad"])
def test_probe_statistics_equal_spread_stats_of_the_probe_state(kind, make_params):
    """After a step, last_stats is spread_stats of the probe's own m, v (read from the
    optimizer) with u_t from the plain box run on the state before the step."""
    rng = np.random.default_rng(84)
    options = dict(momentum=0.5, centered=True) if kind == "rmsprop" else dict(lr_decay=0.1)
    opt = CLASSES[kind](make_params(rng), lr=0.01, probe_betas=(0.8, 0.9), sample_size=3,
                        **options)
    segments = [opt.flat.segments[i] for i in opt.tracked]
    layout = opt.sample_layout
    sampled = [layout.element[layout.slot == k] for k in range(len(segments))]
    for t in range(1, 6):
        g = rng.normal(size=opt.flat.data.size)
        before = {k: a.copy() for k, a in opt._arrays().items()}
        theta = opt.flat.data.copy()
        hp = opt.hparams.as_dict()
        if kind == "rmsprop":
            u = rmsprop_update(theta, g, before["v"], before["g_avg"], before["b"], **hp)[4]
        else:
            hp.pop("initial_accumulator_value")
            u = adagrad_update(theta, g, before["s"], t, **hp)[2]
        opt.flat.grad[:] = g
        opt.step()
        want = spread_stats(opt.probe.m, opt.probe.v, u, t, 0.8, 0.9, segments, gamma_at=sampled)
        for field in FIELDS:
            np.testing.assert_allclose(getattr(opt.last_stats, field), getattr(want, field),
                                       rtol=1e-12, err_msg=f"step {t} {field}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_public_kernel_call_equals_step_bitwise(dtype, make_params):
    """build_chunks, rmsprop_scalars/adagrad_scalars/probe_scalars and the kernels reproduce
    step() exactly; scalars are in the state dtype, the statistics' in float64."""
    rng = np.random.default_rng(85)
    params = make_params(rng, dtype=dtype)
    g = rng.normal(size=sum(p.data.size for _, p in params)).astype(dtype)
    for cls, options in ((RMSprop, dict(momentum=0.9, centered=True, weight_decay=0.1)),
                         (Adagrad, dict(lr_decay=0.1, initial_accumulator_value=0.5))):
        opt, by_hand = (cls([(n, Parameter(p.data.copy())) for n, p in params], lr=0.01,
                            probe_betas=PROBE, **options) for _ in range(2))
        chunks = kernels.build_chunks(by_hand.flat.segment_bounds(), by_hand.tracked)
        for t in (1, 2, 3):
            opt.flat.grad[:] = by_hand.flat.grad[:] = g * t
            opt.step()
            probe = probe_scalars(by_hand.probe, t, dtype)
            pm, pv = by_hand.probe.m, by_hand.probe.v
            if cls is RMSprop:
                scalars = rmsprop_scalars(by_hand.hparams, dtype)
                rmsprop_step_kernel(by_hand.flat.data, by_hand.flat.grad, by_hand.v,
                                    by_hand.g_avg, by_hand.b, pm, pv, chunks, scalars, probe,
                                    True, False)
            else:
                scalars = adagrad_scalars(by_hand.hparams, t, dtype)
                assert scalars.lr == dtype(0.01 / (1 + (t - 1) * 0.1)), "lr is α_t"
                adagrad_step_kernel(by_hand.flat.data, by_hand.flat.grad, by_hand.s, pm, pv,
                                    chunks, scalars, probe, True, False)
            for name, x in [(n, x) for s in (scalars, probe) for n, x in zip(s._fields, s)]:
                want = bool if isinstance(x, bool) else np.float64 if "stats" in name else dtype
                assert type(x) is want, f"{cls.__name__} scalar {name} is {type(x)}"
            np.testing.assert_array_equal(opt.flat.data, by_hand.flat.data, err_msg="θ")
            for name, array in opt._arrays().items():
                np.testing.assert_array_equal(array, by_hand._arrays()[name], err_msg=name)
            sizes = [by_hand.flat.segments[i].size for i in by_hand.tracked]
            stats = stats_from_sums(chunks.sums, sizes, by_hand.tracked_names, t)
            for field in FIELDS:
                np.testing.assert_array_equal(getattr(stats, field),
                                              getattr(opt.last_stats, field), err_msg=field)
