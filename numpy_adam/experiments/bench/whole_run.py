"""Whole-run throughput: training steps on real CIFAR-10 at batch 100, ours against PyTorch.

Each side runs in its own process (``python -m`` this module ``ours|torch STEPS``), one after
the other, so neither shares the cores with the other. Both load CIFAR-10 with this project's
loader and walk the same shuffled minibatches (:class:`MinibatchIterator`, seed 0); the clock
covers the training loop, including making each batch (gather and normalise), but not the
load of the data set from disk:

    ours    what ``numpy-adam train`` does per step, minus checkpoints and test evaluation:
            the fast CNN's forward and backward, Adam with the statistics and the element
            sample, the record of the step (:class:`~numpy_adam.records.MetricsLog`)
    torch   the PyTorch twin with the same initial weights, cross-entropy and torch.optim.Adam,
            with our thread count

Each side also reports its minor page faults (``getrusage``) per step: those of the whole call,
building the model and optimizer included, divided by the steps.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

BATCH = 100


def _batches(steps: int, data_dir):
    """A generator of ``steps`` (x, y) minibatches (made as they are asked for)."""
    from numpy_adam.datasets.batches import MinibatchIterator, channel_stats
    from numpy_adam.datasets.cifar10 import load_cifar10

    images, labels = load_cifar10(data_dir, split="train", progress=False)
    mean, std = channel_stats(images)
    it = MinibatchIterator(images, labels, BATCH, rng=np.random.default_rng(0), shuffle=True,
                           drop_last=True, mean=mean, std=std)
    return (it.next_batch() for _ in range(steps))


def _ours(batches) -> float:
    from numpy_adam.models.cifar_cnn_fast import FastCifarCNN
    from numpy_adam.nn.loss import SoftmaxCrossEntropy
    from numpy_adam.optim import Adam
    from numpy_adam.records import MetricsLog

    model = FastCifarCNN(rng=np.random.default_rng(0))
    opt = Adam(model.named_parameters(), lr=1e-3, sample_size=32, sample_seed=0)
    layout = opt.sample_layout
    log = MetricsLog(opt.tracked_names, layout.slot, layout.element, opt.dtype)
    loss_fn = SoftmaxCrossEntropy()
    start = time.perf_counter()
    for t, (x, y) in enumerate(batches, 1):
        loss = loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward())
        opt.step()
        log.append(t, loss, 1e-3, opt.last_stats, opt.last_sample)
    return time.perf_counter() - start


def _torch(batches, threads: int) -> float:
    import torch

    from numpy_adam.models.cifar_cnn import CifarCNN
    from numpy_adam.models.torch_twin import torch_cifar_cnn

    torch.set_num_threads(threads)
    ours = CifarCNN(rng=np.random.default_rng(0))
    twin = torch_cifar_cnn(torch)
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    F = torch.nn.functional
    start = time.perf_counter()
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
    return time.perf_counter() - start


def _child(side: str, steps: int, threads: int, data_dir) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    args = [sys.executable, "-m", "numpy_adam.experiments.bench.whole_run", side, str(steps),
            str(threads)] + ([str(data_dir)] if data_dir else [])
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"whole-run bench ({side}) failed: {done.stderr[-1000:]}")
    return json.loads(done.stdout)


def bench_whole_run(steps: int, threads: int, data_dir=None, torch: bool = True) -> dict:
    """{"steps", "batch", "ms_per_step": {"ours", "torch"?}, "minor_faults_per_step": {…},
    "ratio_vs_torch"?} for ``steps`` training steps at batch 100 (500 = one epoch), each side
    in its own process."""
    result = {"steps": int(steps), "batch": BATCH, "ms_per_step": {}, "minor_faults_per_step": {}}
    for side in ("ours", "torch") if torch else ("ours",):
        child = _child(side, steps, threads, data_dir)
        result["ms_per_step"][side] = 1e3 * child["seconds"] / steps
        result["minor_faults_per_step"][side] = child["minor_faults"] / steps
    if torch:
        result["ratio_vs_torch"] = result["ms_per_step"]["ours"] / result["ms_per_step"]["torch"]
    return result


if __name__ == "__main__":
    side, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    batches = _batches(steps, sys.argv[4] if len(sys.argv) > 4 else None)
    from numpy_adam.experiments.bench.system import minor_faults
    faults = minor_faults()
    seconds = _ours(batches) if side == "ours" else _torch(batches, threads)
    faults = minor_faults() - faults
    print(json.dumps({"seconds": seconds, "minor_faults": faults}))
