"""A passive probe: Adam's moments for an optimizer that has none (SGD).

SGD keeps no v, so it has no m̂, v̂, σ̂ or γ of its own. To plot an SGD run on the same axes as
an Adam run, the probe keeps, beside the optimizer and without influencing it, the two EMAs
Adam would keep of the gradient d_t that the optimizer actually uses (L2 decay included):

    m_p,0 = v_p,0 = 0
    m_p,t ← β1 m_p,t−1 + (1 − β1) d_t
    v_p,t ← β2 v_p,t−1 + (1 − β2) d_t²
    m̂_p,t = m_p,t/(1 − β1^t),   v̂_p,t = v_p,t/(1 − β2^t)

with the (β1, β2) of the Adam run being compared. Its m̂, v̂ feed the statistics of
:mod:`.stats`; ``update`` is still the optimizer's own |Δθ|/α. The probe counts steps with the
optimizer's t and is updated on every step (statistics or not), inside the SGD kernel's pass.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .stats import bias_corrections
from .validation import check_betas


def probe_update(d, m, v, beta1: float, beta2: float):
    """The box above on (P,) arrays of one dtype (scalars cast to it); returns m_p,t, v_p,t.

    The bias corrections are those of the statistics (:func:`~.stats.spread_stats`).
    """
    dt = d.dtype.type
    m = dt(beta1) * m + dt(1.0 - beta1) * d                # m_p,t
    v = dt(beta2) * v + dt(1.0 - beta2) * d * d            # v_p,t
    return m, v


class SpreadProbe:
    """The probe's state: β1, β2 and the EMAs m (P,), v (P,) in the parameters' dtype.

    betas: (β1, β2), each in [0, 1), validated with the argument name ``probe_betas``
    size, dtype: P and the dtype of the flat buffer
    """

    def __init__(self, betas, size: int, dtype, owner: str = "SpreadProbe"):
        self.beta1, self.beta2 = check_betas(betas, owner, name="probe_betas")
        self.m = np.zeros(size, dtype=dtype)  # (P,)
        self.v = np.zeros(size, dtype=dtype)  # (P,)

    @property
    def betas(self) -> tuple[float, float]:
        return self.beta1, self.beta2

    def bias_corrections(self, t: int) -> tuple[float, float]:
        """c1 = 1/(1 − β1^t), c2 = 1/(1 − β2^t) in float64, for step t ≥ 1."""
        return bias_corrections(self.beta1, self.beta2, t)


class ProbeScalars(NamedTuple):
    """The probe's scalars of step t, as :func:`~.kernels.sgd_step_kernel` takes them."""

    beta1: float            # β1, in the state dtype (as the next three)
    one_minus_beta1: float  # 1 − β1
    beta2: float            # β2
    one_minus_beta2: float  # 1 − β2
    c1_stats: float         # 1/(1 − β1^t) in float64, for the statistics
    c2_stats: float         # 1/(1 − β2^t) in float64
    active: bool            # False: no probe (the β's are 0 and nothing is read)


def probe_scalars(probe: SpreadProbe | None, t: int, dtype) -> ProbeScalars:
    """The scalars of step t ≥ 1 for a state of ``dtype``; inert ones when ``probe`` is None."""
    dt = np.dtype(dtype).type
    beta1, beta2 = probe.betas if probe is not None else (0.0, 0.0)
    c1, c2 = probe.bias_corrections(t) if probe is not None else (1.0, 1.0)
    return ProbeScalars(dt(beta1), dt(1.0 - beta1), dt(beta2), dt(1.0 - beta2), np.float64(c1),
                        np.float64(c2), probe is not None)
