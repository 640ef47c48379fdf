"""`mlp sweep`: many variants of one config, run, recorded and ranked.

A sweep expands a config into trials (a grid product, random draws from
ranges, each with K seeds), trains each as `mlp train` would into a run folder
under the sweep folder, appends one row per finished trial to results.csv and
results.jsonl, and ranks the trials (mean and std over seeds). Semantics follow
Hydra's multirun (one job per point of the product of the swept values; a job
is a normal run) and DVC's metrics files (one flat row per run).

Trials run in this process (--jobs 1), in N spawned local worker processes
each limited to cores / N BLAS threads, or on a Dask distributed cluster.
A trial's own failure never raises here: it is a row with status "failed";
so is a local worker's death (killed, out of memory), and the worker is
replaced. The first SIGINT / SIGTERM starts no more trials and stops the
running ones at a step, checkpointed (a re-run resumes them); a second one
stops at once.

The package's modules: planning (options to trials, the plan), trial (one
trial run, its row), workers (local worker processes, Dask, signals),
results (the sweep folder, results files, summary), execution (the run).
"""
from .execution import SweepFailed, run
from .planning import commands, draw, expand, parse_grid, parse_ranges, plan

__all__ = ["SweepFailed", "commands", "draw", "expand", "parse_grid", "parse_ranges", "plan", "run"]
