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


def learning_curves(history: list[dict], task: str, title: str | None = None, source="the run's history",
                    best: tuple[int, str] | None = None) -> bytes:
    """learning_curves.png (see learning_curves_figure)."""
    return png(learning_curves_figure(history, task, title, source, best))


def learning_curves_figure(history: list[dict], task: str, title: str | None = None, source="the run's history",
                           best: tuple[int, str] | None = None):
    """The Figure of a run's curves, per epoch: train and validation loss; the
    validation main metric (accuracy, subset accuracy or r2); and the learning
    rate, as a third panel only when it changed (a schedule; a constant rate
    is named in the loss panel's title instead). ``best`` (epoch, monitored
    value), early stopping's best epoch, is marked on the first two panels."""
    fig = figure(LEARNING_CURVES_SIZE)
    lr_xs, lr_ys = series(history, "lr", source)
    changing = len(set(lr_ys)) > 1
    axes = fig.subplots(1, 3 if changing else 2)
    loss_ax, metric_ax = axes[0], axes[1]
    fig.subplots_adjust(left=0.075, right=0.98, bottom=0.15, top=0.8 if title else 0.88, wspace=0.3 if changing else 0.2)
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        xs, ys = series(history, key, source)
        if xs:
            loss_ax.plot(xs, ys, label=label, marker="." if len(xs) < 3 else None)
    loss_title = "loss"
    if lr_ys and not changing:
        loss_title += f" (constant learning rate {lr_ys[0]:.3g})"
    axes_title(loss_ax, loss_title)
    epoch_axis(loss_ax)
    if loss_ax.lines and min(min(line.get_ydata()) for line in loss_ax.lines) > 0 and 30 < _spread(loss_ax) <= MAX_LOG_SPREAD:
        _log_axis(loss_ax)
    metric = main_metric(task)
    xs, ys = series(history, f"val_{metric}", source)
    if xs:
        metric_ax.plot(xs, ys, color="C1", marker="." if len(xs) < 3 else None)
    else:
        axes_note(metric_ax, "no validation split")
    axes_title(metric_ax, f"validation {metric.replace('_', ' ')}")
    epoch_axis(metric_ax)
    if best and best[0]:
        for ax in (loss_ax, metric_ax):
            ax.axvline(best[0], color="0.35", linestyle=":", linewidth=1.2, gid=BEST_EPOCH_GID,
                       label=f"best {best[1]}: epoch {best[0]}" if ax is loss_ax else None)
    if loss_ax.lines:
        loss_ax.legend(fontsize="small")
    if changing:
        lr_ax = axes[2]
        lr_ax.plot(lr_xs, lr_ys, color="C2", marker="." if len(lr_xs) < 3 else None)
        if max(lr_ys) > 0:
            lr_ax.set_ylim(0, max(lr_ys) * 1.1)  # from 0: a schedule's steps at their true size
        lr_ax.yaxis.set_major_formatter("{x:.2g}")  # 0.001, not an offset ("1e-3") over the panel
        axes_title(lr_ax, "learning rate")
        epoch_axis(lr_ax)
        lr_ax.locator_params(axis="y", nbins=3)
    if title:
        fig.suptitle(title, fontsize="medium", y=0.98)
    return fig


# The gid of the best-epoch marker lines (tests find them by it).
BEST_EPOCH_GID = "best_epoch"


def _log_axis(ax) -> None:
    """A log loss axis with a few labelled ticks (1, 2, 5 per decade over two
    decades or less, else the decades), printed plainly (0.05, 1e-05), and
    unlabelled minor ticks: matplotlib's own labels its minor ticks on a short
    range, side by side and wider than the margin."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    values = [float(v) for line in ax.lines for v in line.get_ydata()]
    decades = math.log10(max(values)) - math.log10(min(values))
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 2 else (1.0,), numticks=6))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _spread(ax) -> float:
    """max / min of the (positive) values drawn, computed in logs: 1e99 / 1e-300 is no overflow."""
    values = [float(v) for line in ax.lines for v in line.get_ydata()]
    return 10 ** min(math.log10(max(values)) - math.log10(min(values)), 300)


def confusion_matrix(matrix, classes) -> bytes:
    """confusion_matrix.png (see confusion_matrix_figure)."""
    return png(confusion_matrix_figure(matrix, classes))


def confusion_matrix_figure(matrix, classes):
    """The test split's confusion matrix: rows the true class, columns the
    predicted one (scikit-learn's layout), each labelled with its class name,
    a count in each cell."""
    import numpy as np

    counts = np.asarray(matrix, dtype=np.int64)
    k = len(counts)
    labels = [short_label(c) for c in classes] if classes is not None and len(classes) == k else list(map(str, range(k)))
    fig = figure(CONFUSION_SIZE)
    ax = fig.subplots()
    wide = max(map(len, labels), default=0) > 3
    # room for the row labels at the left and the (turned) column labels below
    margin = min(0.32, 0.1 + 0.016 * max(map(len, labels), default=0)) if k <= MAX_TICK_LABELS else 0.12
    fig.subplots_adjust(left=max(0.14, margin), right=0.96, bottom=max(0.14, margin if wide else 0.14), top=0.92)
    image = ax.imshow(counts, cmap="Blues", interpolation="nearest", vmin=0)
    if k > MAX_ANNOTATED_CLASSES:  # no counts written in the cells: a colour scale instead
        fig.subplots_adjust(right=0.86)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    if k <= MAX_TICK_LABELS:
        ax.set_xticks(range(k), labels, rotation=90 if wide else 0, fontsize="small")
        ax.set_yticks(range(k), labels, fontsize="small")
    if k <= MAX_ANNOTATED_CLASSES:
        threshold = counts.max() / 2
        size = "small" if k <= 10 else "x-small"
        for i, j in zip(*np.nonzero(counts)):  # zero cells left blank: the errors stand out
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=size,
                    color="white" if counts[i, j] > threshold else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = counts.sum()
    axes_title(ax, f"test split: {np.trace(counts)} of {total} right")
    return fig


def write_run_plots(run_dir: Path, history: list[dict], task: str, test: dict, classes,
                    best: tuple[int, str] | None = None, names=(LEARNING_CURVES, CONFUSION_MATRIX)) -> list[Path]:
    """learning_curves.png (``best``: early stopping's best epoch and the
    value it watched, marked) and, for classification, confusion_matrix.png in
    run_dir (those of them in ``names``). Drawn after the run's results are written, so a picture never
    fails a finished run: any failure (a bogus MPLBACKEND, values too large to
    draw, a matplotlib error) is a one-line warning on stderr instead."""
    from ..artifacts import atomic_write

    run_dir = Path(run_dir)
    written = []
    try:
        if LEARNING_CURVES in names:
            curves = learning_curves(history, task, run_dir.resolve().name, source=run_dir / "metrics.jsonl", best=best)
            written.append(atomic_write(run_dir / LEARNING_CURVES, curves))
        if CONFUSION_MATRIX in names and task == "classification" and test.get("confusion_matrix") is not None:
            written.append(atomic_write(run_dir / CONFUSION_MATRIX, confusion_matrix(test["confusion_matrix"], classes)))
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the run itself is complete
        reason = " ".join(str(exc).split()) if isinstance(exc, MLPError) else f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        print(f"Warning: {run_dir}: the plots were not drawn ({reason[:300]}); the run's results are saved", file=sys.stderr)
    return written


def redraw_missing(run_dir) -> list[Path]:
    """Draw a finished run's pictures that are missing, as the run drew them,
    from its metrics.json, config.yaml (or the weights file's meta, which
    holds the same config), metrics.jsonl and (for a confusion matrix's
    class names) the weights file's meta: a sweep or tune whose
    trials' pictures were queued for a helper when it was killed (or the
    machine lost) draws them when it is run again. Nothing when they are
    there, pictures are off, or the run did not finish (completed or
    pruned); a picture that is there is left as it is, and a folder that
    cannot be read is left alone. Returns the PNGs written."""
    import json

    import yaml

    from .. import weights_file
    from ..compare import read_history

    run_dir = Path(run_dir)
    missing = [name for name in (LEARNING_CURVES, CONFUSION_MATRIX) if not (run_dir / name).is_file()]
    if not missing:
        return []
    meta = {}

    def weights_meta() -> dict:
        if not meta:
            meta.update(weights_file.read(run_dir / "weights.npz")[1])
        return meta

    unreadable = (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError, MLPError)
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        if metrics.get("status") not in ("completed", "pruned"):
            return []
        try:
            config = yaml.load((run_dir / "config.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            task = config["model"]["task"]
        except unreadable:  # the weights file's meta holds the same resolved config
            config = weights_meta()["config"]
            task = config["model"]["task"]
        test = metrics["test"]
        if not config["output"]["plots"]:
            return []
        history = read_history(run_dir)
    except unreadable:
        return []
    classes = None
    if CONFUSION_MATRIX in missing and task == "classification" and test.get("confusion_matrix") is not None:
        try:
            classes = weights_meta().get("classes")
        except unreadable:
            missing.remove(CONFUSION_MATRIX)
    else:
        missing = [name for name in missing if name != CONFUSION_MATRIX]
    if not missing:
        return []
    return write_run_plots(run_dir, history, task, test, classes, _best(config, history), names=missing)


def _best(config: dict, history: list[dict]) -> tuple[int, str] | None:
    """Early stopping's best epoch and monitor, as the run marked them: its
    stopper replayed over the history (metrics.json's best_epoch is the
    last epoch when the best weights were not restored)."""
    stopping = config["train"].get("early_stopping")
    if not stopping:
        return None
    from ..config.optimization import resolved_mode
    from ..training import EarlyStopping

    stopper = EarlyStopping(None, **{**stopping, "mode": resolved_mode(stopping["mode"], stopping["monitor"]),
                                     "restore_best": False})
    for logs in history:
        stopper.on_epoch_end(logs["epoch"], logs)
    return (stopper.best_epoch, stopper.monitor) if stopper.best_epoch else None


# --------------------------------------------------------------------------- several runs


def _epoch_key(name: str, keys: set) -> str:
    """--metric NAME -> the metrics.jsonl key: accuracy -> val_accuracy, loss -> val_loss."""
    for key in (name, f"val_{name}"):
        if key in keys:
            return key
    valid = sorted(k for k in keys if k != "epoch")
    raise MLPError(f"--metric {name}: not logged per epoch by these runs; choose one of {', '.join(valid)}")


def overlay(runs: list, metric: str | None = None) -> bytes:
    """`mlp plot RUN_DIR...`'s picture (see overlay_figure)."""
    return png(overlay_figure(runs, metric))


def overlay_figure(runs: list, metric: str | None = None):
    """Several runs' curves on shared axes, one colour per run (legend: the run
    folder's name, or as much of its path as tells it from the others'
    (distinct_names)). Default: the loss (validation solid, train dashed) and
    the validation main metric; with ``metric``, that figure alone."""
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
    return fig


def _source(run) -> Path:
    return Path(run.path) / "metrics.jsonl"


def _names(runs: list) -> list[str]:
    return distinct_names([Path(run.path) for run in runs])


def distinct_names(paths: list[Path]) -> list[str]:
    """A legend name per run folder: its last component, or where two runs
    share that, the shortest tail of the path (``a/run``, ``b/run``) that
    tells it from the others (the same folder twice keeps its name)."""
    parts = [Path(p).resolve().parts for p in paths]
    names = []
    for mine in parts:
        others = [theirs for theirs in parts if theirs != mine]
        n = 1
        while n < len(mine) and any(theirs[-n:] == mine[-n:] for theirs in others):
            n += 1
        names.append("/".join(mine[-n:]).replace("//", "/"))
    return names


def plot_runs(run_dirs, metric: str | None = None) -> bytes:
    """`mlp plot RUN_DIR...`: the runs' curves overlaid."""
    from ..compare import read_run

    return overlay([read_run(d, history=True) for d in run_dirs], metric)
