"""Learning-rate schedules: ``torch.optim.lr_scheduler`` in plain Python, value for value.

A schedule sets the learning rate α_t of step t. It holds an optimizer and, each time it
steps, writes the next rate into every parameter group (``group["lr"] = α_t``); each group
keeps its own base rate α_0 (stored by the schedule as ``group["initial_lr"]``). Call it once
per optimizer step, after the optimizer:

    opt = Adam(model.named_parameters(), lr=1e-3)
    sched = warmup_cosine(opt, warmup_steps=100, total_steps=1000)
    for batch in batches:
        ...backward...
        opt.step()        # a step with α_t
        sched.step()      # t ← t + 1; writes α_{t+1} into the groups

Closed forms, with t = ``last_epoch`` (0 right after construction) and α_0 a group's base lr:

    StepLR             α_t = α_0 · ρ^⌊t / step_size⌋
    ExponentialLR      α_t = α_0 · ρ^t
    CosineAnnealingLR  α_t = η + (α_0 − η) · (1 + cos(π t / T_max)) / 2       (η = eta_min)
    LinearLR           α_t = α_0 · (s + (e − s) · min(t, T) / T)
                       (s, e = start_factor, end_factor; T = total_iters)
    SequentialLR       schedule k runs from milestone m_k on, restarted there: at step t it
                       gives schedule k's α_{t − m_k}   (m_0 = 0)

ρ is the multiplicative decay factor, PyTorch's keyword ``gamma`` (kept so that code and
checkpoints carry over); it is unrelated to the relative spread γ of :mod:`.stats`. Past T_max
the cosine rises again (period 2·T_max), as in PyTorch: give T_max = the length of the run.

Why ``step()`` does not use the closed forms: PyTorch steps *recursively*, α_t from α_{t−1}
(e.g. α_t = ρ·α_{t−1}), which differs from the closed form in the last bits (ρ·ρ·ρ is not
always ρ³ in floating point). The code repeats PyTorch's recursions operation for operation,
so a run sees exactly the rates of the same run in PyTorch (the tests check ``==``). The
closed forms are kept as ``_get_closed_form_lr``, used where PyTorch uses them (SequentialLR's
hand-over). The recursions are chainable: they scale whatever rate is in the group.
"""
from __future__ import annotations

import copy
import math
import numbers
from bisect import bisect_right
from collections.abc import MutableMapping


_DECAY = "a finite number > 0 (the decay factor)"


def _param_groups(optimizer, owner: str) -> list:
    """The optimizer's groups; TypeError unless a non-empty list of dicts with a number "lr"."""
    groups = getattr(optimizer, "param_groups", None)
    if not (isinstance(groups, list) and groups
            and all(isinstance(g, MutableMapping) and _is_real(g.get("lr")) for g in groups)):
        raise TypeError(f"{owner}: optimizer must be an optimizer with param_groups, a "
                        f"non-empty list of dicts each holding a number 'lr', got {optimizer!r}")
    return groups


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_int(value, name: str, owner: str, minimum: int, expectation: str) -> int:
    """An int >= minimum: TypeError for another type (bools too), ValueError below it."""
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not (is_int and value >= minimum):
        error = ValueError if is_int else TypeError
        raise error(f"{owner}: {name} must be {expectation}, got {value!r}")
    return int(value)


def _check_real(value, name: str, owner: str, expectation: str, in_range) -> float:
    """A finite real number with in_range(x): TypeError for another type, else ValueError."""
    if not (_is_real(value) and math.isfinite(value) and in_range(float(value))):
        error = ValueError if _is_real(value) else TypeError
        raise error(f"{owner}: {name} must be {expectation}, got {value!r}")
    return float(value)


class LRScheduler:
    """Base class: the optimizer, the step t = ``last_epoch``, the base rates ``base_lrs``.

    Arguments:
        optimizer: anything with ``param_groups``, a list of dicts each holding "lr".
        last_epoch: -1 (default) for a new schedule: each group's lr becomes its
            "initial_lr" (unless it has one), and the constructor steps to t = 0. With
            last_epoch >= 0 (resuming) every group must hold "initial_lr" already.

    A subclass defines ``get_lr()``: the rates at t = ``last_epoch`` (just advanced), from
    the groups' current lr; ``_is_initial`` is True during the constructor's step.
    """

    _is_initial = False

    def __init__(self, optimizer, last_epoch: int = -1) -> None:
        owner = type(self).__name__
        groups = _param_groups(optimizer, owner)
        last_epoch = _check_int(last_epoch, "last_epoch", owner, -1, "an int >= -1")
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{owner}: param 'initial_lr' is not specified in "
                                   f"param_groups[{i}] when resuming with last_epoch >= 0 "
                                   "(load the optimizer's state first, or use last_epoch=-1)")
        self.optimizer = optimizer
        self.base_lrs = [float(group["initial_lr"]) for group in groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """The constructor's step, to t = last_epoch + 1, with ``_is_initial`` set."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr")

    def step(self) -> None:
        """Advance t by one and write α_t into every group. Call after ``optimizer.step()``."""
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        """Recursive update to t + 1 (``epoch=None``), or jump to t = epoch by the closed form."""
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = getattr(self, "_get_closed_form_lr", self.get_lr)()
        self._write_lrs(values)

    def _write_lrs(self, values: list) -> None:
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(f"{type(self).__name__}: {len(values)} learning rates for "
                             f"{len(groups)} param groups")
        for group, lr in zip(groups, values):
            group["lr"] = float(lr)
        self._last_lr = [group["lr"] for group in groups]

    def get_last_lr(self) -> list[float]:
        """The current learning rate of every group (the last ones this schedule wrote)."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Every attribute but the optimizer, copied: ints, floats, lists (JSON-serialisable)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a ``state_dict()`` (ours or PyTorch's) and write its rates into the groups
        (PyTorch leaves that to the optimizer's checkpoint; this way either one suffices)."""
        self.__dict__.update(copy.deepcopy(dict(state_dict)))
        self._write_lrs(self._last_lr)


class StepLR(LRScheduler):
    """α_t = α_0 · ρ^⌊t / step_size⌋. Recursion (PyTorch's): α_t = ρ · α_{t−1} when t is a
    positive multiple of step_size, else α_t = α_{t−1}.

    Arguments:
        optimizer, last_epoch: as for :class:`LRScheduler`.
        step_size: steps between decays, a positive int.
        gamma: ρ, the multiplicative decay factor (PyTorch's keyword; not the relative spread
            γ), a finite number > 0. Default 0.1.
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = _check_int(step_size, "step_size", "StepLR", 1, "a positive int")
        self.gamma = _check_real(gamma, "gamma", "StepLR", _DECAY, lambda x: x > 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """α_t = α_0 · ρ^t. Recursion (PyTorch's): α_t = ρ · α_{t−1}.

    Arguments:
        optimizer, last_epoch: as for :class:`LRScheduler`.
        gamma: ρ, the multiplicative decay factor (PyTorch's keyword; not the relative spread
            γ), a finite number > 0.
    """

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _check_real(gamma, "gamma", "ExponentialLR", _DECAY, lambda x: x > 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self._is_initial:  # the rate of t = 0 (or of a resumed t) is in the group already
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """α_t = η + (α_0 − η) · (1 + cos(π t / T_max)) / 2: α_0 down to η at t = T_max, then
    (as in PyTorch) up again to α_0 at 2·T_max, and so on.

    Recursion (PyTorch's): α_t = η + (α_{t−1} − η) · (1 + cos(π t / T_max)) / (1 + cos(π (t−1)
    / T_max)); where that denominator is 0 (t − 1 an odd multiple of T_max) instead
    α_t = α_{t−1} + (α_0 − η) · (1 − cos(π / T_max)) / 2.

    Arguments:
        optimizer, last_epoch: as for :class:`LRScheduler`.
        T_max: steps from α_0 down to η, a positive int.
        eta_min: η, the final rate, a finite number >= 0. Default 0.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_max = _check_int(T_max, "T_max", "CosineAnnealingLR", 1, "a positive int")
        self.eta_min = _check_real(eta_min, "eta_min", "CosineAnnealingLR",
                                   "a finite number >= 0", lambda x: x >= 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups, t, T, eta = self.optimizer.param_groups, self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return [group["lr"] for group in groups]
        if (t - 1 - T) % (2 * T) == 0:  # just past the bottom of the cosine
            return [group["lr"] + (base_lr - eta) * (1 - math.cos(math.pi / T)) / 2
                    for base_lr, group in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (group["lr"] - eta) + eta for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """α_t = α_0 · (s + (e − s) · min(t, T) / T): the factor goes linearly from s to e in T
    steps (a warm-up when s < e = 1). Recursion (PyTorch's): α_0 · s at t = 0, then
    α_t = α_{t−1} · (1 + (e − s) / (T·s + (t − 1)·(e − s))) up to t = T, unchanged after.

    Arguments:
        optimizer, last_epoch: as for :class:`LRScheduler`.
        start_factor: s, the factor at t = 0, in (0, 1]. Default 1/3.
        end_factor: e, the factor from t = T on, in [0, 1]. Default 1.
        total_iters: T, the length of the ramp in steps, a positive int. Default 5.
    """

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        self.start_factor = _check_real(start_factor, "start_factor", "LinearLR",
                                        "a number in (0, 1]", lambda x: 0 < x <= 1)
        self.end_factor = _check_real(end_factor, "end_factor", "LinearLR",
                                      "a number in [0, 1]", lambda x: 0 <= x <= 1)
        self.total_iters = _check_int(total_iters, "total_iters", "LinearLR", 1, "a positive int")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups, t = self.optimizer.param_groups, self.last_epoch
        s, e = self.start_factor, self.end_factor
        if t == 0:
            return [group["lr"] * s for group in groups]
        if self._is_initial or t > self.total_iters:
            return [group["lr"] for group in groups]
        return [group["lr"] * (1.0 + (e - s) / (self.total_iters * s + (t - 1) * (e - s)))
                for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        s, e, T = self.start_factor, self.end_factor, self.total_iters
        return [base_lr * (s + (e - s) * min(T, self.last_epoch) / T)
                for base_lr in self.base_lrs]


def _check_sequence(optimizer, schedulers, milestones, last_epoch) -> None:
    """SequentialLR's arguments, as its docstring says; raises naming the argument."""
    owner = "SequentialLR"
    if not isinstance(schedulers, (list, tuple)) or not schedulers:
        error = ValueError if isinstance(schedulers, (list, tuple)) else TypeError
        raise error(f"{owner}: schedulers must be a non-empty list of schedulers, "
                    f"got {schedulers!r}")
    for i, sched in enumerate(schedulers):
        if not isinstance(sched, LRScheduler):
            raise TypeError(f"{owner}: schedulers[{i}] must be a scheduler (LRScheduler), "
                            f"got {sched!r}")
        if sched.optimizer is not optimizer:
            raise ValueError(f"{owner}: schedulers[{i}] must be on the same optimizer as the "
                             f"SequentialLR, got a {type(sched).__name__} on {sched.optimizer!r}")
        if i > 0 and not hasattr(sched, "_get_closed_form_lr"):  # it restarts by closed form
            raise ValueError(f"{owner}: schedulers[{i}] must have a closed form (only "
                             f"schedulers[0] may be a SequentialLR), got {sched!r}")
    expectation = f"{len(schedulers) - 1} increasing positive ints (one fewer than schedulers)"
    if not isinstance(milestones, (list, tuple)):
        raise TypeError(f"{owner}: milestones must be {expectation}, got {milestones!r}")
    for m in milestones:
        _check_int(m, "milestones", owner, 1, expectation)
    if (len(milestones) != len(schedulers) - 1
            or any(a >= b for a, b in zip(milestones, milestones[1:]))):
        raise ValueError(f"{owner}: milestones must be {expectation}, got {milestones!r}")
    if last_epoch != -1:
        raise ValueError(f"{owner}: last_epoch must be -1 (resume with load_state_dict), "
                         f"got {last_epoch!r}")


class SequentialLR(LRScheduler):
    """Schedules one after the other: schedulers[k] takes over at milestones[k − 1], restarted
    at its own t = 0 by its closed form (α_0 for a cosine), then stepped recursively.

    Construction, as PyTorch's: the groups' lr go back to "initial_lr", the sub-schedules'
    constructor steps are undone, and the first one's initial step is taken again.
    ``state_dict()`` holds the sub-schedules' states, under "_schedulers".

    Arguments:
        optimizer: the optimizer all the schedules were built on.
        schedulers: a non-empty list of schedules on that optimizer.
        milestones: the steps at which the next schedule takes over, increasing positive
            ints, one fewer than schedulers.
        last_epoch: -1 only (resume with ``load_state_dict``).
    """

    def __init__(self, optimizer, schedulers: list, milestones: list,
                 last_epoch: int = -1) -> None:
        groups = _param_groups(optimizer, "SequentialLR")
        _check_sequence(optimizer, schedulers, milestones, last_epoch)
        self._schedulers = list(schedulers)
        self._milestones = [int(m) for m in milestones]
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in groups:  # back to the base rates
            group["lr"] = group["initial_lr"]
        self.recursive_undo()
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def recursive_undo(self, sched=None) -> None:
        """Step back each sub-schedule (recursively into nested SequentialLRs) by one."""
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        else:
            scheds.last_epoch -= 1

    def step(self) -> None:
        """Advance t; at a milestone restart the next schedule at its t = 0, else step it."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict:
        state = {k: copy.deepcopy(v) for k, v in self.__dict__.items()
                 if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = copy.deepcopy(dict(state_dict))
        sub_states = state.pop("_schedulers")
        if len(sub_states) != len(self._schedulers):
            raise ValueError(f"SequentialLR: state_dict has {len(sub_states)} schedulers, "
                             f"this one {len(self._schedulers)}")
        self.__dict__.update(state)
        for sched, sub_state in zip(self._schedulers, sub_states):
            sched.load_state_dict(sub_state)
        self._write_lrs(self._last_lr)  # last: the sub-schedules wrote their own last rates


def warmup_cosine(optimizer, warmup_steps: int, total_steps: int,
                  start_factor: float = 1.0 / 3, eta_min: float = 0.0) -> SequentialLR:
    """Linear warm-up then cosine decay, ``SequentialLR([LinearLR, CosineAnnealingLR])``:

        α_t = α_0 · (s + (1 − s) · t / W)                              for t < W
        α_t = η + (α_0 − η) · (1 + cos(π (t − W) / (N − W))) / 2      for W <= t <= N

    from s·α_0 up to α_0 at t = W, then down to η at t = N.

    Arguments:
        optimizer: the optimizer whose groups' lr this sets.
        warmup_steps: W, the length of the warm-up, a positive int.
        total_steps: N, the step at which the rate reaches η, an int > warmup_steps.
        start_factor: s in (0, 1]. Default 1/3, LinearLR's; e.g. 0.01 starts near 0.
        eta_min: η, the final rate, a finite number >= 0. Default 0.
    """
    warmup_steps = _check_int(warmup_steps, "warmup_steps", "warmup_cosine", 1, "a positive int")
    total_steps = _check_int(total_steps, "total_steps", "warmup_cosine", warmup_steps + 1,
                             f"an int > warmup_steps = {warmup_steps}")
    warmup = LinearLR(optimizer, start_factor=start_factor, total_iters=warmup_steps)
    cosine = CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps, eta_min=eta_min)
    return SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])
