"""The matrix-product DFTs of numpy_adam.nn.dft against numpy.fft on zero-padded planes."""
import numpy as np
import pytest

from numpy_adam.nn.dft import from_half_spectrum, half_length, half_spectrum

# (P, Q, h, w, row, column): even and odd sizes, planes touching either border
GEOMETRIES = [(20, 20, 16, 16, 2, 2), (36, 36, 32, 32, 2, 2), (7, 9, 5, 4, 1, 3),
              (8, 5, 8, 5, 0, 0), (6, 10, 2, 3, 4, 7)]


def _padded(x, p, q, row, column):
    a, b, h, w = x.shape
    planes = np.zeros((a, b, p, q), dtype=np.float64)
    planes[:, :, row:row + h, column:column + w] = x
    return planes


@pytest.mark.parametrize("p, q, h, w, row, column", GEOMETRIES)
def test_half_spectrum_is_rfft2_of_the_padded_planes(p, q, h, w, row, column):
    x = np.random.default_rng(p * q).standard_normal((3, 2, h, w))
    expected = np.fft.rfft2(_padded(x, p, q, row, column)).transpose(2, 3, 0, 1)  # (P, L, A, B)
    got = half_spectrum(x, p, q, row, column)
    assert got.shape == (p, half_length(q), 3, 2) and got.dtype == np.complex128
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    conjugate = half_spectrum(x, p, q, row, column, sign=+1)
    np.testing.assert_allclose(conjugate, np.conj(expected), rtol=0,
                               atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("p, q, h, w, row, column", GEOMETRIES)
@pytest.mark.parametrize("sign", [-1, +1])
def test_from_half_spectrum_inverts_any_window(p, q, h, w, row, column, sign):
    """The inverse of a (conjugate) half spectrum, restricted to the rows and columns asked
    for, is that window of the real planes, as numpy.fft.irfft2 gives them."""
    rng = np.random.default_rng(p + q)
    planes = rng.standard_normal((2, 3, p, q))
    spectrum = np.fft.rfft2(planes).transpose(2, 3, 0, 1)
    if sign == +1:
        spectrum = np.conj(spectrum)
    got = from_half_spectrum(np.ascontiguousarray(spectrum), q, (row, h), (column, w), sign)
    expected = np.fft.irfft2(np.fft.rfft2(planes), s=(p, q))[:, :, row:row + h, column:column + w]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_float32_planes_stay_float32_within_float32_rounding():
    x = np.random.default_rng(1).standard_normal((4, 5, 16, 16)).astype(np.float32)
    spectrum = half_spectrum(x, 20, 20, 2, 2)
    assert spectrum.dtype == np.complex64
    back = from_half_spectrum(spectrum, 20, (2, 16), (2, 16))
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, x, rtol=0, atol=2e-6 * np.abs(x).max())


def test_cached_matrices_cannot_be_changed():
    from numpy_adam.nn.dft import column_matrix, row_matrix
    with pytest.raises(ValueError):
        row_matrix(20, 0, 16, -1, "float32")[0, 0] = 0
    with pytest.raises(ValueError):
        column_matrix(20, 0, 16, -1, "float32")[0, 0] = 0
