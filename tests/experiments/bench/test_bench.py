"""`numpy-adam bench` structure (never its timings): a reduced --quick --json run with torch,
and one in a subprocess where torch cannot be imported (torch keys absent, not faked)."""
import io
import json
import math
import os
import subprocess
import sys
from contextlib import nullcontext

import numpy as np
import pytest

from numpy_adam.experiments.bench import BenchConfig, main, quick_config
from numpy_adam.experiments.bench.report import format_report

TINY = BenchConfig(batch_sizes=(4,), step_rounds=1, breakdown_rounds=1,
                   optimizer_sizes=(1000,), optimizer_rounds=1, bandwidth_elements=10_000,
                   train_steps=0, load_cifar=False)
SECTIONS = {"system", "torch_available", "config", "cnn_step", "layer_breakdown", "conv_floor",
            "conv_algorithms", "bandwidth", "optimizer_core", "optimizer_compute_rate", "cifar10",
            "bench_peak_rss_mb"}


def _run_json(**kwargs) -> dict:
    out = io.StringIO()
    status = main(json=True, quick=True, config=TINY, file=out, **kwargs)
    assert status == 0, f"bench returned {status}"
    return json.loads(out.getvalue())


def _check_common(report: dict) -> None:
    assert SECTIONS <= set(report), f"missing sections: {SECTIONS - set(report)}"
    system = report["system"]
    for key in ("numpy", "numba", "numba_threading_layer", "numba_threads", "blas", "env"):
        assert key in system, f"system lacks {key}: {sorted(system)}"
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_THREAD_TIMEOUT"):
        assert name in system["env"], f"env report lacks {name}"
    (row,) = report["cnn_step"]
    assert row["batch"] == 4 and set(row["ms"]) >= {"numpy", "numpy_plain_layers",
                                                    "numpy_batch_spread",
                                                    "numpy_plain_batch_spread", "numpy_im2col_convs",
                                                    "numpy_direct_convs",
                                                    "numpy_threaded_adam",
                                                    "numpy_without_lanes"}, row
    for key in ("batch_spread_vs_ours", "plain_batch_spread_vs_ours", "im2col_convs_vs_ours", "direct_convs_vs_ours",
                "threaded_adam_vs_ours", "without_lanes_vs_ours"):
        assert np.isfinite(row[key]) and row[key] > 0, (key, row)
    assert row["minor_faults_per_step"]["numpy"] >= 0, row
    assert system["allocator_policy"] in ("applied", "environment", "unsupported"), system
    assert system["lanes"]["count"] >= 1 and system["lanes"]["from_batch"] >= 1, system
    assert all(v > 0 for v in row["ms"].values()), row
    stages = report["layer_breakdown"]["4"]
    assert "conv1 forward" in stages and "adam step (stats)" in stages, sorted(stages)
    (opt,) = report["optimizer_core"]
    assert opt["n"] == 1000 and set(opt["ms"]) >= {"fused+stats", "fused+stats kernel", "fused",
                                                     "numpy"}, opt
    assert set(opt["pct_bandwidth"]) == set(opt["ms"]), opt
    (floor,) = report["conv_floor"]
    assert floor["batch"] == 4 and set(floor["ms"]) >= {"conv GEMMs", "conv GEMMs + im2col/col2im",
                                                    "direct convs", "our convs"}
    algorithms = [(r["batch"], r["layer"], r["direction"]) for r in report["conv_algorithms"]]
    assert algorithms == [(4, "conv1", "forward"), (4, "conv1", "weight grad"),
                          (4, "conv2", "forward"), (4, "conv2", "weight grad"),
                          (4, "conv2", "both grads")], algorithms
    for r in report["conv_algorithms"]:
        assert set(r["ms"]) == {"im2col", "direct", "spectral"} and min(r["ms"].values()) > 0, r
        assert set(r["ratio_vs_im2col"]) == {"direct", "spectral"}, r
        assert min(r["ratio_vs_im2col"].values()) > 0, r
    rate = report["optimizer_compute_rate"]
    assert set(rate["ns_per_element"]) == {"fused+stats kernel", "fused kernel"}, rate
    assert rate["elements"] == [2 ** 15, 2 ** 16], rate
    # a difference of two timings: its sign is not asserted (no timed assertions), only form
    assert all(math.isfinite(v) for v in rate["ns_per_element"].values()), rate
    assert set(rate["floor_ms"]) == set(rate["ns_per_element"]) and rate["n_large"] == 1000, rate
    step = rate["step_floor"]  # the kernel's floor plus one read of g (4 B/element) at bandwidth
    check_ms = 1e3 * 4 * 1000 / (1e9 * report["bandwidth"]["gb_per_s"])
    assert step["check_ms"] == pytest.approx(check_ms, rel=1e-9), (step, report["bandwidth"])
    assert step["ms"] == pytest.approx(rate["floor_ms"]["fused+stats kernel"] + check_ms,
                                       rel=1e-6, abs=1e-9), step
    assert report["bandwidth"]["gb_per_s"] > 0, report["bandwidth"]
    assert report["cifar10"]["load"] == {"skipped": "disabled"}, report["cifar10"]
    assert "skipped" in report["cifar10"]["training_memory"], report["cifar10"]
    text = format_report(report)
    assert "CNN training step" in text and "Optimizer core" in text, text
    assert "| 4 | conv2 | both grads |" in text, text


@pytest.mark.torch
def test_bench_json_with_torch():
    pytest.importorskip("torch")
    report = _run_json()
    _check_common(report)
    assert report["torch_available"] is True and "torch" in report["system"], report["system"]
    assert "own process" in report["baseline_method"], report["baseline_method"]
    (row,) = report["cnn_step"]
    assert "torch" in row["ms"] and set(row["ratio_vs_torch"]) == {"numpy", "numpy_plain_layers"}, row
    assert row["ms"]["torch_same_allocator"] > 0, row
    assert set(row["minor_faults_per_step"]) == {"numpy", "torch", "torch_same_allocator"}, row
    assert row["ours_vs_torch_same_allocator"] == pytest.approx(
        row["ms"]["numpy"] / row["ms"]["torch_same_allocator"], rel=1e-9), row  # one round
    assert "torch, our allocator policy" in format_report(report)
    (opt,) = report["optimizer_core"]
    assert "torch" in opt["ms"] and opt["torch_adam"] in ("fused", "foreach"), opt
    assert "torch" not in opt["speed_vs_torch"], opt["speed_vs_torch"]
    (floor,) = report["conv_floor"]
    assert "torch step" in floor["ms"] and set(floor["ratio_vs_torch_step"]) == {
        "conv GEMMs", "conv GEMMs + im2col/col2im", "direct convs", "our convs"}, floor
    rate = report["optimizer_compute_rate"]
    assert rate["torch_ms"] > 0 and set(rate["best_speed_vs_torch"]) == set(
        rate["ns_per_element"]), rate
    assert math.isfinite(rate["step_floor"]["best_speed_vs_torch"]), rate["step_floor"]


def test_bench_json_without_torch_has_no_torch_columns():
    """A subprocess where `import torch` fails, as on a CI machine without torch."""
    script = (
        "import sys, json, io\n"
        "sys.modules['torch'] = None  # makes `import torch` raise ImportError\n"
        "from numpy_adam.experiments.bench import main, BenchConfig\n"
        f"config = BenchConfig(**{ {k: getattr(TINY, k) for k in TINY.__dataclass_fields__}!r})\n"
        "main(json=True, quick=True, config=config)\n")
    env = dict(os.environ)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, f"bench without torch failed:\n{done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    _check_common(report)
    assert report["torch_available"] is False and "torch" not in report["system"], report["system"]
    (row,) = report["cnn_step"]
    assert "torch" not in row["ms"] and "ratio_vs_torch" not in row, row
    assert "torch_same_allocator" not in row["ms"] and "ours_vs_torch_same_allocator" not in row, row
    assert set(row["minor_faults_per_step"]) == {"numpy"}, row
    (opt,) = report["optimizer_core"]
    assert "torch" not in opt["ms"] and "speed_vs_torch" not in opt, opt
    (floor,) = report["conv_floor"]
    assert "torch step" not in floor["ms"] and "ratio_vs_torch_step" not in floor, floor
    rate = report["optimizer_compute_rate"]
    assert "torch_ms" not in rate and "best_speed_vs_torch" not in rate, rate
    assert "best_speed_vs_torch" not in rate["step_floor"], rate["step_floor"]
    assert "torch: not installed" in format_report(report)


def test_quick_config_is_smaller_and_bad_configs_raise():
    quick, full = quick_config(), BenchConfig()
    assert quick.step_rounds < full.step_rounds and quick.train_steps < full.train_steps, quick
    for kwargs, match in [({"step_rounds": 0}, "step_rounds"), ({"batch_sizes": ()}, "batch_sizes"),
                          ({"batch_sizes": (1,)}, "batch sizes"),
                          ({"train_steps": -1}, "train_steps"),
                          ({"optimizer_sizes": (10, 0)}, "optimizer_sizes")]:
        with pytest.raises(ValueError, match=match):
            BenchConfig(**kwargs)


@pytest.mark.slow
def test_whole_run_throughput_times_both_sides_in_their_own_processes():
    data = os.environ.get("NUMPY_ADAM_DATA")
    if not data or not os.path.isdir(os.path.join(data, "cifar-10-batches-py")):
        pytest.skip("real CIFAR-10 needed: set NUMPY_ADAM_DATA")
    from numpy_adam.experiments.bench.isolated import torch_installed
    from numpy_adam.experiments.bench.whole_run import bench_whole_run

    with_torch = torch_installed()
    result = bench_whole_run(4, 2, data, torch=with_torch)
    assert result["steps"] == 4 and result["batch"] == 100, result
    assert set(result["ms_per_step"]) == ({"ours", "torch"} if with_torch else {"ours"}), result
    assert all(ms > 0 for ms in result["ms_per_step"].values()), result
    assert set(result["minor_faults_per_step"]) == set(result["ms_per_step"]), result
    assert all(n >= 0 for n in result["minor_faults_per_step"].values()), result
    if with_torch:
        assert result["ratio_vs_torch"] == pytest.approx(
            result["ms_per_step"]["ours"] / result["ms_per_step"]["torch"]), result


def test_the_step_without_lanes_never_enters_them():
    from numpy_adam.experiments.bench.cnn_step import numpy_step_fn
    from numpy_adam.models.cifar_cnn_fast import LANES_MIN_BATCH

    _, ours = numpy_step_fn(4)
    _, without = numpy_step_fn(4, lanes=False)
    assert ours.lanes_min_batch == LANES_MIN_BATCH and without.lanes_min_batch is None
    assert isinstance(without.parallel_for(10 ** 6), nullcontext)


def test_threaded_adam_runs_over_threads_and_restores_the_threshold():
    from numpy_adam.experiments.bench.cnn_step import threaded_adam
    from numpy_adam.experiments.bench.optimizer_core import training_adam
    from numpy_adam.models.cifar_cnn_fast import FastCifarCNN
    from numpy_adam.optim import kernels

    before = kernels.PARALLEL_MIN_SIZE
    model = FastCifarCNN(rng=np.random.default_rng(0))
    assert threaded_adam(model.named_parameters())._parallel
    assert kernels.PARALLEL_MIN_SIZE == before
    # as training builds it, the CNN's parameters (fewer than the threshold) stay on one thread
    assert model.flat.data.size < before and not training_adam(model.named_parameters())._parallel
