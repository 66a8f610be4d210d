"""The CNN's two convolutions per direction: im2col + GEMM, the direct and the spectral one.

For conv1 and conv2 of the default CifarCNN at batch N, float32, the same weights and
inputs, each timed in interleaved rounds (medians):

    forward       y = conv(x)                                  ``forward``
    weight grad   ∂L/∂W and ∂L/∂b (all conv1 needs: its input is the image)
                                                               ``backward_params_only``
    both grads    ∂L/∂W, ∂L/∂b and ∂L/∂x (what conv2 needs)    ``backward``

for :class:`~numpy_adam.nn.fast_conv.ChannelMajorConv2d` ("im2col"),
:class:`~numpy_adam.nn.fast_direct_conv.DirectChannelMajorConv2d` ("direct") and
:class:`~numpy_adam.nn.fast_spectral_conv.SpectralChannelMajorConv2d` ("spectral"). A
backward needs its own forward first; :class:`BackwardTimer` runs that forward untimed and
times the backward alone. Every call runs in the thread regime FastCifarCNN's step has at
batch N (``parallel_for``: over the lanes of :mod:`numpy_adam.nn.lanes` from its
``lanes_min_batch`` up; the direct kernels are Numba-parallel either way). Each timing starts
after a 0.3 s pause (the other side's idle OpenBLAS or Numba threads stop spinning) and
untimed calls for 0.1 s (:data:`.timing.WARM_SECONDS`: its own threads awake and past the
slow start after the pause). ``ratio_vs_im2col`` holds the medians over rounds of direct /
im2col and spectral / im2col: below 1 that algorithm is faster. A layer's directions are not
independent choices: a backward needs what its own forward kept (im2col's columns, the
spectral input spectrum).
FastCifarCNN's choice is made on whole training steps: the CNN step table (:mod:`.cnn_step`)
times the step with the alternatives.

The floor of the direct design. Each row also gets ``direct_floor_ms``: the row's
multiply-adds (of the wide rows, thrown-away columns included; :mod:`~numpy_adam.nn.
direct_kernels`) at the kernels' own rate on one core with their data in cache, divided by
the thread count. That rate, from :func:`in_cache_rates`, is what the kernels reach when
memory costs nothing. Where the floor is above im2col's time, no tuning of the direct
kernels' memory traffic can make them win at that row; where it is below the direct time,
that gap is what memory and threads cost them.
"""
from __future__ import annotations

import time

import numba
import numpy as np

from numpy_adam.models.cifar_cnn_fast import FastCifarCNN
from numpy_adam.nn.direct_kernels_simd import correlate_rows_simd, correlate_weight_grad_simd
from numpy_adam.nn.fast_conv import ChannelMajorConv2d
from numpy_adam.nn.fast_direct_conv import DirectChannelMajorConv2d, padded_length
from numpy_adam.nn.fast_spectral_conv import SpectralChannelMajorConv2d
from numpy_adam.nn.im2col import output_shape

from .conv_floor import conv_inputs
from .timing import (SETTLE_SECONDS, WARM_SECONDS, interleaved_medians, median_ms,
                     median_ratio, warm_up)

ALGORITHMS = {"im2col": ChannelMajorConv2d, "direct": DirectChannelMajorConv2d,
              "spectral": SpectralChannelMajorConv2d}
DIRECTIONS = {"conv1": ("forward", "weight grad"), "conv2": ("forward", "weight grad", "both grads")}


class BackwardTimer:
    """A candidate that times only a backward: each call runs ``forward`` untimed, then
    ``backward`` timed (:func:`.timing.interleaved_medians` calls ``time_calls``)."""

    def __init__(self, forward, backward):
        self.forward, self.backward = forward, backward

    def __call__(self):
        self.forward()
        self.backward()

    def time_calls(self, inner: int, warm_seconds: float) -> float:
        """Seconds per backward, over ``inner`` forward-backward pairs, after untimed pairs
        for ``warm_seconds`` (at least one)."""
        warm_up(self, warm_seconds)
        total = 0.0
        for _ in range(inner):
            self.forward()
            start = time.perf_counter()
            self.backward()
            total += time.perf_counter() - start
        return total / inner


def _in(regime, call):
    """``call`` wrapped to run inside a fresh ``regime()`` context each time."""
    def run():
        with regime():
            call()
    return run


def _candidates(conv, height: int, width: int, n: int, direction: str, regime) -> dict:
    """{algorithm name: callable} for one conv and direction at batch n; each call runs in
    ``regime()`` (the step's thread regime at batch n: FastCifarCNN.parallel_for)."""
    rng = np.random.default_rng(n)
    x = rng.standard_normal((conv.in_channels, n, height, width), dtype=np.float32)  # (C, N, H, W)
    out_h, out_w = output_shape((n, conv.in_channels, height, width), conv.kernel_size,
                                conv.stride, conv.padding, "conv")
    dy = rng.standard_normal((conv.out_channels, n, out_h, out_w), dtype=np.float32)
    candidates = {}
    for name, algorithm in ALGORITHMS.items():
        fast = algorithm(conv)
        forward = _in(regime, (lambda f: lambda: f.forward(x))(fast))
        if direction == "forward":
            candidates[name] = forward
        elif direction == "weight grad":
            candidates[name] = BackwardTimer(
                forward, _in(regime, (lambda f: lambda: f.backward_params_only(dy))(fast)))
        else:
            candidates[name] = BackwardTimer(
                forward, _in(regime, (lambda f: lambda: f.backward(dy))(fast)))
    return candidates


# in-cache problems: conv2's shape (16 → 32 channels, 5 × 5 kernel, W_p = 20, H' = 16: 320
# wide positions per row), so the loops have the real trip counts; 1 and 2 images, so
# inputs and outputs stay within a core's L2 cache (under 140 KB)
IN_CACHE_IMAGES = (1, 2)
IN_CACHE_CALLS = 10


def _in_cache_problem(n: int):
    rng = np.random.default_rng(n)
    c, o, k, row_width, length = 16, 32, 5, 20, 16 * 20
    x_wide = rng.standard_normal((c, n, length + (k - 1) * row_width + k - 1), dtype=np.float32)
    weight = rng.standard_normal((o, c, k, k), dtype=np.float32)
    bias, y_wide = np.zeros(o, np.float32), np.empty((o, n, length), np.float32)
    partial = np.empty((1, o, c, k, k), np.float32)

    def rows():
        for _ in range(IN_CACHE_CALLS):
            correlate_rows_simd(x_wide, weight, bias, row_width, y_wide)

    def weight_grad():
        for _ in range(IN_CACHE_CALLS):
            correlate_weight_grad_simd(x_wide, y_wide, 0, length, row_width, k, k, partial)

    return rows, weight_grad, o * c * k * k * n * length  # multiply-adds per call


def in_cache_rates(rounds: int) -> dict[str, float]:
    """ns per multiply-add of the two float32 direct kernels (the register-blocked ones the
    CNN's convs run on) on one thread, data in cache: {"rows": correlate_rows_simd (forward,
    input grad), "weight grad": correlate_weight_grad_simd}.
    The difference of two sizes (1 and 2 images), so the fixed cost of a call cancels."""
    (rows1, grad1, madds1), (rows2, grad2, madds2) = (_in_cache_problem(n) for n in IN_CACHE_IMAGES)
    before = numba.get_num_threads()
    numba.set_num_threads(1)  # one core's rate
    try:
        times = interleaved_medians({"rows 1": rows1, "rows 2": rows2, "grad 1": grad1,
                                     "grad 2": grad2}, rounds=rounds, warm_calls=1)
    finally:
        numba.set_num_threads(before)
    extra = IN_CACHE_CALLS * (madds2 - madds1)
    return {name: 1e9 * float(np.median((times[f"{key} 2"] - times[f"{key} 1"]) / extra))
            for name, key in (("rows", "rows"), ("weight grad", "grad"))}


def multiply_adds(conv, height: int, width: int, n: int, direction: str) -> dict[str, int]:
    """The float32 direct kernels' multiply-adds for one direction at batch n, by kernel:
    every wide position they compute, thrown-away ones included."""
    (kh, kw), (ph, pw) = conv.kernel_size, conv.padding
    padded_h, padded_w = height + 2 * ph, width + 2 * pw
    per_position = conv.out_channels * conv.in_channels * kh * kw * n
    forward_rows = per_position * padded_length((padded_h - kh + 1) * padded_w, True)
    if direction == "forward":
        return {"rows": forward_rows}
    if direction == "weight grad":
        return {"weight grad": forward_rows}
    return {"weight grad": forward_rows, "rows": per_position * padded_length(padded_h * padded_w, True)}


def bench_conv_algorithms(batch_sizes, rounds: int) -> list[dict]:
    """Rows {"batch", "layer", "direction", "ms": {"im2col", "direct", "spectral"},
    "ratio_vs_im2col": {"direct", "spectral"}, "direct_floor_ms"}: each conv of the default
    CifarCNN, each direction it runs in training, each batch size (module doc)."""
    rates = in_cache_rates(rounds)
    threads = numba.get_num_threads()
    model = FastCifarCNN(rng=np.random.default_rng(0))  # its convs, and its thread regime
    names = {id(model.conv1): "conv1", id(model.conv2): "conv2"}
    rows = []
    for n in batch_sizes:
        for conv, (height, width) in conv_inputs(model):
            layer = names[id(conv)]
            for direction in DIRECTIONS[layer]:
                regime = (lambda n=n: model.parallel_for(n))
                times = interleaved_medians(_candidates(conv, height, width, n, direction, regime),
                                            rounds=rounds, inner=3, settle=SETTLE_SECONDS,
                                            warm_calls=1, warm_seconds=WARM_SECONDS)
                work = multiply_adds(conv, height, width, n, direction)
                floor = sum(count * rates[kernel] for kernel, count in work.items()) / threads
                rows.append({"batch": int(n), "layer": layer, "direction": direction,
                             "ms": median_ms(times),
                             "ratio_vs_im2col": {name: median_ratio(times, name, "im2col")
                                                 for name in ALGORITHMS if name != "im2col"},
                             "direct_floor_ms": floor / 1e6, "ns_per_multiply_add": rates})
    return rows
