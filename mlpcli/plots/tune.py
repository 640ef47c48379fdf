"""A tune folder's picture (`mlp plot TUNE_DIR`): the optimisation history,
the parameter importances and the best trials' learning curves, side by side.

The trials come from the study (mlpcli.tune.load_study: the storage that
tune.json names), the curves from each trial's run folder
(TUNE_DIR/trial-NNNN/metrics.jsonl); a trial that ran on another machine of a
shared study has no folder here and is listed as such.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..errors import MLPError
from .canvas import (
    MAX_PLOTTED,
    axes_note,
    axes_title,
    epoch_axis,
    figure,
    is_number,
    png,
    series,
    short_label,
)

TUNE_FILE = "tune.json"
TUNE_PLOT = "tune.png"
TUNE_SIZE = (1350, 420)  # width, height in pixels
BEST_CURVES = 5  # the learning curves of this many best trials
MIN_IMPORTANCE_TRIALS = 2  # fANOVA needs complete trials to compare


def is_tune(path: str | Path) -> bool:
    return (Path(path) / TUNE_FILE).is_file()


def trial_folder(tune_dir: str | Path, number: int) -> Path:
    return Path(tune_dir) / f"trial-{number:04d}"


def read_tune(tune_dir: str | Path) -> dict:
    """tune.json, checked for what the picture needs: the monitored metric and
    the direction."""
    path = Path(tune_dir) / TUNE_FILE
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MLPError(f"{path}: cannot read it ({exc})") from None
    except (ValueError, RecursionError) as exc:
        raise MLPError(f"{path}: not valid JSON ({exc}); is this a tune folder?") from None
    if not isinstance(spec, dict):
        raise MLPError(f"{path}: not a JSON object; is this a tune folder?")
    if spec.get("direction") not in ("maximize", "minimize"):
        raise MLPError(f"{path}: direction is {spec.get('direction')!r}, not 'maximize' or 'minimize'")
    if not isinstance(spec.get("metric"), str) or not spec["metric"]:
        raise MLPError(f"{path}: metric is {spec.get('metric')!r}, not the name of a validation metric")
    return spec


def trial_points(trials, source="the study") -> list[tuple[int, float, str]]:
    """(number, value, state) of the complete and pruned trials in trial
    order: a complete trial's objective, a pruned one's last reported value
    (a running or failed trial has none and is left out); a value too large
    to draw is refused, naming ``source``."""
    points = []
    for t in sorted(trials, key=lambda t: t.number):
        state = t.state.name.lower()
        if state == "complete" and t.value is not None:
            value = t.value
        elif state == "pruned" and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        else:
            continue
        if not (is_number(value) and math.isfinite(value)):
            continue
        if abs(value) > MAX_PLOTTED:
            raise MLPError(f"{source}: trial {t.number}: its value is {value:g}, too large to plot (beyond ±{MAX_PLOTTED:g})")
        points.append((t.number, float(value), state))
    return points


def best_so_far(points, maximize: bool) -> tuple[list, list]:
    """The best complete value up to each complete trial (a step line)."""
    xs, ys, best = [], [], None
    for number, value, state in points:
        if state != "complete":
            continue
        best = value if best is None else (max if maximize else min)(best, value)
        xs.append(number)
        ys.append(best)
    return xs, ys


def tune_figure(tune_dir: str | Path, metric: str | None = None):
    """The picture's Figure: three panels (history, importances, curves)."""
    from ..tune import load_study  # optuna, and the study's storage: only when drawing
    from ..tune.study import trials as run_trials

    tune_dir = Path(tune_dir)
    spec = read_tune(tune_dir)
    study = load_study(tune_dir)
    trials = run_trials(study)
    points = trial_points(trials, f"{tune_dir}: study {spec.get('study_name')!r}")
    if not points:
        raise MLPError(f"{tune_dir}: its study holds no complete or pruned trial yet ({len(trials)} trial(s) in all)")
    maximize = spec["direction"] == "maximize"
    fig = figure(TUNE_SIZE)
    history_ax, importance_ax, curves_ax = fig.subplots(1, 3)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.13, top=0.88, wspace=0.6)  # room for the parameter names
    draw_history(history_ax, points, maximize, spec["metric"])
    draw_importances(importance_ax, study)
    draw_curves(curves_ax, tune_dir, points, maximize, metric or spec["metric"], chosen=metric is not None)
    pruned = sum(state == "pruned" for _, _, state in points)
    fig.suptitle(f"{tune_dir.resolve().name}: {len(points) - pruned} complete and {pruned} pruned trials, "
                 f"{spec['direction']} {spec['metric']}", fontsize="medium", y=0.985)
    return fig


def tune_plot(tune_dir: str | Path, metric: str | None = None) -> bytes:
    """`mlp plot TUNE_DIR`: the PNG's bytes."""
    return png(tune_figure(tune_dir, metric))


def draw_history(ax, points, maximize: bool, objective: str) -> None:
    complete = [(n, v) for n, v, s in points if s == "complete"]
    pruned = [(n, v) for n, v, s in points if s == "pruned"]
    if complete:
        ax.scatter(*zip(*complete), s=16, color="C0", label="complete", zorder=3)
    if pruned:
        ax.scatter(*zip(*pruned), s=20, color="0.55", marker="x", label="pruned (last value)", zorder=2)
    xs, ys = best_so_far(points, maximize)
    if xs:
        ax.step(xs, ys, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.locator_params(axis="x", integer=True, nbins=5)
    ax.locator_params(axis="y", nbins=5)
    ax.legend(fontsize="small")
    axes_title(ax, "optimisation history")


def draw_importances(ax, study) -> None:
    """fANOVA importances (seeded: the same study draws the same bars) over the
    complete trials, most important on top."""
    complete = sum(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False))
    axes_title(ax, "parameter importance (fANOVA)")
    if complete < MIN_IMPORTANCE_TRIALS:
        ax.set_axis_off()
        axes_note(ax, f"needs {MIN_IMPORTANCE_TRIALS} complete trials ({complete} so far)")
        return
    import optuna

    try:
        importances = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError) as exc:  # e.g. no parameter common to the complete trials
        ax.set_axis_off()
        axes_note(ax, f"cannot be computed:\n{short_label(' '.join(str(exc).split()), 60)}")
        return
    if not importances:
        ax.set_axis_off()
        axes_note(ax, "no parameter varies")
        return
    names = list(importances)[::-1]
    ax.barh(range(len(names)), [float(importances[n]) for n in names], color="C0")
    ax.set_yticks(range(len(names)), [short_label(n, 28) for n in names], fontsize="small")
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the objective's variance")
    ax.locator_params(axis="x", nbins=4)


def best_points(points, maximize: bool, k: int = BEST_CURVES) -> list[tuple[int, float, str]]:
    """The k trials with the best values (complete or pruned), best first."""
    return sorted(points, key=lambda p: (-p[1] if maximize else p[1], p[0]))[:k]


def draw_curves(ax, tune_dir: Path, points, maximize: bool, metric: str, chosen: bool = False) -> list[int]:
    """The per-epoch ``metric`` (accuracy: val_accuracy) of the best trials
    found in this folder, a pruned one dashed and ending where it stopped;
    returns the numbers of the trials drawn. A ``chosen`` metric (--metric)
    that none of them logs is refused, naming those they do."""
    runs, elsewhere = [], 0
    for i, (number, value, state) in enumerate(best_points(points, maximize)):
        path = trial_folder(tune_dir, number) / "metrics.jsonl"
        if path.is_file():
            runs.append((i, number, state, path, read_history(path)))
        else:
            elsewhere += 1
    keys = {k for *_, history in runs for logs in history for k in logs} - {"epoch"}
    key = next((k for k in (metric, f"val_{metric}") if k in keys), metric)
    if chosen and runs and key not in keys:
        raise MLPError(f"--metric {metric}: not logged per epoch by the best trials; choose one of {', '.join(sorted(keys))}")
    drawn = []
    for i, number, state, path, history in runs:
        xs, ys = series(history, key, path)
        if xs:
            ax.plot(xs, ys, color=f"C{i}", linestyle="--" if state == "pruned" else "-",
                    marker="." if len(xs) < 3 else None,
                    label=f"trial {number}" + (" (pruned)" if state == "pruned" else ""))
            drawn.append(number)
    title = f"best {len(drawn)} trials: {key.replace('_', ' ')}"
    if elsewhere:
        title += f" ({elsewhere} ran elsewhere)"
    axes_title(ax, title)
    epoch_axis(ax)
    if drawn:
        ax.legend(fontsize="small")
    else:
        axes_note(ax, f"no trial folder here logs {key}")
    return drawn


def read_history(path: Path) -> list[dict]:
    """metrics.jsonl: one dict per epoch; a torn line (a killed trial) is skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MLPError(f"{path}: cannot read it ({exc})") from None
    history = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(entry, dict):
            history.append(entry)
    return history
