"""The floor of the im2col design: what the CNN step's convolutions cost with nothing else.

Our Conv2d is im2col + one GEMM (forward), and two GEMMs + col2im (backward). At batch n the
training step runs, on the CNN's shapes (c1, c2 = 16, 32, k = 5, L1 = n·32·32, L2 = n·16·16):

    conv1 forward  Y₁ = W₁ · cols₁          (16 × 75) · (75 × L1)
    conv1 dW       dW₁ = cols₁ · dY₁ᵀ        (75 × L1) · (L1 × 16)     (no dX: input image)
    conv2 forward  Y₂ = W₂ · cols₂          (32 × 400) · (400 × L2)
    conv2 dW       dW₂ = cols₂ · dY₂ᵀ        (400 × L2) · (L2 × 32)
    conv2 dX       dcols₂ = W₂ᵀ · dY₂        (400 × 32) · (32 × L2), then col2im

:func:`bench_conv_floor` times the five GEMMs alone ("conv GEMMs") and with the two im2col
and the col2im ("conv GEMMs + im2col/col2im"), interleaved with PyTorch's *whole* step at
the same batch size when torch is installed. If the floor's ratio to PyTorch's step is above
a target, no tuning of the other stages can reach that target with this design.
"""
from __future__ import annotations

import numpy as np

from numpy_adam.nn.kernels import col2im_cn, im2col_cn

from .cnn_step import batch_rows, numpy_step_fn, torch_step_fn

K, PAD = 5, 2
LAYERS = ((3, 16, 32), (16, 32, 16))  # (in channels, out channels, input size) of conv1, conv2


def conv_work(n: int):
    """Two zero-argument callables for batch n: (the five GEMMs, GEMMs + im2col/col2im)."""
    rng = np.random.default_rng(n)
    parts = []
    for c, o, size in LAYERS:
        x = rng.standard_normal((c, n, size, size), dtype=np.float32)      # (C, N, H, W)
        cols = np.empty((c, K, K, n, size, size), dtype=np.float32)
        im2col_cn(x, K, K, 1, 1, PAD, PAD, cols)
        w = rng.standard_normal((o, c * K * K), dtype=np.float32)          # (O, C·k·k)
        dy = rng.standard_normal((o, n * size * size), dtype=np.float32)   # (O, L)
        parts.append((x, cols, w, dy))
    (x1, cols1, w1, dy1), (x2, cols2, w2, dy2) = parts
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
        im2col_cn(x1, K, K, 1, 1, PAD, PAD, cols1)
        im2col_cn(x2, K, K, 1, 1, PAD, PAD, cols2)
        gemms()
        col2im_cn(dcols2.reshape(cols2.shape), 1, 1, PAD, PAD, dx2)

    return gemms, gemms_and_data_movement


def bench_conv_floor(batch_sizes, rounds: int, torch=None) -> list[dict]:
    """One row per batch size: ms of the conv floor parts and, with torch, of its whole
    step and each part's median ratio to it."""
    def candidates_for(n):
        gemms, with_movement = conv_work(n)
        candidates = {"conv GEMMs": gemms, "conv GEMMs + im2col/col2im": with_movement}
        if torch is not None:
            _, model = numpy_step_fn(n)
            candidates["torch step"] = torch_step_fn(torch, n, model.state_dict())
        return candidates

    return batch_rows(batch_sizes, candidates_for, "torch step" if torch is not None else None,
                      "ratio_vs_torch_step", rounds)
