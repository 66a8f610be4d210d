"""No compiled optimizer kernel reads a setting that is changed at run time.

Numba compiles a module global into the machine code as a constant, and ``cache=True`` writes
that code to ``__pycache__`` keyed by the function and its argument types only. A setting
patched while a kernel first compiles (the ``small_chunks`` fixture shrinks CHUNK_SIZE to 7
elements) is then frozen into every later process that loads the cache. It was: after
``pytest tests/optim``, the NaN/Inf check that every ``Adam.step()`` runs first was loaded
from the cache with 7-element chunks, and the step over 10⁷ elements took 18.7–19.9 ms
instead of 10–14 ms (results unchanged, so no other test saw it). The settings below are
read by the Python callers at call time and passed in.
"""
import os

import pytest
from numba.core.registry import CPUDispatcher

from numpy_adam.optim import kernels, kernels_rms, kernels_sign

RUN_TIME_SETTINGS = {"CHUNK_SIZE", "PARALLEL_MIN_SIZE"}  # patched by tests, read per call


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is compiled")
@pytest.mark.parametrize("module", [kernels, kernels_rms, kernels_sign],
                         ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_no_compiled_kernel_reads_a_run_time_setting(module):
    compiled = {name: f for name, f in vars(module).items() if isinstance(f, CPUDispatcher)}
    assert compiled, f"{module.__name__} has no compiled kernels to check"
    readers = {name: sorted(RUN_TIME_SETTINGS & set(f.py_func.__code__.co_names))
               for name, f in compiled.items()}
    assert not any(readers.values()), {k: v for k, v in readers.items() if v}
