"""Hyperparameter checks: fail early, name the argument and the value.

The one rule set for optimizer hyperparameters, used by the optimizers and by
:class:`~numpy_adam.training.config.TrainConfig` (so ``numpy-adam train`` too). The rules are
PyTorch's (``torch.optim``), strict where PyTorch does not check: lr, eps, weight_decay,
momentum ≥ 0 and finite; each β in [0, 1); dampening in [0, 1]; nesterov only with
momentum > 0 and dampening 0. Every check raises ``ValueError`` (also for a wrong type, as
:mod:`numpy_adam.nn.checks` does for layer arguments) with the message
``"<Owner>: <argument> must be <expectation>, got <value>"``.
NaN fails every range check, so NaN anywhere is rejected.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..nn.flat import FlatParameters
from ..nn.module import PARAMETER_KINDS


def _real(value, name: str, owner: str, expectation: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}: {name} must be {expectation}, got {value!r} "
                         f"of type {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{owner}: {name} must be {expectation}, got NaN")
    return value


def check_nonnegative(value, name: str, owner: str) -> float:
    """A finite real number ≥ 0 (lr, eps, weight_decay, momentum)."""
    expectation = "a finite number >= 0"
    x = _real(value, name, owner, expectation)
    if not (0.0 <= x < math.inf):
        raise ValueError(f"{owner}: {name} must be {expectation}, got {value!r}")
    return x


def check_count(value, name: str, owner: str) -> int:
    """An integer ≥ 0 (a number of elements); bools and floats are rejected."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{owner}: {name} must be an integer >= 0, got {value!r}")
    return int(value)


def check_unit_interval(value, name: str, owner: str, closed: bool) -> float:
    """A real number in [0, 1] (``closed``, e.g. dampening) or [0, 1) (a β)."""
    expectation = "a number in [0, 1]" if closed else "a number in [0, 1)"
    x = _real(value, name, owner, expectation)
    if not (0.0 <= x <= 1.0 if closed else 0.0 <= x < 1.0):
        raise ValueError(f"{owner}: {name} must be {expectation}, got {value!r}")
    return x


def check_beta(value, name: str, owner: str) -> float:
    """One EMA coefficient β in [0, 1)."""
    return check_unit_interval(value, name, owner, closed=False)


def check_open_unit_interval(value, name: str, owner: str) -> float:
    """A real number in the open interval (0, 1) (M-SVAG's β: β = 0 leaves no variance estimate)."""
    expectation = "a number in (0, 1)"
    x = _real(value, name, owner, expectation)
    if not 0.0 < x < 1.0:
        raise ValueError(f"{owner}: {name} must be {expectation}, got {value!r}")
    return x


def check_betas(betas, owner: str, name: str = "betas") -> tuple[float, float]:
    """A pair (β1, β2), each in [0, 1); errors name ``beta1``/``beta2`` and the tuple slot."""
    if isinstance(betas, (str, bytes)) or not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{owner}: {name} must be a pair (beta1, beta2), got {betas!r}")
    return (check_beta(betas[0], f"beta1 ({name}[0])", owner),
            check_beta(betas[1], f"beta2 ({name}[1])", owner))


def check_flag(value, name: str, owner: str) -> bool:
    """A bool (``True``/``False``, NumPy bools accepted); 0/1 and strings are rejected."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_nesterov(nesterov: bool, momentum: float, dampening: float, owner: str) -> None:
    """Nesterov momentum needs μ > 0 and τ = 0 (as in PyTorch)."""
    if nesterov and (momentum <= 0.0 or dampening != 0.0):
        raise ValueError(f"{owner}: nesterov must be False unless momentum > 0 and dampening = 0, "
                         f"got nesterov=True with momentum={momentum!r}, dampening={dampening!r}")


def resolve_track(track, flat: FlatParameters, owner: str) -> tuple[int, ...]:
    """Indices (in flat order) of the segments whose statistics are reported.

    ``track`` is an iterable of strings. An entry that is a parameter kind
    (``"weight"``, ``"bias"``, ``"batchnorm"``) selects every segment of that kind; any
    other entry must be a segment name and selects that segment (kinds take precedence when a
    name equals a kind). A bare string counts as a one-entry tuple; ``None`` or ``()`` tracks
    nothing (statistics arrays of length 0).
    """
    if track is None:
        return ()
    if isinstance(track, str):
        track = (track,)
    if not isinstance(track, (tuple, list)) or not all(isinstance(e, str) for e in track):
        raise ValueError(f"{owner}: track must be a tuple of parameter kinds {PARAMETER_KINDS} "
                         f"or segment names, got {track!r}")
    names = flat.names
    unknown = [e for e in track if e not in PARAMETER_KINDS and e not in names]
    if unknown:
        raise ValueError(f"{owner}: track entries {unknown} are neither parameter kinds "
                         f"{PARAMETER_KINDS} nor segment names {list(names)}")
    kinds = {e for e in track if e in PARAMETER_KINDS}
    chosen = {e for e in track if e not in PARAMETER_KINDS}
    return tuple(i for i, s in enumerate(flat.segments) if s.kind in kinds or s.name in chosen)
