"""The fused Numba kernels equal the plain NumPy reference, step by step, for every option.

Also run under NUMBA_DISABLE_JIT=1 by test_no_jit.py (keep it small and self-contained).
"""
import os

import numpy as np
import pytest
from numpy_adam.nn import Parameter
from numpy_adam.optim import SGD, Adam
from numpy_adam.optim.stats import FIELDS, stats_from_sums

# 200 steps compiled; as plain Python (test_no_jit.py) every element is interpreted, so the
# same code paths run for 20 steps to keep that check under a minute.
STEPS = 20 if os.environ.get("NUMBA_DISABLE_JIT") == "1" else 200


def _tracked_segments(opt):
    return [opt.flat.segments[i] for i in opt.tracked]


def _state_pairs(opt, ref, kind):
    """(name, kernel array, reference array) for every state array the optimizer keeps."""
    if kind == "adam":
        pairs = [("m", opt.m, ref.m), ("v", opt.v, ref.v)]
        return pairs + ([("v_max", opt.v_max, ref.v_max)] if opt.v_max is not None else [])
    pairs = [("b", opt.b, ref.b)] if opt.b is not None else []
    if opt.probe is not None:
        pairs += [("probe_m", opt.probe.m, ref.m), ("probe_v", opt.probe.v, ref.v)]
    return pairs


def _compare_run(reference_run, opt, kind, grads, theta_tol, stats_rtol):
    """Step ``opt`` and the reference through ``grads``; assert θ, state and stats agree at
    every step (collected per step, checked once at the end with the worst step named)."""
    hp = {**opt.hparams.as_dict(), "probe_betas": getattr(opt, "probe_betas", None)}
    ref = reference_run(kind, opt.flat.data.copy(), hp, _tracked_segments(opt),
                        gamma_at=reference_run.sampled_elements(opt))
    theta_diff, state_diff, got_stats, want_stats = [], [], [], []
    for t, g in enumerate(grads, start=1):
        opt.flat.grad[:] = g
        opt.step()
        expected = ref.step(g)
        theta_diff.append(np.max(np.abs(opt.flat.data - ref.theta)))
        state_diff.append(max([np.max(np.abs(a - b) / (np.abs(b) + theta_tol))
                               for _, a, b in _state_pairs(opt, ref, kind)], default=0.0))
        stats = opt.last_stats
        assert stats.names == expected.names and stats.step == t, (stats.names, stats.step, t)
        got_stats.append([getattr(stats, f) for f in FIELDS])
        want_stats.append([getattr(expected, f) for f in FIELDS])
    theta_diff, state_diff = np.array(theta_diff), np.array(state_diff)
    worst = int(np.argmax(theta_diff))
    assert theta_diff[worst] < theta_tol, (
        f"max |θ_kernel − θ_reference| = {theta_diff[worst]:.3g} at step {worst + 1}")
    worst = int(np.argmax(state_diff))
    assert state_diff[worst] < stats_rtol, (
        f"state arrays differ by {state_diff[worst]:.3g} (relative) at step {worst + 1}")
    got, want = np.array(got_stats), np.array(want_stats)  # (steps, 5, L)
    spread = kind == "adam" or hp["probe_betas"] is not None  # SGD without a probe: NaN
    if ref.gamma_at is not None and spread:  # the sample's γ is compared, not NaN with NaN
        assert np.isfinite(got[:, FIELDS.index("gamma")]).any(), "no finite γ from the sample"
    for k, field in enumerate(FIELDS):
        np.testing.assert_allclose(got[:, k], want[:, k], rtol=stats_rtol, atol=1e-300,
                                   equal_nan=True, err_msg=f"statistic {field} (steps × tensors)")


def test_adam_kernel_equals_reference_float64(adam_options, small_chunks, make_params,
                                              gradient_stream, reference_run):
    rng = np.random.default_rng(1)
    params = make_params(rng)
    opt = Adam(params, lr=0.01, betas=(0.8, 0.95), eps=1e-6, track=("weight", "batchnorm"),
               sample_size=3, **adam_options)
    grads = gradient_stream(rng, opt.flat.data.size, STEPS)
    _compare_run(reference_run, opt, "adam", grads, theta_tol=1e-12, stats_rtol=1e-12)


def test_sgd_kernel_equals_reference_float64(sgd_options, small_chunks, make_params,
                                             gradient_stream, reference_run):
    rng = np.random.default_rng(2)
    params = make_params(rng)
    opt = SGD(params, lr=0.01, track=("weight", "batchnorm"), sample_size=3, **sgd_options)
    grads = gradient_stream(rng, opt.flat.data.size, STEPS)
    _compare_run(reference_run, opt, "sgd", grads, theta_tol=1e-12, stats_rtol=1e-12)


FLOAT32_CASES = {
    "adam": ("adam", dict()),
    "adamw-amsgrad": ("adam", dict(weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True)),
    "adam-l2": ("adam", dict(weight_decay=0.1)),
    "sgd-nesterov-wd-probe": ("sgd", dict(momentum=0.9, nesterov=True, weight_decay=0.05,
                                          probe_betas=(0.9, 0.99))),
    "sgd-dampening-probe": ("sgd", dict(momentum=0.9, dampening=0.9, probe_betas=(0.9, 0.999))),
}


@pytest.mark.parametrize("kind, options", list(FLOAT32_CASES.values()), ids=list(FLOAT32_CASES))
def test_float32_kernel_within_float32_tolerance(kind, options, small_chunks, make_params,
                                                 gradient_stream, reference_run):
    rng = np.random.default_rng(3)
    params = make_params(rng, dtype=np.float32)
    cls = Adam if kind == "adam" else SGD
    opt = cls(params, lr=0.01, sample_size=1000, **options)  # γ's mean over every element
    state = opt.m if kind == "adam" else (opt.b if opt.b is not None else opt.probe.m)
    assert state.dtype == np.float32, f"state must keep θ's dtype, got {state.dtype}"
    grads = gradient_stream(rng, opt.flat.data.size, STEPS, dtype=np.float32)
    _compare_run(reference_run, opt, kind, grads, theta_tol=1e-5, stats_rtol=1e-5)


def test_tensor_spanning_many_blocks_and_chunks(make_params, gradient_stream, reference_run):
    """A 2500-element tensor: several BLOCK-lane blocks per chunk and a partial last block."""
    from numpy_adam.optim import kernels
    rng = np.random.default_rng(4)
    layout = (("w", (25, 100), "weight"), ("b", (7,), "bias"), ("w2", (300,), "weight"))
    assert 2 * kernels.BLOCK < 2500 < kernels.CHUNK_SIZE, "layout must span blocks in one chunk"
    opt = Adam(make_params(rng, layout=layout), lr=0.01, betas=(0.9, 0.99), eps=1e-8)
    grads = gradient_stream(rng, opt.flat.data.size, 20)
    _compare_run(reference_run, opt, "adam", grads, theta_tol=1e-12, stats_rtol=1e-12)


PARALLEL_CASES = {
    "adam": ("adam", dict()),
    "adamw-amsgrad": ("adam", dict(weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True)),
    "sgd-nesterov-wd-probe": ("sgd", dict(momentum=0.9, nesterov=True, weight_decay=0.05,
                                          probe_betas=(0.9, 0.99))),
}


@pytest.mark.parametrize("kind, options", list(PARALLEL_CASES.values()), ids=list(PARALLEL_CASES))
def test_threaded_path_equals_reference(kind, options, small_chunks, monkeypatch, make_params,
                                        gradient_stream, reference_run):
    """Buffers of PARALLEL_MIN_SIZE or more run chunks over threads (prange): same results."""
    from numpy_adam.optim import kernels
    monkeypatch.setattr(kernels, "PARALLEL_MIN_SIZE", 0)
    rng = np.random.default_rng(5)
    opt = (Adam if kind == "adam" else SGD)(make_params(rng), lr=0.01, **options)
    assert opt._parallel, "PARALLEL_MIN_SIZE = 0 must select the threaded path"
    grads = gradient_stream(rng, opt.flat.data.size, 30)
    _compare_run(reference_run, opt, kind, grads, theta_tol=1e-12, stats_rtol=1e-12)


@pytest.mark.parametrize("parallel", [False, True])
def test_count_nonfinite(parallel):
    from numpy_adam.optim import kernels
    x = np.random.default_rng(6).normal(size=1000)
    assert kernels.count_nonfinite(x, parallel) == 0, "finite input"
    x[[3, 500, 999]] = [np.nan, np.inf, -np.inf]
    assert kernels.count_nonfinite(x, parallel) == 3, "NaN, +Inf and -Inf each count"
    assert kernels.count_nonfinite(x.astype(np.float32), parallel) == 3, "float32 too"


@pytest.mark.parametrize("parallel", [False, True])
def test_count_nonfinite_across_chunks(parallel):
    """The count runs in CHUNK_SIZE pieces: values on either side of every piece boundary
    and in a short last piece are all counted."""
    from numpy_adam.optim import kernels
    size = 3 * kernels.CHUNK_SIZE + 5
    x = np.zeros(size, dtype=np.float32)
    bad = [0, kernels.CHUNK_SIZE - 1, kernels.CHUNK_SIZE, 2 * kernels.CHUNK_SIZE + 17, size - 1]
    x[bad] = [np.nan, np.inf, -np.inf, np.nan, np.inf]
    assert kernels.count_nonfinite(x, parallel) == len(bad)
    assert kernels.count_nonfinite(x[:0], parallel) == 0, "empty array"


@pytest.mark.parametrize("parallel", [False, True])
def test_count_nonfinite_every_stream_position(parallel):
    """A whole chunk is read as SCAN_STREAMS interleaved pieces: a bad value at the first and
    last element of every piece, and at random places, is counted exactly once, as
    NumPy counts it."""
    from numpy_adam.optim import kernels
    size = 2 * kernels.CHUNK_SIZE + 100
    piece = kernels.SCAN_PIECE
    edges = [c * kernels.CHUNK_SIZE + q * piece + d for c in range(2)
             for q in range(kernels.SCAN_STREAMS) for d in (0, piece - 1)]
    rng = np.random.default_rng(7)
    for positions in ([e] for e in edges):
        x = np.ones(size, dtype=np.float32)
        x[positions] = np.nan
        assert kernels.count_nonfinite(x, parallel) == 1, f"bad value at {positions[0]}"
    x = np.ones(size, dtype=np.float32)
    x[rng.choice(size, 300, replace=False)] = rng.choice([np.nan, np.inf, -np.inf], 300)
    assert kernels.count_nonfinite(x, parallel) == np.count_nonzero(~np.isfinite(x)) == 300


@pytest.mark.parametrize("parallel", [False, True])
def test_count_nonfinite_does_not_depend_on_the_chunk_size(parallel, small_chunks):
    """Every element is checked whatever CHUNK_SIZE is (7 is not a multiple of SCAN_STREAMS).
    The count reads CHUNK_SIZE when called, so the patched size is the one it runs with
    (tests/optim/test_kernel_cache.py)."""
    from numpy_adam.optim import kernels
    wrong = []
    for size in (1, 4, 7, 8, 13, 14, 30):
        for at in range(size):
            x = np.ones(size, dtype=np.float32)
            x[at] = np.nan
            if kernels.count_nonfinite(x, parallel) != 1:
                wrong.append((size, at))
    assert not wrong, f"(size, position) of a NaN not counted: {wrong}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_public_kernel_call_equals_step_bitwise(dtype, make_params):
    """The public pieces (build_chunks, adam_scalars/sgd_scalars/probe_scalars, the kernels)
    reproduce step() exactly; the scalars are in the state dtype, the statistics' in float64."""
    from numpy_adam.optim import kernels
    from numpy_adam.optim.adam import adam_scalars
    from numpy_adam.optim.probe import probe_scalars
    from numpy_adam.optim.sgd import sgd_scalars

    rng = np.random.default_rng(7)
    params = make_params(rng, dtype=dtype)
    g = rng.normal(size=sum(p.data.size for _, p in params)).astype(dtype)
    for cls, options in ((Adam, dict(amsgrad=True, weight_decay=0.1)),
                         (SGD, dict(momentum=0.9, probe_betas=(0.9, 0.99)))):
        opt, by_hand = (cls([(n, Parameter(p.data.copy())) for n, p in params], lr=0.01,
                            **options) for _ in range(2))
        chunks = kernels.build_chunks(by_hand.flat.segment_bounds(), by_hand.tracked)
        for t in (1, 2, 3):
            opt.flat.grad[:] = by_hand.flat.grad[:] = g * t
            opt.step()
            if cls is Adam:
                scalars = adam_scalars(by_hand.hparams, t, dtype)
                kernels.adam_step_kernel(by_hand.flat.data, by_hand.flat.grad, by_hand.m,
                                         by_hand.v, by_hand.v_max, chunks, scalars, True, False)
                tuples = [scalars]
                arrays = [(opt.m, by_hand.m), (opt.v, by_hand.v), (opt.v_max, by_hand.v_max)]
            else:
                scalars = sgd_scalars(by_hand.hparams, t, dtype)
                probe = probe_scalars(by_hand.probe, t, dtype)
                assert probe.active is True
                kernels.sgd_step_kernel(by_hand.flat.data, by_hand.flat.grad, by_hand.b,
                                        by_hand.probe.m, by_hand.probe.v, chunks, scalars, probe,
                                        True, False)
                arrays = [(opt.b, by_hand.b), (opt.probe.m, by_hand.probe.m)]
                tuples = [scalars, probe]
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
