"""`mlp tune`: a search that learns from finished trials (Optuna's samplers),
stops bad ones early (its pruners), and spreads over processes and machines
through a shared study (its storages). Optuna is an optional extra:
``pip install 'mlpcli[tune]'``.

The tune folder (TUNE_DIR, ``--out``; default ``tunes/<config name>``), a contract
that `mlp plot TUNE_DIR`, benchmarks and scripts rely on:

- ``tune.json``: ``{"config": the resolved base config path or "-",
  "search": [{"key", "kind": "float"|"int"|"categorical", "low", "high", "log",
  "choices"}], "sampler", "pruner", "pruner_options" ({"min_epochs",
  "reduction_factor", "max_epochs", "bracket_seed"}: the pruner's settings, null
  where it has none; max_epochs is Hyperband's budget, bracket_seed the seed
  that with a trial's number picks its Hyperband bracket: the seed of the
  config that began the study (a folder joining it with another seed shows
  both), null for a study begun before it was recorded, whose brackets come
  from its name),
  "storage" (a SQLAlchemy URL), "study_name",
  "direction" ("maximize" / "minimize"), "metric" (the monitored validation
  metric, e.g. "val_accuracy"), "seed"}``; also "sets" (the --set items) and
  "config_sha256" (a rerun must match them). ``key`` is the dotted path as
  `mlp sweep` parses it (model.layers[0].units,
  model.layers[*].dropout) and the Optuna parameter's name;
  a categorical entry also has "texts" (each choice as --set writes it).
- The default storage is ``sqlite:///<absolute TUNE_DIR>/study.db``; the study is
  named after TUNE_DIR unless ``--study-name``. The study's user attribute
  "mlpcli_pruning" ({"pruner", "min_epochs", "reduction_factor",
  "max_epochs", "bracket_seed"}) is how its trials are judged, set by the process that began it
  (a rerun of a study begun before a key was recorded adds it, as the study was judged).
- ``trial-<number:04d>/``: one run folder per Optuna trial (config.yaml,
  metrics.jsonl, weights.npz, run.json, ...), as `mlp train` writes it. A pruned
  trial keeps its weights at the epoch it stopped, and its metrics.json,
  run.json and weights.npz meta's metrics say ``"status": "pruned"`` with
  ``"pruned_epoch"``. A trial stopped by
  a signal or whose process died is failed in the study and retried (with the
  same values) as a new trial, which continues the old folder's checkpoint.
- ``results.csv`` / ``results.jsonl``: `mlp sweep`'s columns (sweep/results.py)
  plus ``state`` (complete / pruned / failed), ``stopped_epoch``, ``machine``
  (host name) and ``value`` (the objective; a pruned trial's last report), one
  row per finished trial of the study, from every machine; rebuilt at the end
  of each `mlp tune` process. jsonl rows also hold ``number``.
- ``best.yaml``: the best complete trial's full resolved config, for `mlp train`.

- Each Optuna trial's user attributes: "machine" (host name), "pid",
  "process_space", "run_dir", "figures" ({"test", "val", "epochs_run",
  "status"}), "seconds", "error" (a failed trial's one line), "retry_of" (the
  number of the failed trial a retry repeats), "surplus" (asked for beyond
  --trials by a process that raced another for the last trial: failed
  unrun, in no record); intermediate values: the metric at the epochs the
  pruner judges a trial at (step = epoch, from 1: the rungs, every
  epoch but the last from its warm-up on with the median pruner, none with --pruner none); each
  trial's metrics.jsonl holds every epoch.

Python API: ``load_study(tune_dir)`` (the optuna Study of tune.json's storage),
``read_results(tune_dir)`` (the rows of results.jsonl, by trial number) and
``read_record(tune_dir)`` (tune.json, checked).

Modules: space (--range / --choice to parameters), study (storage, sampler,
pruner, resume bookkeeping), objective (one trial), planning (options checked,
tune.json), execution (processes, timeout, signals), results (the records).
"""
from __future__ import annotations

from pathlib import Path

from .execution import TuneInterrupted, run
from .planning import Plan, plan, read_record
from .results import read_results
from .study import INSTALL


def load_study(tune_dir):
    """The optuna Study that TUNE_DIR/tune.json names (its storage and study name)."""
    from . import study as studies

    record = read_record(tune_dir)
    storage = studies.open_storage(record["storage"], named=f"{Path(tune_dir) / 'tune.json'}: its storage")
    return studies.open_study(storage, record["study_name"], record["direction"], create=False)


__all__ = ["INSTALL", "Plan", "TuneInterrupted", "load_study", "plan", "read_record", "read_results", "run"]
