"""The PyTorch side of the bench, in its own process (``python -m`` this module).

Two libraries timed in one process disturb each other: after a call, OpenBLAS's and OpenMP's
worker threads keep spinning for a while and take cores from whatever runs next, so in-process
ratios depend on the order of the candidates. Here PyTorch runs alone in this process, and the
bench (:mod:`.isolated`) asks it for one timing at a time while its own threads are idle.

Protocol: one JSON object per line on stdin, one reply per line on stdout.

    {"threads": T}                                  → {"torch": version, "threads": T}
    {"kind": "cnn_step", "batch": n, "inner": k, "warm_seconds": w}
                                                    → {"seconds": s, "minor_faults": f}
    {"kind": "adam", "n": n, "inner": k, "warm_seconds": w}
                                                    → {"seconds": s, "minor_faults": f,
                                                       "adam": "fused"|"foreach"}

Each timing runs ``inner`` calls after untimed ones for ``warm_seconds`` (at least one, and
one when it is left out: :func:`.timing.warm_up`), so the worker's own threads are awake and
it runs in its steady state, as in a training loop, and replies with seconds and minor page
faults (``getrusage``) per call. Setups are built on first
use and kept: the CNN twin loaded with the weights of ``CifarCNN(rng=default_rng(0))`` (the
bench's model) and the batch of ``cnn_step._batch``; Adam's θ and g as
``optimizer_core`` draws them.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np


def _cnn_step(torch, n: int):
    from numpy_adam.models.cifar_cnn import CifarCNN
    from numpy_adam.models.torch_twin import torch_cifar_cnn

    from .cnn_step import _batch

    model = CifarCNN(rng=np.random.default_rng(0))
    twin = torch_cifar_cnn(torch, model.channels, model.kernel_size, model.hidden,
                           model.num_classes, model.image_size)
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    x, labels = _batch(model, n, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
    F = torch.nn.functional

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(twin(xt), yt).backward()
        opt.step()

    return step, None


def _adam(torch, n: int):
    from .optimizer_core import BETA1, BETA2, EPS, LR

    rng = np.random.default_rng(n)
    theta0 = rng.standard_normal(n, dtype=np.float32)
    g0 = rng.standard_normal(n, dtype=np.float32)
    p = torch.nn.Parameter(torch.from_numpy(theta0))
    p.grad = torch.from_numpy(g0)
    try:
        opt = torch.optim.Adam([p], lr=LR, betas=(BETA1, BETA2), eps=EPS, fused=True)
        opt.step()
        return opt.step, "fused"
    except (RuntimeError, TypeError, ValueError):
        opt = torch.optim.Adam([p], lr=LR, betas=(BETA1, BETA2), eps=EPS, foreach=True)
        return opt.step, "foreach"


SETUPS = {"cnn_step": (_cnn_step, "batch"), "adam": (_adam, "n")}


def main() -> int:
    import torch

    from .system import minor_faults
    from .timing import warm_up

    cache = {}
    for line in sys.stdin:
        request = json.loads(line)
        if "threads" in request:
            torch.set_num_threads(int(request["threads"]))
            reply = {"torch": torch.__version__, "threads": torch.get_num_threads()}
        else:
            build, size_key = SETUPS[request["kind"]]
            key = (request["kind"], request[size_key])
            if key not in cache:
                cache[key] = build(torch, int(request[size_key]))
            fn, variant = cache[key]
            warm_up(fn, float(request.get("warm_seconds", 0.0)))  # module doc
            inner = int(request["inner"])
            faults = minor_faults()
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            reply = {"seconds": (time.perf_counter() - start) / inner,
                     "minor_faults": (minor_faults() - faults) / inner}
            if variant is not None:
                reply["adam"] = variant
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
