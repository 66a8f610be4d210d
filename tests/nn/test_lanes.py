"""Lanes (numpy_adam/nn/lanes.py): how work is cut into shares, that the shares really run on
several threads at once inside ``parallel()`` and as one call outside it, that errors and
OpenBLAS's thread count come back out correctly, and that every fast stage and the whole
FastCifarCNN step give the same results to the bit with any lane count as without lanes.
"""
import os
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import numpy_adam.nn.lanes as lanes_module
from numpy_adam.models import cifar_cnn_fast
from numpy_adam.models.cifar_cnn_fast import FastCifarCNN
from numpy_adam.nn.batchnorm import BatchNorm2d
from numpy_adam.nn.conv import Conv2d
from numpy_adam.nn.fast_conv import ChannelMajorConv2d, swap_batch_and_channels
from numpy_adam.nn.fast_fused import BatchNormReLUMaxPool
from numpy_adam.nn.fast_spectral_conv import SpectralChannelMajorConv2d
from numpy_adam.nn.lanes import Lanes, ranges
from numpy_adam.nn.loss import SoftmaxCrossEntropy
from numpy_adam.nn.pooling import MaxPool2d

HAS_OPENBLAS = any(info["internal_api"] == "openblas" for info in threadpool_info())
needs_openblas = pytest.mark.skipif(not HAS_OPENBLAS, reason="lanes need OpenBLAS")


def openblas_threads() -> int:
    return next(i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas")


# -- ranges ---------------------------------------------------------------------------------
@pytest.mark.parametrize("total, parts, align", [(100, 2, 1), (100, 3, 1), (7, 3, 1), (2, 5, 1),
                                                 (17600, 3, 16), (75, 2, 1), (10, 3, 16),
                                                 (1, 1, 1)])
def test_ranges_cover_the_total_in_aligned_near_equal_pieces(total, parts, align):
    pieces = ranges(total, parts, align)
    assert pieces[0][0] == 0 and pieces[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:])), "contiguous, no gaps"
    assert all(start % align == 0 and stop > start for start, stop in pieces)
    assert len(pieces) <= parts
    sizes = [stop - start for start, stop in pieces]
    assert max(sizes[:-1] or [0]) - min(sizes) <= align, sizes


def test_ranges_examples():
    assert ranges(100, 3) == [(0, 34), (34, 67), (67, 100)]
    assert ranges(17600, 3, 16) == [(0, 5872), (5872, 11744), (11744, 17600)]
    assert ranges(2, 5) == [(0, 1), (1, 2)]
    assert ranges(0, 2) == []


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "2"])
def test_lanes_refuse_a_bad_count(count):
    with pytest.raises(ValueError, match="count must be a positive int or None"):
        Lanes(count)


# -- running shares -------------------------------------------------------------------------
def test_outside_parallel_a_split_is_one_call_on_the_calling_thread():
    calls = []
    Lanes(2).split(lambda a, b: calls.append((a, b, threading.get_ident())), 10)
    assert calls == [(0, 10, threading.get_ident())]


@needs_openblas
def test_inside_parallel_the_shares_run_at_the_same_time_on_different_threads():
    lanes, seen = Lanes(3), []
    barrier = threading.Barrier(3, timeout=10)  # breaks unless all three shares run at once

    def share(start, stop):
        seen.append((start, stop, threading.get_ident()))
        barrier.wait()

    with lanes.parallel():
        lanes.split(share, 9)
        lanes.split(share, 9)  # the same worker threads again
    assert sorted(s[:2] for s in seen) == [(0, 3), (0, 3), (3, 6), (3, 6), (6, 9), (6, 9)]
    assert len({s[2] for s in seen}) == 3
    assert threading.get_ident() in {s[2] for s in seen}, "lane 0 is the calling thread"


@needs_openblas
def test_a_split_gives_no_lane_less_than_the_minimum_share(monkeypatch):
    monkeypatch.setattr(lanes_module, "MIN_SHARE_ELEMENTS", 1000)
    lanes, calls = Lanes(4), []
    with lanes.parallel():
        lanes.split(lambda a, b: calls.append((a, b)), 10, cost=99)   # 990 elements: one lane
        assert calls == [(0, 10)]
        calls.clear()
        lanes.split(lambda a, b: calls.append((a, b)), 10, cost=250)  # 2500: two lanes
        assert sorted(calls) == [(0, 5), (5, 10)]


@needs_openblas
def test_an_error_in_any_share_is_raised_after_all_shares_have_finished():
    lanes, finished = Lanes(2), []

    def share(start, stop):
        if start > 0:
            raise ZeroDivisionError(f"share {start}-{stop}")
        finished.append(start)

    with lanes.parallel(), pytest.raises(ZeroDivisionError, match="share 5-10"):
        lanes.split(share, 10)
    assert finished == [0]
    with lanes.parallel():  # the lanes still work afterwards
        lanes.split(lambda a, b: finished.append(a), 10)
    assert sorted(finished) == [0, 0, 5]


@needs_openblas
def test_a_split_waits_for_its_own_shares_not_for_a_stale_report():
    """A split whose wait was cut short (Ctrl-C) leaves its worker's report behind; the next
    split must not take it for one of its own."""
    import time

    lanes, finished = Lanes(2), []

    def share(start, stop):
        if start > 0:
            time.sleep(0.2)
        finished.append(start)

    with lanes.parallel():
        lanes.split(lambda a, b: None, 2)  # the worker thread exists
        lanes._done.put((0, None))         # what an interrupted earlier split leaves behind
        lanes.split(share, 10)
        assert sorted(finished) == [0, 5], "returned before the worker's share had finished"


@needs_openblas
def test_parallel_holds_openblas_at_one_thread_and_restores_it_even_after_an_error():
    before = openblas_threads()
    lanes = Lanes(2)
    with pytest.raises(RuntimeError, match="inside"):
        with lanes.parallel():
            assert openblas_threads() == 1
            with lanes.parallel():  # nested: one use
                assert openblas_threads() == 1
            assert openblas_threads() == 1
            raise RuntimeError("inside")
    assert openblas_threads() == before


@needs_openblas
def test_the_default_lane_count_follows_openblas():
    from threadpoolctl import threadpool_limits
    lanes = Lanes()
    with threadpool_limits(limits=1, user_api="blas"):
        assert lanes.count == 1
        calls = []
        with lanes.parallel():
            lanes.split(lambda a, b: calls.append((a, b)), 10)
        assert calls == [(0, 10)]
    assert lanes.count == openblas_threads()


@needs_openblas
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_lanes_work_in_a_forked_child():
    lanes = Lanes(2)
    with lanes.parallel():
        lanes.split(lambda a, b: None, 4)  # the parent has started its worker thread
    pid = os.fork()
    if pid == 0:  # the child: no worker thread was inherited; a split must not hang
        out = np.zeros(4)
        try:
            with lanes.parallel():
                lanes.split(lambda a, b: out.__setitem__(slice(a, b), 1), 4)
            os._exit(0 if out.sum() == 4 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# -- the stages, to the bit ------------------------------------------------------------------
def stage_outputs(lanes, dtype):
    """Every output and gradient of the three lane-splitting stages at the CNN's shapes (a
    batch of 8), run inside ``lanes.parallel()``."""
    rng = np.random.default_rng(0)
    conv1 = Conv2d(3, 16, 5, padding=2, rng=rng, dtype=dtype)
    conv2 = Conv2d(16, 32, 5, padding=2, rng=rng, dtype=dtype)
    bn, pool = BatchNorm2d(16, dtype=dtype), MaxPool2d(2)
    x = rng.standard_normal((8, 3, 32, 32)).astype(dtype)
    dy1 = rng.standard_normal((16, 8, 32, 32)).astype(dtype)
    x2 = rng.standard_normal((16, 8, 16, 16)).astype(dtype)
    dy2 = rng.standard_normal((32, 8, 16, 16)).astype(dtype)
    out = {}
    with lanes.parallel():
        xc = swap_batch_and_channels(x, lanes)
        out["channel-major x"] = xc
        im2col = ChannelMajorConv2d(conv1, lanes)
        out["conv1 y"] = im2col.forward(xc)
        out["conv1 dx"] = im2col.backward(dy1)
        out["conv1 dW"], out["conv1 db"] = conv1.weight.grad.copy(), conv1.bias.grad.copy()
        spectral = SpectralChannelMajorConv2d(conv2, lanes)
        out["conv2 y"] = spectral.forward(x2)
        out["conv2 dx"] = spectral.backward(dy2)
        out["conv2 dW"], out["conv2 db"] = conv2.weight.grad.copy(), conv2.bias.grad.copy()
        block = BatchNormReLUMaxPool(bn, pool, lanes=lanes)
        out["block y"] = block.forward(dy1.copy())
        out["block dx"] = block.backward(np.ones_like(out["block y"]))
        out["bn dW"], out["bn db"] = bn.weight.grad.copy(), bn.bias.grad.copy()
        out["running mean"] = bn.running_mean.copy()
    return out


@needs_openblas
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_every_stage_gives_the_same_bits_with_any_lane_count(dtype, monkeypatch):
    monkeypatch.setattr(lanes_module, "MIN_SHARE_ELEMENTS", 1)  # split everything
    serial = stage_outputs(Lanes(1), dtype)
    for count in (2, 3, 4, 5):
        split = stage_outputs(Lanes(count), dtype)
        different = [name for name in serial if not np.array_equal(serial[name], split[name])]
        assert not different, f"{count} lanes changed {different}"


@needs_openblas
def test_the_cnn_runs_over_lanes_from_its_threshold_batch_up():
    model = FastCifarCNN(rng=np.random.default_rng(0))
    batch = model.lanes_min_batch
    assert batch == cifar_cnn_fast.LANES_MIN_BATCH
    before = openblas_threads()
    with model.parallel_for(batch - 1):
        assert openblas_threads() == before  # below: OpenBLAS's own threads
    with model.parallel_for(batch):
        assert openblas_threads() == 1       # from it up: one OpenBLAS thread per lane
    assert openblas_threads() == before


@needs_openblas
def test_a_cnn_step_over_lanes_gives_the_same_bits_as_without(monkeypatch):
    """Two training steps of the CIFAR-size FastCifarCNN at batch LANES_MIN_BATCH: over the
    lanes, and with the threshold raised so the same batch runs without them."""
    batch = cifar_cnn_fast.LANES_MIN_BATCH
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)
    labels = rng.integers(0, 10, size=batch)

    monkeypatch.setattr(lanes_module, "_SHARED", Lanes(3))  # three lanes, whatever the cores

    def two_steps():
        model, loss = FastCifarCNN(rng=np.random.default_rng(0)), SoftmaxCrossEntropy()
        for _ in range(2):
            loss.forward(model.forward(x), labels)
            model.backward(loss.backward())
            for _, p in model.named_parameters():
                p.data -= 0.1 * p.grad
        return {**{f"{k} grad": p.grad.copy() for k, p in model.named_parameters()},
                **{k: np.array(v) for k, v in model.state_dict().items()}}

    with_lanes = two_steps()
    monkeypatch.setattr(cifar_cnn_fast, "LANES_MIN_BATCH", batch + 1)
    without = two_steps()
    different = [k for k in without if not np.array_equal(with_lanes[k], without[k])]
    assert not different, different
