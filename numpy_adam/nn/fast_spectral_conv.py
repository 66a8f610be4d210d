"""Fast tier: a stride-1 Conv2d in the channel-major layout, computed in the frequency domain.

:class:`SpectralChannelMajorConv2d` has the interface of
:class:`~numpy_adam.nn.fast_conv.ChannelMajorConv2d` (x (C, N, H, W) → y (O, N, H', W'), the
same backward methods, the parameters of an existing Conv2d) and the equations of
:class:`~numpy_adam.nn.conv.Conv2d`; it computes them with the convolution theorem.

The sums. With x̃ the input zero-padded to H_p × W_p (H_p = H + 2p_h), Conv2d is a
cross-correlation and its two gradients a convolution and a correlation:

    y[o, n, i, j]   = b[o] + Σ_c Σ_{p,q} W[o, c, p, q] · x̃[c, n, i+p, j+q]
    ∂L/∂x̃[c, n, a, e] = Σ_o Σ_{p,q} W[o, c, p, q] · δ[o, n, a−p, e−q]     (δ = ∂L/∂y)
    ∂L/∂W[o, c, p, q] = Σ_n Σ_{i,j} δ[o, n, i, j] · x̃[c, n, i+p, j+q]

Every index that occurs (i+p, a, with i < H', p < k_h) stays below H_p, so circular sums over
a P × Q = H_p × W_p period equal them: no wrap-around reaches a kept value. With 2-D DFTs
X, W, Δ of size P × Q (:mod:`.dft`, σ = −1) the correlation theorem turns each sum into one
product per frequency f = (k, l), a matrix product over channels:

    Y_f[o, n]    = Σ_c conj(W_f)[o, c] · X_f[c, n]             (O×C)·(C×N)
    conj(DX_f)[c, n] = Σ_o conj(W_f)[o, c] · conj(Δ_f)[o, n]    (C×O)·(O×N)
    DW_f[o, c]   = Σ_n conj(Δ_f)[o, n] · X_f[c, n]             (O×N)·(N×C)

and y, ∂L/∂x, ∂L/∂W are the inverse transforms of Y, DX, DW at the positions wanted
(rows i < H', the unpadded interior, and p < k_h). The conjugate spectra conj(W), conj(Δ)
are transformed directly (σ = +1), so no array is ever conjugated, and X_f is kept from
forward for the weight gradient. Real planes need only half their spectrum: L = ⌊Q/2⌋ + 1
columns, so F = P·L frequencies (220 for conv2 of the CNN: P = Q = 20).

Why it pays where it does. Per image and direction the direct sums cost 2·O·C·k_h·k_w·H'·W'
flops; here the channel mixing costs 8·O·C·F (complex multiply-adds) and each plane's
transform 8·P·L·h + 4·L·h·w or so, independent of the kernel size. For the CNN's conv2
(16 → 32 channels, 5 × 5, 16 × 16 maps) at batch 100, forward and backward together come to
about 0.66 GFLOP against the direct sums' 1.97, in matrix products with hundreds to tens of
thousands of columns. For conv1 (3 input channels) the transforms of its 16 output planes
dominate and it is not faster (``numpy-adam bench``, "Convolutions per layer and direction").

Precision: float64 agrees with Conv2d to ~1e-14 relative, float32 within 2e-6 of the
outputs' magnitude (rounding of the transforms, tested in tests/nn/test_spectral_conv.py).
The transforms' intermediate arrays live in a workspace reused from step to step
(:class:`~.workspace.StepWorkspace`); the cached input spectrum is one of them.
Stride 1 only, like DirectChannelMajorConv2d; ChannelMajorConv2d serves any stride.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import check_grad_output, forward_cache
from .conv import Conv2d, check_conv_for_stage, check_stage_input
from .dft import from_half_spectrum, half_length, half_spectrum
from .lanes import Lanes, shared_lanes
from .workspace import StepWorkspace


class SpectralConvCache(NamedTuple):
    """What backward needs from forward.

    x_spectrum:  (P·L, C, N) X_f, the input's half spectrum, one (C, N) matrix per frequency
    w_conj:      (P·L, O, C) conj(W_f), the kernel's conjugate half spectrum
    input_shape: (C, N, H, W)
    output_shape: (O, N, H', W')
    """

    x_spectrum: np.ndarray
    w_conj: np.ndarray
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]


class SpectralChannelMajorConv2d:
    """The channel-major stride-1 fast path of one Conv2d via the convolution theorem
    (module doc).

    Args:
        conv: the Conv2d (stride 1) whose parameters, hyperparameters and mode are used.
        lanes: the threads that share each step's work (default: the process's shared
            :class:`~.lanes.Lanes`: transforms by rows and columns, channel mixing by
            frequencies). They run in parallel only inside ``lanes.parallel()``; elsewhere
            in one call.

    The methods are :class:`~numpy_adam.nn.fast_conv.ChannelMajorConv2d`'s: ``forward`` (x
    (C, N, H, W) → y (O, N, H', W')), ``backward`` (dy → dx, and the parameter gradients
    assigned) and ``backward_params_only``; one backward per forward.
    """

    def __init__(self, conv: Conv2d, lanes: Lanes | None = None):
        self.conv = check_conv_for_stage(conv, "SpectralChannelMajorConv2d", stride_one=True)
        self.lanes = shared_lanes() if lanes is None else lanes
        self._workspace = StepWorkspace(conv)  # the transforms' arrays, reused step to step
        self._cache: SpectralConvCache | None = None

    def _period(self, height: int, width: int) -> tuple[int, int]:
        """(P, Q) = (H_p, W_p): the padded input's size, the shortest period without wrap."""
        (ph, pw) = self.conv.padding
        return height + 2 * ph, width + 2 * pw

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (C, N, H, W), any strides → y (O, N, H', W') contiguous."""
        conv = self.conv
        w = conv.weight.data
        out_h, out_w = check_stage_input(conv, x, "SpectralChannelMajorConv2d")
        c, n, height, width = x.shape
        p, q = self._period(height, width)
        (ph, pw), o = conv.padding, conv.out_channels
        frequencies, scratch, lanes = p * half_length(q), self._workspace.array, self.lanes
        x_spectrum = half_spectrum(x, p, q, ph, pw, scratch=scratch, name="x spectrum",
                                   lanes=lanes).reshape(frequencies, c, n)
        w_conj = half_spectrum(w, p, q, 0, 0, sign=+1, scratch=scratch,
                               name="w conjugate spectrum").reshape(frequencies, o, c)
        y_spectrum = scratch("y spectrum", (frequencies, o, n), x_spectrum.dtype)  # Y_f (F, O, N)
        lanes.split(lambda f0, f1: np.matmul(w_conj[f0:f1], x_spectrum[f0:f1],
                                             out=y_spectrum[f0:f1]),
                    frequencies, cost=2 * (o * c + c * n + o * n))
        y = from_half_spectrum(y_spectrum.reshape(p, -1, o, n), q, (0, out_h), (0, out_w),
                               scratch=scratch, name="y", lanes=lanes)
        if conv.bias is not None:
            bias = conv.bias.data
            lanes.split(lambda o0, o1: np.add(y[o0:o1], bias[o0:o1, None, None, None],
                                              out=y[o0:o1]), o, cost=2 * y[0].size)
        self._cache = SpectralConvCache(x_spectrum, w_conj, x.shape, (o, n, out_h, out_w))
        return y

    def _parameter_grads(self, dy: np.ndarray) -> tuple[SpectralConvCache, np.ndarray]:
        """Consume the cache, assign dW and db; return the cache and conj(Δ_f) (F, O, N)."""
        cache = forward_cache(self)
        conv = self.conv
        check_grad_output(dy, cache.output_shape, "SpectralChannelMajorConv2d",
                          conv.weight.data.dtype)
        self._cache = None
        o, n, _, _ = cache.output_shape
        p, q = self._period(*cache.input_shape[2:])
        frequencies, c, _ = cache.x_spectrum.shape
        scratch, lanes = self._workspace.array, self.lanes
        dy_conj = half_spectrum(dy, p, q, 0, 0, sign=+1, scratch=scratch,
                                name="dy conjugate spectrum", lanes=lanes).reshape(frequencies, o, n)
        x_spectrum_t = cache.x_spectrum.transpose(0, 2, 1)
        dw_spectrum = scratch("dw spectrum", (frequencies, o, c), dy_conj.dtype)  # DW_f (F, O, C)
        lanes.split(lambda f0, f1: np.matmul(dy_conj[f0:f1], x_spectrum_t[f0:f1],
                                             out=dw_spectrum[f0:f1]),
                    frequencies, cost=2 * (o * n + n * c + o * c))
        conv.weight.grad[...] = from_half_spectrum(dw_spectrum.reshape(p, -1, o, c), q,
                                                   (0, conv.kernel_size[0]),
                                                   (0, conv.kernel_size[1]),
                                                   scratch=scratch, name="dw")
        if conv.bias is not None:
            bias_grad = conv.bias.grad
            lanes.split(lambda o0, o1: np.sum(dy[o0:o1], axis=(1, 2, 3), out=bias_grad[o0:o1]), o,
                        cost=dy[0].size)
        return cache, dy_conj

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (O, N, H', W') → dx (C, N, H, W); assigns the parameter gradients."""
        cache, dy_conj = self._parameter_grads(dy)
        c, n, height, width = cache.input_shape
        p, q = self._period(height, width)
        (ph, pw), lanes, o = self.conv.padding, self.lanes, self.conv.out_channels
        w_conj_t = cache.w_conj.transpose(0, 2, 1)
        dx_conj = self._workspace.array("dx conjugate spectrum", (len(dy_conj), c, n),  # conj(DX_f)
                                        dy_conj.dtype)                                # (F, C, N)
        lanes.split(lambda f0, f1: np.matmul(w_conj_t[f0:f1], dy_conj[f0:f1], out=dx_conj[f0:f1]),
                    len(dy_conj), cost=2 * (c * o + o * n + c * n))
        return from_half_spectrum(dx_conj.reshape(p, -1, c, n), q, (ph, height), (pw, width),
                                  sign=+1, scratch=self._workspace.array, name="dx", lanes=lanes)

    def backward_params_only(self, dy: np.ndarray) -> None:
        """dy (O, N, H', W') → None; assigns the parameter gradients and computes no dx."""
        self._parameter_grads(dy)

    def __repr__(self) -> str:
        return f"SpectralChannelMajorConv2d({self.conv.extra_repr()})"
