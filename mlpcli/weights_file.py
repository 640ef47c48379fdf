"""weights.npz, as DESIGN.md gives it: named arrays and a ``meta`` JSON string.

This layer reads and checks the bytes and the meta record and hands back
plain arrays and a dict; what network they make, and whether the arrays fit
it, is trained.py's to decide (TrainedModel.from_arrays).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ._version import __version__
from .artifacts import atomic_write, to_json
from .errors import ConfigError, WeightsError
from .npz import parse_meta, read_npz, short as _short

FORMAT = "mlpcli.weights"
FORMAT_VERSION = 2
TASKS = ("classification", "multilabel", "regression")


def write(path: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` and ``meta`` (after the format's own keys) as a weights file, atomically."""
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, "mlpcli_version": __version__, **meta}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, meta=np.array(to_json(record)))
    return atomic_write(path, buffer.getvalue())


def read(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and the checked meta record of a weights file; meta.config
    comes back resolved (every default filled in). Never runs code."""
    from .config import parse_config

    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder; pass the weights.npz inside it")
    arrays = read_npz(path)
    if "meta" not in arrays:
        raise WeightsError(f"{path}: not an mlpcli weights file (no 'meta' entry)")
    meta = _parse_meta(path, arrays.pop("meta"))
    try:
        meta["config"] = parse_config(meta["config"], source=f"{path}: meta.config").to_dict()
    except ConfigError as exc:
        raise WeightsError(str(exc)) from None
    task, classes, n_features = meta["task"], meta.get("classes"), meta["n_features"]
    if task not in TASKS:
        raise WeightsError(f"{path}: meta.task must be classification, multilabel or regression, got {_short(task)}")
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
        raise WeightsError(f"{path}: meta.n_features must be an integer >= 1, got {_short(n_features)}")
    if task != "regression":
        _check_classes(path, classes)
    _check_metrics(path, meta.get("metrics"))
    return arrays, meta


def _parse_meta(path: Path, meta: np.ndarray) -> dict:
    meta = parse_meta(path, meta, WeightsError)
    if meta.get("format") != FORMAT:
        raise WeightsError(f"{path}: not an mlpcli weights file (meta.format is not {FORMAT!r})")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise WeightsError(f"{path}: meta.format_version is missing or invalid")
    if version > FORMAT_VERSION:
        raise WeightsError(
            f"{path}: weights format version {version} is newer than this mlpcli reads "
            f"({FORMAT_VERSION}); upgrade mlpcli"
        )
    for key in ("task", "n_features", "config"):
        if key not in meta:
            raise WeightsError(f"{path}: meta has no {key!r}")
    return meta


def _check_classes(path: Path, classes) -> None:
    """meta.classes: at least 2 labels, all strings or all numbers, distinct and
    sorted (as np.unique gives them; predictions are decoded by searchsorted)."""
    if not isinstance(classes, list) or len(classes) < 2:
        raise WeightsError(f"{path}: meta.classes must list at least 2 classes, got {_short(classes)}")
    strings = [isinstance(c, str) for c in classes]
    numbers = [isinstance(c, (int, float)) for c in classes]
    if not (all(strings) or all(numbers)):
        raise WeightsError(f"{path}: meta.classes must be all strings or all numbers, got {_short(classes)}")
    labels = np.asarray(classes)
    if labels.ndim != 1 or not np.array_equal(np.unique(labels), labels):
        raise WeightsError(f"{path}: meta.classes must be distinct and sorted, got {_short(classes)}")


def _check_metrics(path: Path, metrics) -> None:
    """meta.metrics: a mapping (or null); the training summary mlp info prints must be whole."""
    if metrics is None:
        return
    if not isinstance(metrics, dict):
        raise WeightsError(f"{path}: meta.metrics must be a mapping, got {_short(metrics)}")
    if not metrics.get("test"):
        return
    if not isinstance(metrics["test"], dict):
        raise WeightsError(f"{path}: meta.metrics.test must be a mapping, got {_short(metrics['test'])}")
    for key, kinds in (("epochs_run", int), ("best_epoch", int), ("train_seconds", (int, float))):
        value = metrics.get(key)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise WeightsError(f"{path}: meta.metrics.{key} must be a number, got {_short(value)}")
