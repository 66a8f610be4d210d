"""The allocator policy (numpy_adam/nn/allocator.py): in a fresh process, a loop that allocates
and frees step-sized arrays page-faults its memory back in every round without the policy, and
not with it; the environment's malloc settings win; FastCifarCNN applies it."""
import os
import platform
import subprocess
import sys

import pytest

from numpy_adam.nn.allocator import malloc_set_by_environment

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc malloc setting")

# Six 6 MB arrays per round, like a step's activations: all freed at the round's end, so the
# heap's top holds 36 MB free — above glibc's default trim threshold. Prints the minor page
# faults of the last round and what keep_freed_memory returned.
SCENARIO = """
import resource, sys
import numpy as np
how = sys.argv[1]
outcome = "not called"
if how == "policy":
    from numpy_adam.nn.allocator import keep_freed_memory
    outcome = keep_freed_memory()
elif how == "model":
    from numpy_adam.models.cifar_cnn_fast import FastCifarCNN
    FastCifarCNN(rng=np.random.default_rng(0))
    from numpy_adam.nn import allocator
    outcome = allocator.keep_freed_memory()

def one_round():
    arrays = [np.ones(1_500_000, dtype=np.float32) for _ in range(6)]
    return sum(float(a[-1]) for a in arrays)

for _ in range(3):
    one_round()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
one_round()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, outcome)
"""


def run_scenario(how: str, **env) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, "-c", SCENARIO, how], env={**clean, **env},
                          capture_output=True, text=True, timeout=120, check=True)
    faults, outcome = done.stdout.split(maxsplit=1)
    return int(faults), outcome.strip()


def test_environment_detection():
    assert not malloc_set_by_environment({})
    assert not malloc_set_by_environment({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F"})
    assert malloc_set_by_environment({"MALLOC_TRIM_THRESHOLD_": "1000000"})
    assert malloc_set_by_environment({"MALLOC_MMAP_THRESHOLD_": "1"})
    assert malloc_set_by_environment({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"})
    assert not malloc_set_by_environment({"MALLOC_TOP_PAD_": ""})  # empty means unset


@glibc_only
def test_policy_stops_the_page_faults_of_repeated_rounds():
    without, outcome = run_scenario("none")
    assert outcome == "not called"
    # 36 MB touched afresh (8800 pages of 4 KiB); glibc reuses part of it, and about 3000
    # faults remain per round here: the scenario does provoke the behaviour
    assert without > 1000
    with_policy, outcome = run_scenario("policy")
    assert outcome == "applied"
    assert with_policy < 200  # the freed heap is reused: interpreter noise only


@glibc_only
def test_fast_model_applies_the_policy():
    faults, outcome = run_scenario("model")
    assert outcome == "applied"
    assert faults < 200


@glibc_only
def test_environment_settings_win():
    faults, outcome = run_scenario("policy", MALLOC_TRIM_THRESHOLD_="131072")
    assert outcome == "environment"
    assert faults > 1000  # the environment's small trim threshold is in force, not ours
