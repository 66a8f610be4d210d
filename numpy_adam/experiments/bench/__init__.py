"""``numpy-adam bench``: measure, side by side in one process, what the issue's targets name.

Sections (each a key of the JSON report):

    system          BLAS library/kernel, thread counts, Numba threading layer, OpenBLAS env
    cnn_step        ms per training step at batch 16 and 100, ours vs PyTorch (ratio)
    layer_breakdown per-stage ms of our step (fused path) at each batch size
    conv_floor      the step's conv work alone per design (im2col's GEMMs without and with
                    im2col/col2im, the direct convs, our convs) vs PyTorch's whole step:
                    the floor of each design (:mod:`.conv_floor`)
    conv_algorithms each conv and direction: im2col + GEMM, the direct and the spectral
                    convolution (:mod:`.conv_algorithms`)
    bandwidth       the bandwidth limit of an Adam step (GB/s), measured (:mod:`.bandwidth`)
    optimizer_core  Adam on 10⁵, 10⁶, 10⁷ float32 elements five ways: ms, elements/s,
                    % of that bandwidth, speed vs torch's fused Adam
    optimizer_compute_rate  the Adam kernel's arithmetic on one core in cache (ns/element)
                    and the floor it sets at 10⁷ elements, for the kernel and for the whole
                    Adam.step() with statistics, vs torch in the same rounds
    cifar10         CIFAR-10 load time and peak RSS of a short real-data training run

PyTorch columns appear only when torch imports; nothing is estimated in its absence.

    from numpy_adam.experiments.bench import main
    main(json=True, quick=True)      # what `numpy-adam bench --json --quick` runs
"""
from __future__ import annotations

from .config import BenchConfig, full_config, quick_config
from .run import main, run_bench

__all__ = ["main", "run_bench", "BenchConfig", "quick_config", "full_config"]
