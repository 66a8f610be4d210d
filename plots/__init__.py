"""Figures drawn from run records only (they never train): see :mod:`plots.spread_figure`."""
