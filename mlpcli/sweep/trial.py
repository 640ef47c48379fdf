"""One trial of a sweep: trained (or resumed from its checkpoint) as `mlp
train` would, and its results row."""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..checkpoint import checkpoint_paths
from ..errors import CheckpointError, MLPError, RunFolderError, TrainingInterrupted
from .planning import Trial

def run_trial(task: dict, interrupt=None, pictures=None) -> dict:
    """Train one trial (``task``: trial, params, seed, overrides, config, run_dir)
    and return its results row. A trial's own failure is a row with status
    "failed" and the one-line error. With ``interrupt`` (see training.fit) set,
    a trial not yet started is a row with status "not run", and one stopped at
    a step is "interrupted" (checkpointed: the next run of the sweep resumes it).
    ``pictures``: the worker's plots.worker.PictureQueue, if it has one."""
    from .. import runner

    start = time.perf_counter()
    row = {"trial": task["trial"], "params": task["params"], "overrides": list(task["overrides"]),
           "seed": task["seed"], "status": "completed", "error": None}
    if interrupt is not None and interrupt.signum:
        return {**row, "status": "not run", "seconds": None}
    try:
        result = None
        if _interrupted(Path(task["run_dir"])):
            try:
                result = runner.resume(task["run_dir"], interrupt=interrupt, pictures=pictures)
            except (RunFolderError, CheckpointError):  # no usable checkpoint: train it afresh
                result = None
        if result is None:
            result = runner.train(task["config"], task["run_dir"], overrides=task["overrides"], overwrite=True,
                                  interrupt=interrupt, pictures=pictures)
        row.update(figures(result.metrics))
    except TrainingInterrupted as exc:
        row.update(status="interrupted", error=" ".join(str(exc).split()))
    except MLPError as exc:
        row.update(status="failed", error=" ".join(str(exc).split()))
    except Exception as exc:  # a bug in a trial: recorded, the sweep goes on
        row.update(status="failed", error=f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")
    row["seconds"] = time.perf_counter() - start
    return row


def _interrupted(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a run stopped by a signal, with a checkpoint to resume from."""
    try:
        status = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(status, dict) and status.get("status") == "interrupted"
            and any(path.exists() for path in checkpoint_paths(run_dir)))


def figures(metrics: dict) -> dict:
    def scalars(d):
        return {k: v for k, v in (d or {}).items() if v is None or isinstance(v, (int, float)) and not isinstance(v, bool)}

    return {"test": scalars(metrics.get("test")), "val": scalars(metrics.get("val")),
            "epochs_run": metrics.get("epochs_run")}


def row_of(t: Trial | dict) -> dict:
    if isinstance(t, dict):
        return {k: t[k] for k in ("trial", "params", "seed")}
    return {"trial": t.name, "params": t.params, "seed": t.seed}


def failed_row(task: dict, error: str) -> dict:
    return {**row_of(task), "overrides": task["overrides"], "status": "failed", "error": " ".join(error.split()), "seconds": None}
