"""Pictures of runs: one run's learning curves and confusion matrix, and
several runs' curves overlaid."""
from __future__ import annotations

import math
import sys
from pathlib import Path

from ..errors import MLPError
from .canvas import (
    CONFUSION_MATRIX,
    CONFUSION_SIZE,
    LEARNING_CURVES,
    LEARNING_CURVES_SIZE,
    MAX_ANNOTATED_CLASSES,
    MAX_LOG_SPREAD,
    MAX_TICK_LABELS,
    OVERLAY_SIZE,
    axes_note,
    axes_title,
    epoch_axis,
    figure,
    main_metric,
    png,
    series,
    short_label,
)


def learning_curves(history: list[dict], task: str, title: str | None = None, source="the run's history") -> bytes:
    """Three panels: train and validation loss; the validation main metric
    (accuracy, subset accuracy or r2); the learning rate. Per epoch."""
    fig = figure(LEARNING_CURVES_SIZE)
    loss_ax, metric_ax, lr_ax = fig.subplots(1, 3)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.15, top=0.8 if title else 0.88, wspace=0.3)
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        xs, ys = series(history, key, source)
        if xs:
            loss_ax.plot(xs, ys, label=label, marker="." if len(xs) < 3 else None)
    axes_title(loss_ax, "loss")
    epoch_axis(loss_ax)
    if loss_ax.lines:
        loss_ax.legend(fontsize="small")
        if min(min(line.get_ydata()) for line in loss_ax.lines) > 0 and 30 < _spread(loss_ax) <= MAX_LOG_SPREAD:
            loss_ax.set_yscale("log")
    metric = main_metric(task)
    xs, ys = series(history, f"val_{metric}", source)
    if xs:
        metric_ax.plot(xs, ys, color="C1", marker="." if len(xs) < 3 else None)
    else:
        axes_note(metric_ax, "no validation split")
    axes_title(metric_ax, f"validation {metric.replace('_', ' ')}")
    epoch_axis(metric_ax)
    xs, ys = series(history, "lr", source)
    if xs:
        lr_ax.plot(xs, ys, color="C2", marker="." if len(xs) < 3 else None)
        if max(ys) > 0:
            lr_ax.set_ylim(0, max(ys) * 1.1)  # from 0: a constant rate is a flat line, not noise magnified
        lr_ax.yaxis.set_major_formatter("{x:.2g}")  # 0.001, not an offset ("1e-3") over the panel
    else:
        axes_note(lr_ax, "no learning rate\n(lbfgs line search)")
    axes_title(lr_ax, "learning rate")
    epoch_axis(lr_ax)
    lr_ax.locator_params(axis="y", nbins=3)
    if title:
        fig.suptitle(title, fontsize="medium", y=0.98)
    return png(fig)


def _spread(ax) -> float:
    """max / min of the (positive) values drawn, computed in logs: 1e99 / 1e-300 is no overflow."""
    values = [float(v) for line in ax.lines for v in line.get_ydata()]
    return 10 ** min(math.log10(max(values)) - math.log10(min(values)), 300)


def confusion_matrix(matrix, classes) -> bytes:
    """The test split's confusion matrix: rows the true class, columns the
    predicted one (scikit-learn's layout), a count in each cell."""
    import numpy as np

    counts = np.asarray(matrix, dtype=np.int64)
    k = len(counts)
    labels = [short_label(c) for c in classes] if classes is not None and len(classes) == k else list(map(str, range(k)))
    fig = figure(CONFUSION_SIZE)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.14, right=0.96, bottom=0.14, top=0.92)
    image = ax.imshow(counts, cmap="Blues", interpolation="nearest", vmin=0)
    if k > MAX_ANNOTATED_CLASSES:  # no counts written in the cells: a colour scale instead
        fig.subplots_adjust(right=0.86)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    if k <= MAX_TICK_LABELS:
        ax.set_xticks(range(k), labels, rotation=90 if max(map(len, labels)) > 3 else 0, fontsize="small")
        ax.set_yticks(range(k), labels, fontsize="small")
    if k <= MAX_ANNOTATED_CLASSES:
        threshold = counts.max() / 2
        size = "small" if k <= 10 else "x-small"
        for i, j in zip(*np.nonzero(counts)):  # zero cells left blank: the errors stand out
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=size,
                    color="white" if counts[i, j] > threshold else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = counts.sum()
    axes_title(ax, f"test split: {np.trace(counts)} of {total} right")
    return png(fig)


def write_run_plots(run_dir: Path, history: list[dict], task: str, test: dict, classes) -> list[Path]:
    """learning_curves.png and, for classification, confusion_matrix.png in
    run_dir. Drawn after the run's results are written, so a picture never
    fails a finished run: any failure (a bogus MPLBACKEND, values too large to
    draw, a matplotlib error) is a one-line warning on stderr instead."""
    from ..artifacts import atomic_write

    run_dir = Path(run_dir)
    written = []
    try:
        curves = learning_curves(history, task, run_dir.resolve().name, source=run_dir / "metrics.jsonl")
        written.append(atomic_write(run_dir / LEARNING_CURVES, curves))
        if task == "classification" and test.get("confusion_matrix") is not None:
            written.append(atomic_write(run_dir / CONFUSION_MATRIX, confusion_matrix(test["confusion_matrix"], classes)))
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the run itself is complete
        reason = " ".join(str(exc).split()) if isinstance(exc, MLPError) else f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        print(f"Warning: {run_dir}: the plots were not drawn ({reason[:300]}); the run's results are saved", file=sys.stderr)
    return written


# --------------------------------------------------------------------------- several runs


def _epoch_key(name: str, keys: set) -> str:
    """--metric NAME -> the metrics.jsonl key: accuracy -> val_accuracy, loss -> val_loss."""
    for key in (name, f"val_{name}"):
        if key in keys:
            return key
    valid = sorted(k for k in keys if k != "epoch")
    raise MLPError(f"--metric {name}: not logged per epoch by these runs; choose one of {', '.join(valid)}")


def overlay(runs: list, metric: str | None = None) -> bytes:
    """Several runs' curves on shared axes, one colour per run (legend: the run
    folder's name). Default: the loss (validation solid, train dashed) and the
    validation main metric; with ``metric``, that figure alone."""
    keys = {k for run in runs for logs in run.history for k in logs}
    fig = figure(OVERLAY_SIZE)
    names = _names(runs)
    if metric is not None:
        key = _epoch_key(metric, keys)
        ax = fig.subplots()
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9)
        for i, run in enumerate(runs):
            ax.plot(*series(run.history, key, _source(run)), color=f"C{i % 10}", label=names[i])
        axes_title(ax, key.replace("_", " "))
        axes = [ax]
    else:
        tasks = {run.task for run in runs}
        metric = main_metric(tasks.pop()) if len(tasks) == 1 else None
        loss_ax, metric_ax = axes = fig.subplots(1, 2)
        fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.9, wspace=0.22)
        for i, run in enumerate(runs):
            colour = f"C{i % 10}"
            val = series(run.history, "val_loss", _source(run))
            train = series(run.history, "train_loss", _source(run))
            loss_ax.plot(*(val if val[0] else train), color=colour, label=names[i])
            if val[0]:
                loss_ax.plot(*train, color=colour, linestyle="--", linewidth=0.8)
            if metric:
                metric_ax.plot(*series(run.history, f"val_{metric}", _source(run)), color=colour, label=names[i])
        axes_title(loss_ax, "loss (validation solid, train dashed)")
        if metric and metric_ax.lines and any(len(line.get_xdata()) for line in metric_ax.lines):
            axes_title(metric_ax, f"validation {metric.replace('_', ' ')}")
        else:
            axes_note(metric_ax, "no validation metric in common")
    for ax in axes:
        epoch_axis(ax)
    axes[0].legend(fontsize="small")
    return png(fig)


def _source(run) -> Path:
    return Path(run.path) / "metrics.jsonl"


def _names(runs: list) -> list[str]:
    names = [run.name for run in runs]
    return [str(run.path) if names.count(name) > 1 else name for run, name in zip(runs, names)]


def plot_runs(run_dirs, metric: str | None = None) -> bytes:
    """`mlp plot RUN_DIR...`: the runs' curves overlaid."""
    from ..compare import read_run

    return overlay([read_run(d, history=True) for d in run_dirs], metric)
