"""Parameter groups with ``torch.optim``'s rules: which ``params`` an optimizer accepts.

An optimizer takes, as in PyTorch,

* an iterable of Parameters, or of (name, Parameter) pairs (``model.named_parameters()``):
  one group with the constructor's hyperparameters;
* an iterable of dicts, each ``{"params": ..., <hyperparameter>: value, ...}``: one group per
  dict, its own values overriding the constructor's (the defaults). Other keys are kept as
  they are (a scheduler stores ``initial_lr`` there).

Rules, each refused as PyTorch refuses it (its test suite's table of error inputs): a bare
Parameter, an array or a Module instead of an iterable (TypeError); an empty list
(ValueError); a set, whose order changes between runs (TypeError); a group that is not a dict
(TypeError); a parameter in two groups (ValueError); named and unnamed parameters mixed,
within a group or across groups (ValueError). A parameter repeated inside one group is a
warning, as in PyTorch, and counts once.

All groups live in one flat buffer, group after group (:mod:`numpy_adam.nn.flat`), so that
each group is a contiguous run of segments the fused kernel updates with that group's
hyperparameters.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from ..nn.flat import FlatParameters
from ..nn.module import Module, Parameter

PARAMS_KEY = "params"
NAMES_KEY = "param_names"


def _not_iterable(owner: str, params) -> TypeError:
    return TypeError(f"{owner}: params argument given to the optimizer should be an iterable of "
                     f"Parameters, (name, Parameter) pairs or dicts, but got "
                     f"{type(params).__name__}")


def _entries(owner: str, params, where: str) -> list:
    """The group's params as a list: a single Parameter or pair becomes a one-item list."""
    if isinstance(params, Parameter) or _is_pair(params):
        return [params]
    if isinstance(params, (set, frozenset)):
        raise TypeError(f"{owner}: {where} must be an ordered collection, not a set (the order "
                        "of a set changes between runs)")
    if isinstance(params, Module):
        raise TypeError(f"{owner}: params must be the model's parameters, e.g. "
                        "model.named_parameters(), got the Module itself")
    if isinstance(params, (np.ndarray, str, bytes, Mapping)):
        raise _not_iterable(owner, params)
    try:
        return list(params)
    except TypeError:
        raise _not_iterable(owner, params) from None


def _is_pair(item) -> bool:
    return (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
            and isinstance(item[1], Parameter))


def _named(owner: str, entries: list, index: int) -> tuple[list, bool]:
    """[(name or None, Parameter)] of one group, duplicates dropped (with a warning), and
    whether the group is named."""
    kinds = set()
    out, seen = [], set()
    for i, item in enumerate(entries):
        if _is_pair(item):
            name, p = item
            kinds.add(True)
        elif isinstance(item, Parameter):
            name, p = None, item
            kinds.add(False)
        else:
            raise TypeError(f"{owner}: param_groups[{index}] item {i} must be a Parameter or a "
                            f"(name, Parameter) pair, got {type(item).__name__}")
        if id(p) in seen:
            continue
        seen.add(id(p))
        out.append((name, p))
    if len(out) < len(entries):
        warnings.warn(f"{owner}: param_groups[{index}] is a parameter group with duplicate "
                      "parameters; each counts once", UserWarning, stacklevel=4)
    if len(kinds) > 1:
        raise ValueError(f"{owner}: all optimizer params should be with/without names. Some param "
                         f"names are missing in param_groups[{index}]")
    return out, kinds == {True}


def parse_param_groups(params, owner: str) -> list[dict]:
    """The groups of ``params``: [{"params": [(name or None, Parameter)], "named": bool,
    **the group's own keys}], in order; raises as the module docstring says."""
    if isinstance(params, FlatParameters):
        return [{PARAMS_KEY: list(zip(params.names, params.params)), "named": True}]
    if isinstance(params, Parameter):  # one Parameter is fine inside a group, not on its own
        raise _not_iterable(owner, params)
    entries = _entries(owner, params, "params")
    if not entries:
        raise ValueError(f"{owner}: optimizer got an empty parameter list")
    raw = entries if isinstance(entries[0], Mapping) else [{PARAMS_KEY: entries}]
    groups, seen = [], set()
    for index, group in enumerate(raw):
        if not isinstance(group, Mapping):
            raise TypeError(f"{owner}: param_groups[{index}] must be a dict like the first one, "
                            f"got {type(group).__name__}")
        if PARAMS_KEY not in group:
            raise ValueError(f"{owner}: param_groups[{index}] has no 'params' key")
        named, is_named = _named(owner, _entries(owner, group[PARAMS_KEY],
                                                 f"param_groups[{index}]['params']"), index)
        if not named:
            raise ValueError(f"{owner}: param_groups[{index}] has an empty parameter list")
        if groups and is_named != groups[0]["named"]:
            raise ValueError(f"{owner}: all optimizer param groups should be with/without names. "
                             f"cannot add param group {'with' if is_named else 'without'} names "
                             "to the optimizer")
        if seen.intersection(id(p) for _, p in named):
            raise ValueError(f"{owner}: some parameters appear in more than one parameter group")
        seen.update(id(p) for _, p in named)
        extra = {k: v for k, v in group.items() if k not in (PARAMS_KEY, NAMES_KEY)}
        groups.append({PARAMS_KEY: named, "named": is_named, **extra})
    return groups
