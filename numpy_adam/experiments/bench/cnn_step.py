"""CNN training step (forward, loss, backward, Adam with statistics), ours vs PyTorch.

Both sides: CifarCNN(channels=(16, 32), kernel_size=5, hidden=128), float32, the same
weights, random CIFAR-shaped batches of size N, cross-entropy, Adam(lr=1e-3), no gradient
for the input images (ours: ``input_grad=False``; torch: x without requires_grad); PyTorch with
``torch.set_num_threads`` equal to ours (Numba's thread count). Steps are timed in
interleaved rounds (:mod:`.timing`); ``ratio`` is the median over rounds of ours/torch.

The per-layer breakdown times the stages of the fused path (the one training uses) in the
same interleaved way: conv (im2col + GEMM), the fused BN+ReLU+pool stage, the classifier
(fc1, bn3, relu3, fc2), each forward and backward, and the optimizer step.
"""
from __future__ import annotations

import numpy as np

from numpy_adam.models.cifar_cnn import CifarCNN
from numpy_adam.nn.loss import SoftmaxCrossEntropy
from numpy_adam.optim import Adam

from .timing import interleaved_medians, median_ms, ratios_to


def _batch(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3, 32, 32), dtype=np.float32)  # (N, 3, 32, 32)
    labels = rng.integers(0, 10, size=n)                        # (N,)
    return x, labels


def numpy_step_fn(n: int, fused: bool = True):
    """A zero-argument callable doing one full training step of our CNN at batch n."""
    model = CifarCNN(rng=np.random.default_rng(0), fused=fused, input_grad=False)
    opt = Adam(model.named_parameters(), lr=1e-3)
    loss = SoftmaxCrossEntropy()
    x, labels = _batch(n, 1)

    def step():
        loss.forward(model.forward(x), labels)
        model.backward(loss.backward())
        opt.step()  # with statistics, as training does

    return step, model


def torch_step_fn(torch, n: int, state_dict):
    """The same step in PyTorch (fresh twin loaded with our weights)."""
    from numpy_adam.models.torch_twin import torch_cifar_cnn

    F = torch.nn.functional
    twin = torch_cifar_cnn(torch)
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()})
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    x, labels = _batch(n, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(twin(xt), yt).backward()
        opt.step()

    return step


def batch_rows(batch_sizes, candidates_for, baseline: str | None, ratio_key: str,
               rounds: int) -> list[dict]:
    """One row {"batch": n, "ms": {name: median ms}, ratio_key: {name: median ratio}} per
    batch size n, timing ``candidates_for(n)`` (name -> callable) in interleaved rounds; the
    ratios to ``baseline`` only when it is given (None: torch absent, no ratios)."""
    rows = []
    for n in batch_sizes:
        # 3 steps per timing after a 0.3 s pause: each library runs with its own warm
        # threads, as in a training loop, not against the other's spinning ones
        times = interleaved_medians(candidates_for(n), rounds=rounds, inner=3, settle=0.3)
        row = {"batch": int(n), "ms": median_ms(times)}
        if baseline is not None:
            row[ratio_key] = ratios_to(times, baseline)
        rows.append(row)
    return rows


def bench_cnn_step(batch_sizes, rounds: int, torch=None) -> list[dict]:
    """One row per batch size: ms/step ours (fused path, and plain layers), torch, ratio."""
    def candidates_for(n):
        ours, model = numpy_step_fn(n, fused=True)
        plain, _ = numpy_step_fn(n, fused=False)
        candidates = {"numpy": ours, "numpy_plain_layers": plain}
        if torch is not None:
            candidates["torch"] = torch_step_fn(torch, n, model.state_dict())
        return candidates

    return batch_rows(batch_sizes, candidates_for, "torch" if torch is not None else None,
                      "ratio_vs_torch", rounds)


def layer_breakdown(n: int, rounds: int) -> dict:
    """Median ms of each stage of the fused path at batch n, forward and backward.

    Runs one step stage by stage per round (so each stage sees realistic caches).
    Output: {stage name: ms}, stage order = execution order; "total" is their sum.
    """
    import time

    model = CifarCNN(rng=np.random.default_rng(0), input_grad=False)
    opt = Adam(model.named_parameters(), lr=1e-3)
    loss = SoftmaxCrossEntropy()
    x, labels = _batch(n, 1)
    times: dict[str, list[float]] = {}

    def timed(name, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        times.setdefault(name, []).append(time.perf_counter() - start)
        return out

    def classifier_forward(h):
        return model.fc2(model.relu3(model.bn3(model.fc1(h))))

    def classifier_backward(d):
        return model.fc1.backward(model.bn3.backward(model.relu3.backward(model.fc2.backward(d))))

    for r in range(rounds + 2):
        model.forward(x)  # sets up the fused stages; its timing is not used
        model.backward(np.zeros((n, 10), np.float32))
        b1, b2 = model._block1, model._block2
        h = timed("conv1 forward", lambda a: model.conv1.forward_cn(
            np.ascontiguousarray(a.transpose(1, 0, 2, 3))), x)
        h = timed("bn1+relu+pool forward", b1.forward, h)
        h = timed("conv2 forward", model.conv2.forward_cn, h)
        h = timed("bn2+relu+pool forward", b2.forward, h)
        h = timed("flatten (transpose)", lambda a: a.transpose(1, 0, 2, 3).reshape(n, -1), h)
        h = timed("fc1+bn3+relu+fc2 forward", classifier_forward, h)
        loss.forward(h, labels)
        d = timed("fc2+relu+bn3+fc1 backward", classifier_backward, loss.backward())
        d = timed("unflatten (transpose)", lambda a: np.ascontiguousarray(
            a.reshape(n, 32, 64).transpose(1, 0, 2)).reshape(32, n, 8, 8), d)
        d = timed("bn2+relu+pool backward", b2.backward, d)
        d = timed("conv2 backward", model.conv2.backward_cn, d)
        d = timed("bn1+relu+pool backward", b1.backward, d)
        timed("conv1 backward (no dx)", model.conv1.backward_cn, d, False)
        timed("adam step (stats)", opt.step)
        if r < 2:  # warmup rounds
            times.clear()
    result = median_ms(times)
    result["total"] = float(sum(result.values()))
    return result
