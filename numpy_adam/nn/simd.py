"""Eight float32 lanes as one Numba value, for kernels that must keep sums in registers.

Why this exists. A convolution's inner loop is a multiply-add whose sum should stay in a
register across hundreds of taps. Numba's loops cannot say that: a sum kept in an array is
stored and reloaded on every tap (the compiler cannot prove the array does not overlap the
inputs), and LLVM does not pack scalar sums into vectors on its own. With a value type of
eight lanes, a kernel names its accumulators as local variables, which LLVM keeps in vector
registers; each operation below is one LLVM vector instruction (on AVX2 machines, one
``vmovups``/``vbroadcastss``/``vfmadd`` on a 256-bit register).

    float32x8                 the type: LLVM's <8 x float>
    load8(a, i) → v           v = a[i : i+8]        (a: 1-D float32 array, unit stride)
    store8(a, i, v)           a[i : i+8] = v
    splat8(s) → v             v = (s, s, …, s)
    fma8(a, b, c) → v         v = a·b + c, lane by lane, rounded once (llvm.fma)
    hsum8(v) → s              s = v₀ + v₁ + … + v₇  (as ((v₀+v₄)+(v₂+v₆)) + ((v₁+v₅)+(v₃+v₇)))

Bounds are the caller's job: load8/store8 do not check that i + 8 ≤ len(a). These work only
compiled; under NUMBA_DISABLE_JIT callers must use their plain twins. Tested lane by lane
against NumPy in tests/nn/test_simd.py. Numba's on-disk cache of a kernel that uses them
checks only the kernel's own file: after editing this one, delete the ``*.nbi``/``*.nbc``
files in ``numpy_adam/nn/__pycache__``.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = 8
_VECTOR = ir.VectorType(ir.FloatType(), LANES)
_INDEX = ir.IntType(32)


class Float32x8(types.Type):
    """The Numba type of an eight-lane float32 vector value."""

    def __init__(self):
        super().__init__(name="float32x8")


float32x8 = Float32x8()


@register_model(Float32x8)
class _Float32x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VECTOR)


def _check_array(arr, name: str) -> None:
    """Typing-time check: a 1-D float32 array (any layout whose last stride is 1 at run time)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.float32):
        raise TypeError(f"{name}: expected a 1-D float32 array, got {arr}")


def _address(context, builder, array_type, array, index):
    """Pointer to element ``index`` of a unit-stride 1-D array."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), _VECTOR.as_pointer())


@intrinsic
def load8(typingctx, arr, index):
    _check_array(arr, "load8")

    def codegen(context, builder, sig, args):
        return builder.load(_address(context, builder, sig.args[0], args[0], args[1]), align=4)
    return float32x8(arr, types.intp), codegen


@intrinsic
def store8(typingctx, arr, index, value):
    _check_array(arr, "store8")

    def codegen(context, builder, sig, args):
        builder.store(args[2], _address(context, builder, sig.args[0], args[0], args[1]), align=4)
        return context.get_dummy_value()
    return types.void(arr, types.intp, float32x8), codegen


@intrinsic
def splat8(typingctx, scalar):
    def codegen(context, builder, sig, args):
        value = context.cast(builder, args[0], sig.args[0], types.float32)
        one = builder.insert_element(ir.Constant(_VECTOR, ir.Undefined), value, _INDEX(0))
        return builder.shuffle_vector(one, ir.Constant(_VECTOR, ir.Undefined),
                                      ir.Constant(ir.VectorType(_INDEX, LANES), [0] * LANES))
    return float32x8(scalar), codegen


@intrinsic
def fma8(typingctx, a, b, c):
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_VECTOR, [_VECTOR] * 3), "llvm.fma.v8f32")
        return builder.call(fn, list(args))
    return float32x8(float32x8, float32x8, float32x8), codegen


@intrinsic
def hsum8(typingctx, value):
    def codegen(context, builder, sig, args):
        lanes = [builder.extract_element(args[0], _INDEX(k)) for k in range(LANES)]
        while len(lanes) > 1:  # pairs lane k with lane k + half, halving until one is left
            half = len(lanes) // 2
            lanes = [builder.fadd(lanes[k], lanes[k + half]) for k in range(half)]
        return lanes[0]
    return types.float32(float32x8), codegen
