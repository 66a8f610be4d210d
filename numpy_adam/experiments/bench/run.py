"""Run the bench sections in order and print a table or JSON (see the package docstring)."""
from __future__ import annotations

import json as json_module
import sys

import numba

from numpy_adam.nn.allocator import policy_environment

from .bandwidth import measure_bandwidth
from .cnn_step import bench_cnn_step, layer_breakdown
from .conv_algorithms import bench_conv_algorithms
from .conv_floor import bench_conv_floor
from .config import BenchConfig, full_config, quick_config
from .data import bench_cifar_load, bench_training_memory
from .whole_run import bench_whole_run
from .isolated import METHOD, TorchProcess, torch_installed
from .optimizer_core import bench_compute_rate, bench_optimizer_core
from .report import format_report
from .system import peak_rss_mb, system_info


def run_bench(config: BenchConfig, *, use_torch: bool = True, data_dir=None) -> dict:
    """Every section of the report as a JSON-serialisable dict (keys: see the package doc)."""
    if not isinstance(config, BenchConfig):
        raise TypeError(f"run_bench: config must be a BenchConfig, got {type(config).__name__}")
    threads = numba.config.NUMBA_NUM_THREADS
    with_torch = use_torch and torch_installed()
    torch = TorchProcess(threads) if with_torch else None
    # a second worker under our allocator policy, for the CNN step's like-for-like column
    torch_same_allocator = TorchProcess(threads, policy_environment()) if with_torch else None
    try:
        return _sections(config, torch, torch_same_allocator, data_dir)
    finally:
        for process in (torch, torch_same_allocator):
            if process is not None:
                process.close()


def _sections(config: BenchConfig, torch, torch_same_allocator, data_dir) -> dict:
    report = {"system": system_info(torch.info if torch is not None else None),
              "torch_available": torch is not None,
              "baseline_method": METHOD if torch is not None else None,
              "config": {k: getattr(config, k) for k in config.__dataclass_fields__}}
    report["cnn_step"] = bench_cnn_step(config.batch_sizes, config.step_rounds, torch,
                                        torch_same_allocator)
    if config.breakdown_rounds:
        report["layer_breakdown"] = {str(n): layer_breakdown(n, config.breakdown_rounds)
                                     for n in config.batch_sizes}
        report["conv_floor"] = bench_conv_floor(config.batch_sizes, config.breakdown_rounds, torch)
        report["conv_algorithms"] = bench_conv_algorithms(config.batch_sizes,
                                                          config.breakdown_rounds)
    bandwidth = measure_bandwidth(config.bandwidth_elements)
    report["bandwidth"] = {"gb_per_s": bandwidth / 1e9,
                           "method": "Numba θ += g, m += g, v += g in place, 28 B/element"}
    report["optimizer_core"] = bench_optimizer_core(config.optimizer_sizes, bandwidth,
                                                    config.optimizer_rounds, torch)
    report["optimizer_compute_rate"] = bench_compute_rate(config.optimizer_rounds,
                                                          numba.config.NUMBA_NUM_THREADS,
                                                          max(config.optimizer_sizes), torch,
                                                          bandwidth)
    cifar = {"load": bench_cifar_load(data_dir) if config.load_cifar else {"skipped": "disabled"}}
    cifar["training_memory"] = (bench_training_memory(config.train_steps, data_dir)
                                if config.train_steps else {"skipped": "disabled"})
    if config.whole_run_steps and cifar["load"].get("skipped") is None:
        cifar["whole_run"] = bench_whole_run(config.whole_run_steps,
                                             numba.config.NUMBA_NUM_THREADS, data_dir,
                                             torch=torch is not None)
    else:
        cifar["whole_run"] = {"skipped": "disabled" if not config.whole_run_steps
                              else cifar["load"].get("skipped")}
    report["cifar10"] = cifar
    report["bench_peak_rss_mb"] = peak_rss_mb()
    return report


def main(json: bool = False, quick: bool = False, *, config: BenchConfig | None = None,
         use_torch: bool = True, data_dir=None, file=None) -> int:
    """Run the bench and print it (JSON with ``json=True``); returns the exit status 0.

    config overrides the preset chosen by ``quick`` (tests use a reduced one).
    """
    if config is None:
        config = quick_config() if quick else full_config()
    report = run_bench(config, use_torch=use_torch, data_dir=data_dir)
    out = sys.stdout if file is None else file
    if json:
        json_module.dump(report, out, indent=2)
        out.write("\n")
    else:
        out.write(format_report(report))
    return 0
