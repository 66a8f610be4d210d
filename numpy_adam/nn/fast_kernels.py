"""Fast tier: the Numba kernels behind the channel-major conv and the fused batchnorm stage.

All kernels work in the channel-major layout (C, N, H, W): for a channel c the block x[c]
is contiguous, so per-channel reductions (batchnorm) stream through memory, and a conv's
GEMM output (O, N·H'·W') *is* that layout without a transpose.

    im2col_cn, col2im_cn        :func:`numpy_adam.nn.im2col.im2col` / ``col2im`` with inline
                                padding (used by :mod:`.fast_conv`)
    channel_mean_var            batchnorm's batch statistics (used by :mod:`.fast_fused`)
    bn_relu_maxpool_forward,    BatchNorm2d → ReLU → MaxPool2d in one pass each way
    bn_relu_maxpool_backward    (used by :mod:`.fast_fused`)

Each is tested against the NumPy reference (im2col/col2im, BatchNorm2d, ReLU, MaxPool2d)
in tests/nn/test_fast_tier.py, and also runs as plain Python under ``NUMBA_DISABLE_JIT=1``
(tests/nn/test_no_jit.py). Kernels take arrays and scalars only and write into output
arrays the caller allocates.

Threads: the kernels are serial, and take the part of the work to do (channels are slices
of C; im2col and col2im take a range of images), so that the lanes of :mod:`.lanes` can run
them on disjoint shares side by side. Numba-parallel loops here would contend with
OpenBLAS's threads for the cores.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True)


@njit(**_JIT)
def im2col_cn(x, kh, kw, sh, sw, ph, pw, cols, first, stop):
    """Gather every (kh, kw) window of the zero-padded input, padding handled inline.

    x:    (C, N, H, W) input (any strides)
    cols: (C, kh, kw, N, H', W') output, filled for the images first ≤ n < stop:
          cols[c, u, v, n, i, j] = x[c, n, i·sh + u − ph, j·sw + v − pw], 0 outside x
    (One loop nest with the bounds test inside, rather than separate loops for the border:
    the simplest form, and the border is a small part of the work. The image range lets
    lanes fill disjoint parts of one contiguous cols: a view per lane would compile to a
    strided kernel about 3× as slow.)
    """
    n_ch, _, height, width = x.shape
    out_h, out_w = cols.shape[4], cols.shape[5]
    for job in range(n_ch * kh * kw):
        c = job // (kh * kw)
        u = (job // kw) % kh
        v = job % kw
        for n in range(first, stop):
            for i in range(out_h):
                h = i * sh + u - ph
                if h < 0 or h >= height:
                    for j in range(out_w):
                        cols[c, u, v, n, i, j] = 0
                    continue
                for j in range(out_w):
                    w = j * sw + v - pw
                    if w >= 0 and w < width:
                        cols[c, u, v, n, i, j] = x[c, n, h, w]
                    else:
                        cols[c, u, v, n, i, j] = 0


@njit(**_JIT)
def col2im_cn(dcols, sh, sw, ph, pw, dx, first, stop):
    """Scatter-add columns back onto the input grid (the adjoint of :func:`im2col_cn`).

    dcols: (C, kh, kw, N, H', W') gradient w.r.t. the columns
    dx:    (C, N, H, W) output, overwritten for the images first ≤ n < stop:
           dx[c, n, h, w] = Σ_{u,v,i,j: i·sh+u−ph = h, j·sw+v−pw = w} dcols[c, u, v, n, i, j]
    """
    n_ch, kh, kw, _, out_h, out_w = dcols.shape
    height, width = dx.shape[2], dx.shape[3]
    for c in range(n_ch):
        dx[c, first:stop] = 0
        for u in range(kh):
            for v in range(kw):
                for n in range(first, stop):
                    for i in range(out_h):
                        h = i * sh + u - ph
                        if h < 0 or h >= height:
                            continue
                        for j in range(out_w):
                            w = j * sw + v - pw
                            if w >= 0 and w < width:
                                dx[c, n, h, w] += dcols[c, u, v, n, i, j]


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def channel_mean_var(x, mean, var):
    """Per-channel mean and biased variance over N·H·W values, two-pass, float64 sums.

    x: (C, N, H, W) contiguous;  mean, var: (C,) float64 outputs
        μ_c = 1/m Σ x[c],   σ²_c = 1/m Σ (x[c] − μ_c)²,   m = N·H·W
    (fastmath "reassoc" only: the sums may be reordered to vectorise; NaN/Inf semantics kept.)
    """
    n_ch = x.shape[0]
    for c in range(n_ch):
        block = x[c].ravel()  # (N·H·W,)
        m = block.shape[0]
        total = 0.0
        for k in range(m):
            total += block[k]
        mu = total / m
        total = 0.0
        for k in range(m):
            d = block[k] - mu
            total += d * d
        mean[c] = mu
        var[c] = total / m


@njit(**_JIT)
def _later_is_larger(z, best):
    """Whether a later window value z replaces the running maximum ``best``: strictly larger
    (ties keep the first), or the first NaN (np.argmax's rule), branch-free."""
    return (z > best) | ((z != z) & (best == best))


@njit(**_JIT)
def bn_relu_maxpool_forward(x, mean, inv_std, weight, bias, kh, kw, sh, sw, xhat, y, argmax):
    """Normalise, then y = maxpool(relu(weight·x̂ + bias)), remembering each window's argmax.

    x:       (C, N, H, W) input; xhat may be the same array (normalised in place)
    mean, inv_std: (C,) float64, μ_c and 1/√(σ²_c + ε)
    weight, bias:  (C,) the batchnorm's affine parameters w_c, b_c
    xhat:    (C, N, H, W) output, x̂ = (x − μ_c)·inv_std_c (every element, also any the
             pool windows do not cover)
    y:       (C, N, H', W') output, y[c,n,i,j] = max_{u,v} relu(w_c x̂[c,n,i·sh+u,j·sw+v] + b_c)
    argmax:  (C, N, H', W') int32 output, in-window index u·kw + v of the FIRST maximum of
             z = w_c x̂ + b_c in row-major window order (a NaN is its window's maximum, as
             np.argmax). ReLU is applied after the max (max and ReLU commute); where
             y = 0 the argmax may differ from the reference path's but receives no gradient.
    """
    n_ch, n_img, height, width = x.shape
    out_h, out_w = y.shape[2], y.shape[3]
    two_by_two = kh == 2 and kw == 2 and sh == 2 and sw == 2
    for c in range(n_ch):
        mu, s = x.dtype.type(mean[c]), x.dtype.type(inv_std[c])
        wc, bc = weight[c], bias[c]
        for n in range(n_img):
            xp, xh = x[c, n], xhat[c, n]  # (H, W) planes
            for h in range(height):
                for w in range(width):
                    xh[h, w] = (xp[h, w] - mu) * s
            yp, ap = y[c, n], argmax[c, n]  # (H', W')
            for i in range(out_h):
                for j in range(out_w):
                    h0, w0 = i * sh, j * sw
                    if two_by_two:  # the CNN's pools: unrolled, branch-free
                        a0 = wc * xh[h0, w0] + bc
                        a1 = wc * xh[h0, w0 + 1] + bc
                        a2 = wc * xh[h0 + 1, w0] + bc
                        a3 = wc * xh[h0 + 1, w0 + 1] + bc
                        t01 = _later_is_larger(a1, a0)
                        m01 = a1 if t01 else a0
                        k01 = 1 if t01 else 0
                        t23 = _later_is_larger(a3, a2)
                        m23 = a3 if t23 else a2
                        k23 = 3 if t23 else 2
                        t = _later_is_larger(m23, m01)
                        best = m23 if t else m01
                        where = k23 if t else k01
                    else:
                        best = wc * xh[h0, w0] + bc
                        where = 0
                        for u in range(kh):
                            for v in range(kw):
                                z = wc * xh[h0 + u, w0 + v] + bc
                                t = _later_is_larger(z, best)
                                best = z if t else best
                                where = u * kw + v if t else where
                    yp[i, j] = best if not best < 0 else 0 * best  # ReLU; NaN stays NaN
                    ap[i, j] = where


@njit(**_JIT)
def bn_relu_maxpool_backward(dy, y, argmax, xhat, weight, inv_std, kw, sh, sw, training,
                             dx, dweight, dbias):
    """Backward of :func:`bn_relu_maxpool_forward`.

    dy, y, argmax: (C, N, H', W') upstream gradient, forward output, forward argmax
    xhat:    (C, N, H, W) forward x̂;  weight, inv_std: (C,);  kw, sh, sw: the pool window
    training: batch statistics (True) or running statistics (False) were used
    dx:      (C, N, H, W) output;  dweight, dbias: (C,) float64 outputs

    With dz = ∂L/∂(w_c x̂ + b_c): dy at each window's argmax where the output is positive
    (ReLU), 0 elsewhere (summed where windows share an argmax):
        dbias_c = Σ dz,   dweight_c = Σ dz·x̂
        train: dx = w_c inv_std_c (dz − dbias_c/m − x̂ dweight_c/m),   m = N·H·W
        eval:  dx = w_c inv_std_c dz
    """
    n_ch, n_img, height, width = xhat.shape
    out_h, out_w = dy.shape[2], dy.shape[3]
    m = n_img * height * width
    zero = dx.dtype.type(0)
    # the 2×2 pass's two input rows of scale·dz, built per output row, then added densely
    dz_rows = np.empty((2, width), dx.dtype)
    for c in range(n_ch):
        sum_dz = 0.0
        sum_dz_xhat = 0.0
        for n in range(n_img):
            yp, ap, dyp, xh = y[c, n], argmax[c, n], dy[c, n], xhat[c, n]
            for i in range(out_h):
                for j in range(out_w):
                    k = ap[i, j]
                    if kw == 2:  # shifts, not an integer division per window
                        u, v = k >> 1, k & 1
                    else:
                        u, v = k // kw, k % kw
                    # selects, not a branch on the sign of y (unpredictable): the same sums
                    # in the same order, adding exact zeros for the windows ReLU closed
                    positive = yp[i, j] > 0
                    g = dyp[i, j]
                    g_xhat = g * xh[i * sh + u, j * sw + v]
                    sum_dz += g if positive else 0.0
                    sum_dz_xhat += g_xhat if positive else 0.0
        dbias[c] = sum_dz
        dweight[c] = sum_dz_xhat
        scale = weight[c] * inv_std[c]
        # dx = sdz − mdz − x̂·mdzx with sdz = scale·dz, mdz = scale·mean(dz) and
        # mdzx = scale·mean(dz·x̂) in train mode (the two means are 0 in eval mode)
        mdz = dx.dtype.type(scale * (sum_dz / m)) if training else dx.dtype.type(0)
        mdzx = dx.dtype.type(scale * (sum_dz_xhat / m)) if training else dx.dtype.type(0)
        if kw == 2 and sh == 2 and sw == 2 and height == 2 * out_h and width == 2 * out_w:
            # the CNN's 2×2 pools tile the plane: per output row, scatter scale·dz into the two
            # input rows it covers, then one dense (vectorisable) pass per input row
            for n in range(n_img):
                yp, ap, dyp, xh, dxp = y[c, n], argmax[c, n], dy[c, n], xhat[c, n], dx[c, n]
                for i in range(out_h):
                    dz_rows[:] = zero
                    for j in range(out_w):  # one store per window, at its argmax (u, v)
                        k = ap[i, j]
                        sdz = dx.dtype.type(scale * dyp[i, j]) if yp[i, j] > 0 else zero
                        dz_rows[k >> 1, 2 * j + (k & 1)] = sdz
                    top, bottom = 2 * i, 2 * i + 1
                    for w in range(width):
                        dxp[top, w] = -mdz - xh[top, w] * mdzx + dz_rows[0, w]
                    for w in range(width):
                        dxp[bottom, w] = -mdz - xh[bottom, w] * mdzx + dz_rows[1, w]
            continue
        for n in range(n_img):
            xh, dxp = xhat[c, n], dx[c, n]
            for h in range(height):
                for w in range(width):
                    dxp[h, w] = -mdz - xh[h, w] * mdzx
            yp, ap, dyp = y[c, n], argmax[c, n], dy[c, n]
            for i in range(out_h):
                for j in range(out_w):
                    if yp[i, j] > 0:
                        k = ap[i, j]
                        dxp[i * sh + k // kw, j * sw + k % kw] += scale * dyp[i, j]
