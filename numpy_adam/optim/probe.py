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
optimizer's t and is updated on every step (statistics or not), inside the optimizer's kernel
pass. SGD, the sign methods, Lion, RMSprop and Adagrad carry it the same way, through
:class:`ProbedOptimizer`.
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


class ProbedOptimizer:
    """The probe as state hooks of :class:`~.optimizer.FlatOptimizer`, for an optimizer without
    m̂, v̂ of its own (SGD, SignSGD, Signum, Lion, RMSprop, Adagrad).

    ``probe_betas`` is saved beside the groups and the probe's m, v as the arrays ``probe_m``,
    ``probe_v``. A class lists its own state arrays, which are also its attribute names, in
    ``_STATE``, and those its groups need in ``_own_array_names(hparams)``. The probe is one for
    the whole optimizer, not per group: it watches d_t, whatever each group does with it.
    """

    _STATE: tuple[str, ...] = ()
    _UNSET = object()

    def _init_probe(self, probe_betas, owner: str) -> None:
        """Called by the constructor before FlatOptimizer's (which builds the state)."""
        self.probe_betas = (None if probe_betas is None
                            else check_betas(probe_betas, owner, name="probe_betas"))
        self.probe = None
        for name in self._STATE:
            setattr(self, name, None)

    def _make_probe(self, betas) -> SpreadProbe | None:
        if betas is None:
            return None
        return SpreadProbe(betas, self.flat.data.shape[0], self.dtype, owner=type(self).__name__)

    # -- state format hooks ----------------------------------------------------------
    def _array_names(self, hparams: list, probe_betas=_UNSET) -> tuple[str, ...]:
        betas = self.probe_betas if probe_betas is self._UNSET else probe_betas
        return self._own_array_names(hparams) + (("probe_m", "probe_v") if betas is not None
                                                 else ())

    def _arrays(self) -> dict:
        arrays = {name: getattr(self, name) for name in self._STATE
                  if getattr(self, name) is not None}
        if self.probe is not None:
            arrays.update(probe_m=self.probe.m, probe_v=self.probe.v)
        return arrays

    def _set_arrays(self, arrays: dict) -> None:
        for name in self._STATE:
            setattr(self, name, arrays.get(name))
        self.probe = self._make_probe(self.probe_betas)
        if self.probe is not None:
            self.probe.m, self.probe.v = arrays["probe_m"], arrays["probe_v"]

    def _extra_state(self) -> dict:
        betas = self.probe_betas
        return {"probe_betas": None if betas is None else list(betas)}

    def _load_extra_state(self, state_dict, owner: str) -> dict:
        betas = state_dict.get("probe_betas")
        return {"probe_betas": None if betas is None
                else check_betas(betas, owner, name="probe_betas")}

    def _commit_extra_state(self, extra: dict) -> None:
        self.probe_betas = extra["probe_betas"]

    # -- the step --------------------------------------------------------------------
    def _probe_arguments(self, t: int) -> tuple:
        """(probe_m, probe_v, ProbeScalars of step t) for a kernel call; empty arrays and inert
        scalars without a probe."""
        probe, empty = self.probe, self._empty
        return (probe.m if probe is not None else empty, probe.v if probe is not None else empty,
                probe_scalars(probe, t, self.dtype))

    def _has_spread(self) -> bool:
        return self.probe is not None

    def _spread_moments(self, t: int, hparams: list):
        probe = self.probe
        return None if probe is None else (probe.m, probe.v, *probe.bias_corrections(t))
