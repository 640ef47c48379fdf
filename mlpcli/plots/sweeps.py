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
CHAR_PIXELS = 6.5  # a generous width of one character of a "small" tick label, at 100 dpi


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
    ranks: dict = {}
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
            series = ", ".join(
                f"{k}={setting_label(v)}" for k, v in sorted(overrides.items()) if k not in (x_key, "seed")
            )
            x = _hashable(overrides[x_key])
            if isinstance(x, Setting):  # settings (model.layers) in the order the sweep gave them
                x.rank = ranks.setdefault(x, len(ranks))
            groups.setdefault(series, {}).setdefault(x, []).append(float(value))

    return {
        series: sorted(((x, float(np.mean(v)), float(np.std(v)), len(v)) for x, v in by_x.items()), key=lambda p: order(p[0]))
        for series, by_x in sorted(groups.items())
    }


def order(x) -> tuple:
    """Where a swept value goes on the axis: numbers by value, settings
    (model.layers) as the sweep gave them, other values by their text."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return (0, x, "")
    return (1, x.rank, "") if isinstance(x, Setting) else (1, 0, str(x))


def _hashable(value):
    if isinstance(value, (list, dict)):
        return Setting(value)
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


class Setting(str):
    """A list or mapping value (model.layers) as a key to group trials by:
    its JSON text (so equal values group together), with the value kept."""

    value: object
    rank: int = 0  # the order the sweep gave it in (sweep_points sets it)

    def __new__(cls, value):
        import json

        self = super().__new__(cls, json.dumps(value, sort_keys=True, separators=(",", ":")))
        self.value = value
        return self


# How a layer setting reads in a label: dropout 0.2 -> d0.2, batch_norm -> bn.
_LAYER_WORDS = {"dropout": "d{}", "batch_norm": "bn", "layer_norm": "ln"}


def setting_label(value) -> str:
    """A swept value as a short label: a number or string as it is; a list of
    layers (model.layers) as its units joined by '-' and the other settings,
    shared by every layer or one per layer ('64-32 relu d0.2',
    '64-32 d0.2/0'); another list or mapping in compact YAML flow ('[64, 32]',
    '{name: sgd, momentum: 0.9}'). Never a Python repr."""
    if isinstance(value, Setting):
        value = value.value
    if isinstance(value, list) and value and all(isinstance(v, dict) and "units" in v for v in value):
        words = ["-".join(str(layer["units"]) for layer in value)]
        keys = [k for k in dict.fromkeys(k for layer in value for k in layer) if k != "units"]
        for key in keys:
            each = [_layer_word(key, layer.get(key)) for layer in value]
            if len(set(each)) == 1:
                words += [each[0]] if each[0] else []
            else:
                words.append("/".join(word or "-" for word in each))
        return " ".join(words)
    if isinstance(value, (list, dict)):
        import yaml

        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip()
    return str(value)


def _layer_word(key: str, value) -> str:
    if value is None or value is False:
        return ""
    if key == "activation":
        return str(value)
    if key in _LAYER_WORDS:
        return _LAYER_WORDS[key].format(f"{value:g}" if isinstance(value, float) else value)
    return f"{key}={setting_label(value)}"


def _tick_labels(ax, xs: list, positions: list) -> float:
    """Label the x ticks of settings: wrapped to the room each has, or, where
    a label still does not fit, turned upright (cut at 40 characters).
    Returns the bottom margin the labels need (a fraction of the height)."""
    import textwrap

    from .canvas import short_label

    labels = [setting_label(x) for x in xs]
    fig = ax.figure
    left, right = fig.subplotpars.left, fig.subplotpars.right
    room = max(4, int((right - left) * fig.bbox.width / max(len(labels), 1) / CHAR_PIXELS) - 1)
    wrapped = [textwrap.fill(label, room, break_long_words=False, break_on_hyphens=False) for label in labels]
    lines = [text.split("\n") for text in wrapped]
    if all(len(line) <= room for text in lines for line in text) and max(map(len, lines)) <= 3:
        ax.set_xticks(positions, wrapped, fontsize="small")
        return 0.12 + 0.035 * max(map(len, lines))
    upright = [short_label(label, 40) for label in labels]
    ax.set_xticks(positions, upright, rotation=90, fontsize="small")
    return min(0.6, 0.1 + max(map(len, upright)) * CHAR_PIXELS / fig.bbox.height)


def sweep_plot(sweep_dir: str | Path, x_key: str, metric: str | None = None) -> bytes:
    """`mlp plot SWEEP_DIR --x KEY`'s picture (see sweep_figure)."""
    return png(sweep_figure(sweep_dir, x_key, metric))


def sweep_figure(sweep_dir: str | Path, x_key: str, metric: str | None = None):
    """The final test metric (mean over seeds, error bars one std) against
    the swept value of KEY; a log axis where the values are positive and span
    a factor of 20 or more (a learning rate); settings that are not numbers
    (model.layers) by their setting_label, wrapped or turned to fit."""
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
    xs = sorted({p[0] for points in series.values() for p in points}, key=order)
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    where = {x: x for x in xs} if numeric else {x: i for i, x in enumerate(xs)}
    fig = figure(SWEEP_SIZE)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.13, top=0.9)
    if not numeric:
        fig.subplots_adjust(bottom=_tick_labels(ax, xs, list(where.values())))
        ax.set_xlim(-0.5, len(xs) - 0.5)  # each setting in the middle of its own room
    for i, (label, points) in enumerate(series.items()):
        ax.errorbar([where[p[0]] for p in points], [p[1] for p in points], yerr=[p[2] for p in points],
                    marker="o", capsize=4, color=f"C{i % 10}", label=label or None)
    if len(series) > 1:
        ax.legend(fontsize="small")
    if numeric and min(xs) > 0 and 20 <= max(xs) / min(xs) <= MAX_LOG_SPREAD:
        ax.set_xscale("log")
    seeds = max(p[3] for points in series.values() for p in points)
    ax.set_xlabel(x_key)
    ax.set_ylabel(f"test {metric}")
    axes_title(ax, f"{Path(sweep_dir).resolve().name}: mean ± std over {seeds} seed{'s' if seeds > 1 else ''}")
    ax.grid(alpha=0.3)
    return fig
