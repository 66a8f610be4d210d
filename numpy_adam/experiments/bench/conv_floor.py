"""The floor of each conv design: what the CNN step's convolutions cost with nothing else.

With im2col a conv is one GEMM (forward), and two GEMMs + col2im (backward). For a conv
with C input and O output channels, a k × k kernel and L = N·H'·W' output positions, a
training step with im2col convs runs

    conv1 forward  Y₁ = W₁ · cols₁          (O₁ × C₁k²) · (C₁k² × L₁)
    conv1 dW       dW₁ = cols₁ · dY₁ᵀ        (C₁k² × L₁) · (L₁ × O₁)   (no dX: input image)
    conv2 forward  Y₂ = W₂ · cols₂          (O₂ × C₂k²) · (C₂k² × L₂)
    conv2 dW       dW₂ = cols₂ · dY₂ᵀ        (C₂k² × L₂) · (L₂ × O₂)
    conv2 dX       dcols₂ = W₂ᵀ · dY₂        (C₂k² × O₂) · (O₂ × L₂), then col2im

(with the default model: C₁, O₁ = 3, 16; C₂, O₂ = 16, 32; k = 5; L₁ = N·32², L₂ = N·16²).
:func:`bench_conv_floor` times the five GEMMs alone ("conv GEMMs") and with the two im2col
and the col2im ("conv GEMMs + im2col/col2im"), interleaved with PyTorch's *whole* step at
the same batch size when torch is installed. If the floor's ratio to PyTorch's step is above
a target, no tuning of the other stages can reach that target with this design. The shapes
come from the model's public layers (conv1, pool1, conv2) and image_size.

The same five pieces of work done by the conv stages themselves (conv1 forward and weight
gradient, conv2 forward and both gradients, every copy they make included) are the other
candidates: "direct convs" by the direct convolution
(:class:`~numpy_adam.nn.fast_direct_conv.DirectChannelMajorConv2d`) for both, and "our
convs" by FastCifarCNN's own stages (im2col conv1, spectral conv2,
:class:`~numpy_adam.nn.fast_spectral_conv.SpectralChannelMajorConv2d`): the floor of the
design that training runs.
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from numpy_adam.models.cifar_cnn import CifarCNN
from numpy_adam.models.cifar_cnn_fast import FastCifarCNN
from numpy_adam.nn.fast_direct_conv import DirectChannelMajorConv2d
from numpy_adam.nn.fast_kernels import col2im_cn, im2col_cn
from numpy_adam.nn.im2col import output_shape

from .cnn_step import batch_rows, numpy_step_fn


def conv_inputs(model: CifarCNN) -> list[tuple]:
    """[(conv1, its input (H, W)), (conv2, its input (H, W))] of ``model``: conv2 reads
    pool1's output of conv1's output."""
    side = model.image_size
    conv1_out = output_shape((1, 1, side, side), model.conv1.kernel_size, model.conv1.stride,
                             model.conv1.padding, "conv1")
    pool1_out = output_shape((1, 1) + conv1_out, model.pool1.kernel_size, model.pool1.stride,
                             (0, 0), "pool1")
    return [(model.conv1, (side, side)), (model.conv2, pool1_out)]


def conv_work(n: int, model: CifarCNN):
    """Two zero-argument callables for batch n: (the five GEMMs, GEMMs + im2col/col2im)."""
    rng = np.random.default_rng(n)
    parts = []
    for conv, (height, width) in conv_inputs(model):
        c, o = conv.in_channels, conv.out_channels
        (kh, kw), window = conv.kernel_size, (*conv.stride, *conv.padding)
        out_h, out_w = output_shape((n, c, height, width), conv.kernel_size, conv.stride,
                                    conv.padding, "conv")
        x = rng.standard_normal((c, n, height, width), dtype=np.float32)     # (C, N, H, W)
        cols = np.empty((c, kh, kw, n, out_h, out_w), dtype=np.float32)
        im2col_cn(x, kh, kw, *window, cols, 0, x.shape[1])
        w = rng.standard_normal((o, c * kh * kw), dtype=np.float32)          # (O, C·kh·kw)
        dy = rng.standard_normal((o, n * out_h * out_w), dtype=np.float32)   # (O, L)
        parts.append((x, cols, w, dy, (kh, kw, *window)))
    (x1, cols1, w1, dy1, args1), (x2, cols2, w2, dy2, args2) = parts
    c1, c2 = cols1.reshape(w1.shape[1], -1), cols2.reshape(w2.shape[1], -1)
    dcols2 = np.empty_like(c2)
    dx2 = np.empty_like(x2)

    def gemms():
        w1 @ c1
        c1 @ dy1.T
        w2 @ c2
        c2 @ dy2.T
        np.matmul(w2.T, dy2, out=dcols2)

    def gemms_and_data_movement():
        im2col_cn(x1, *args1, cols1, 0, x1.shape[1])
        im2col_cn(x2, *args2, cols2, 0, x2.shape[1])
        gemms()
        col2im_cn(dcols2.reshape(cols2.shape), *args2[2:], dx2, 0, dx2.shape[1])

    return gemms, gemms_and_data_movement


def stage_conv_work(n: int, model: FastCifarCNN, stages=None):
    """A zero-argument callable for batch n: the step's five conv directions (conv1 forward
    + weight grad, conv2 forward + weight and input grads) by ``stages``, the two conv
    stage classes (default: the model's own, ``conv1_cn`` and ``conv2_cn``, run as the model
    runs them at batch n: over its lanes from ``model.lanes_min_batch`` up)."""
    rng = np.random.default_rng(n)
    threads = nullcontext
    if stages is None:
        stages = (type(model.conv1_cn), type(model.conv2_cn))
        threads = (lambda: model.parallel_for(n))
    steps = []
    for stage, (conv, (height, width)) in zip(stages, conv_inputs(model)):
        fast = stage(conv)
        out_h, out_w = output_shape((n, conv.in_channels, height, width), conv.kernel_size,
                                    conv.stride, conv.padding, "conv")
        x = rng.standard_normal((conv.in_channels, n, height, width), dtype=np.float32)
        dy = rng.standard_normal((conv.out_channels, n, out_h, out_w), dtype=np.float32)
        steps.append((fast, x, dy))
    (conv1, x1, dy1), (conv2, x2, dy2) = steps

    def work():
        with threads():
            conv1.forward(x1)
            conv1.backward_params_only(dy1)
            conv2.forward(x2)
            conv2.backward(dy2)

    return work


def bench_conv_floor(batch_sizes, rounds: int, torch=None) -> list[dict]:
    """One row per batch size: ms of the conv floor parts and, with torch, of its whole
    step and each part's median ratio to it."""
    def candidates_for(n):
        _, model = numpy_step_fn(n)
        gemms, with_movement = conv_work(n, model)
        direct = (DirectChannelMajorConv2d, DirectChannelMajorConv2d)
        candidates = {"conv GEMMs": gemms, "conv GEMMs + im2col/col2im": with_movement,
                      "direct convs": stage_conv_work(n, model, direct),
                      "our convs": stage_conv_work(n, model)}
        if torch is not None:  # PyTorch's whole step, in its own process (.isolated)
            candidates["torch step"] = torch.candidate("cnn_step", n)
        return candidates

    return batch_rows(batch_sizes, candidates_for, "torch step" if torch is not None else None,
                      "ratio_vs_torch_step", rounds)
