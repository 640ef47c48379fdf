"""A sweep's picture: the final test metric against a swept parameter, from
its results.jsonl."""
from __future__ import annotations

import math
from pathlib import Path

from ..errors import MLPError
from .canvas import (
    MAX_LOG_SPREAD,
    MAX_PLOTTED,
    SWEEP_SIZE,
    axes_title,
    figure,
    is_number,
    png,
)

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
    from ..config import parse_yaml  # as --set reads a value: 3e-4 is a number

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
        if is_number(value) and math.isfinite(value):
            x = overrides[x_key]
            for what, number in ((f"test {metric}", value), (x_key, x)):
                if is_number(number) and not abs(number) <= MAX_PLOTTED:
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
    fig = figure(SWEEP_SIZE)
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
    axes_title(ax, f"{Path(sweep_dir).resolve().name}: mean ± std over {seeds} seed{'s' if seeds > 1 else ''}")
    ax.grid(alpha=0.3)
    return png(fig)
