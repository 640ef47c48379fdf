"""A tune's plan: the options parsed and checked (search space, every bound's
config, the monitored metric and its direction, the tune folder, the study's
name and storage URL) before anything is written; tune.json's record."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .. import artifacts
from ..errors import ConfigError, RunFolderError
from . import space
from . import study as studies

TUNE_FILE = "tune.json"
MAIN_METRICS = {"classification": "accuracy", "multilabel": "subset_accuracy", "regression": "r2"}


@dataclass
class Plan:
    tune_dir: Path  # absolute
    config: object  # the base config's absolute path, or its parsed data (read from standard input)
    params: list  # space.Param
    sets: list[str]
    record: dict  # tune.json
    epochs: int  # the most epochs a trial can train (train.epochs, or the largest searched): Hyperband's budget
    custom_storage: bool  # --storage given: opened before the tune folder is created
    typed: dict  # --pruner / --min-epochs / --reduction-factor as given (None: not given)
    fallback: dict | None  # the pruning the folder's tune.json says, for a study begun before studies recorded it


def plan(config_path, *, ranges=(), choices=(), sets=(), sampler="tpe", pruner=None, min_epochs=None,
         reduction_factor=None, storage=None, study_name=None, out=None) -> Plan:
    """Parse and check everything a tune needs, writing nothing. ``pruner``,
    ``min_epochs``, ``reduction_factor``: None for the study's own (a rerun's)
    or the defaults (Hyperband, pruner_options')."""
    from ..config import MAXIMISED, STDIN, read_stdin_config, with_swept
    from ..runner import resolve_config

    studies.optuna()  # refused first when Optuna is missing
    params = space.parse_space(ranges, choices)
    sets, stdin = list(sets), str(config_path) == STDIN
    source = read_stdin_config(sets) if stdin else config_path
    base, stem = resolve_config(source, sets)
    resolved = base.to_dict()
    epochs = base.train.epochs  # the most any trial trains
    for p in params:  # an unknown key or a value the schema refuses, named by its option
        for value in ([p.low, p.high] if p.kind != "categorical" else p.choices):
            try:
                bound, _ = resolve_config(source, with_swept(sets, [p.override(value)]))
            except ConfigError as exc:
                option = "--choice" if p.kind == "categorical" else "--range"
                raise ConfigError(f"{option} {p.override(value)}: {exc}") from None
            epochs = max(epochs, bound.train.epochs)
    for items in space.sample_overrides(params):  # and together (a layer list chosen with [*] on it)
        resolve_config(source, with_swept(sets, items))
    if resolved["data"]["val_size"] <= 0:
        raise ConfigError("data.val_size: mlp tune compares trials on the validation split; set it above 0, "
                          "e.g. --set data.val_size=0.2")
    metric = _metric(resolved)
    tune_dir = Path(out or Path("tunes") / ("stdin" if stdin else stem)).resolve()
    previous = _previous(tune_dir)
    fallback = None
    if previous.get("pruner") in studies.PRUNERS:  # what its trials were judged with, if the study has none recorded
        fallback = {"pruner": previous["pruner"], **studies.legacy_pruner_options(
            previous["pruner"], base.train.epochs, previous.get("pruner_options"))}
    name = pruner or (fallback or {}).get("pruner") or "hyperband"
    _check_pruner(name, epochs, min_epochs, reduction_factor)
    record = {
        "config": STDIN if stdin else str(Path(config_path).resolve()),
        "search": [p.record() for p in params],
        "sampler": sampler, "pruner": name,
        "pruner_options": studies.pruner_options(name, epochs, min_epochs, reduction_factor, resolved["seed"]),
        "storage": storage or studies.default_storage(tune_dir),
        "study_name": study_name or tune_dir.name,
        "direction": "maximize" if metric.removeprefix("val_") in MAXIMISED else "minimize",
        "metric": metric, "seed": resolved["seed"],
        "sets": sets, "config_sha256": artifacts.config_hash(resolved),
    }
    check_folder(tune_dir, record, previous)
    if sampler == "cmaes":
        studies.make_sampler(sampler, record["seed"])  # the cmaes package: refused before anything is written
    typed = {"pruner": pruner, "min_epochs": min_epochs, "reduction_factor": reduction_factor}
    return Plan(tune_dir, source if stdin else Path(config_path).resolve(), params, sets, record,
                epochs, storage is not None, typed, fallback)


def _check_pruner(pruner: str, epochs: int, min_epochs: int | None, reduction_factor: int | None) -> None:
    """--min-epochs and --reduction-factor only where the pruner has them, and a
    first judgement before the last epoch of the longest trial (a trial is never pruned there)."""
    if reduction_factor is not None and reduction_factor < 2:
        raise ConfigError(f"--reduction-factor {reduction_factor}: must be at least 2")
    if min_epochs is not None and min_epochs < 1:
        raise ConfigError(f"--min-epochs {min_epochs}: must be at least 1")
    if reduction_factor is not None and pruner not in studies.RUNG_PRUNERS:
        raise ConfigError(f"--reduction-factor {reduction_factor}: only --pruner hyperband and halving have rungs "
                          f"to reduce at (this tune's pruner is {pruner})")
    if min_epochs is None:
        return
    if pruner == "none":
        raise ConfigError(f"--min-epochs {min_epochs}: --pruner none stops no trial early")
    if min_epochs >= epochs:
        raise ConfigError(f"--min-epochs {min_epochs}: must be below train.epochs ({epochs}, the most a trial "
                          "trains), or no trial could be stopped early")


def _metric(resolved: dict) -> str:
    """The validation metric trials are compared on: early stopping's monitor
    when it watches one, else the task's main metric (val_accuracy, val_r2 ...)."""
    from ..prepare import prepare_data

    stopping = resolved["train"]["early_stopping"]
    if stopping and stopping["monitor"].startswith("val_"):
        return stopping["monitor"]
    task = resolved["model"]["task"]
    if task == "auto":
        task = prepare_data(resolved).task  # what the data says (its loading errors are refused here, too)
    return f"val_{MAIN_METRICS[task]}"


def _previous(tune_dir: Path) -> dict:
    """The folder's tune.json, if it holds one ({} otherwise)."""
    try:
        old = json.loads((tune_dir / TUNE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return old if isinstance(old, dict) else {}


def check_folder(tune_dir: Path, record: dict, old: dict) -> None:
    """Refuse a folder that is a file, a run folder, or holds another tune (a
    different base config, search, metric or study; ``old``: its tune.json,
    _previous); a rerun of the same tune is welcome."""
    if tune_dir.exists() and not tune_dir.is_dir():
        raise RunFolderError(f"{tune_dir}: exists and is not a folder")
    if (tune_dir / "metrics.json").exists() or (tune_dir / "config.yaml").exists():
        raise RunFolderError(f"{tune_dir}: is a run folder, not a tune folder; choose another --out")
    if not old:
        return
    for key, what in (("config_sha256", "base config (the config file or --set)"), ("search", "search space"),
                      ("metric", "metric"), ("study_name", "study name"), ("storage", "storage")):
        if old.get(key) != record[key]:
            raise RunFolderError(
                f"{tune_dir}: holds a tune with another {what}; choose another --out to keep both, or delete the folder"
            )


def claim(p: Plan) -> bool:
    """Create the tune folder (if new); returns whether it was created here.
    tune.json is written once the study has said how its trials are judged (write_record)."""
    created = not p.tune_dir.exists()
    try:
        p.tune_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"{p.tune_dir}: cannot create the tune folder ({exc.strerror})") from None
    artifacts.remove_stale_temporaries(p.tune_dir)
    return created


def write_record(p: Plan) -> None:
    artifacts.write_json(p.tune_dir / TUNE_FILE, p.record)


def read_record(tune_dir) -> dict:
    """TUNE_DIR/tune.json, or an error naming the folder."""
    path = Path(tune_dir) / TUNE_FILE
    try:
        record = json.loads(path.read_text())
    except OSError:
        raise RunFolderError(f"{tune_dir}: not a tune folder (no {TUNE_FILE})") from None
    except ValueError:
        raise RunFolderError(f"{path}: not valid JSON") from None
    if not isinstance(record, dict) or not {"storage", "study_name", "direction", "search"} <= set(record):
        raise RunFolderError(f"{path}: not a tune record (storage, study_name, direction, search)")
    return record
