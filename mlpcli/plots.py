"""Pictures of runs: learning curves, the confusion matrix, several runs
overlaid, and a sweep's final metric against a swept parameter.

matplotlib is imported here only, when a picture is drawn (so ``mlp --help``
and a run with ``output.plots: false`` never load it), with its Agg backend
through the object API (``Figure`` + ``FigureCanvasAgg``, no pyplot state).
Each function returns the PNG's bytes; the caller writes them atomically.
Figures have fixed sizes at 100 dpi (LEARNING_CURVES_SIZE ... in pixels) and a
fixed layout, which keeps a run's two pictures to a fraction of a second.
"""
from __future__ import annotations

import io
import math
import os
import sys
from pathlib import Path

from .errors import MLPError

DPI = 100
LEARNING_CURVES_SIZE = (900, 320)  # width, height in pixels
CONFUSION_SIZE = (440, 420)
OVERLAY_SIZE = (900, 360)
SWEEP_SIZE = (600, 400)
MAX_ANNOTATED_CLASSES = 20  # above this a confusion matrix shows colours only, no counts
MAX_TICK_LABELS = 40
# matplotlib's margin and tick arithmetic overflows on values near the float
# range (1e308: "arange: cannot compute length"), and a log axis spanning
# hundreds of decades fails to place its ticks: larger values are refused, with
# the file and figure named, and a wider spread keeps a linear axis.
MAX_PLOTTED = 1e100
MAX_LOG_SPREAD = 1e100
MAX_EPOCH = 10**9  # a logged epoch number beyond this (or not an integer) is drawn at its line's position
LEARNING_CURVES = "learning_curves.png"
CONFUSION_MATRIX = "confusion_matrix.png"

# The figure a task is judged by, as the one-line summary of `mlp train` shows it.
MAIN_METRIC = {"classification": "accuracy", "multilabel": "subset_accuracy", "regression": "r2"}


def main_metric(task: str) -> str:
    return MAIN_METRIC.get(task, "accuracy")


def _figure(size: tuple[int, int]):
    try:
        import matplotlib
    except ValueError:  # matplotlib refuses to import when MPLBACKEND names no backend
        raise MLPError(
            f"cannot load matplotlib: MPLBACKEND={os.environ.get('MPLBACKEND')!r} is not a matplotlib backend "
            "(unset it, or set it to agg)"
        ) from None

    matplotlib.use("Agg", force=False)  # a user's own backend choice stays unless none is set
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    # zlib level 1: a third larger file than the default 6, encoded several times faster
    fig.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def _series(history: list[dict], key: str, source="the run's history") -> tuple[list, list]:
    """(epochs, values) of one logged figure, skipping epochs where it is null /
    NaN (or that are not a mapping); a value too large to draw is refused,
    naming ``source`` (the metrics.jsonl it came from)."""
    xs, ys = [], []
    for i, logs in enumerate(history):
        value = logs.get(key) if isinstance(logs, dict) else None
        if _is_number(value) and math.isfinite(value):
            epoch = logs.get("epoch")
            x = epoch if _is_number(epoch) and 0 <= epoch <= MAX_EPOCH and epoch == int(epoch) else i + 1
            if abs(value) > MAX_PLOTTED:
                raise MLPError(f"{source}: {key} is {value:g} at epoch {x}, too large to plot (beyond ±{MAX_PLOTTED:g})")
            xs.append(x)
            ys.append(value)
    return xs, ys


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _title(ax, text: str) -> None:
    # A fixed position (y given): matplotlib otherwise measures every tick label to place it, a third of the drawing time.
    ax.set_title(text, fontsize="medium", y=1.0, pad=5)


def _epoch_axis(ax) -> None:
    ax.set_xlabel("epoch")
    ax.locator_params(axis="x", integer=True, nbins=4)  # few ticks: each label costs a text layout
    ax.locator_params(axis="y", nbins=4)


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


# --------------------------------------------------------------------------- one run


def learning_curves(history: list[dict], task: str, title: str | None = None, source="the run's history") -> bytes:
    """Three panels: train and validation loss; the validation main metric
    (accuracy, subset accuracy or r2); the learning rate. Per epoch."""
    fig = _figure(LEARNING_CURVES_SIZE)
    loss_ax, metric_ax, lr_ax = fig.subplots(1, 3)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.15, top=0.8 if title else 0.88, wspace=0.3)
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        xs, ys = _series(history, key, source)
        if xs:
            loss_ax.plot(xs, ys, label=label, marker="." if len(xs) < 3 else None)
    _title(loss_ax, "loss")
    _epoch_axis(loss_ax)
    if loss_ax.lines:
        loss_ax.legend(fontsize="small")
        if min(min(line.get_ydata()) for line in loss_ax.lines) > 0 and 30 < _spread(loss_ax) <= MAX_LOG_SPREAD:
            loss_ax.set_yscale("log")
    metric = main_metric(task)
    xs, ys = _series(history, f"val_{metric}", source)
    if xs:
        metric_ax.plot(xs, ys, color="C1", marker="." if len(xs) < 3 else None)
    else:
        _note(metric_ax, "no validation split")
    _title(metric_ax, f"validation {metric.replace('_', ' ')}")
    _epoch_axis(metric_ax)
    xs, ys = _series(history, "lr", source)
    if xs:
        lr_ax.plot(xs, ys, color="C2", marker="." if len(xs) < 3 else None)
        if max(ys) > 0:
            lr_ax.set_ylim(0, max(ys) * 1.1)  # from 0: a constant rate is a flat line, not noise magnified
        lr_ax.yaxis.set_major_formatter("{x:.2g}")  # 0.001, not an offset ("1e-3") over the panel
    else:
        _note(lr_ax, "no learning rate\n(lbfgs line search)")
    _title(lr_ax, "learning rate")
    _epoch_axis(lr_ax)
    lr_ax.locator_params(axis="y", nbins=3)
    if title:
        fig.suptitle(title, fontsize="medium", y=0.98)
    return _png(fig)


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
    labels = [_label(c) for c in classes] if classes is not None and len(classes) == k else list(map(str, range(k)))
    fig = _figure(CONFUSION_SIZE)
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
    _title(ax, f"test split: {np.trace(counts)} of {total} right")
    return _png(fig)


def _label(value, limit: int = 12) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_run_plots(run_dir: Path, history: list[dict], task: str, test: dict, classes) -> list[Path]:
    """learning_curves.png and, for classification, confusion_matrix.png in
    run_dir. Drawn after the run's results are written, so a picture never
    fails a finished run: any failure (a bogus MPLBACKEND, values too large to
    draw, a matplotlib error) is a one-line warning on stderr instead."""
    from .artifacts import atomic_write

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
    fig = _figure(OVERLAY_SIZE)
    names = _names(runs)
    if metric is not None:
        key = _epoch_key(metric, keys)
        ax = fig.subplots()
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9)
        for i, run in enumerate(runs):
            ax.plot(*_series(run.history, key, _source(run)), color=f"C{i % 10}", label=names[i])
        _title(ax, key.replace("_", " "))
        axes = [ax]
    else:
        tasks = {run.task for run in runs}
        metric = main_metric(tasks.pop()) if len(tasks) == 1 else None
        loss_ax, metric_ax = axes = fig.subplots(1, 2)
        fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.9, wspace=0.22)
        for i, run in enumerate(runs):
            colour = f"C{i % 10}"
            val = _series(run.history, "val_loss", _source(run))
            train = _series(run.history, "train_loss", _source(run))
            loss_ax.plot(*(val if val[0] else train), color=colour, label=names[i])
            if val[0]:
                loss_ax.plot(*train, color=colour, linestyle="--", linewidth=0.8)
            if metric:
                metric_ax.plot(*_series(run.history, f"val_{metric}", _source(run)), color=colour, label=names[i])
        _title(loss_ax, "loss (validation solid, train dashed)")
        if metric and metric_ax.lines and any(len(line.get_xdata()) for line in metric_ax.lines):
            _title(metric_ax, f"validation {metric.replace('_', ' ')}")
        else:
            _note(metric_ax, "no validation metric in common")
    for ax in axes:
        _epoch_axis(ax)
    axes[0].legend(fontsize="small")
    return _png(fig)


def _source(run) -> Path:
    return Path(run.path) / "metrics.jsonl"


def _names(runs: list) -> list[str]:
    names = [run.name for run in runs]
    return [str(run.path) if names.count(name) > 1 else name for run, name in zip(runs, names)]


def plot_runs(run_dirs, metric: str | None = None) -> bytes:
    """`mlp plot RUN_DIR...`: the runs' curves overlaid."""
    from .compare import read_run

    return overlay([read_run(d, history=True) for d in run_dirs], metric)


# --------------------------------------------------------------------------- a sweep


SWEEP_RESULTS = "results.jsonl"


def is_sweep(path: str | Path) -> bool:
    return (Path(path) / SWEEP_RESULTS).is_file() and not (Path(path) / "config.yaml").is_file()


def read_sweep(sweep_dir: str | Path) -> list[dict]:
    """The sweep's results.jsonl: one object per trial (trial, overrides, seed,
    status, the final test metrics, seconds); a torn line is skipped and a
    trial recorded twice (a resumed sweep) counts once, its last record."""
    import json

    path = Path(sweep_dir) / SWEEP_RESULTS
    rows = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MLPError(f"{path}: cannot read it ({exc})") from None
    for n, line in enumerate(text.splitlines()):
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):  # a torn line, or one nested thousands deep
            continue
        if isinstance(row, dict):
            rows[row.get("trial", n)] = row
    return list(rows.values())


def trial_metric(row: dict, name: str):
    """A trial's final test figure NAME: from its "test" object, a flat
    "test.NAME" / "test_NAME" key, or NAME itself."""
    test = row.get("test")
    if isinstance(test, dict) and name in test:
        return test[name]
    metrics = row.get("metrics")
    if isinstance(metrics, dict):
        if isinstance(metrics.get("test"), dict) and name in metrics["test"]:
            return metrics["test"][name]
        if name in metrics:
            return metrics[name]
    for key in (f"test.{name}", f"test_{name}", name):
        if key in row:
            return row[key]
    return None


def swept_values(row: dict) -> dict:
    """A trial's swept keys and values: its "params" mapping (dotted key ->
    value, seed included when --seeds sweeps it), else its "overrides" (a
    mapping, or a list of KEY=VALUE strings with YAML values)."""
    for key in ("params", "overrides"):
        value = row.get(key)
        if isinstance(value, dict):
            return value
    from .config import parse_yaml  # as --set reads a value: 3e-4 is a number

    values = {}
    for item in row.get("overrides") or ():
        if isinstance(item, str) and "=" in item:
            key, _, text = item.partition("=")
            try:
                values[key.strip()] = parse_yaml(text, key)[0]
            except MLPError:
                values[key.strip()] = text
    return values


def sweep_points(rows: list[dict], x_key: str, metric: str, source=SWEEP_RESULTS) -> dict[str, list[tuple]]:
    """{series: [(x, mean, std, n), ...]}: the finished trials grouped by the
    other swept keys (one series per combination, "" when x_key is the only
    one), then by the value of x_key; mean and std (NumPy's, population) over
    the seeds, std 0 for one seed; sorted by x. A value or x too large to draw
    is refused, naming ``source``."""
    import numpy as np

    groups: dict = {}
    for row in rows:
        if row.get("status", "completed") != "completed":
            continue
        overrides = swept_values(row)
        if x_key not in overrides:
            continue
        value = trial_metric(row, metric)
        if _is_number(value) and math.isfinite(value):
            x = overrides[x_key]
            for what, number in ((f"test {metric}", value), (x_key, x)):
                if _is_number(number) and not abs(number) <= MAX_PLOTTED:
                    raise MLPError(
                        f"{source}: trial {_hashable(row.get('trial'))}: {what} is {number:g}, too large to plot "
                        f"(beyond ±{MAX_PLOTTED:g})"
                    )
            series = ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()) if k not in (x_key, "seed"))
            groups.setdefault(series, {}).setdefault(_hashable(overrides[x_key]), []).append(float(value))

    def order(x):
        return (0, x, "") if isinstance(x, (int, float)) and not isinstance(x, bool) else (1, 0, str(x))

    return {
        series: sorted(((x, float(np.mean(v)), float(np.std(v)), len(v)) for x, v in by_x.items()), key=lambda p: order(p[0]))
        for series, by_x in sorted(groups.items())
    }


def _hashable(value):
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def sweep_plot(sweep_dir: str | Path, x_key: str, metric: str | None = None) -> bytes:
    """`mlp plot SWEEP_DIR --x KEY`: the final test metric (mean over seeds,
    error bars one std) against the swept value of KEY; a log axis where the
    values are positive and span a factor of 20 or more (a learning rate)."""
    rows = read_sweep(sweep_dir)
    if not rows:
        raise MLPError(f"{Path(sweep_dir) / SWEEP_RESULTS}: holds no finished trial")
    swept = sorted({k for row in rows for k in swept_values(row)})
    if x_key not in swept:
        raise MLPError(f"--x {x_key}: not a swept key of {sweep_dir}; choose one of {', '.join(swept) or '(none)'}")
    if metric is None:
        metric = next((m for m in ("accuracy", "subset_accuracy", "r2") if trial_metric(rows[0], m) is not None), "loss")
    series = sweep_points(rows, x_key, metric, Path(sweep_dir) / SWEEP_RESULTS)
    if not series:
        raise MLPError(f"--metric {metric}: no finished trial of {sweep_dir} records test {metric}")
    xs = sorted({p[0] for points in series.values() for p in points}, key=str)
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    where = {x: x for x in xs} if numeric else {x: i for i, x in enumerate(xs)}
    fig = _figure(SWEEP_SIZE)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.13, top=0.9)
    for i, (label, points) in enumerate(series.items()):
        ax.errorbar([where[p[0]] for p in points], [p[1] for p in points], yerr=[p[2] for p in points],
                    marker="o", capsize=4, color=f"C{i % 10}", label=label or None)
    if len(series) > 1:
        ax.legend(fontsize="small")
    if numeric and min(xs) > 0 and 20 <= max(xs) / min(xs) <= MAX_LOG_SPREAD:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(list(where.values()), [str(x) for x in xs])
    seeds = max(p[3] for points in series.values() for p in points)
    ax.set_xlabel(x_key)
    ax.set_ylabel(f"test {metric}")
    _title(ax, f"{Path(sweep_dir).resolve().name}: mean ± std over {seeds} seed{'s' if seeds > 1 else ''}")
    ax.grid(alpha=0.3)
    return _png(fig)
