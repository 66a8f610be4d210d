"""Small 2-D discrete Fourier transforms of many real planes at once, as matrix products.

Why matrices and not ``numpy.fft``: a convolution layer needs the transforms of thousands of
small planes (1600 planes of 20 × 20 for the CNN's conv2 at batch 100). ``numpy.fft.rfft2``
transforms them one by one, at several µs each; written as two matrix products over all planes
at once, the same transforms are a few large GEMMs. Only the rows and columns that hold data
(forward) or that are wanted (inverse) enter the matrices, so zero padding costs nothing.

Forward. A real plane a (h × w), placed at rows r₀ … r₀+h−1 and columns s₀ … s₀+w−1 of an
otherwise zero P × Q plane, has the 2-D DFT

    A[k, l] = Σ_{i<h} Σ_{j<w} a[i, j] · exp(σ·2πi·(k(r₀+i)/P + l(s₀+j)/Q)),   σ = −1,

kept for k < P and l < L = ⌊Q/2⌋ + 1 (the half spectrum: for a real plane the other columns
follow from A[k, Q−l] = conj(A[−k mod P, l])). With σ = +1 the same formula gives conj(A), so
a conjugate spectrum costs exactly what a spectrum costs (:mod:`.fft_conv` uses this to
avoid conjugating arrays).

Inverse. A half spectrum Z of a real plane z (made with sign σ) gives back

    z[i, j] = 1/(PQ) · Σ_k Σ_{l<L} c_l · Re(Z[k, l] · exp(−σ·2πi·(k i/P + l j/Q))),

with c_0 = 1, c_l = 2 for the columns that stand for two (l and Q − l), and c_{Q/2} = 1 when Q
is even. It is computed only for the rows i and columns j asked for.

Layout. Planes come as x (A, B, h, w), any two leading axes (channels and images); spectra
are (P, L, A, B): one (A, B) matrix per frequency, the layout in which a convolution's
channel mixing is one matrix product per frequency. Along columns the products are real
(the complex values are stored as interleaved (real, imaginary) pairs, which NumPy views as
complex); along rows they are complex. Precision: the matrices are built in float64 and
rounded to the planes' dtype; a transform's error is a few units of that dtype's rounding
times the planes' magnitude (tested against ``numpy.fft`` in tests/nn/test_dft.py).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .lanes import PRODUCT_ALIGN, Lanes

COMPLEX_OF = {np.dtype(np.float32): np.dtype(np.complex64),
              np.dtype(np.float64): np.dtype(np.complex128)}


def half_length(q: int) -> int:
    """L = ⌊Q/2⌋ + 1, the columns of a real plane's half spectrum."""
    return q // 2 + 1


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False  # cached and shared: no caller may change it
    return a


@lru_cache(maxsize=64)
def row_matrix(p: int, start: int, count: int, sign: int, dtype: str) -> np.ndarray:
    """(P, count) complex: E[k, i] = exp(sign·2πi·k(start+i)/P), the forward transform along
    rows (rows start … start+count−1 of a P-row plane). Its transpose, with −sign, is the
    inverse's sum over k."""
    k = np.arange(p)[:, None]
    i = np.arange(start, start + count)[None, :]
    return _frozen(np.exp(sign * 2j * np.pi * k * i / p).astype(COMPLEX_OF[np.dtype(dtype)]))


@lru_cache(maxsize=64)
def column_matrix(q: int, start: int, count: int, sign: int, dtype: str) -> np.ndarray:
    """(count, 2L) real: G[j, 2l] = cos φ, G[j, 2l+1] = sign·sin φ, φ = 2π·l(start+j)/Q, so
    that a (…, count) @ G, viewed as complex, is Σ_j a[j]·exp(sign·iφ) for l < L."""
    angle = 2 * np.pi * np.arange(start, start + count)[:, None] * np.arange(half_length(q)) / q
    g = np.stack([np.cos(angle), sign * np.sin(angle)], axis=-1)  # (count, L, 2)
    return _frozen(g.reshape(count, -1).astype(dtype))


@lru_cache(maxsize=64)
def inverse_column_matrix(p: int, q: int, start: int, count: int, sign: int,
                          dtype: str) -> np.ndarray:
    """(2L, count) real: D[2l, j] = c_l cos φ / (PQ), D[2l+1, j] = sign·c_l sin φ / (PQ),
    φ = 2π·l(start+j)/Q, so that Z (…, L) viewed as interleaved (…, 2L) @ D is
    Σ_l c_l Re(Z[l]·exp(−sign·iφ)) / (PQ): the inverse's sum over l, with its 1/(PQ)."""
    weight = np.full(half_length(q), 2.0)
    weight[0] = 1.0
    if q % 2 == 0:
        weight[-1] = 1.0  # the Nyquist column stands for itself only
    angle = 2 * np.pi * np.arange(half_length(q))[:, None] * np.arange(start, start + count) / q
    d = np.stack([np.cos(angle), sign * np.sin(angle)], axis=1) * weight[:, None, None]
    return _frozen((d / (p * q)).reshape(-1, count).astype(dtype))  # (L, 2, count) → (2L, count)


def fresh(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """The default ``scratch``: a new uninitialised array (the name is not used)."""
    return np.empty(shape, dtype=dtype)


def in_shares(lanes: Lanes | None, share, total: int, cost: int, align: int = 1) -> None:
    """``share(start, stop)`` over 0 … total − 1: split over ``lanes`` (:meth:`.Lanes.split`:
    each unit touches ``cost`` elements, starts are multiples of ``align``), or in one call."""
    if lanes is None:
        share(0, total)
    else:
        lanes.split(share, total, align, cost)


def half_spectrum(x: np.ndarray, p: int, q: int, row: int, column: int, sign: int = -1,
                  scratch=fresh, name: str = "spectrum", lanes: Lanes | None = None) -> np.ndarray:
    """x (A, B, h, w) real, each plane at (row, column) of a zero P × Q plane → its half
    spectrum (P, L, A, B), complex (σ = sign; +1 gives the conjugate spectrum).

    Two products: along columns x (A·B·h, w) @ G (w, 2L), real; then along rows
    E (P, h) @ (h, L·A·B), complex, after one transposing copy that brings h to the front.
    ``scratch(name, shape, dtype)`` provides the intermediate arrays and the result (e.g.
    :meth:`~.workspace.StepWorkspace.array`, so that repeated calls reuse memory instead of
    page-faulting fresh arrays in); the result is ``scratch(name, …)``. With ``lanes`` each
    of the three steps is split over them (rows, planes' rows, columns: disjoint parts of
    its output, so the result is the same to the bit).
    """
    a, b, h, w = x.shape
    length = half_length(q)
    # the matrices' cache key names the dtype by its code ('f', 'd'): dtype.name is a slow
    # property, and these transforms run a dozen times per training step
    real, complex_ = x.dtype, COMPLEX_OF[x.dtype]
    planes = np.ascontiguousarray(x).reshape(a * b * h, w)
    g = column_matrix(q, column, w, sign, real.char)
    by_column = scratch(f"{name}: by column", (a * b * h, 2 * length), real)
    in_shares(lanes, lambda lo, hi: np.matmul(planes[lo:hi], g, out=by_column[lo:hi]), a * b * h,
              w + 2 * length)
    rows_first = scratch(f"{name}: rows first", (h, length, a, b), complex_)
    gathered = by_column.view(complex_).reshape(a, b, h, length).transpose(2, 3, 0, 1)
    in_shares(lanes, lambda lo, hi: np.copyto(rows_first[lo:hi], gathered[lo:hi]), h,
              4 * length * a * b)
    spectrum = scratch(name, (p, length, a, b), complex_)
    e, rows = row_matrix(p, row, h, sign, real.char), rows_first.reshape(h, -1)
    out = spectrum.reshape(p, -1)
    in_shares(lanes, lambda lo, hi: np.matmul(e, rows[:, lo:hi], out=out[:, lo:hi]), rows.shape[1],
              2 * (h + p), PRODUCT_ALIGN)
    return spectrum


def from_half_spectrum(z: np.ndarray, q: int, rows: tuple[int, int], columns: tuple[int, int],
                       sign: int = -1, scratch=fresh, name: str = "planes",
                       lanes: Lanes | None = None) -> np.ndarray:
    """z (P, L, A, B), the half spectrum (made with ``sign``) of real P × Q planes → those planes'
    rows start … start+count−1 and columns likewise, (A, B, count_rows, count_columns), real,
    a new array.

    Two products: along rows E (count_rows, P) @ z (P, L·A·B), complex; then, after one
    transposing copy that brings L to the end, along columns (A·B·count_rows, 2L) @ D, real.
    ``scratch`` provides the intermediates, and ``lanes`` splits the steps, as in
    :func:`half_spectrum`.
    """
    p, length, a, b = z.shape
    (row, n_rows), (column, n_columns) = rows, columns
    real = np.dtype(z.real.dtype)
    by_row = scratch(f"{name}: by row", (n_rows, length, a, b), z.dtype)
    e_t, spectra, out = (row_matrix(p, row, n_rows, -sign, real.char).T, z.reshape(p, -1),
                         by_row.reshape(n_rows, -1))
    in_shares(lanes, lambda lo, hi: np.matmul(e_t, spectra[:, lo:hi], out=out[:, lo:hi]),
              spectra.shape[1], 2 * (p + n_rows), PRODUCT_ALIGN)
    columns_last = scratch(f"{name}: columns last", (a, b, n_rows, length), z.dtype)
    scattered = by_row.transpose(2, 3, 0, 1)
    in_shares(lanes, lambda lo, hi: np.copyto(columns_last[lo:hi], scattered[lo:hi]), a,
              4 * b * n_rows * length)
    d = inverse_column_matrix(p, q, column, n_columns, sign, real.char)
    interleaved = columns_last.view(real).reshape(a * b * n_rows, 2 * length)
    planes = np.empty((a * b * n_rows, n_columns), dtype=real)
    in_shares(lanes, lambda lo, hi: np.matmul(interleaved[lo:hi], d, out=planes[lo:hi]),
              a * b * n_rows, 2 * length + n_columns)
    return planes.reshape(a, b, n_rows, n_columns)
