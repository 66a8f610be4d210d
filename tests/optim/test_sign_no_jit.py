"""The sign-family and M-SVAG kernels also pass their tests as plain Python
(NUMBA_DISABLE_JIT=1), in a subprocess so this process keeps its compiled kernels."""
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FILES = ["test_sign_kernels_vs_reference.py"]


def test_sign_kernel_tests_pass_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
           *[str(HERE / f) for f in FILES]]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
    assert result.returncode == 0, f"tests failed under NUMBA_DISABLE_JIT=1:\n{tail}"
    assert " passed" in result.stdout and " skipped" not in result.stdout, tail
