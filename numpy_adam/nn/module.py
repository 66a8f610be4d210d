"""Module and Parameter: the contract every layer follows.

A layer is a :class:`Module` with

* ``forward(x) -> y`` that computes the output and keeps a small *named* cache
  (a NamedTuple) of what backward needs;
* ``backward(dy) -> dx`` that reads that cache, **assigns** (overwrites, never
  accumulates) each parameter's ``.grad`` in place, returns ``dx`` and clears the
  cache. A backward without a preceding forward (or a second one for the same forward)
  raises ``RuntimeError``; a dy whose shape or dtype differs from y's raises
  ``ValueError`` / ``TypeError`` and leaves the cache (tests/nn/test_backward_contract.py).

One forward, one backward per step: that is the whole autograd of this project.

Parameters, buffers and submodules are registered by attribute assignment, as in
PyTorch, so ``named_parameters()`` and ``state_dict()`` produce PyTorch's key names
(``"0.weight"``, ``"bn1.running_mean"``, ...). Layers always read ``p.data`` and write
``p.grad[...]`` in place, so a model's parameters may be re-bound to views into one flat
buffer (see :mod:`numpy_adam.nn.flat`) without the layers noticing.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import numpy as np

PARAMETER_KINDS = ("weight", "bias", "batchnorm")
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Parameter:
    """A trainable tensor: ``data`` and ``grad`` are ndarrays of one shape and dtype.

    ``kind`` tells the optimizer's statistics what the tensor is: ``"weight"`` (conv and
    fc weights, tracked by default, as in the note), ``"bias"`` or ``"batchnorm"``
    (the affine weight/bias, i.e. scale/shift, of a batchnorm layer).

    Assigning ``p.data = a`` or ``p.grad = a`` *copies* a's values into the parameter's own
    array, after checking that a has its shape (values are cast to its dtype). The arrays are
    usually views into the flat buffers an optimizer updates (:mod:`numpy_adam.nn.flat`);
    re-pointing them at a new array would silently take the parameter out of training.
    :meth:`rebind` is the one way to swap the arrays themselves (flattening, dtype casts).
    """

    __slots__ = ("_data", "_grad", "kind")

    def __init__(self, data: np.ndarray, kind: str = "weight"):
        if kind not in PARAMETER_KINDS:
            raise ValueError(f"Parameter kind must be one of {PARAMETER_KINDS}, got {kind!r}")
        data = np.array(data, copy=True)
        if data.dtype not in FLOAT_DTYPES:
            raise TypeError(f"Parameter data must be float32 or float64, got {data.dtype}")
        self.rebind(data, np.zeros_like(data))
        self.kind = kind

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value) -> None:
        self._copy_into(self._data, value, "data")

    @property
    def grad(self) -> np.ndarray:
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        self._copy_into(self._grad, value, "grad")

    @staticmethod
    def _copy_into(target: np.ndarray, value, name: str) -> None:
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(f"Parameter.{name} has shape {target.shape}; cannot assign an array "
                             f"of shape {value.shape} (assignment copies into the parameter)")
        if value.dtype.kind not in "biuf":
            raise TypeError(f"Parameter.{name} holds {target.dtype}; cannot assign {value.dtype} "
                            "values")
        np.copyto(target, value, casting="unsafe")

    def rebind(self, data: np.ndarray, grad: np.ndarray) -> None:
        """Point ``data`` and ``grad`` at new arrays (same shape, one float dtype)."""
        if data.shape != grad.shape or data.dtype != grad.dtype or data.dtype not in FLOAT_DTYPES:
            raise ValueError(f"Parameter.rebind: data {data.shape} {data.dtype} and grad "
                             f"{grad.shape} {grad.dtype} must share one shape and a float dtype")
        self._data, self._grad = data, grad

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}, kind={self.kind!r})"


class Module:
    """Base class of every layer and model (PyTorch's names and semantics)."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration ---------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               "before assigning attributes")
        if name in self._buffers and isinstance(value, np.ndarray):
            object.__setattr__(self, name, value)  # re-assigning a buffer keeps it registered
            return
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """A non-trainable array saved in ``state_dict`` (e.g. batchnorm running stats)."""
        setattr(self, name, value)
        self._buffers[name] = True  # the value lives in the attribute, the table keeps order

    # -- forward / backward ---------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- traversal ------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for module_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for module_name, module in self.named_modules():
            for name in module._buffers:
                yield (f"{module_name}.{name}" if module_name else name), getattr(module, name)

    # -- modes ----------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for _, module in self.named_modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # -- dtype ----------------------------------------------------------------------
    def to(self, dtype) -> "Module":
        """Cast every parameter and floating buffer to ``dtype`` (float32 or float64).

        Re-binds ``p.data``/``p.grad`` to fresh arrays, so any flat buffer the parameters
        were views of is left behind: flatten again after a cast.
        """
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"Module.to expects float32 or float64, got {dtype}")
        for p in self.parameters():
            data = p.data.astype(dtype)
            p.rebind(data, np.zeros_like(data))
        for _, module in self.named_modules():
            for name in module._buffers:
                value = getattr(module, name)
                if np.issubdtype(value.dtype, np.floating):
                    object.__setattr__(module, name, value.astype(dtype))
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    def flatten(self, dtype=None):
        """Make every parameter a view into one flat θ buffer and one flat g buffer.

        Returns the :class:`~numpy_adam.nn.flat.FlatParameters` (θ, g, segment table);
        calling it again on an already-flat module returns the same buffers.
        """
        from .flat import flatten_parameters
        return flatten_parameters(self.named_parameters(), dtype=dtype)

    # -- state ----------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, keyed as PyTorch keys them."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            stem = f"{module_name}." if module_name else ""
            for name, p in module._parameters.items():
                state[stem + name] = p.data.copy()
            for name in module._buffers:
                state[stem + name] = np.array(getattr(module, name), copy=True)
        return state

    def load_state_dict(self, state_dict) -> None:
        """Copy values in place; missing, unexpected or misshaped keys raise ``KeyError``/``ValueError``
        naming the key, and nothing is changed unless every key matches."""
        own = {}
        for module_name, module in self.named_modules():
            stem = f"{module_name}." if module_name else ""
            for name in module._parameters:
                own[stem + name] = (module, name, True)
            for name in module._buffers:
                own[stem + name] = (module, name, False)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if missing or unexpected:
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        converted = {}
        for key, (module, name, is_param) in own.items():
            target = module._parameters[name].data if is_param else getattr(module, name)
            value = np.asarray(state_dict[key])
            if value.shape != target.shape:
                raise ValueError(f"load_state_dict: key {key!r} has shape {value.shape}, "
                                 f"expected {target.shape}")
            converted[key] = value
        for key, (module, name, is_param) in own.items():
            target = module._parameters[name].data if is_param else getattr(module, name)
            target[...] = converted[key]

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            child_lines = repr(child).splitlines()
            lines.append(f"  ({name}): " + "\n  ".join(child_lines))
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse.

    forward:  y = f_n(... f_2(f_1(x)))
    backward: dx = f_1'(... f_n'(dy))
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential argument {i} must be a Module, got {type(module).__name__}")
            setattr(self, str(i), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x: np.ndarray) -> np.ndarray:
        for module in self._modules.values():
            x = module(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        for module in reversed(self._modules.values()):
            dy = module.backward(dy)
        return dy
