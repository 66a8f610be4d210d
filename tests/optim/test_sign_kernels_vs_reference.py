"""The fused kernels of signSGD, Signum, Lion and M-SVAG (kernels_sign.py) equal their plain NumPy
boxes step by step, statistics included, for every option mix.

Also run under NUMBA_DISABLE_JIT=1 by test_sign_no_jit.py (keep it small and self-contained).
"""
import os

import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim.lion import Lion, lion_update
from numpy_adam.optim.msvag import MSVAG, msvag_update
from numpy_adam.optim.probe import probe_update
from numpy_adam.optim.sign import SignSGD, Signum, sign_sgd_update, signum_update
from numpy_adam.optim.stats import FIELDS, spread_stats, stats_from_sums

# 200 steps compiled; as plain Python (test_sign_no_jit.py) 20, as in test_kernels_vs_reference
STEPS = 20 if os.environ.get("NUMBA_DISABLE_JIT") == "1" else 200

OPTIONS = {  # id: (class, keyword arguments): decay × maximize × probe × β
    "signsgd": (SignSGD, dict()),
    "signsgd-wd-probe": (SignSGD, dict(weight_decay=0.05, probe_betas=(0.9, 0.99))),
    "signsgd-maximize-probe": (SignSGD, dict(maximize=True, probe_betas=(0.5, 0.5))),
    "signum": (Signum, dict(beta=0.8)),
    "signum-wd-maximize-probe": (Signum, dict(weight_decay=0.05, maximize=True,
                                              probe_betas=(0.8, 0.95))),
    "signum-beta0-probe": (Signum, dict(beta=0.0, probe_betas=(0.9, 0.9))),
    "lion": (Lion, dict()),
    "lion-wd-probe": (Lion, dict(betas=(0.8, 0.95), weight_decay=0.5, probe_betas=(0.9, 0.99))),
    "lion-wd-maximize": (Lion, dict(weight_decay=0.1, maximize=True)),
    "lion-equal-betas-probe": (Lion, dict(betas=(0.9, 0.9), probe_betas=(0.9, 0.999))),
    "msvag": (MSVAG, dict(beta=0.8)),
    "msvag-wd": (MSVAG, dict(weight_decay=0.05)),
    "msvag-wd-maximize": (MSVAG, dict(beta=0.95, weight_decay=0.05, maximize=True)),
}


class PlainRun:
    """The plain NumPy box of ``opt``'s method (and the probe's), stepped beside it from the
    same θ_0 with the same hyperparameters; ``step(g)`` returns the plain SpreadStats."""

    def __init__(self, opt):
        self.cls, self.h = type(opt), opt.hparams
        self.probe_betas = getattr(opt, "probe_betas", None)
        self.segments = [opt.flat.segments[i] for i in opt.tracked]
        layout = opt.sample_layout  # γ's mean is over the optimizer's sampled elements
        self.gamma_at = [layout.element[layout.slot == k] for k in range(len(self.segments))] \
            if layout.size else None
        self.theta = opt.flat.data.copy()
        zeros = np.zeros_like(self.theta)
        self.m, self.v, self.probe_m, self.probe_v = (zeros.copy() for _ in range(4))
        self.t = 0

    def step(self, g):
        self.t += 1
        h, t = self.h, self.t
        if self.cls is MSVAG:
            self.theta, self.m, self.v, u = msvag_update(self.theta, g, self.m, self.v, t, h.lr,
                                                         h.beta, h.weight_decay, h.maximize)
            return spread_stats(self.m, self.v, u, t, h.beta, h.beta, self.segments,
                                gamma_at=self.gamma_at)
        if self.cls is SignSGD:
            self.theta, u, d = sign_sgd_update(self.theta, g, h.lr, h.weight_decay, h.maximize)
        elif self.cls is Signum:
            self.theta, self.m, u, d = signum_update(self.theta, g, self.m, h.lr, h.beta,
                                                     h.weight_decay, h.maximize)
        else:
            self.theta, self.m, u, d = lion_update(self.theta, g, self.m, h.lr, h.beta1, h.beta2,
                                                   h.weight_decay, h.maximize)
        if self.probe_betas is None:
            return spread_stats(self.m, self.v, u, t, 0.0, 0.0, self.segments, has_spread=False)
        self.probe_m, self.probe_v = probe_update(d, self.probe_m, self.probe_v, *self.probe_betas)
        return spread_stats(self.probe_m, self.probe_v, u, t, *self.probe_betas, self.segments,
                            gamma_at=self.gamma_at)


def _state_pairs(opt, ref):
    """(name, kernel array, reference array) for every state array the optimizer keeps."""
    pairs = [(name, getattr(opt, name), getattr(ref, name)) for name in ("m", "v")
             if getattr(opt, name, None) is not None]
    if getattr(opt, "probe", None) is not None:
        pairs += [("probe_m", opt.probe.m, ref.probe_m), ("probe_v", opt.probe.v, ref.probe_v)]
    return pairs


def _compare_run(opt, grads, theta_tol, stats_rtol):
    """Step ``opt`` and its plain box through ``grads``; θ, state and statistics must agree at
    every step (collected per step, checked at the end with the worst step named)."""
    ref = PlainRun(opt)
    theta_diff, state_diff, got, want = [], [], [], []
    for t, g in enumerate(grads, start=1):
        opt.flat.grad[:] = g
        opt.step()
        expected = ref.step(g)
        theta_diff.append(np.max(np.abs(opt.flat.data - ref.theta)))
        state_diff.append(max([np.max(np.abs(a - b) / (np.abs(b) + theta_tol))
                               for _, a, b in _state_pairs(opt, ref)], default=0.0))
        stats = opt.last_stats
        assert stats.names == expected.names and stats.step == t, (stats.names, stats.step, t)
        got.append([getattr(stats, f) for f in FIELDS])
        want.append([getattr(expected, f) for f in FIELDS])
    theta_diff, state_diff = np.array(theta_diff), np.array(state_diff)
    worst = int(np.argmax(theta_diff))
    assert theta_diff[worst] < theta_tol, (
        f"max |θ_kernel − θ_reference| = {theta_diff[worst]:.3g} at step {worst + 1}")
    worst = int(np.argmax(state_diff))
    assert state_diff[worst] < stats_rtol, (
        f"state arrays differ by {state_diff[worst]:.3g} (relative) at step {worst + 1}")
    got, want = np.array(got), np.array(want)  # (steps, 5, L)
    if ref.gamma_at is not None and (ref.cls is MSVAG or ref.probe_betas is not None):
        assert np.isfinite(got[:, FIELDS.index("gamma")]).any(), "no finite γ from the sample"
    for k, field in enumerate(FIELDS):
        np.testing.assert_allclose(got[:, k], want[:, k], rtol=stats_rtol, atol=1e-300,
                                   equal_nan=True, err_msg=f"statistic {field} (steps × tensors)")


@pytest.mark.parametrize("cls, options", list(OPTIONS.values()), ids=list(OPTIONS))
def test_kernel_equals_reference_float64(cls, options, small_chunks, make_params,
                                         gradient_stream):
    rng = np.random.default_rng(101)
    opt = cls(make_params(rng), lr=0.01, track=("weight", "batchnorm"), sample_size=3, **options)
    grads = gradient_stream(rng, opt.flat.data.size, STEPS)
    _compare_run(opt, grads, theta_tol=1e-12, stats_rtol=1e-12)


FLOAT32_CASES = ["signsgd-wd-probe", "signum-wd-maximize-probe", "lion-wd-probe", "msvag-wd",
                 "msvag-wd-maximize"]


@pytest.mark.parametrize("case", FLOAT32_CASES)
def test_float32_kernel_within_float32_tolerance(case, small_chunks, make_params,
                                                 gradient_stream):
    cls, options = OPTIONS[case]
    rng = np.random.default_rng(102)
    opt = cls(make_params(rng, dtype=np.float32), lr=0.01, sample_size=1000, **options)
    for name, array, _ in _state_pairs(opt, PlainRun(opt)):
        assert array.dtype == np.float32, f"state {name} must keep θ's dtype, got {array.dtype}"
    grads = gradient_stream(rng, opt.flat.data.size, STEPS, dtype=np.float32)
    _compare_run(opt, grads, theta_tol=1e-5, stats_rtol=1e-5)


@pytest.mark.parametrize("case", ["lion-wd-probe", "msvag-wd"])
def test_tensor_spanning_many_blocks_and_chunks(case, make_params, gradient_stream):
    """A 2500-element tensor: several BLOCK-lane blocks per chunk and a partial last block."""
    from numpy_adam.optim import kernels
    cls, options = OPTIONS[case]
    rng = np.random.default_rng(103)
    layout = (("w", (25, 100), "weight"), ("b", (7,), "bias"), ("w2", (300,), "weight"))
    assert 2 * kernels.BLOCK < 2500 < kernels.CHUNK_SIZE, "layout must span blocks in one chunk"
    opt = cls(make_params(rng, layout=layout), lr=0.01, **options)
    _compare_run(opt, gradient_stream(rng, opt.flat.data.size, 10), 1e-12, 1e-12)


@pytest.mark.parametrize("case", ["signum-wd-maximize-probe", "lion-wd-probe", "msvag-wd"])
def test_threaded_path_equals_reference(case, small_chunks, monkeypatch, make_params,
                                        gradient_stream):
    """Buffers of PARALLEL_MIN_SIZE or more run chunks over threads (prange): same results."""
    from numpy_adam.optim import kernels
    monkeypatch.setattr(kernels, "PARALLEL_MIN_SIZE", 0)
    cls, options = OPTIONS[case]
    rng = np.random.default_rng(104)
    opt = cls(make_params(rng), lr=0.01, **options)
    assert opt._parallel, "PARALLEL_MIN_SIZE = 0 must select the threaded path"
    _compare_run(opt, gradient_stream(rng, opt.flat.data.size, 30), 1e-12, 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_public_kernel_call_equals_step_bitwise(dtype, make_params):
    """build_chunks, the scalars functions and the kernels reproduce step() exactly; the scalars
    are in the state dtype, the statistics' in float64."""
    from numpy_adam.optim import kernels, kernels_sign
    from numpy_adam.optim.lion import lion_scalars
    from numpy_adam.optim.msvag import msvag_scalars
    from numpy_adam.optim.probe import probe_scalars

    rng = np.random.default_rng(105)
    params = make_params(rng, dtype=dtype)
    g = rng.normal(size=sum(p.data.size for _, p in params)).astype(dtype)
    for cls, options in ((Lion, dict(weight_decay=0.1, probe_betas=(0.9, 0.99))),
                         (MSVAG, dict(weight_decay=0.1))):
        opt, by_hand = (cls([(n, Parameter(p.data.copy())) for n, p in params], lr=0.01,
                            **options) for _ in range(2))
        chunks = kernels.build_chunks(by_hand.flat.segment_bounds(), by_hand.tracked)
        for t in (1, 2, 3):
            opt.flat.grad[:] = by_hand.flat.grad[:] = g * t
            opt.step()
            if cls is Lion:
                scalars, probe = lion_scalars(by_hand.hparams, dtype), \
                    probe_scalars(by_hand.probe, t, dtype)
                kernels_sign.sign_step_kernel(by_hand.flat.data, by_hand.flat.grad, by_hand.m,
                                              by_hand.probe.m, by_hand.probe.v, chunks, scalars,
                                              probe, True, False)
                tuples = [scalars, probe]
                arrays = [(opt.m, by_hand.m), (opt.probe.v, by_hand.probe.v)]
            else:
                scalars = msvag_scalars(by_hand.hparams, t, dtype)
                kernels_sign.msvag_step_kernel(by_hand.flat.data, by_hand.flat.grad, by_hand.m,
                                               by_hand.v, chunks, scalars, True, False)
                tuples = [scalars]
                arrays = [(opt.m, by_hand.m), (opt.v, by_hand.v)]
            for name, x, kind in [(n, x, type(s).__name__) for s in tuples
                                  for n, x in zip(s._fields, s)]:
                want = bool if isinstance(x, bool) else np.float64 if "stats" in name else dtype
                assert type(x) is want, f"{kind}.{name} is {type(x)}"
            for a, b in [(opt.flat.data, by_hand.flat.data), *arrays]:
                np.testing.assert_array_equal(a, b, err_msg=f"{cls.__name__} step {t}")
            sizes = [by_hand.flat.segments[i].size for i in by_hand.tracked]
            stats = stats_from_sums(chunks.sums, sizes, by_hand.tracked_names, t)
            for field in FIELDS:
                np.testing.assert_array_equal(getattr(stats, field),
                                              getattr(opt.last_stats, field), err_msg=field)
