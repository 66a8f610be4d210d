"""The definition tier: conv, max-pool and batchnorm as loops written straight from the formulas.

This codebase has three tiers of layer code, each tested against the one above it:

    definitions   this file: loops over output pixels and channels, no tricks; slow and
                  obviously right. Plain arrays in, plain arrays out (NCHW, no objects).
    reference     the layers (:mod:`.conv`, :mod:`.pooling`, :mod:`.batchnorm`, ...): plain
                  NumPy, im2col and one GEMM per conv; equal to these loops in float64 to
                  ~1e-12 relative (tests/nn/test_conv.py, test_pooling.py, test_normalization.py)
    fast          :mod:`.fast_conv`, :mod:`.fast_fused`, :mod:`.fast_kernels` and
                  ``models/cifar_cnn_fast.py``: Numba, channel-major layout; equal to the
                  reference layers (tests/nn/test_fast_tier.py, tests/models/test_cifar_cnn_fast.py)

Each backward recomputes what it needs from the forward's inputs, so every function can be
read on its own. Use float64 inputs; nothing here is meant to be fast.
"""
from __future__ import annotations

import itertools

import numpy as np


# -- convolution -------------------------------------------------------------------------------
def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                   stride: tuple[int, int], padding: tuple[int, int]) -> np.ndarray:
    """2-D cross-correlation, one output pixel at a time.

        y[n,o,i,j] = b[o] + Σ_{c,u,v} W[o,c,u,v] · x_pad[n, c, i·sh + u, j·sw + v]

    x (N, C, H, W), weight W (O, C, kh, kw), bias b (O,) or None, stride (sh, sw), padding
    (ph, pw) zeros on each side → y (N, O, H', W'), H' = (H + 2ph − kh)//sh + 1 (W' alike).
    """
    (sh, sw), (ph, pw) = stride, padding
    n, _, height, width = x.shape
    out_c, _, kh, kw = weight.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h, out_w = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    y = np.zeros((n, out_c, out_h, out_w), dtype=x.dtype)
    for s, o, i, j in itertools.product(range(n), range(out_c), range(out_h), range(out_w)):
        window = x_pad[s, :, i * sh:i * sh + kh, j * sw:j * sw + kw]  # (C, kh, kw)
        y[s, o, i, j] = np.sum(weight[o] * window) + (bias[o] if bias is not None else 0.0)
    return y


def conv2d_backward(x: np.ndarray, weight: np.ndarray, dy: np.ndarray, stride: tuple[int, int],
                    padding: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_forward`, one output pixel at a time: each y[n,o,i,j]
    sends dy[n,o,i,j] back along the products it was made of.

        ∂L/∂W[o,c,u,v]               += dy[n,o,i,j] · x_pad[n, c, i·sh + u, j·sw + v]
        ∂L/∂x_pad[n, c, i·sh + u, j·sw + v] += dy[n,o,i,j] · W[o,c,u,v]
        ∂L/∂b[o]                     += dy[n,o,i,j]

    x (N, C, H, W), weight (O, C, kh, kw), dy (N, O, H', W') →
    (dx (N, C, H, W) with the padding dropped, dweight (O, C, kh, kw), dbias (O,)).
    """
    (sh, sw), (ph, pw) = stride, padding
    n, _, height, width = x.shape
    out_c, _, kh, kw = weight.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dx_pad = np.zeros_like(x_pad)
    dweight = np.zeros_like(weight)
    dbias = np.zeros(out_c, dtype=dy.dtype)
    for s, o, i, j in itertools.product(range(n), range(out_c), range(dy.shape[2]), range(dy.shape[3])):
        window = (slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw))
        dweight[o] += dy[s, o, i, j] * x_pad[s, :, window[0], window[1]]
        dx_pad[s, :, window[0], window[1]] += dy[s, o, i, j] * weight[o]
        dbias[o] += dy[s, o, i, j]
    return dx_pad[:, :, ph:ph + height, pw:pw + width], dweight, dbias


# -- max pooling -------------------------------------------------------------------------------
def _first_maximum(window: np.ndarray) -> tuple[int, int]:
    """(u, v) of the first maximum of a (kh, kw) window in row-major order (u, then v): a
    later value replaces the best only if strictly larger, so ties keep the first."""
    best_at = (0, 0)
    for u, v in itertools.product(range(window.shape[0]), range(window.shape[1])):
        if window[u, v] > window[best_at]:
            best_at = (u, v)
    return best_at


def maxpool2d_forward(x: np.ndarray, kernel_size: tuple[int, int],
                      stride: tuple[int, int]) -> np.ndarray:
    """Max over each window, one output pixel at a time (no padding, floor output size).

        y[n,c,i,j] = max_{u < kh, v < kw} x[n, c, i·sh + u, j·sw + v]

    x (N, C, H, W) → y (N, C, H', W'), H' = (H − kh)//sh + 1 (W' alike).
    """
    (kh, kw), (sh, sw) = kernel_size, stride
    n, c, height, width = x.shape
    out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
    y = np.zeros((n, c, out_h, out_w), dtype=x.dtype)
    for s, ch, i, j in itertools.product(range(n), range(c), range(out_h), range(out_w)):
        y[s, ch, i, j] = np.max(x[s, ch, i * sh:i * sh + kh, j * sw:j * sw + kw])
    return y


def maxpool2d_backward(x: np.ndarray, dy: np.ndarray, kernel_size: tuple[int, int],
                       stride: tuple[int, int]) -> np.ndarray:
    """Each window's dy goes to its FIRST maximum (row-major order); overlapping windows add.

        (u*, v*) = first argmax_{u,v} x[n, c, i·sh + u, j·sw + v]
        dx[n, c, i·sh + u*, j·sw + v*] += dy[n,c,i,j]

    x (N, C, H, W), dy (N, C, H', W') → dx (N, C, H, W).
    """
    (kh, kw), (sh, sw) = kernel_size, stride
    n, c, out_h, out_w = dy.shape
    dx = np.zeros_like(x)
    for s, ch, i, j in itertools.product(range(n), range(c), range(out_h), range(out_w)):
        u, v = _first_maximum(x[s, ch, i * sh:i * sh + kh, j * sw:j * sw + kw])
        dx[s, ch, i * sh + u, j * sw + v] += dy[s, ch, i, j]
    return dx


# -- batch normalization -----------------------------------------------------------------------
# x has channels on axis 1: (N, C), (N, C, L) or (N, C, H, W); channel c's m values are x[:, c].
def batchnorm_train_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                            eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training mode: normalise each channel by its batch mean and biased variance.

        μ_c = 1/m Σ x[:, c]      σ²_c = 1/m Σ (x[:, c] − μ_c)²
        y[:, c] = weight_c · (x[:, c] − μ_c) / √(σ²_c + ε) + bias_c

    x (N, C, ...), weight and bias (C,) → (y (x's shape), μ (C,), σ² (C,)).
    """
    y = np.empty_like(x)
    mean, var = np.empty(x.shape[1]), np.empty(x.shape[1])
    for c in range(x.shape[1]):
        xc = x[:, c]
        m = xc.size
        mean[c] = np.sum(xc) / m
        var[c] = np.sum((xc - mean[c]) ** 2) / m
        y[:, c] = weight[c] * (xc - mean[c]) / np.sqrt(var[c] + eps) + bias[c]
    return y, mean, var


def batchnorm_train_backward(x: np.ndarray, weight: np.ndarray, dy: np.ndarray,
                             eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batchnorm_train_forward`, by the chain rule one stage at a time
    (μ and σ² depend on every x of the channel). Per channel, with d = x − μ,
    s = (σ² + ε)^(−1/2), x̂ = d·s:

        dbias   = Σ dy              dweight = Σ dy · x̂
        dx̂     = dy · weight
        dσ²     = Σ dx̂ · d · (−½)(σ² + ε)^(−3/2)
        dμ      = Σ dx̂ · (−s) + dσ² · Σ (−2d)/m
        dx      = dx̂ · s + dσ² · 2d/m + dμ/m

    x, dy (N, C, ...), weight (C,) → (dx (x's shape), dweight (C,), dbias (C,)).
    """
    dx = np.empty_like(x)
    dweight, dbias = np.empty(x.shape[1]), np.empty(x.shape[1])
    for c in range(x.shape[1]):
        xc, dyc = x[:, c], dy[:, c]
        m = xc.size
        d = xc - np.sum(xc) / m
        var = np.sum(d ** 2) / m
        s = 1.0 / np.sqrt(var + eps)
        x_hat = d * s
        dbias[c] = np.sum(dyc)
        dweight[c] = np.sum(dyc * x_hat)
        dx_hat = dyc * weight[c]
        dvar = np.sum(dx_hat * d) * -0.5 * (var + eps) ** -1.5
        dmean = np.sum(dx_hat * -s) + dvar * np.sum(-2.0 * d) / m
        dx[:, c] = dx_hat * s + dvar * 2.0 * d / m + dmean / m
    return dx, dweight, dbias


def batchnorm_eval_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                           running_mean: np.ndarray, running_var: np.ndarray,
                           eps: float) -> np.ndarray:
    """Eval mode: the running statistics are constants.

        y[:, c] = weight_c · (x[:, c] − running_mean_c) / √(running_var_c + ε) + bias_c

    x (N, C, ...), the others (C,) → y (x's shape).
    """
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        y[:, c] = (weight[c] * (x[:, c] - running_mean[c]) / np.sqrt(running_var[c] + eps)
                   + bias[c])
    return y


def batchnorm_eval_backward(x: np.ndarray, weight: np.ndarray, running_mean: np.ndarray,
                            running_var: np.ndarray, dy: np.ndarray,
                            eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batchnorm_eval_forward`, an affine map of x per channel:

        dbias = Σ dy      dweight = Σ dy · x̂      dx = dy · weight_c / √(running_var_c + ε)

    with x̂ = (x − running_mean_c)/√(running_var_c + ε).
    x, dy (N, C, ...), the others (C,) → (dx (x's shape), dweight (C,), dbias (C,)).
    """
    dx = np.empty_like(x)
    dweight, dbias = np.empty(x.shape[1]), np.empty(x.shape[1])
    for c in range(x.shape[1]):
        s = 1.0 / np.sqrt(running_var[c] + eps)
        dbias[c] = np.sum(dy[:, c])
        dweight[c] = np.sum(dy[:, c] * (x[:, c] - running_mean[c]) * s)
        dx[:, c] = dy[:, c] * weight[c] * s
    return dx, dweight, dbias
