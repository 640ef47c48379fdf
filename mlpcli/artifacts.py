"""Files: the run folder, the weights file, metrics logs, predictions.

Every file is written whole or not at all: it goes to a temporary file in the
destination folder, is flushed and fsynced, then renamed over the target
(``os.replace`` is atomic on POSIX), so a crash leaves the old file or the new
one, never half of one. metrics.jsonl grows by one line per epoch, each line a
single append. Every read of an .npz uses ``allow_pickle=False`` and checks
each member.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._version import __version__
from .errors import MLPError, RunFolderError, WeightsError

WEIGHTS_FORMAT = "mlpcli.weights"
WEIGHTS_FORMAT_VERSION = 2
RESULT_FILES = ("config.yaml", "weights.npz", "metrics.json", "metrics.jsonl")


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise MLPError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise MLPError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_json(obj, **kwargs) -> str:
    """JSON that strict parsers accept: a non-finite number (an undefined r2) becomes null."""
    return json.dumps(_finite(obj), allow_nan=False, **kwargs)


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json(path, obj) -> Path:
    return atomic_write(path, to_json(obj, indent=2) + "\n")


def write_yaml(path, obj) -> Path:
    import yaml

    return atomic_write(path, yaml.safe_dump(obj, sort_keys=False))


class JsonLines:
    """An append-only JSON-lines file: each record is one write() of one whole
    line, so a killed process leaves whole lines; fsynced when closed."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __enter__(self):
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o666)
        return self

    def append(self, record: dict) -> None:
        os.write(self.fd, (to_json(record) + "\n").encode())

    def __exit__(self, *exc):
        os.fsync(self.fd)
        os.close(self.fd)


def write_table(path: str | Path | None, values: np.ndarray, columns: list[str]) -> str | None:
    """Predictions as CSV text (path None), or to a .csv / .npy file by its extension."""
    if path is not None and str(path).lower().endswith(".npy"):
        buffer = io.BytesIO()
        np.save(buffer, values, allow_pickle=False)
        atomic_write(path, buffer.getvalue())
        return None
    import csv

    values = values.reshape(len(values), len(columns))
    digits = 9 if values.dtype == np.float32 else 17  # enough to read the same float back
    fmt = (lambda v: f"{v:.{digits}g}") if values.dtype.kind == "f" else str
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([fmt(v) for v in row] for row in values.tolist())
    if path is None:
        return text.getvalue()
    atomic_write(path, text.getvalue())
    return None


# --------------------------------------------------------------------------- run folder


def new_run_dir(out: str | None, config_dir: str | None, config_name: str, overwrite: bool) -> Path:
    """Create (or claim) the run folder: --out, else output.dir, else runs/<name>-<time>."""
    if out or config_dir:
        path = Path(out or config_dir)
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{path}: exists and is not a folder")
        held = [name for name in RESULT_FILES if (path / name).exists()]
        if held and not overwrite:
            raise RunFolderError(
                f"{path}: already holds results ({', '.join(held)}); "
                "choose another --out or pass --overwrite"
            )
        for name in held:  # --overwrite: never leave old results beside a new run's
            (path / name).unlink()
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{_safe_name(config_name)}-{stamp}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot create the run folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK):
        raise RunFolderError(f"{path}: the run folder is not writable")
    return path


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "run"


# --------------------------------------------------------------------------- weights file


def save_weights(path: str | Path, model) -> Path:
    """Write a TrainedModel as DESIGN.md's weights.npz (atomically)."""
    arrays = {**model.network.parameters, **model.network.buffers}  # buffers: BatchNorm's running statistics
    if model.scaler is not None:
        arrays["scaler.mean"], arrays["scaler.scale"] = model.scaler
    meta = {
        "format": WEIGHTS_FORMAT,
        "format_version": WEIGHTS_FORMAT_VERSION,
        "mlpcli_version": __version__,
        "task": model.task,
        "classes": None if model.classes is None else model.classes.tolist(),
        "n_features": model.n_features,
        "config": model.config,
        "metrics": model.metrics,
    }
    if getattr(model, "encoder", None) is not None:  # a CSV model's columns, fills and categories
        meta["encoder"] = model.encoder.to_dict()
    arrays["meta"] = np.array(to_json(meta))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return atomic_write(path, buffer.getvalue())


def load_weights(path: str | Path):
    """Read and check a weights file; returns a TrainedModel. Never runs code."""
    from .config import parse_config
    from .errors import ConfigError
    from .trained import TrainedModel, build_network, head_for

    path = Path(path)
    arrays = _read_npz(path)
    if "meta" not in arrays:
        raise WeightsError(f"{path}: not an mlpcli weights file (no 'meta' entry)")
    meta = _parse_meta(path, arrays.pop("meta"))
    try:
        config = parse_config(meta["config"], source=f"{path}: meta.config").to_dict()
    except ConfigError as exc:
        raise WeightsError(str(exc)) from None
    task, classes, n_features = meta["task"], meta["classes"], meta["n_features"]
    if task not in ("classification", "multilabel", "regression") or not isinstance(n_features, int) or n_features < 1:
        raise WeightsError(f"{path}: meta has an invalid task or n_features")
    if task != "regression" and (not isinstance(classes, list) or len(classes) < 2):
        raise WeightsError(f"{path}: meta.classes must list at least 2 classes")
    n_dense = len(config["model"]["layers"]) + 1
    last_bias = arrays.get(f"dense.{n_dense - 1}.bias")
    if last_bias is None or last_bias.ndim != 1:
        raise WeightsError(f"{path}: missing or malformed dense.{n_dense - 1}.bias")
    n_outputs = last_bias.shape[0]
    _check_head(path, config, task, classes, n_outputs, f"dense.{n_dense - 1}.bias")
    try:
        head, loss_options = head_for(config, task, None if classes is None else np.asarray(classes))
        network = build_network(config["model"], n_features, n_outputs, head, loss_options=loss_options)
    except (ConfigError, ValueError) as exc:
        raise WeightsError(f"{path}: meta.config does not describe this model ({exc})") from None
    expected = {name: a.shape for name, a in {**network.parameters, **network.buffers}.items()}
    scaled = config["data"]["scale"] != "none"
    if scaled:
        expected["scaler.mean"] = expected["scaler.scale"] = (n_features,)
    _check_arrays(path, arrays, expected, network.dtype)
    for name, view in {**network.parameters, **network.buffers}.items():
        view[...] = arrays[name]
    negative = next((name for name in network.buffers if name.endswith(".running_var") and np.any(arrays[name] < 0)), None)
    if negative:
        raise WeightsError(f"{path}: {negative} holds negative variances")
    scaler = (arrays["scaler.mean"], arrays["scaler.scale"]) if scaled else None
    if scaler is not None and not np.all(scaler[1] > 0):
        raise WeightsError(f"{path}: scaler.scale must be positive")
    encoder = _load_encoder(path, meta.get("encoder"), n_features)
    return TrainedModel(
        network=network,
        task=task,
        classes=None if classes is None else np.asarray(classes),
        scaler=scaler,
        config=config,
        metrics=meta.get("metrics") or {},
        encoder=encoder,
    )


def _check_head(path: Path, config: dict, task: str, classes, n_outputs: int, bias: str) -> None:
    """meta.task, meta.classes, meta.config's task and loss, and the width of the
    output layer (``bias``, its n_outputs units) must tell one story."""
    from .config import task_problem
    from .trained import output_head

    if config["model"]["task"] != task:
        raise WeightsError(
            f"{path}: meta.task is {task!r} but meta.config.model.task is {config['model']['task']!r}"
        )
    if task == "regression" and classes is not None:
        raise WeightsError(f"{path}: meta.classes must be null for the regression task, got {len(classes)} classes")
    n_classes = None if classes is None else len(classes)
    train = config["train"]
    problem = task_problem(task, train["loss"], train["class_weight"], train["label_smoothing"], n_classes)
    if problem:
        raise WeightsError(f"{path}: meta.config does not fit meta.task {task!r} and meta.classes ({problem})")
    head = output_head(task, n_classes, train["loss"])
    if task == "classification" and head == "binary_cross_entropy":
        need, why = 1, "one sigmoid unit for the 2 classes of meta.classes"
    elif task == "regression":
        return  # a unit per target column, which the file alone does not record
    else:
        kind, kinds = ("label", "labels") if task == "multilabel" else ("class", "classes")
        need, why = n_classes, f"a {head} unit per {kind}, and meta.classes lists {n_classes} {kinds}"
    if n_outputs != need:
        raise WeightsError(
            f"{path}: the output layer ({bias}) has {n_outputs} units, but a {task} model needs {need}: {why}"
        )


def _load_encoder(path: Path, obj, n_features: int):
    """meta.encoder (plain JSON: columns, kinds, categories, fill values) as a
    tabular.Encoder, checked against the network's inputs; None if absent."""
    if obj is None:
        return None
    from .tabular import Encoder

    try:
        encoder = Encoder.from_dict(obj)
    except ValueError as exc:
        raise WeightsError(f"{path}: meta.encoder is malformed: {exc}") from None
    if encoder.width != n_features:
        raise WeightsError(
            f"{path}: meta.encoder gives {encoder.width} network inputs, but meta.n_features is {n_features}"
        )
    return encoder


def _read_npz(path: Path) -> dict:
    if not path.exists():
        raise WeightsError(f"{path}: no such file")
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder; pass the weights.npz inside it")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise WeightsError(f"{path}: not a weights file (an .npz is a zip archive; this is not one)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            # Read every member now: NumPy refuses an object array only when it is touched.
            return {name: archive[name] for name in archive.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise WeightsError(f"{path}: holds pickled objects, which are never loaded") from None
        raise WeightsError(f"{path}: not a valid weights file ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, NotImplementedError, zlib.error) as exc:
        raise WeightsError(f"{path}: not a valid weights file ({type(exc).__name__}: {exc})") from None


def _parse_meta(path: Path, meta: np.ndarray) -> dict:
    if meta.dtype.kind != "U" or meta.ndim != 0:
        raise WeightsError(f"{path}: 'meta' must be a 0-d string array")
    try:
        meta = json.loads(str(meta))
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path}: 'meta' is not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict) or meta.get("format") != WEIGHTS_FORMAT:
        raise WeightsError(f"{path}: not an mlpcli weights file (meta.format is not {WEIGHTS_FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise WeightsError(f"{path}: meta.format_version is missing or invalid")
    if version > WEIGHTS_FORMAT_VERSION:
        raise WeightsError(
            f"{path}: weights format version {version} is newer than this mlpcli reads "
            f"({WEIGHTS_FORMAT_VERSION}); upgrade mlpcli"
        )
    for key in ("task", "n_features", "config"):
        if key not in meta:
            raise WeightsError(f"{path}: meta has no {key!r}")
    return meta


def _check_arrays(path: Path, arrays: dict, expected: dict, dtype) -> None:
    unknown = sorted(set(arrays) - set(expected))
    if unknown:
        raise WeightsError(f"{path}: unexpected entries {unknown}")
    for name, shape in expected.items():
        if name not in arrays:
            raise WeightsError(f"{path}: missing {name}")
        a = arrays[name]
        if a.dtype != dtype:
            raise WeightsError(f"{path}: {name} has dtype {a.dtype}, expected {dtype}")
        if a.shape != tuple(shape):
            raise WeightsError(f"{path}: {name} has shape {a.shape}, expected {tuple(shape)}")
        if not np.all(np.isfinite(a)):
            raise WeightsError(f"{path}: {name} holds NaN or infinite values")
