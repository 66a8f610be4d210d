"""Layers with hand-written backward passes (PyTorch names, NCHW, manual backprop)."""
from .module import Module, Parameter, Sequential
from .flat import FlatParameters, Segment, flatten_parameters

__all__ = ["Module", "Parameter", "Sequential", "FlatParameters", "Segment", "flatten_parameters"]
