"""One trial of a tune: its config from the sampled values, trained as `mlp
train` would into TUNE_DIR/trial-<number>, the monitored validation metric
reported to the study every epoch, and stopped there when the pruner says so
(weights written at that epoch, the run marked pruned)."""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .. import artifacts
from ..checkpoint import checkpoint_paths
from ..errors import MLPError, TrainingInterrupted
from ..training import Callback
from . import space
from . import study as studies

PRUNED = "pruned"


def trial_dir(tune_dir, number: int) -> Path:
    return Path(tune_dir) / f"trial-{number:04d}"


class TrialFailed(Exception):
    """The trial's own failure (a bad value, divergence): recorded as a failed trial, the study goes on."""


class Surplus(Exception):
    """A trial asked for beyond --trials (see study.surplus): failed unrun, marked, and left out of every record."""


class Reporter(Callback):
    """Reports ``monitor`` to the Optuna trial at the epochs the pruner can
    prune at (study.may_prune: Hyperband's rungs; every epoch for the median
    pruner; none without one), asks the pruner there, and stops training
    after the epoch it prunes at (never the last: the trial has run in full
    by then and completes). A report is a write to the study and a question
    a read (together ~2-4 ms, a tenth of a digits epoch), so the other epochs
    make neither; the decisions, and what the sampler learns from a pruned
    trial (its value where it was pruned), are the same as reporting every
    epoch. The whole curve is the run folder's metrics.jsonl."""

    stop_reason = PRUNED  # history.stopped when it stops training (training.stop_reason)

    def __init__(self, trial, monitor: str, reported=()):
        self.trial, self.monitor = trial, monitor
        self.reported = set(reported)  # epochs a resumed run reported before its checkpoint
        self.pruned_at, self.epochs = None, None
        self.judged = 0  # the last epoch the pruner was asked about (0: none yet)

    def on_train_begin(self, fit_state):
        self.epochs = fit_state["epochs"]

    def on_epoch_end(self, epoch, logs):
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if epoch == self.epochs:  # pruned at the last epoch, it would save nothing
            return
        if not studies.may_prune(self.trial.study.pruner, self.judged, epoch):
            return
        if epoch not in self.reported:
            self.trial.report(float(value), epoch)
            self.reported.add(epoch)
        self.judged = epoch
        if self.trial.should_prune():
            self.pruned_at = epoch
            self.stop_training = True

    def run_status(self) -> dict:
        return {} if self.pruned_at is None else {"status": PRUNED, "pruned_epoch": self.pruned_at}


@dataclass
class Context:
    """What every trial of a tune needs (picklable: sent to worker processes)."""

    tune_dir: str
    config: object  # the base config's path, or its parsed data (read from standard input)
    sets: list[str]  # the tune's --set items, before each trial's values
    params: list  # space.Param
    metric: str  # the monitored validation metric, as metrics.jsonl names it (val_accuracy)


def run(trial, ctx: Context, interrupt=None, pictures=None) -> float:
    """The objective: train trial ``trial`` and return its final validation
    metric; raise optuna.TrialPruned when pruned, TrialFailed for the trial's
    own failure, TrainingInterrupted (checkpointed) at a signal. ``pictures``:
    the worker's plots.worker.PictureQueue, if it has one."""
    from .. import runner
    from ..config import with_swept

    op = studies.optuna()
    trial.set_user_attr(studies.HOST, studies.hostname())
    trial.set_user_attr(studies.PID, os.getpid())
    trial.set_user_attr(studies.PROCESS_SPACE, studies.process_space())
    values = {p.key: p.suggest(trial) for p in ctx.params}
    items = with_swept(ctx.sets, space.overrides(ctx.params, values))
    run_dir = trial_dir(ctx.tune_dir, trial.number)
    started = time.perf_counter()
    try:
        resumed = _resumable_copy(ctx.tune_dir, trial.user_attrs.get(studies.RETRY_OF), run_dir, ctx.metric)
        reporter = Reporter(trial, ctx.metric)
        if resumed is not None:
            for epoch, value in resumed:
                trial.report(value, epoch)
            reporter.reported = {epoch for epoch, _ in resumed}
            result = runner.resume(run_dir, callbacks=[reporter], interrupt=interrupt, pictures=pictures)
        else:
            result = runner.train(ctx.config, run_dir, overrides=items, overwrite=True, callbacks=[reporter],
                                  interrupt=interrupt, pictures=pictures)
    except TrainingInterrupted as exc:  # queued again by the caller; the retry continues this checkpoint
        trial.set_user_attr(studies.ERROR, f"interrupted at epoch {exc.epoch}, step {exc.step} (checkpointed)")
        raise
    except MLPError as exc:
        trial.set_user_attr(studies.ERROR, " ".join(str(exc).split()))
        raise TrialFailed(str(exc)) from None
    metrics = result.metrics
    trial.set_user_attr("run_dir", str(run_dir))
    pruned = reporter.pruned_at is not None
    trial.set_user_attr("figures", {**figures(metrics), **({"status": PRUNED} if pruned else {})})
    trial.set_user_attr("seconds", time.perf_counter() - started)
    if pruned:
        mark_pruned(run_dir, reporter.pruned_at)
        raise op.TrialPruned(f"pruned at epoch {reporter.pruned_at}")
    value = (metrics.get("val") or {}).get(ctx.metric.removeprefix("val_"))
    if value is None or not math.isfinite(value):
        trial.set_user_attr(studies.ERROR, f"{ctx.metric} is undefined for this trial's final model")
        raise TrialFailed(f"{ctx.metric} is undefined")
    return float(value)


def figures(metrics: dict) -> dict:
    """A run's metrics.json as a trial keeps it: the scalar test / val figures, epochs_run, status."""
    def scalars(d):
        return {k: v for k, v in (d or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    return {"test": scalars(metrics.get("test")), "val": scalars(metrics.get("val")),
            "epochs_run": metrics.get("epochs_run"), "status": metrics.get("status")}


def mark_pruned(run_dir: Path, epoch: int) -> None:
    """run.json says the run was pruned (at ``epoch``), as metrics.json and the
    weights file's meta do (Reporter.run_status): its weights are those of
    that epoch (or of early stopping's best before it)."""
    try:
        record = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return
    artifacts.write_json(run_dir / "run.json", {**record, "status": PRUNED, "pruned_epoch": epoch})


def _resumable_copy(tune_dir, retry_of, run_dir: Path, metric: str):
    """For a retry: copy the failed trial's folder to ``run_dir`` when it holds a
    checkpoint to continue from; returns the (epoch, value) pairs its metrics.jsonl
    reported before, or None (then the retry trains afresh)."""
    if retry_of is None or run_dir.exists():
        return None
    old = trial_dir(tune_dir, retry_of)
    try:
        status = json.loads((old / "metrics.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        status = None  # killed before it wrote one
    if status not in (None, "interrupted") or not any(p.exists() for p in checkpoint_paths(old)):
        return None
    if not (old / "config.yaml").is_file():
        return None
    shutil.copytree(old, run_dir, ignore=shutil.ignore_patterns(".*"))
    reported = []
    try:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            logs = json.loads(line)
            epoch, value = int(logs["epoch"]), logs.get(metric)
        except (ValueError, KeyError, TypeError):
            break  # a torn last line: the resumed run writes that epoch again
        if isinstance(value, (int, float)) and math.isfinite(value):
            reported.append((epoch, float(value)))
    return reported
