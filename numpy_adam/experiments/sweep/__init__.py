"""Sweeps: many ``numpy-adam train`` runs in parallel, on this machine or on a Dask cluster.

``numpy-adam sweep`` turns a grid or list over any train setting (:mod:`.spec`) into
validated points, each a normal run folder with a name derived from its settings under
``--out``, and runs them on an executor (:mod:`.executors`): by default a pool of spawned
local processes with the cores divided among them (BLAS and Numba threads pinned per worker
before NumPy loads, so N workers do not oversubscribe the machine), or Dask distributed
(``--scheduler ADDRESS``, or ``--dask-local N`` for a LocalCluster). Each worker runs
:func:`.worker.run_point`: a finished run is skipped, an interrupted one resumed from its
checkpoint, a failing one (a diverging learning rate) recorded as failed while the others go
on (:mod:`.runner`, which also keeps ``sweep.json`` and the progress bar). A killed or
interrupted sweep continues at the next invocation with nothing run twice.
``numpy-adam reproduce --jobs N`` runs the reproduction's runs through the same executor.
``numpy-adam summarize SWEEP_DIR`` (:mod:`.summarize`) tabulates every point with the
reproduction's per-run numbers, averages points that differ only by seed (mean ± sd) and draws
the seed-averaged statistics against the swept setting (``plots/sweep_figure.py``).
"""
from .executors import ClusterUnavailable, DaskPool, DaskUnavailable, LocalPool, make_executor
from .runner import STATE_FILE, Entry, SweepFailed, execute, run_sweep
from .spec import Point, expand, load_spec, merge_specs, run_name, spec_from_options

__all__ = ["ClusterUnavailable", "DaskPool", "DaskUnavailable", "LocalPool", "make_executor",
           "STATE_FILE", "Entry", "SweepFailed", "execute", "run_sweep", "Point", "expand",
           "load_spec", "merge_specs", "run_name", "spec_from_options"]
