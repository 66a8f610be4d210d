"""Gradient checks as a library feature: centred finite differences in float64
(:mod:`.check`), and the report ``numpy-adam gradcheck`` prints for every layer (:mod:`.report`)."""
from .check import (GradCheckResult, check_loss, check_module, max_relative_difference,
                    numerical_gradient, relative_error)

__all__ = ["GradCheckResult", "check_loss", "check_module", "max_relative_difference",
           "numerical_gradient", "relative_error"]
