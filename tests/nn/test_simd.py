"""The eight-lane float32 operations of numpy_adam.nn.simd, lane by lane against NumPy."""
import numpy as np
import pytest
from numba import njit

from numpy_adam.nn.simd import LANES, fma8, hsum8, load8, splat8, store8


@njit
def _axpy_blocks(a, x, y, out):
    """out[i:i+8] = a·x[i:i+8] + y[i:i+8] for every block of 8, via load8/splat8/fma8/store8."""
    for i in range(0, x.shape[0], LANES):
        store8(out, i, fma8(splat8(a), load8(x, i), load8(y, i)))


@njit
def _lane_sums(x, sums):
    for k in range(sums.shape[0]):
        sums[k] = hsum8(load8(x, k * LANES))


def test_load_fma_store_match_numpy_lane_by_lane():
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal(4 * LANES, dtype=np.float32) for _ in range(2))
    out = np.full_like(x, np.nan)
    _axpy_blocks(np.float32(1.5), x, y, out)
    # a fused multiply-add rounds once: compare with the product and sum formed in float64
    expected = (1.5 * x.astype(np.float64) + y).astype(np.float32)
    np.testing.assert_array_equal(out, expected)


def test_loads_and_stores_at_unaligned_offsets_touch_only_their_eight_lanes():
    x = np.arange(20, dtype=np.float32)
    out = np.zeros(20, dtype=np.float32)

    @njit
    def copy_from_3_to_5(x, out):
        store8(out, 5, load8(x, 3))

    copy_from_3_to_5(x, out)
    np.testing.assert_array_equal(out, np.r_[np.zeros(5), np.arange(3, 11), np.zeros(7)])


def test_hsum8_adds_the_lanes_in_the_documented_order():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(3 * LANES, dtype=np.float32) * np.float32(1e4)
    sums = np.empty(3, dtype=np.float32)
    _lane_sums(x, sums)
    for k, lanes in enumerate(x.reshape(3, LANES)):
        v = [np.float32(a) for a in lanes]
        expected = ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]))
        assert sums[k] == expected, (k, sums[k], expected)


def test_load8_refuses_arrays_that_are_not_1d_float32():
    @njit
    def first_lanes(a):
        return hsum8(load8(a, 0))

    with pytest.raises(TypeError, match="load8: expected a 1-D float32 array"):
        first_lanes(np.zeros(8))  # float64
    with pytest.raises(TypeError, match="load8: expected a 1-D float32 array"):
        first_lanes(np.zeros((2, 8), dtype=np.float32))
