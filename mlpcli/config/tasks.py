"""Which losses, loss options and monitored metrics fit each task.

Checked when the config is validated if it names its task, and again by the
runner once ``auto`` has become one (and the number of classes is known).
"""
from __future__ import annotations

from typing import Any

from ..metrics import EPOCH_METRICS
from .base import key_path

# The validation metrics logged every epoch, by task (val_<name> in metrics.jsonl).
TASK_METRICS = EPOCH_METRICS
# Metrics where larger is better; every other monitored value (losses, errors) is minimised.
MAXIMISED = {
    "accuracy", "balanced_accuracy", "subset_accuracy", "r2", "explained_variance", "roc_auc",
    *(f"{m}_{avg}" for m in ("precision", "recall", "f1") for avg in ("macro", "weighted", "micro", "samples")),
}
TASK_LOSSES = {
    "classification": ("cross_entropy", "binary_cross_entropy"),
    "multilabel": ("binary_cross_entropy",),
    "regression": ("mse", "mae", "huber"),
}


def monitors(task: str = "auto") -> list[str]:
    """The values early stopping can watch for a task ('auto': for either)."""
    metrics = TASK_METRICS[task] if task in TASK_METRICS else dict.fromkeys(sum(TASK_METRICS.values(), ()))
    return ["val_loss", *(f"val_{m}" for m in metrics), "train_loss"]


def resolved_mode(mode: str, monitor: str) -> str:
    """'min' or 'max' for a monitored value ('auto': by whether larger is better)."""
    if mode != "auto":
        return mode
    return "max" if monitor.removeprefix("val_") in MAXIMISED else "min"


def task_misfit(task: str, loss: str, class_weight=None, label_smoothing=0.0,
                n_classes=None) -> tuple[tuple, str] | None:
    """(key path, what is wrong) where the loss or its options do not fit a
    task (and, once the data is read, its number of classes), or None."""
    valid = TASK_LOSSES[task]
    if loss != "auto" and loss not in valid:
        return ("train", "loss"), f"{loss!r} does not fit the {task} task; valid: auto, {', '.join(valid)}"
    if task == "classification" and loss == "binary_cross_entropy" and n_classes and n_classes > 2:
        return ("train", "loss"), (
            f"'binary_cross_entropy' needs 2 classes, the data has {n_classes}; use cross_entropy (or auto)"
        )
    if class_weight is not None and task != "classification":
        return ("train", "class_weight"), f"applies to classification only, not to the {task} task"
    if label_smoothing and task == "regression":
        return ("train", "label_smoothing"), "applies to classification and multilabel, not to the regression task"
    return None


def task_problem(task: str, loss: str, class_weight=None, label_smoothing=0.0, n_classes=None) -> str | None:
    """task_misfit as one message naming the key, or None."""
    misfit = task_misfit(task, loss, class_weight, label_smoothing, n_classes)
    return misfit and f"{key_path(misfit[0])}: {misfit[1]}"


def monitored(train) -> list[tuple[tuple, Any]]:
    """(key path, section) of each setting that watches a logged metric:
    early stopping and the reduce_on_plateau schedule. ``train`` is a
    TrainConfig or its resolved dict; a section is returned as given."""
    get = train.get if isinstance(train, dict) else (lambda key: getattr(train, key))
    out = []
    if get("early_stopping"):
        out.append((("train", "early_stopping", "monitor"), get("early_stopping")))
    schedule = get("schedule")
    name = schedule.get("name") if isinstance(schedule, dict) else getattr(schedule, "name", None)
    if name == "reduce_on_plateau":
        out.append((("train", "schedule", "monitor"), schedule))
    return out


def unlogged(monitor: str, task: str) -> str | None:
    """Why a monitored metric cannot be used for a task (it is not logged for it), or None."""
    valid = monitors(task)
    return None if monitor in valid else f"{monitor!r} is not logged for {task}; valid: {', '.join(valid)}"


def monitor_problem(monitor: str, task: str, key: tuple = ("train", "early_stopping", "monitor")) -> str | None:
    """unlogged as one message naming the key (a path from monitored), or None."""
    detail = unlogged(monitor, task)
    return detail and f"{key_path(key)}: {detail}"
