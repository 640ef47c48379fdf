"""A tune's records, rebuilt from the study (every machine's trials) and the
run folders here: results.jsonl and results.csv (`mlp sweep`'s columns plus
state, stopped_epoch, machine and value), best.yaml, and the summary with
its leaderboard."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import yaml

from .. import artifacts
from ..compare import read_history
from ..errors import MLPError
from ..sweep.results import RESULTS_CSV, RESULTS_JSONL, read_rows
from . import study as studies
from .objective import PRUNED, figures, trial_dir

BEST_YAML = "best.yaml"
STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
STATUS = {"complete": "completed", "pruned": PRUNED, "failed": "failed"}  # a sweep row's status
LEADERS = 10  # rows of the leaderboard on the terminal


def rows(tune_dir: Path, study, record: dict) -> list[dict]:
    """One row per finished trial of the study, by number."""
    found = studies.trials(study)
    again = {t.user_attrs[studies.RETRY_OF]: t.number for t in found if studies.RETRY_OF in t.user_attrs}
    keys = [s["key"] for s in record["search"]]
    out = []
    for t in found:
        state = STATES.get(t.state.name)
        if state is None:  # running or waiting: in the next rebuild
            continue
        out.append(_row(tune_dir, t, state, keys, record, again.get(t.number)))
    return out


def _row(tune_dir: Path, t, state: str, keys: list[str], record: dict, retried_as: int | None) -> dict:
    attrs = t.user_attrs
    figures = attrs.get("figures") or _local_figures(tune_dir, t.number)
    error = attrs.get(studies.ERROR)
    if state == "failed" and error is None:
        error = "its process died while it ran (no result was recorded)"
    if retried_as is not None:
        error = f"{error}; run again as trial-{retried_as:04d}"
    seconds = attrs.get("seconds")
    if seconds is None and t.datetime_start and t.datetime_complete:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds()
    epochs = figures.get("epochs_run")
    if epochs is None:  # a trial that died: the epochs its metrics.jsonl holds, else its last report (another machine's)
        epochs = _local_epochs(tune_dir, t.number) or (max(t.intermediate_values) if t.intermediate_values else None)
    name = trial_dir("", t.number).name
    return {
        "trial": name, "number": t.number, "params": {k: t.params.get(k) for k in keys},
        "overrides": [*record.get("sets", []), *_overrides(record, t.params)], "seed": t.params.get("seed", record.get("seed")),
        "status": STATUS[state], "error": None if state == "complete" else error,
        "test": figures.get("test") or {}, "val": figures.get("val") or {}, "epochs_run": epochs,
        "seconds": seconds, "state": state, "stopped_epoch": epochs, "machine": attrs.get(studies.HOST),
        "value": t.value if state != "failed" else None,
    }


def _overrides(record: dict, values: dict) -> list[str]:
    from .space import Param

    out = []
    for s in record["search"]:
        if s["key"] in values:
            choices = tuple(s["choices"] or ())
            texts = tuple(s.get("texts") or (str(c) for c in choices))
            p = Param(s["key"], s["kind"], s["low"], s["high"], s["log"], choices, texts)
            out.append(p.override(values[s["key"]]))
    return out


def _local_epochs(tune_dir, number: int) -> int | None:
    """The last epoch a trial's metrics.jsonl here holds whole, or None."""
    try:
        history = read_history(trial_dir(tune_dir, number))
    except (OSError, MLPError):
        return None
    epoch = history[-1].get("epoch") if history else None
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch > 0 else None


def _local_figures(tune_dir, number: int) -> dict:
    """A trial's figures from its run folder here (a trial from before they were kept in the study)."""
    try:
        metrics = json.loads((trial_dir(tune_dir, number) / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    return figures(metrics) if isinstance(metrics, dict) else {}


def write(tune_dir: Path, table: list[dict], record: dict) -> None:
    """results.jsonl and results.csv, rewritten whole (atomically)."""
    artifacts.atomic_write(tune_dir / RESULTS_JSONL, "".join(artifacts.to_json(r) + "\n" for r in table))
    metric_cols = []
    for split in ("test", "val"):
        for row in table:
            for name in row.get(split) or {}:
                if f"{split}.{name}" not in metric_cols:
                    metric_cols.append(f"{split}.{name}")
    params = [s["key"] for s in record["search"]]
    columns = ["trial", "status", "seed", *params, *metric_cols, "epochs_run", "seconds", "error",
               "state", "stopped_epoch", "machine", "value"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in table:
        flat = {**{k: row["params"].get(k) for k in params},
                **{c: (row.get(c.partition(".")[0]) or {}).get(c.partition(".")[2]) for c in metric_cols},
                **{k: row.get(k) for k in columns if k not in params and k not in metric_cols}}
        writer.writerow(["" if flat.get(c) is None else flat[c] for c in columns])
    artifacts.atomic_write(tune_dir / RESULTS_CSV, text.getvalue())


def write_best(tune_dir: Path, study, record: dict) -> dict | None:
    """best.yaml: the best complete trial's resolved config (its run folder's
    config.yaml), ready for `mlp train`; None while no trial has completed
    or its folder is on another machine."""
    best = best_trial(study)
    if best is None:
        return None
    source = trial_dir(tune_dir, best.number) / "config.yaml"
    try:
        config = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError):
        return {"trial": trial_dir("", best.number).name, "value": best.value, "params": dict(best.params),
                "machine": best.user_attrs.get(studies.HOST), "best_yaml": None}
    if isinstance(config.get("output"), dict):
        config["output"]["dir"] = None  # `mlp train best.yaml` makes a run folder of its own
    header = (f"# The best trial of study {record['study_name']!r}: {source.parent.name}, "
              f"{record['metric']} {best.value:.6g}\n# Train it with: mlp train {tune_dir / BEST_YAML}\n")
    artifacts.write_yaml(tune_dir / BEST_YAML, config, header=header)
    return {"trial": source.parent.name, "value": best.value, "params": dict(best.params),
            "machine": best.user_attrs.get(studies.HOST), "best_yaml": str(tune_dir / BEST_YAML)}


def best_trial(study):
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return None
    pick = max if study.direction.name == "MAXIMIZE" else min
    return pick(done, key=lambda t: (t.value, -t.number) if pick is max else (t.value, t.number))


def summary(tune_dir: Path, study, record: dict, table: list[dict], best: dict | None, ran: int,
            seconds: float) -> dict:
    """What `mlp tune` prints: counts, the best trial, and the complete and
    pruned trials ranked by their value (best first)."""
    counts = {k: v for k, v in studies.counts(study).items() if k != "slots"}  # the trials' states
    reverse = record["direction"] == "maximize"
    ranked = sorted((r for r in table if r["value"] is not None and r["state"] != "failed"),
                    key=lambda r: (r["state"] != "complete", -r["value"] if reverse else r["value"], r["number"]))
    return {
        "tune_dir": str(tune_dir), "study_name": record["study_name"], "storage": record["storage"],
        "metric": record["metric"], "direction": record["direction"], "sampler": record["sampler"],
        "pruner": record["pruner"], "pruner_options": record.get("pruner_options"), **counts, "ran": ran,
        "seconds": seconds, "best": best,
        "leaderboard": [{k: r[k] for k in ("trial", "state", "params", "value", "stopped_epoch", "machine", "test")}
                        for r in ranked],
    }


def read_results(tune_dir) -> list[dict]:
    """The rows of TUNE_DIR/results.jsonl, by trial number (as the last `mlp tune` there wrote them)."""
    found = read_rows(Path(tune_dir) / RESULTS_JSONL)
    return sorted(found.values(), key=lambda r: r.get("number", 0))
