"""``numpy-adam bench``: measure, side by side in one process, what the issue's targets name.

Sections (each a key of the JSON report):

    system          BLAS library/kernel, thread counts, Numba threading layer, OpenBLAS env
    cnn_step        ms per training step at batch 16 and 100, ours vs PyTorch (ratio)
    layer_breakdown per-stage ms of our step (fused path) at each batch size
    optimizer_core  Adam on 10⁵, 10⁶, 10⁷ float32 elements: ms, elements/s, % of bandwidth
    bandwidth       the measured memory bandwidth (GB/s) those percentages refer to
    cifar10         CIFAR-10 load time and peak RSS of a short real-data training run

PyTorch columns appear only when torch imports; nothing is estimated in its absence.

    from numpy_adam.bench import main
    main(json=True, quick=True)      # what `numpy-adam bench --json --quick` runs
"""
from __future__ import annotations

from .config import BenchConfig, full_config, quick_config
from .run import main, run_bench

__all__ = ["main", "run_bench", "BenchConfig", "quick_config", "full_config"]
