"""Run records: what a training run leaves on disk, and how to read it back.

A run is a directory holding

* ``config.json``  — every setting (model, optimizer, lr, betas, eps, momentum, batch_size,
  steps, seed, label, tracked_tensors, versions, ...);
* ``metrics.npz``  — per-step arrays (T steps, L tracked tensors):

  ============== ========= ===============================================================
  key            shape     meaning
  ============== ========= ===============================================================
  step           (T,) i8   optimizer step t (1-based, strictly increasing)
  loss           (T,) f8   training loss of the batch of step t
  lr             (T,) f8   learning rate α used at step t
  tensor_names   (L,) str  names of the tracked tensors (conv and fc weights by default)
  mean_abs_m     (T, L)    mean over the tensor's elements of |m̂_t|
  sigma          (T, L)    mean of σ̂_t = √max(v̂_t − m̂_t², 0)
  gamma          (T, L)    mean of γ_t = σ̂_t/|m̂_t| over the tensor's *sampled* elements
                           with m̂_t ≠ 0 (NaN without an element sample); records written
                           before the optimizer took γ from its sample hold the mean over
                           all elements. Not the note's layer relative spread
                           mean σ̂ / mean |m̂|: see :func:`relative_spread`
  update         (T, L)    mean of |θ_t − θ_{t−1}|/α
  neg_var_frac   (T, L)    fraction of elements with v̂_t < m̂_t²
  x, grad        (T,)      quadratic runs only: parameter after step t and gradient at
                 or (T, D) step t
  ============== ========= ===============================================================

  With an element sample (:mod:`numpy_adam.optim.sample`; N sampled elements, K per
  tracked tensor), also:

  ============== ========= ===============================================================
  sample_slot    (N,) i8   index of each sampled element's tensor in ``tensor_names``
  sample_element (N,) i8   index of the element within its tensor (row-major)
  sample_m_hat   (T, N)    m̂_t of the sampled elements (SGD: the probe's)
  sample_v_hat   (T, N)    v̂_t (NaN for SGD without a probe)
  sample_update  (T, N)    u_t = (κθ_{t−1} − θ_t)/α, signed: the step taken, in units of α
  sample_param   (T, N)    θ_t after the step
  ============== ========= ===============================================================

  stored in the parameters' dtype (float32 for the CNN). From them every sampled
  element's σ̂, γ and identity residual can be recomputed, and so is the element
  aggregation, whatever ``gamma`` holds. Size: 16 bytes per sampled
  element and step; the CNN's default K = 32 on its four weight tensors gives N = 128 and
  2 KB per step, so the longest reproduction run (batch 16, two epochs, 6250 steps) keeps
  12.8 MB of samples, while 6250 × 128 points are plenty for a density.

  Any further per-step arrays are kept as they are (leading axis T).
* ``summary.json`` — ``final_loss``, ``test_loss``, ``test_accuracy`` (null for the
  quadratic), ``wall_seconds``, ``steps`` and more.

Statistics of a step with none computed are a NaN row. Aggregation across tensors (the
note's second stage) is :func:`aggregate`: the per-tensor value is already a mean over that
tensor's elements; ``aggregate`` takes the mean across tensors, ignoring NaN.
:func:`relative_spread` gives the per-step relative spread under either aggregation
(see :mod:`numpy_adam.optim.stats`): ``"layer"``, the note's mean over tensors of
γ̄_l = S_l/M_l, or ``"element"``, the mean over tensors of the element mean of γ, taken
from the element sample when the record has one (so old and new records agree), else from
``gamma`` (:func:`element_gamma`).
"""
from .aggregate import aggregate, element_gamma, relative_spread
from .files import Run, load_metrics, load_run, save_config, save_run_metrics, save_summary
from .log import MetricsLog
from .schema import (CONFIG_FILE, GAMMA_AGGREGATIONS, GAMMA_LABELS, METRICS_FILE,
                     REQUIRED_CONFIG_KEYS, REQUIRED_METRIC_KEYS, REQUIRED_SUMMARY_KEYS,
                     SAMPLE_KEYS, SAMPLE_LAYOUT_KEYS, STAT_KEYS, SUMMARY_FILE, RecordError,
                     check_metrics)

__all__ = ["MetricsLog", "Run", "load_run", "load_metrics", "save_config", "save_run_metrics",
           "save_summary", "aggregate", "element_gamma", "relative_spread", "check_metrics",
           "RecordError",
           "STAT_KEYS",
           "SAMPLE_KEYS", "SAMPLE_LAYOUT_KEYS", "GAMMA_AGGREGATIONS", "GAMMA_LABELS",
           "REQUIRED_METRIC_KEYS", "REQUIRED_CONFIG_KEYS", "REQUIRED_SUMMARY_KEYS",
           "CONFIG_FILE", "METRICS_FILE", "SUMMARY_FILE"]
