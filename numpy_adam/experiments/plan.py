"""The note's experiments as one plan: which runs, with which settings, for which figure.

Figure 1 — β1 = β2 = 0.99: Adam (α = 1e-3) against SGD with momentum μ = 0.99 (α = 1e-3),
Figure 2 — β1 = 0.9, β2 = 0.999: Adam (α = 1e-3) against SGD with μ = 0.9 (α = 1e-2),
each on the CIFAR-10 CNN at batch sizes 16 and 100;
Figure 3 — f(x) = x² from x₀ = 1, full batch: Adam β1 = β2 = 0.99 (α = 0.01, ε = 1e-12)
against plain gradient descent (α = 0.1);
Figure 4 — "What averaging does": the element samples of the two Adam runs at batch 100
(Figure 1's and Figure 2's), no runs of its own;
Figure 5 — "Where Adam's spread comes from": the within-batch spread of the per-sample
gradients that Figure 1's Adam runs record (--batch-spread), against Adam's own;
Figure 6 — the noisy quadratic f(x; ξ) = (x − ξ)² for a range of noise s: Adam near the
optimum against SGD's closed-form steady state (runs: :mod:`.noise_plan`);
Schedules — f(x) = x² with Adam β1 = β2 = 0.99 (α_0 = 0.01) for 20000 steps under a constant
rate, a step schedule (α halves every 2000 steps) and a cosine to 0: does the oscillation's
amplitude follow α_t, and does it die out?

SGD runs use dampening 0, so their effective learning rate on a steady gradient is α/(1 − μ)
(momentum convention: :mod:`numpy_adam.optim.sgd`); their learning rates make it 0.1 in both
figures. Their spread statistics come from a passive probe with the compared Adam run's
(β1, β2).

Experiment code never draws: ``run_plan`` trains and writes records, then the figures and
the summary are made from those records (``plots.spread_figure``, ``numpy_adam.experiments.analysis``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..training.config import TrainConfig

BATCH_SIZES = (16, 100)
# Steps (quick) or epochs (full) per CNN run; chosen so that --quick stays under 5 minutes and
# --full under 60 minutes on 2 cores (see README for measured times).
QUICK_CNN_STEPS = {16: 400, 100: 200}
FULL_CNN_EPOCHS = {16: 2, 100: 4}
QUADRATIC_STEPS = 1500
SCHEDULE_STEPS = 20000  # x² under schedules: long enough for ten halvings' worth of α
# Steps left out of the summary's correlations and residuals: SGD's heavy-ball buffer is
# b_t = m̂_t (1 − β1^t)/(1 − β1), so its step ramps up over ~1/(1 − β1) steps even at constant
# m̂; the first 100 steps would measure that ramp, not the relation between step and gradient.
SUMMARY_WARMUP = 100


@dataclass(frozen=True)
class Experiment:
    """One run of the plan: its directory name, settings and place in a figure."""

    name: str
    figure: str  # "figure1" | "figure2" | "figure3"
    row: int  # index of the figure row (batch size for the CNN)
    config: TrainConfig


def _cnn_pair(figure, row, batch, betas, sgd_momentum, sgd_lr, length, seed, batch_spread=False):
    b1, b2 = betas
    tag = f"b1={b1:g},b2={b2:g}"
    adam = TrainConfig(model="cnn", optimizer="adam", lr=1e-3, beta1=b1, beta2=b2,
                       batch_size=batch, seed=seed, label=f"Adam {tag}, batch {batch}",
                       batch_spread=batch_spread, **length)
    sgd = TrainConfig(model="cnn", optimizer="sgd", lr=sgd_lr, momentum=sgd_momentum, beta1=b1,
                      beta2=b2, batch_size=batch, seed=seed,
                      label=f"SGD momentum={sgd_momentum:g}, batch {batch}", **length)
    return [Experiment(f"{figure}-adam-b{batch}", figure, row, adam),
            Experiment(f"{figure}-sgd-b{batch}", figure, row, sgd)]


def plan(mode: str = "quick", seed: int = 0) -> list[Experiment]:
    """All runs of the reproduction; ``mode`` is "quick" or "full"."""
    if mode not in ("quick", "full"):
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    runs = []
    for row, batch in enumerate(BATCH_SIZES):
        length = ({"steps": QUICK_CNN_STEPS[batch]} if mode == "quick"
                  else {"epochs": FULL_CNN_EPOCHS[batch]})
        runs += _cnn_pair("figure1", row, batch, (0.99, 0.99), 0.99, 1e-3, length, seed,
                          batch_spread=True)  # Figure 5 reads their within-batch spread
        runs += _cnn_pair("figure2", row, batch, (0.9, 0.999), 0.9, 1e-2, length, seed)
    quadratic = TrainConfig(model="quadratic", optimizer="adam", lr=0.01, beta1=0.99, beta2=0.99,
                            eps=1e-12, batch_size=1, steps=QUADRATIC_STEPS, seed=seed,
                            checkpoint_every=QUADRATIC_STEPS, label="Adam b1=b2=0.99 on x²")
    gd = replace(quadratic, optimizer="sgd", lr=0.1, label="gradient descent on x²")
    runs += [Experiment("figure3-adam", "figure3", 0, quadratic),
             Experiment("figure3-gd", "figure3", 0, gd)]
    long = replace(quadratic, steps=SCHEDULE_STEPS, checkpoint_every=SCHEDULE_STEPS)
    for name, settings in (("constant", {}),
                           ("step", dict(lr_schedule="step", lr_step_size=2000, lr_decay=0.5)),
                           ("cosine", dict(lr_schedule="cosine", lr_min=0.0))):
        runs.append(Experiment(f"schedules-{name}", "schedules", 0,
                               replace(long, label=f"Adam on x², {name} α", **settings)))
    from .noise_plan import noise_experiments  # they build on Experiment, defined here
    from .one_axis import one_axis_experiments

    return runs + noise_experiments(mode, seed) + one_axis_experiments(mode, seed)


FIGURE_TITLES = {
    "figure1": "Figure 1 — CIFAR-10 CNN, β1 = β2 = 0.99: Adam vs SGD (momentum 0.99)",
    "figure2": "Figure 2 — CIFAR-10 CNN, β1 = 0.9, β2 = 0.999: Adam vs SGD (momentum 0.9)",
    "figure3": "Figure 3 — f(x) = x², β1 = β2 = 0.99: Adam vs gradient descent",
    "schedules": "f(x) = x², Adam β1 = β2 = 0.99 under learning-rate schedules (α_0 = 0.01)",
}
# Figure 4 is drawn from runs of Figures 1 and 2 (their element samples), not from its own.
AVERAGING_FIGURE = "figure4"
AVERAGING_RUNS = ("figure1-adam-b100", "figure2-adam-b100")
AVERAGING_TITLE = "Figure 4 — What averaging does: Adam's elements and two ways to average them"
# Figure 5 reads the within-batch spread the Adam runs of Figure 1 record (--batch-spread).
SOURCES_FIGURE = "figure5"
SOURCES_RUNS = ("figure1-adam-b16", "figure1-adam-b100")
SOURCES_TITLE = "Figure 5 — Where Adam's spread comes from: sampling inside the batch, or drift"
