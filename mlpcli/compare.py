"""Read finished run folders and set them side by side: `mlp compare` and `mlp diff`.

A run is compared by its resolved ``config.yaml`` (flattened to dotted key
paths, ``model.layers.0.units``, the form ``--set`` takes) and the final test
metrics in its ``metrics.json``, as DVC's ``params diff`` and ``metrics diff``
do for a repository's revisions.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RunFolderError

MISSING = object()  # a key one run's config does not have (a layer the other lacks)


@dataclass
class Run:
    path: Path
    config: dict
    metrics: dict  # metrics.json as written
    history: list[dict] = field(default_factory=list)  # metrics.jsonl, when asked for

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def task(self) -> str:
        return str(self.config.get("model", {}).get("task", "classification"))

    def test_metrics(self) -> dict:
        """The final test figures that are single numbers (not the confusion matrix)."""
        test = self.metrics.get("test")
        if not isinstance(test, dict):
            return {}
        return {k: v for k, v in test.items() if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))}


def read_run(path: str | Path, history: bool = False) -> Run:
    """A run folder's config.yaml and metrics.json (and metrics.jsonl with ``history``)."""
    from .config import read_yaml

    path = Path(path)
    if not path.is_dir():
        raise RunFolderError(f"{path}: not a run folder ({'a file' if path.exists() else 'no such folder'})")
    if not (path / "config.yaml").is_file():
        raise RunFolderError(f"{path}: not a run folder (no config.yaml)")
    if not (path / "metrics.json").is_file():
        raise RunFolderError(f"{path}: holds no metrics.json (the run has not finished, or was killed)")
    config = read_yaml(path / "config.yaml")
    if not isinstance(config, dict):
        raise RunFolderError(f"{path / 'config.yaml'}: not a config (a YAML mapping)")
    metrics = _read_json(path / "metrics.json")
    if not isinstance(metrics, dict):
        raise RunFolderError(f"{path / 'metrics.json'}: not a JSON object")
    run = Run(path, config, metrics)
    if history:
        run.history = read_history(path)
    return run


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFolderError(f"{path}: cannot read it ({exc})") from None
    except (ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
        raise RunFolderError(f"{path}: not valid JSON ({exc})") from None


def read_history(run_dir: Path) -> list[dict]:
    """metrics.jsonl: one dict per epoch; a torn last line (a killed run) is skipped."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise RunFolderError(f"{run_dir}: holds no metrics.jsonl (no epoch finished)")
    history = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):  # a torn line, or one nested thousands deep
            continue
        if isinstance(entry, dict):
            history.append(entry)
    return history


def flatten(obj, prefix: str = "") -> dict:
    """{"train": {"optimizer": {"lr": 0.01}}} -> {"train.optimizer.lr": 0.01}; a list of
    mappings (model.layers) by index, model.layers.0.units; other lists stay whole."""
    out = {}
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        for i, value in enumerate(obj):
            out.update(flatten(value, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = obj
    return out


def differing(configs: list[dict]) -> list[str]:
    """The dotted keys whose values are not the same in every config, in first-seen order."""
    flat = [flatten(c) for c in configs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return [k for k in keys if any(f.get(k, MISSING) != flat[0].get(k, MISSING) for f in flat[1:])]


def compare(run_dirs) -> dict:
    """The config keys that differ between the runs and every final test metric:
    {"runs": [...], "config": {key: [value per run]}, "metrics": {name: [value per run]}}
    (a key a run lacks, or a metric it did not record, is None)."""
    runs = [read_run(p) for p in run_dirs]
    flat = [flatten(r.config) for r in runs]
    keys = differing([r.config for r in runs])
    names = list(dict.fromkeys(name for r in runs for name in r.test_metrics()))
    return {
        "runs": [str(r.path) for r in runs],
        "status": [r.metrics.get("status") for r in runs],
        "config": {k: [f.get(k) for f in flat] for k in keys},
        "metrics": {n: [r.test_metrics().get(n) for r in runs] for n in names},
    }


def diff(run_a, run_b) -> dict:
    """What changed from run A to run B: {"config": {key: {old, new}},
    "metrics": {name: {old, new, delta}}} (delta None where either is not a number)."""
    a, b = read_run(run_a), read_run(run_b)
    flat_a, flat_b = flatten(a.config), flatten(b.config)
    config = {
        k: {"old": flat_a.get(k), "new": flat_b.get(k)} for k in differing([a.config, b.config])
    }
    ma, mb = a.test_metrics(), b.test_metrics()
    metrics = {}
    for name in dict.fromkeys([*ma, *mb]):
        old, new = ma.get(name), mb.get(name)
        delta = new - old if _number(old) and _number(new) else None
        metrics[name] = {"old": old, "new": new, "delta": delta}
    return {"a": str(a.path), "b": str(b.path), "config": config, "metrics": metrics}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------- text output


def show(value) -> str:
    """A config value or metric as a table cell: numbers short, null for None / NaN."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def table(result: dict) -> str:
    """compare()'s result as aligned text: a row per config key, then per metric; a column per run."""
    names = _short_names(result["runs"])
    rows = [["", *names]]
    rows += [[k, *map(show, v)] for k, v in result["config"].items()]
    if any(s != "completed" for s in result["status"]):
        rows.append(["status", *map(show, result["status"])])
    rows += [[f"test.{n}", *map(show, v)] for n, v in result["metrics"].items()]
    if not result["config"]:
        rows.insert(1, ["(configs identical)", *([""] * len(names))])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def _short_names(paths: list[str]) -> list[str]:
    """Each run by its folder name; by its path where two names are the same."""
    names = [Path(p).name or p for p in paths]
    return [p if names.count(n) > 1 else n for p, n in zip(paths, names)]


def csv_text(result: dict) -> str:
    """compare()'s result as CSV: one row per run (run, config keys, test metrics)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["run", *result["config"], *(f"test.{n}" for n in result["metrics"])])
    for i, run in enumerate(result["runs"]):
        cells = [v[i] for v in result["config"].values()] + [v[i] for v in result["metrics"].values()]
        writer.writerow([run, *("" if c is None else show(c) if not isinstance(c, str) else c for c in cells)])
    return buffer.getvalue()


def diff_text(result: dict) -> str:
    lines = [f"--- {result['a']}", f"+++ {result['b']}"]
    if result["config"]:
        width = max(len(k) for k in result["config"])
        lines.append("config:")
        lines += [f"  {k:<{width}}  {show(d['old'])} -> {show(d['new'])}" for k, d in result["config"].items()]
    else:
        lines.append("config: identical")
    if result["metrics"]:
        width = max(len(k) for k in result["metrics"])
        lines.append("test metrics:")
        for name, d in result["metrics"].items():
            delta = "" if d["delta"] is None else f"  ({d['delta']:+.6g})"
            lines.append(f"  {name:<{width}}  {show(d['old'])} -> {show(d['new'])}{delta}")
    return "\n".join(lines) + "\n"
