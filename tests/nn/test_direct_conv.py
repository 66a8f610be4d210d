"""DirectChannelMajorConv2d at the CNN's own shapes, beyond the small cases of
tests/nn/test_fast_tier.py: float32 against the float64 reference (the stated float32
tolerance), bit-identical results whatever the number of Numba threads, the plain kernels
against a literal evaluation of their equations, and the register-blocked float32 kernels
against the plain ones."""
import numba
import numpy as np
import pytest

from numpy_adam.gradcheck import max_relative_difference
from numpy_adam.nn.conv import Conv2d
from numpy_adam.nn.direct_kernels import correlate_rows, correlate_weight_grad
from numpy_adam.nn.direct_kernels_simd import correlate_rows_simd, correlate_weight_grad_simd
from numpy_adam.nn.fast_conv import swap_batch_and_channels as cm
from numpy_adam.nn.fast_direct_conv import DirectChannelMajorConv2d, uses_simd

# (in channels, out channels, side): conv1 and conv2 of the CIFAR CNN, kernel 5, padding 2
CNN_CONVS = [(3, 16, 32), (16, 32, 16)]
# float32 against float64, max |fast − reference| / max |reference|: sums of 75–800 float32
# products, each rounding at about 6e-8 relative
FLOAT32_REL = 2e-6


def _reference_and_fast(c, o, dtype):
    make = lambda d: Conv2d(c, o, 5, padding=2, rng=np.random.default_rng(7), dtype=d)  # noqa: E731
    return make(np.float64), DirectChannelMajorConv2d(make(dtype))


@pytest.mark.parametrize("c, o, side", CNN_CONVS, ids=["conv1", "conv2"])
def test_float32_at_the_cnn_shapes_is_within_the_stated_tolerance(c, o, side):
    rng = np.random.default_rng(0)
    reference, fast = _reference_and_fast(c, o, np.float32)
    x = rng.standard_normal((6, c, side, side))
    y = reference.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = reference.backward(dy)
    y32 = cm(fast.forward(cm(x.astype(np.float32))))
    dx32 = cm(fast.backward(cm(dy.astype(np.float32))))
    for name, got, want in [("y", y32, y), ("dx", dx32, dx),
                            ("dweight", fast.conv.weight.grad, reference.weight.grad),
                            ("dbias", fast.conv.bias.grad, reference.bias.grad)]:
        assert got.dtype == np.float32, name
        err = max_relative_difference(got.astype(np.float64), want)
        assert err < FLOAT32_REL, f"{name}: relative error {err:.1e} > {FLOAT32_REL:g}"


def test_results_do_not_depend_on_the_number_of_threads():
    """Fixed blocks and fixed batch chunks (direct_kernels' doc): the same bits on 1 thread
    as on all of them, so a run's records do not depend on how many workers share a machine."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 9, 16, 16)).astype(np.float32)  # (C, N, H, W)
    dy = rng.standard_normal((32, 9, 16, 16)).astype(np.float32)
    results = []
    before = numba.get_num_threads()
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            _, fast = _reference_and_fast(16, 32, np.float32)
            y = fast.forward(x)
            dx = fast.backward(dy)
            results.append((y, dx, fast.conv.weight.grad.copy()))
    finally:
        numba.set_num_threads(before)
    for name, a, b in zip(("y", "dx", "dweight"), *results):
        np.testing.assert_array_equal(a, b, err_msg=f"{name} differs between thread counts")


def test_kernels_compute_their_equations_on_wide_rows():
    """correlate_rows and correlate_weight_grad against the sums written out with NumPy,
    on arbitrary wide rows (not only padded images): (1) and (2) of direct_kernels' doc."""
    rng = np.random.default_rng(2)
    c, o, n, kh, kw, row_width, length = 3, 5, 4, 2, 3, 6, 17
    x_wide = rng.standard_normal((c, n, length + (kh - 1) * row_width + kw - 1))
    weight, bias = rng.standard_normal((o, c, kh, kw)), rng.standard_normal(o)
    y_wide = np.empty((o, n, length))
    correlate_rows(x_wide, weight, bias, row_width, y_wide)
    shifted = np.stack([x_wide[:, :, u * row_width + v:u * row_width + v + length]
                        for u in range(kh) for v in range(kw)], axis=1)  # (C, kh·kw, N, L)
    expected = bias[:, None, None] + np.einsum("ocs,csnl->onl", weight.reshape(o, c, -1), shifted)
    np.testing.assert_allclose(y_wide, expected, rtol=1e-12, atol=1e-12)

    start = 2
    dy_wide = rng.standard_normal((o, n, start + length + 1))
    partial = np.full((3, o, c, kh, kw), np.nan)  # overwritten, chunk by chunk
    correlate_weight_grad(x_wide, dy_wide, start, length, row_width, kh, kw, partial)
    expected = np.einsum("onl,csnl->ocs", dy_wide[:, :, start:start + length], shifted)
    np.testing.assert_allclose(partial.sum(axis=0), expected.reshape(o, c, kh, kw),
                               rtol=1e-12, atol=1e-12)
    first_chunk = np.einsum("onl,csnl->ocs", dy_wide[:, :1, start:start + length], shifted[:, :, :1])
    np.testing.assert_allclose(partial[0], first_chunk.reshape(o, c, kh, kw), rtol=1e-12,
                               atol=1e-12, err_msg="chunk 0 holds image 0 (4 images, 3 chunks)")


@pytest.mark.parametrize("c, o, kernel", [(16, 32, (5, 5)), (3, 16, (5, 5)), (2, 4, (3, 2))],
                         ids=["conv2", "conv1 (75 taps: the last group of 4 is short)", "small"])
def test_simd_kernels_match_the_plain_kernels(c, o, kernel):
    """Float32 in, the same sums: rows bit for bit (each sum is formed in the same order,
    one fused multiply-add per tap), the weight gradient to float32 rounding (lanes are
    summed in a different order)."""
    rng = np.random.default_rng(3)
    (kh, kw), row_width, length, n, start = kernel, 12, 64, 5, 3
    x_wide = rng.standard_normal((c, n, length + (kh - 1) * row_width + kw - 1), dtype=np.float32)
    weight = rng.standard_normal((o, c, kh, kw), dtype=np.float32)
    bias = rng.standard_normal(o, dtype=np.float32)
    plain, simd = np.empty((o, n, length), np.float32), np.full((o, n, length), np.nan, np.float32)
    correlate_rows(x_wide, weight, bias, row_width, plain)
    correlate_rows_simd(x_wide, weight, bias, row_width, simd)
    np.testing.assert_array_equal(simd, plain)

    dy_wide = rng.standard_normal((o, n, start + length), dtype=np.float32)
    chunks = 2
    plain = np.empty((chunks, o, c, kh, kw), np.float32)
    simd = np.full_like(plain, np.nan)
    correlate_weight_grad(x_wide, dy_wide, start, length, row_width, kh, kw, plain)
    correlate_weight_grad_simd(x_wide, dy_wide, start, length, row_width, kh, kw, simd)
    err = max_relative_difference(simd.astype(np.float64), plain.astype(np.float64))
    assert err < FLOAT32_REL, f"weight gradient: relative error {err:.1e}"


def test_which_sums_use_the_simd_kernels():
    assert uses_simd(32, np.float32) and uses_simd(4, np.float32)
    assert not uses_simd(3, np.float32), "channels must come in blocks of 4"
    assert not uses_simd(32, np.float64), "float32 only"
