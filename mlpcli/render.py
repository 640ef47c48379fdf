"""How each command's result reads on a terminal: plain text built from the
dicts the runner returns (``--json`` prints those dicts instead).
"""
from __future__ import annotations

MAIN_METRICS = ("accuracy", "subset_accuracy", "r2")


def main_metric(test: dict) -> str | None:
    """The figure a one-line summary shows: accuracy, subset accuracy (multilabel) or r2."""
    return next((name for name in MAIN_METRICS if name in test), None)


def seconds(value: float) -> str:
    """A duration as a person reads it: 0.042s, 3.1s, 125s."""
    return f"{value:.2g}s" if value < 1 else f"{value:.1f}s" if value < 100 else f"{value:.0f}s"


def figure(value, spec: str) -> str:
    """A metric for the terminal: null where undefined (None or NaN)."""
    return "null" if value is None or value != value else format(value, spec)


def run_summary(result) -> str:
    """`mlp train` / `mlp resume`: the run folder and its main test figures."""
    test = result.metrics["test"]
    main = main_metric(test)
    note = f"; task {result.task_note}" if result.task_note else ""
    return (
        f"{result.run_dir}: test {main} {test[main]:.4f}, loss {test['loss']:.4g} "
        f"({result.metrics['epochs_run']} epochs, {seconds(result.metrics['train_seconds'])}){note}"
    )


def fold_line(i: int, folds: int, result) -> str:
    """`mlp cv`'s progress line as fold i ends."""
    test = result.metrics["test"]
    main = main_metric(test)
    value = "null" if test.get(main) is None else f"{test[main]:.4f}"
    return f"fold {i}/{folds}: {main} {value} ({result.metrics['epochs_run']} epochs)"


def cv_table(result: dict) -> str:
    """`mlp cv`: the mean and std of every metric over the folds."""
    lines = [
        f"{result['folds']}-fold cross-validation, {result['n_samples']} samples, "
        + (result.get("task_note") or result["task"]),
        f"  {'metric':<18} {'mean':>11} {'std':>11}",
    ]
    for name, m in result["metrics"].items():
        mean, std = (f"{v:.6g}" if v is not None else "null" for v in (m["mean"], m["std"]))
        lines.append(f"  {name:<18} {mean:>11} {std:>11}")
    return "\n".join(lines)


def trial_line(done: int, total: int, row: dict) -> str:
    """`mlp sweep`'s progress line as a trial ends."""
    figures = row.get("test") or {}
    main = main_metric(figures)
    what = f"{main} {figure(figures[main], '.4f')}" if main else row.get("error") or ""
    return f"[{done}/{total}] {row['trial']}: {row['status']}, {what} ({seconds(row.get('seconds') or 0)})"


def leaderboard(result: dict) -> str:
    """The sweep's summary line and its leaderboard, best first."""
    metric, split = result["metric"], result["split"]
    lines = [
        f"{result['sweep_dir']}: {result['trials']} trials, {result['completed']} completed "
        f"({result['skipped']} already done), {result['failed']} failed; ranked by {split} {metric} ({result['mode']})"
    ]
    board = result["leaderboard"]
    keys = list(board[0]["params"]) if board else []
    short = [k.rsplit(".", 1)[-1] for k in keys]
    from .config import value_text  # a list as YAML flow ([{units: 64}]), not a Python repr

    shown = [{k: value_text(e["params"][k]) for k in keys} for e in board]
    widths = [max(len(s), *(len(row[k]) for row in shown)) for s, k in zip(short, keys)]
    test = board[0]["test"]["metric"] if board else metric
    # Ranked on the test split itself (no validation split): one column, not the same one twice.
    same = split == "test" and test == metric
    header = ["rank", *(s.ljust(w) for s, w in zip(short, widths)), "runs", f"{split} {metric}".ljust(17)]
    lines.append("  " + "  ".join(header if same else [*header, f"test {test}"]))
    for i, e in enumerate(board, 1):
        missing = "null" if e["completed"] else "failed" if e["failed"] else "not run"
        val, test = (missing if m is None else f"{m:.4f} ± {sd:.4f}"
                     for m, sd in ((e["mean"], e["std"]), (e["test"]["mean"], e["test"]["std"])))
        cells = [f"{i:>4}", *(shown[i - 1][k].ljust(w) for k, w in zip(keys, widths)), f"{e['completed']:>4}",
                 val.ljust(17), *([] if same else [test])]
        lines.append("  " + "  ".join(cells))
    return "\n".join(line.rstrip() for line in lines)


def tune_trial_line(done: int, total: int, row: dict) -> str:
    """`mlp tune`'s progress line as a trial ends (done: the study's finished trials)."""
    if row["state"] == "failed":
        what = row.get("error") or ""
    else:
        what = f"{row['metric']} {figure(row['value'], '.4f')}" + (f", {row['epochs']} epochs" if row.get("epochs") else "")
    return f"[{done}/{total}] {row['trial']}: {row['state']}, {what} ({seconds(row.get('seconds') or 0)})"


def tune_leaderboard(result: dict, top: int = 10) -> str:
    """`mlp tune`: the study's counts, the best trial, and the best ``top`` trials (complete first)."""
    lines = [
        f"{result['tune_dir']}: study {result['study_name']!r}, {result['finished']} trials finished "
        f"({result['complete']} complete, {result['pruned']} pruned, {result['failed']} failed; {result['ran']} run now); "
        f"{result['direction']} {result['metric']}"
    ]
    board = result["leaderboard"][:top]
    keys = list(board[0]["params"]) if board else []
    short = [k.rsplit(".", 1)[-1] for k in keys]
    widths = [max(len(s), *(len(figure(e["params"][k], ".4g") if isinstance(e["params"][k], float) else str(e["params"][k]))
                            for e in board)) for s, k in zip(short, keys)]
    lines.append("  " + "  ".join(["rank", "trial     ", "state   ", *(s.ljust(w) for s, w in zip(short, widths)),
                                   result["metric"].ljust(12), "epochs", "machine"]))
    for i, e in enumerate(board, 1):
        values = [figure(e["params"][k], ".4g") if isinstance(e["params"][k], float) else str(e["params"][k]) for k in keys]
        cells = [f"{i:>4}", e["trial"].ljust(10), e["state"].ljust(8), *(v.ljust(w) for v, w in zip(values, widths)),
                 figure(e["value"], ".4f").ljust(12), f"{e['stopped_epoch'] if e['stopped_epoch'] is not None else '-':>6}",
                 str(e.get("machine") or "-")]
        lines.append("  " + "  ".join(cells))
    best = result.get("best")
    if best and best.get("best_yaml"):
        lines.append(f"best: {best['trial']} ({result['metric']} {figure(best['value'], '.4f')}); "
                     f"train it with: mlp train {best['best_yaml']}")
    return "\n".join(line.rstrip() for line in lines)


def eval_text(result: dict) -> str:
    """`mlp eval`: every metric, the confusion matrix, and the per-class table if asked for."""
    lines = [f"{result['split']} split, {result['n_samples']} samples"]
    for key, value in result.items():
        if key == "confusion_matrix":
            lines.append(f"  {key:<18} (rows: true class, columns: predicted)")
            lines += confusion_rows(value, result.get("classes"))
        elif key not in ("split", "n_samples", "per_class", "classes"):
            lines.append(f"  {key:<18} {figure(value, '.6g')}")
    if "per_class" in result:
        table = result["per_class"]
        width = max(8, *(len(label) for label in table))
        lines.append(f"  {'class':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}")
        lines += [
            f"  {label:<{width}} {row['precision']:>9.4f} {row['recall']:>9.4f} {row['f1']:>9.4f} {row['support']:>8}"
            for label, row in table.items()
        ]
    return "\n".join(lines)


def confusion_rows(matrix: list, classes) -> list[str]:
    """A confusion matrix as text, each row and column headed by its class
    (cut at 12 characters); the class indices where no names are given."""
    names = [str(c) for c in classes] if classes and len(classes) == len(matrix) else list(map(str, range(len(matrix))))
    names = [name if len(name) <= 12 else name[:11] + "…" for name in names]
    corner = "true \\ predicted"
    first = max(len(corner), *map(len, names))
    widths = [max(5, len(name)) for name in names]
    lines = ["    " + corner.ljust(first) + "".join(f" {name:>{w}}" for name, w in zip(names, widths))]
    for name, row in zip(names, matrix):
        lines.append("    " + name.ljust(first) + "".join(f" {count:>{w}}" for count, w in zip(row, widths)))
    return lines


def info_text(d: dict) -> str:
    """`mlp info`: the architecture, a row per dense layer, and the training summary."""
    classes = f", {len(d['classes'])} classes" if d["classes"] else ""
    lines = [
        f"{d['weights']}: {d['task']}{classes}, {d['n_features']} features, {d['dtype']}, scale {d['scale']}",
        f"  {'layer':<9} {'shape':>12} {'norm':<10} {'activation':<12} {'dropout':>7} {'params':>9}",
    ]
    for layer in d["layers"]:
        shape = f"{layer['in']}x{layer['out']}"
        norm = layer.get("norm") or "-"
        lines.append(
            f"  {layer['name']:<9} {shape:>12} {norm:<10} {layer['activation']:<12} {layer['dropout']:>7g} {layer['params']:>9,}"
        )
    lines.append(f"  total parameters: {d['n_params']:,}")
    m = d["metrics"]
    if m.get("test"):
        figures = ", ".join(f"{k} {v:.4g}" for k, v in m["test"].items() if isinstance(v, (int, float)))
        lines.append(f"  trained on {d['dataset']}: {m['epochs_run']} epochs (best {m['best_epoch']}), {seconds(m['train_seconds'])}")
        lines.append(f"  test: {figures}")
    return "\n".join(lines)
