"""numpy-adam: a from-scratch NumPy reference of Adam and SGD with momentum.

Adam's step, written with the optimizer's own bias-corrected moments m̂, v̂ and the
relative spread γ = σ̂/|m̂| (σ̂² = v̂ − m̂²), is Δ/α = sign(m̂)/√(γ²+1):
the mean gradient picks the direction, the spread picks the size.
"""
__version__ = "0.1.0"
