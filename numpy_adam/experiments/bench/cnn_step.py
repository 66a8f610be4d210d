"""CNN training step (forward, loss, backward, Adam with statistics), ours vs PyTorch.

Three candidates on the default CifarCNN configuration (channels (16, 32), kernel_size 5,
hidden 128, 32×32 images), float32, the same weights, random CIFAR-shaped batches of size
N, cross-entropy, Adam(lr=1e-3) with training's element sample (:func:`.optimizer_core.
training_adam`):

    numpy               FastCifarCNN, what training runs (its backward computes no input
                        gradient, as training needs none)
    numpy_plain_layers  CifarCNN, the reference layers one by one (its backward also
                        returns the input gradient)
    numpy_batch_spread  FastCifarCNN's step plus the within-batch spread probe that
                        ``--batch-spread`` adds (:mod:`numpy_adam.models.batch_spread_fast`);
                        ``batch_spread_vs_ours`` gives its cost as a multiple of ours
    numpy_plain_batch_spread  the same with the plain probe (:mod:`numpy_adam.models.
                        batch_spread`, the reference layers); ``plain_batch_spread_vs_ours``
                        gives its cost as a multiple of ours, what the fast probe saves
    numpy_im2col_convs  FastCifarCNN with both convs run by im2col + GEMM
                        (ChannelMajorConv2d), conv2 included; ``im2col_convs_vs_ours`` is
                        the whole-step measurement behind its spectral conv2
    numpy_direct_convs  FastCifarCNN with both convs run by DirectChannelMajorConv2d;
                        ``direct_convs_vs_ours`` is the whole-step measurement behind not
                        using it
    numpy_threaded_adam FastCifarCNN's step with Adam's kernels run over threads, as buffers
                        of PARALLEL_MIN_SIZE elements or more are (:mod:`numpy_adam.optim.
                        kernels`); ``threaded_adam_vs_ours`` is the whole-step measurement
                        behind updating the CNN's parameters on the calling thread
    torch               the PyTorch twin, x without requires_grad, with our thread count,
                        when torch is installed: timed in its own process, one side at a time
                        (:mod:`.isolated`, :mod:`.torch_worker`)
    torch_same_allocator  the same, in a second worker process that runs under our allocator
                        policy (:mod:`numpy_adam.nn.allocator`, set by environment variables):
                        timed alone in a loop in its worker, PyTorch's step page-faults its
                        freed memory back in every step (``minor_faults_per_step``), which our
                        step does not, so ``ours_vs_torch_same_allocator`` compares the two
                        with that difference removed

Steps are timed in interleaved rounds (:mod:`.timing`); ``ratio`` is the median over rounds
of ours/torch. ``minor_faults_per_step`` counts each side's minor page faults per step
(``getrusage``, 10 steps after the timing; PyTorch's as its worker reports them).

The per-stage breakdown times FastCifarCNN's public stages (the ones its forward and
backward call) in the same interleaved way: each conv, each fused BN+ReLU+pool stage, the
layout changes, the classifier (fc1, bn3, relu3, fc2) forward and backward, and the
optimizer step. Every shape comes from the model's attributes.
"""
from __future__ import annotations

import time

import numpy as np

from numpy_adam.models.batch_spread import BatchSpread
from numpy_adam.models.batch_spread_fast import FastBatchSpread
from numpy_adam.models.cifar_cnn import CifarCNN
from numpy_adam.models.cifar_cnn_fast import FastCifarCNN
from numpy_adam.nn.fast_conv import ChannelMajorConv2d
from numpy_adam.nn.fast_direct_conv import DirectChannelMajorConv2d
from numpy_adam.nn.loss import SoftmaxCrossEntropy
from numpy_adam.optim import kernels as optimizer_kernels

from .optimizer_core import training_adam
from .system import minor_faults
from .timing import (SETTLE_SECONDS, WARM_SECONDS, interleaved_medians, median_ms,
                     median_ratio, ratios_to)


def _batch(model: CifarCNN, n: int, seed: int):
    """Random float32 images (N, C_in, S, S) and labels (N,) for ``model``."""
    rng = np.random.default_rng(seed)
    side = model.image_size
    x = rng.standard_normal((n, model.conv1.in_channels, side, side), dtype=np.float32)
    labels = rng.integers(0, model.num_classes, size=n)
    return x, labels


CONV_STAGES = {"im2col": ChannelMajorConv2d, "direct": DirectChannelMajorConv2d}


def threaded_adam(params):
    """training_adam over ``params`` with its kernels run over threads whatever the size (the
    threshold is read when an optimizer is built)."""
    threshold = optimizer_kernels.PARALLEL_MIN_SIZE
    optimizer_kernels.PARALLEL_MIN_SIZE = 0
    try:
        return training_adam(params)
    finally:
        optimizer_kernels.PARALLEL_MIN_SIZE = threshold


def numpy_step_fn(n: int, model_cls: type[CifarCNN] = FastCifarCNN, probe_cls=None,
                  convs: str | None = None, threaded: bool = False, lanes: bool = True):
    """(a zero-argument callable doing one full training step at batch n, the model); with
    ``probe_cls`` (FastBatchSpread, what --batch-spread uses, or BatchSpread) the step also
    measures the within-batch spread with that probe;
    with ``convs`` ("im2col" or "direct") both conv stages of a FastCifarCNN are that
    algorithm (:data:`CONV_STAGES`) instead of its own choice; with ``threaded`` Adam's
    kernels run over threads (:func:`threaded_adam`); without ``lanes`` a FastCifarCNN runs
    its stages on the calling thread and OpenBLAS's threads at every batch size."""
    model = model_cls(rng=np.random.default_rng(0))
    if not lanes:
        model.lanes_min_batch = None
    if convs is not None:
        model.conv1_cn = CONV_STAGES[convs](model.conv1)
        model.conv2_cn = CONV_STAGES[convs](model.conv2)
    opt = (threaded_adam if threaded else training_adam)(model.named_parameters())
    loss = SoftmaxCrossEntropy()
    x, labels = _batch(model, n, 1)
    probe = probe_cls(model) if probe_cls is not None else None

    def step():
        loss.forward(model.forward(x), labels)
        model.backward(loss.backward())
        if probe is not None:
            probe.measure(x, labels)
        opt.step()  # with statistics, as training does

    return step, model


def minor_faults_per_step(step, steps: int = 10) -> float:
    """Mean minor page faults of ``step()`` over ``steps`` calls (after one warm-up call)."""
    step()
    before = minor_faults()
    for _ in range(steps):
        step()
    return (minor_faults() - before) / steps


def batch_rows(batch_sizes, candidates_for, baseline: str | None, ratio_key: str,
               rounds: int, also: dict | None = None) -> list[dict]:
    """One row {"batch": n, "ms": {name: median ms}, ratio_key: {name: median ratio}} per
    batch size n, timing ``candidates_for(n)`` (name -> callable) in interleaved rounds; the
    ratios to ``baseline`` only when it is given (None: torch absent, no ratios). ``also``
    maps further row keys to (baseline, candidate): that candidate's median ratio to that
    baseline."""
    rows = []
    for n in batch_sizes:
        # 3 steps per timing after a 0.3 s pause and untimed steps for 0.1 s: each library
        # runs with its own threads awake and in its steady state, as in a training loop,
        # not against the other's spinning ones. The PyTorch worker warms up the same way
        # (.torch_worker). One untimed step was not enough: PyTorch's steps stayed slow for
        # longer than that after the pause (README, Performance).
        times = interleaved_medians(candidates_for(n), rounds=rounds, inner=3,
                                    settle=SETTLE_SECONDS, warm_calls=1,
                                    warm_seconds=WARM_SECONDS)
        row = {"batch": int(n), "ms": median_ms(times)}
        if baseline is not None:
            row[ratio_key] = ratios_to(times, baseline)
        for key, (base, name) in (also or {}).items():
            row[key] = median_ratio(times, name, base)
        rows.append(row)
    return rows


def bench_cnn_step(batch_sizes, rounds: int, torch=None,
                   torch_same_allocator=None) -> list[dict]:
    """One row per batch size: ms/step of FastCifarCNN ("numpy"), of the reference CifarCNN
    ("numpy_plain_layers") and of torch (``torch``: a :class:`.isolated.TorchProcess` or None;
    ``torch_same_allocator``: one started under our allocator policy, or None), the ratios to
    torch, and each side's minor page faults per step."""
    def candidates_for(n):
        ours, model = numpy_step_fn(n, FastCifarCNN)
        plain, _ = numpy_step_fn(n, CifarCNN)
        probed, _ = numpy_step_fn(n, FastCifarCNN, probe_cls=FastBatchSpread)
        plain_probed, _ = numpy_step_fn(n, FastCifarCNN, probe_cls=BatchSpread)
        candidates = {"numpy": ours, "numpy_plain_layers": plain, "numpy_batch_spread": probed,
                      "numpy_plain_batch_spread": plain_probed}
        for name in CONV_STAGES:
            candidates[f"numpy_{name}_convs"], _ = numpy_step_fn(n, FastCifarCNN, convs=name)
        candidates["numpy_threaded_adam"], _ = numpy_step_fn(n, FastCifarCNN, threaded=True)
        candidates["numpy_without_lanes"], _ = numpy_step_fn(n, FastCifarCNN, lanes=False)
        if torch is not None:  # the same step in the PyTorch twin, with the same weights and batch
            candidates["torch"] = torch.candidate("cnn_step", n)
        if torch_same_allocator is not None:
            candidates["torch_same_allocator"] = torch_same_allocator.candidate("cnn_step", n)
        return candidates

    also = {"batch_spread_vs_ours": ("numpy", "numpy_batch_spread"),
            "plain_batch_spread_vs_ours": ("numpy", "numpy_plain_batch_spread"),
            "threaded_adam_vs_ours": ("numpy", "numpy_threaded_adam"),
            "without_lanes_vs_ours": ("numpy", "numpy_without_lanes"),
            **{f"{name}_convs_vs_ours": ("numpy", f"numpy_{name}_convs") for name in CONV_STAGES}}
    if torch_same_allocator is not None:
        also["ours_vs_torch_same_allocator"] = ("torch_same_allocator", "numpy")
    rows = batch_rows(batch_sizes, candidates_for, "torch" if torch is not None else None,
                      "ratio_vs_torch", rounds, also=also)
    for row in rows:  # the torch ratios are of the two ways to train, not of the variants
        for name in (["numpy_batch_spread", "numpy_plain_batch_spread", "numpy_threaded_adam",
                      "numpy_without_lanes",
                      "torch_same_allocator"]
                     + [f"numpy_{name}_convs" for name in CONV_STAGES]):
            row.get("ratio_vs_torch", {}).pop(name, None)
        faults = {"numpy": minor_faults_per_step(numpy_step_fn(row["batch"])[0])}
        for name, process in (("torch", torch), ("torch_same_allocator", torch_same_allocator)):
            if process is not None:
                faults[name] = process.time("cnn_step", row["batch"], 10)["minor_faults"]
        row["minor_faults_per_step"] = faults
    return rows


def layer_breakdown(n: int, rounds: int) -> dict:
    """Median ms of each stage of FastCifarCNN's step at batch n, forward and backward.

    Runs one step stage by stage per round, through the model's public stages, so each
    stage sees realistic caches. Output: {stage name: ms}, stage order = execution order;
    "total" is their sum.
    """
    model = FastCifarCNN(rng=np.random.default_rng(0))
    opt = training_adam(model.named_parameters())
    loss = SoftmaxCrossEntropy()
    x, labels = _batch(model, n, 1)
    times: dict[str, list[float]] = {}

    def timed(name, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        times.setdefault(name, []).append(time.perf_counter() - start)
        return out

    def conv1_forward(a):
        return model.conv1_cn.forward(model.to_channel_major(a))

    def classifier_forward(h):
        return model.fc2(model.relu3(model.bn3(model.fc1(h))))

    def classifier_backward(d):
        return model.fc1.backward(model.bn3.backward(model.relu3.backward(model.fc2.backward(d))))

    for r in range(rounds + 2):
        with model.parallel_for(n):  # as in model.forward
            h = timed("conv1 forward", conv1_forward, x)
            h = timed("bn1+relu+pool forward", model.block1.forward, h)
            h = timed("conv2 forward", model.conv2_cn.forward, h)
            h = timed("bn2+relu+pool forward", model.block2.forward, h)
            h = timed("flatten (transpose)", model.flatten_cn, h)
            h = timed("fc1+bn3+relu+fc2 forward", classifier_forward, h)
        loss.forward(h, labels)
        with model.parallel_for(n):  # as in model.backward
            d = timed("fc2+relu+bn3+fc1 backward", classifier_backward, loss.backward())
            d = timed("unflatten (transpose)", model.unflatten_cn, d)
            d = timed("bn2+relu+pool backward", model.block2.backward, d)
            d = timed("conv2 backward", model.conv2_cn.backward, d)
            d = timed("bn1+relu+pool backward", model.block1.backward, d)
            timed("conv1 backward (no dx)", model.conv1_cn.backward_params_only, d)
        timed("adam step (stats)", opt.step)
        if r < 2:  # warmup rounds
            times.clear()
    result = median_ms(times)
    result["total"] = float(sum(result.values()))
    return result
