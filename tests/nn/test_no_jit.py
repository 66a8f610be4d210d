"""The fast tier also passes its tests as plain Python (NUMBA_DISABLE_JIT=1): the Numba
kernels stage by stage against the reference layers (tests/nn/test_fast_tier.py), and the
tiny FastCifarCNN against CifarCNN (float64 and float32, train and eval, image_size 8) in
tests/models/test_cifar_cnn_fast.py. In a subprocess, so this process keeps its compiled
kernels; the CIFAR-size cases are left out (Python loops over 32×32 images are slow)."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FILES = ["tests/nn/test_fast_tier.py", "tests/models/test_cifar_cnn_fast.py"]

# The child first makes sure the kernels really are plain Python functions.
SCRIPT = """
import sys
import pytest
from numpy_adam.nn import fast_kernels
assert type(fast_kernels.im2col_cn).__name__ == "function", type(fast_kernels.im2col_cn)
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_fast_tier_tests_pass_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    cmd = [sys.executable, "-c", SCRIPT, "-v", "-p", "no:cacheprovider", "-x",
           "-k", "not cifar_size", *FILES]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
    assert result.returncode == 0, f"tests failed under NUMBA_DISABLE_JIT=1:\n{tail}"
    assert " passed" in result.stdout and " skipped" not in result.stdout, tail
    whole_network = [line for line in result.stdout.splitlines()
                     if "test_whole_network_matches_the_reference[" in line and "PASSED" in line]
    assert len(whole_network) == 4, f"the tiny network in float64/32, train/eval:\n{tail}"
