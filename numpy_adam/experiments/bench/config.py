"""How much the bench measures: sizes, rounds and the real-data run length."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchConfig:
    """Every knob of one bench run (all positive ints / tuples of positive ints).

    batch_sizes: CNN step batch sizes; step_rounds: interleaved rounds per batch size
    breakdown_rounds: rounds of the per-stage breakdown (0: skip the breakdown)
    optimizer_sizes: element counts of the optimizer-core rows; optimizer_rounds: rounds
    bandwidth_elements: float32 elements per array of the bandwidth measurement (the
        largest optimizer size, so both run from the same level of the memory hierarchy)
    train_steps: steps of the real-data memory run (0: skip it); load_cifar: time the load
    whole_run_steps: training steps of the whole-run throughput row at batch 100 (500: one
        epoch; 0: skip it), ours and PyTorch each in its own process (:mod:`.whole_run`)
    """

    batch_sizes: tuple[int, ...] = (16, 100)
    step_rounds: int = 30
    breakdown_rounds: int = 15
    optimizer_sizes: tuple[int, ...] = (10**5, 10**6, 10**7)
    optimizer_rounds: int = 15
    bandwidth_elements: int = 10_000_000
    train_steps: int = 50
    load_cifar: bool = True
    whole_run_steps: int = 500

    def __post_init__(self):
        for name in ("step_rounds", "optimizer_rounds", "bandwidth_elements"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"BenchConfig: {name} must be a positive int, got {value!r}")
        for name in ("breakdown_rounds", "train_steps", "whole_run_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"BenchConfig: {name} must be a non-negative int, got {value!r}")
        for name in ("batch_sizes", "optimizer_sizes"):
            value = getattr(self, name)
            if not value or not all(isinstance(v, int) and v > 0 for v in value):
                raise ValueError(f"BenchConfig: {name} must be a non-empty tuple of positive "
                                 f"ints, got {value!r}")
        if any(b < 2 for b in self.batch_sizes):
            raise ValueError(f"BenchConfig: batch sizes must be >= 2 (batchnorm), "
                             f"got {self.batch_sizes}")


def full_config() -> BenchConfig:
    """The default `numpy-adam bench` (about 5 minutes on 2 cores)."""
    return BenchConfig()


def quick_config() -> BenchConfig:
    """`--quick`: the same sections with fewer rounds (about 5 minutes on 2 cores, against
    about 14 for the full rounds)."""
    return BenchConfig(step_rounds=8, breakdown_rounds=4, optimizer_rounds=5, train_steps=10,
                       whole_run_steps=100)
