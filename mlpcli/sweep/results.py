"""A sweep's records: its folder (sweep.json), the finished trials found
there, results.jsonl and results.csv, and the summary with its leaderboard."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from .. import artifacts
from ..config import value_text
from ..errors import RunFolderError
from ..render import MAIN_METRICS
from .planning import Plan, Trial

SWEEP_FILE, RESULTS_CSV, RESULTS_JSONL = "sweep.json", "results.csv", "results.jsonl"


def finished_metrics(run_dir: Path) -> dict | None:
    """metrics.json of a completed run in ``run_dir``, else None."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(metrics, dict) and metrics.get("status") == "completed" and (run_dir / "weights.npz").is_file()
    return metrics if ok else None


def read_rows(path: Path) -> dict:
    rows = {}
    try:
        text = path.read_text()
    except OSError:
        return rows
    for line in text.splitlines():
        try:
            row = json.loads(line)
            rows[row["trial"]] = row
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line of a killed sweep
    return rows


def claim(p: Plan) -> None:
    """Create the sweep folder, or check that it holds this sweep (the same
    base config and --set) so its finished trials can be reused (and clear
    the temporary files a killed sweep left there)."""
    path = p.sweep_dir
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"{path}: exists and is not a folder")
    if (path / "metrics.json").exists() or (path / "config.yaml").exists():
        raise RunFolderError(f"{path}: is a run folder, not a sweep folder; choose another --out")
    record = {"config": str(p.config), "config_sha256": p.base_sha256, "swept": p.swept,
              "trials": [{"name": t.name, "overrides": list(t.overrides)} for t in p.trials]}
    try:
        old = json.loads((path / SWEEP_FILE).read_text())
    except (OSError, ValueError):
        old = None
    if isinstance(old, dict) and old.get("config_sha256") != p.base_sha256:
        raise RunFolderError(
            f"{path}: holds a sweep of another config (the config file or --set changed since); "
            "choose another --out to keep both, or delete the folder"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot create the sweep folder ({exc.strerror})") from None
    artifacts.remove_stale_temporaries(path)
    artifacts.write_json(path / SWEEP_FILE, record)


def write_csv(p: Plan, rows: dict) -> None:
    """results.csv, rewritten whole (atomically) as each trial ends, in trial
    order; a swept list or mapping as compact YAML flow ([{units: 64}]), as --set takes it."""
    metric_cols = []
    for split in ("test", "val"):
        for row in rows.values():
            for name in row.get(split) or {}:
                if f"{split}.{name}" not in metric_cols:
                    metric_cols.append(f"{split}.{name}")
    params = [k for k in p.swept if k != "seed"]
    columns = ["trial", "status", "seed", *params, *metric_cols, "epochs_run", "seconds", "error"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for t in p.trials:
        row = rows.get(t.name)
        if row is None:
            continue
        flat = {**{k: value_text(row["params"][k]) for k in params if k in row["params"]},
                **{c: _get(row, c) for c in metric_cols}}
        flat.update({k: row.get(k) for k in ("trial", "status", "seed", "epochs_run", "seconds", "error")})
        writer.writerow(["" if flat.get(c) is None else flat[c] for c in columns])
    artifacts.atomic_write(p.sweep_dir / RESULTS_CSV, text.getvalue())


def _get(row: dict, column: str):
    split, _, name = column.partition(".")
    return (row.get(split) or {}).get(name)


def summarise(p: Plan, rows: dict, skipped: int, seconds: float, ran: list[str] = ()) -> dict:
    """The sweep's summary: counts, the ranking metric, and a leaderboard of
    the trial groups (the same values, every seed) by the mean of that metric
    over the group's completed trials (std as NumPy's, ddof 0, as `mlp cv`)."""
    from ..config import MAXIMISED

    metric = p.metric
    if metric == "main":
        figures = next((r[p.split] for r in rows.values() if r.get(p.split)), {})
        metric = next((m for m in MAIN_METRICS if m in figures), "loss")
    mode = "max" if metric in MAXIMISED else "min"
    groups: dict[str, list[Trial]] = {}
    for t in p.trials:
        groups.setdefault(t.group, []).append(t)
    board = []
    for name, trials in groups.items():
        done = [rows[t.name] for t in trials if rows.get(t.name, {}).get("status") == "completed"]
        entry = {"group": name, "params": {k: v for k, v in trials[0].params.items() if k != "seed"},
                 "trials": [t.name for t in trials], "completed": len(done),
                 "failed": sum(rows.get(t.name, {}).get("status") == "failed" for t in trials)}
        for key, split, m in (("mean", p.split, metric), ("test", "test", _test_main(done, metric))):
            values = [(r.get(split) or {}).get(m) for r in done]
            defined = bool(values) and all(v is not None for v in values)
            stats = {"mean": float(np.mean(values)) if defined else None, "std": float(np.std(values)) if defined else None}
            if key == "mean":
                entry.update(stats, values=values)
            else:
                entry["test"] = {"metric": m, **stats}
        board.append(entry)
    sign = -1 if mode == "max" else 1
    board.sort(key=lambda e: (e["mean"] is None, sign * e["mean"] if e["mean"] is not None else 0))
    failed = [r for r in rows.values() if r["status"] != "completed"]
    return {
        "sweep_dir": str(p.sweep_dir),
        "trials": len(p.trials),
        "completed": sum(r["status"] == "completed" for r in rows.values()),
        "failed": len(failed),
        "not_run": len(p.trials) - len(rows),
        "skipped": skipped,
        "metric": metric,
        "split": p.split,
        "mode": mode,
        "leaderboard": board,
        "failures": [{"trial": r["trial"], "error": r["error"]} for r in failed],
        "seconds": seconds,
        # the trials run this time, each from its start to its end in the worker
        "trial_seconds": sum(rows[name].get("seconds") or 0.0 for name in ran),
    }


def _test_main(done: list[dict], metric: str) -> str:
    test = done[0].get("test", {}) if done else {}
    return next((m for m in MAIN_METRICS if m in test), metric)
