"""Files: the run folder, the weights file, metrics logs, predictions.

Every file is written whole or not at all: it goes to a temporary file in the
destination folder, is flushed and fsynced, then renamed over the target
(``os.replace`` is atomic on POSIX), so a crash leaves the old file or the new
one, never half of one. metrics.jsonl grows by one line per epoch, each line a
single append. Every read of an .npz uses ``allow_pickle=False`` and checks
each member.
"""
from __future__ import annotations

import hashlib
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
RESULT_FILES = (
    "config.yaml", "weights.npz", "metrics.json", "metrics.jsonl", "run.json", "checkpoint.npz", "checkpoint.prev.npz",
    "learning_curves.png", "confusion_matrix.png",
)


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


# atomic_write's temporary names: "." + the file's name + "." + mkstemp's 8 random characters + ".tmp"
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


def remove_stale_temporaries(folder: str | Path) -> list[str]:
    """Delete the temporary files a killed atomic_write left in a folder being
    reused (only names of exactly that pattern); returns the names removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if _TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed.append(entry.name)
            except FileNotFoundError:
                pass
    return removed


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


def write_yaml(path, obj, header: str = "") -> Path:
    """``obj`` as YAML, after ``header`` (comment lines, ignored by every reader)."""
    import yaml

    return atomic_write(path, header + yaml.safe_dump(obj, sort_keys=False))


def overrides_header(overrides) -> str:
    """The comment config.yaml starts with when --set overrides made it (they
    are applied in it already; run.json lists them too)."""
    if not overrides:
        return ""
    lines = "".join(f"#   --set {' '.join(item.splitlines())}\n" for item in overrides)
    return f"# The resolved config, with these overrides applied (in this order):\n{lines}"


# --------------------------------------------------------------------------- run.json: what made this run


def config_hash(resolved: dict) -> str:
    """SHA-256 (hex) of a resolved config in canonical JSON: sorted keys, no
    spaces, non-finite numbers as null. The same for the dict and for
    config.yaml read back (yaml.safe_load), so a checkpoint can hold it."""
    text = json.dumps(_finite(resolved), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def data_fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 (hex) of a loaded data set before it is split: for X, then y,
    the dtype, the shape and the bytes in C order (a CSV table's named columns
    included). Another file with the same numbers gives the same fingerprint."""
    digest = hashlib.sha256()
    for a in (np.asarray(X), np.asarray(y)):
        digest.update(f"{a.dtype.descr if a.dtype.names else a.dtype.str}{a.shape};".encode())
        if a.dtype.hasobject:  # never from our loaders; hashed by value, not by pointer
            digest.update(json.dumps(a.tolist(), default=str).encode())
        else:
            digest.update(np.ascontiguousarray(a).data)
    return digest.hexdigest()


def environment() -> dict:
    """Versions, NumPy's BLAS, the native thread pools loaded (BLAS and OpenMP
    libraries, their versions and thread counts, from threadpoolctl), the
    thread-count environment variables set, and the platform."""
    import platform
    import sys
    from importlib.metadata import PackageNotFoundError, version

    def dist(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    from threadpoolctl import threadpool_info  # installed with scikit-learn

    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer", "prefix")
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": dist("scikit-learn"),
        "mlpcli": __version__,
        "blas": _numpy_blas(),
        "threadpools": [{k: lib.get(k) for k in keys} for lib in threadpool_info()],
        "cpu_count": os.cpu_count(),
        "thread_env": {k: os.environ[k] for k in _THREAD_VARIABLES if k in os.environ},
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


def _numpy_blas() -> dict:
    """The BLAS NumPy was built against: name and version."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # an unusual build: the thread pools below still name the library
        return {"name": None, "version": None}
    return {"name": blas.get("name"), "version": blas.get("version")}


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def command_line() -> str:
    """The command as run (``mlp train ...``) inside the CLI, else "python API"."""
    import shlex
    import sys

    click = sys.modules.get("click")  # imported only if the CLI is running
    if click is None or click.get_current_context(silent=True) is None:
        return "python API"
    program = Path(sys.argv[0]).name
    program = "python -m mlpcli" if program == "__main__.py" else shlex.quote(program)
    return " ".join([program, *map(shlex.quote, sys.argv[1:])])


def write_run_json(run_dir: Path, resolved: dict, fingerprint: str | None, started: str, overrides=()) -> Path:
    """run.json: the command, the --set overrides applied (KEY=VALUE strings, in
    order), the config hash, the data fingerprint, the seed, the start time
    (UTC, ISO 8601) and the environment (see environment())."""
    record = {
        "command": command_line(),
        "overrides": list(overrides),
        "started": started,
        "seed": resolved["seed"],
        "config_sha256": config_hash(resolved),
        "data_sha256": fingerprint,
        **environment(),
    }
    return write_json(Path(run_dir) / "run.json", record)


class JsonLines:
    """An append-only JSON-lines file: each record is one write() of one whole
    line, so a killed process leaves whole lines; fsynced when closed."""

    def __init__(self, path: str | Path, truncate: bool = True):
        self.path, self.truncate = Path(path), truncate  # truncate=False: add to the lines there (a resumed run)

    def __enter__(self):
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if self.truncate else 0)
        self.fd = os.open(self.path, flags, 0o666)
        return self

    def append(self, record: dict) -> None:
        os.write(self.fd, (to_json(record) + "\n").encode())

    def __exit__(self, *exc):
        os.fsync(self.fd)
        os.close(self.fd)


# --------------------------------------------------------------------------- checkpoints (mlpcli/checkpoint.py)

CHECKPOINT, PREVIOUS_CHECKPOINT = "checkpoint.npz", "checkpoint.prev.npz"


def checkpoint_paths(run_dir: str | Path) -> tuple[Path, Path]:
    """The latest checkpoint of a run folder and the generation before it."""
    return Path(run_dir) / CHECKPOINT, Path(run_dir) / PREVIOUS_CHECKPOINT


def write_checkpoint(run_dir: str | Path, data: bytes) -> Path:
    """Write a checkpoint's bytes as the latest, the latest so far becoming the
    previous one (a rename). A crash leaves at least one whole checkpoint:
    the new one, or the one before it as checkpoint.prev.npz."""
    latest, previous = checkpoint_paths(run_dir)
    if latest.exists():
        os.replace(latest, previous)
    return atomic_write(latest, data)


def read_checkpoint(path: str | Path) -> dict:
    """Every array of a checkpoint, read with the weights file's checks (no
    pickles, every member read now); a problem is a CheckpointError."""
    from .errors import CheckpointError

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    try:
        return _read_npz(path)
    except WeightsError as exc:
        raise CheckpointError(str(exc).replace("a weights file", "a checkpoint").replace("weights file", "checkpoint")) from None


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
        remove_stale_temporaries(path)  # a reused folder: what a killed writer left
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
    task, classes, n_features = meta["task"], meta.get("classes"), meta["n_features"]
    if task not in ("classification", "multilabel", "regression"):
        raise WeightsError(f"{path}: meta.task must be classification, multilabel or regression, got {_short(task)}")
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
        raise WeightsError(f"{path}: meta.n_features must be an integer >= 1, got {_short(n_features)}")
    if task != "regression":
        _check_classes(path, classes)
    _check_metrics(path, meta.get("metrics"))
    n_dense = len(config["model"]["layers"]) + 1
    last_bias = arrays.get(f"dense.{n_dense - 1}.bias")
    if last_bias is None or last_bias.ndim != 1:
        raise WeightsError(f"{path}: missing or malformed dense.{n_dense - 1}.bias")
    n_outputs = last_bias.shape[0]
    _check_head(path, config, task, classes, n_outputs, f"dense.{n_dense - 1}.bias")
    _check_dense_shapes(path, arrays, config, n_features, n_outputs)
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


def _short(value, limit: int = 60) -> str:
    """A value from a file, as JSON, cut short for an error line."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def _check_dense_shapes(path: Path, arrays: dict, config: dict, n_features: int, n_outputs: int) -> None:
    """Each dense layer's weight has the shape meta.config and meta.n_features give
    it, checked before the network is built, so a file whose meta declares a
    huge model cannot make us allocate one."""
    widths = [layer["units"] for layer in config["model"]["layers"]] + [n_outputs]
    n_in = n_features
    for i, units in enumerate(widths):
        name = f"dense.{i}.weight"
        if name not in arrays:
            raise WeightsError(f"{path}: missing {name}")
        if arrays[name].shape != (n_in, units):
            raise WeightsError(
                f"{path}: {name} has shape {arrays[name].shape}, but meta.n_features and "
                f"meta.config.model.layers give ({n_in}, {units})"
            )
        n_in = units


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


# Limits on what a weights file may make us allocate, checked from the zip
# directory and each member's .npy header before any array data is read.
MAX_MEMBERS = 4096
MAX_EXPANSION = 100  # a deflated member may hold up to this many times its compressed size ...
EXPANSION_SLACK = 1 << 16  # ... plus this many bytes (a small member compresses well)
_MEMBER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*\.npy$")


def _read_npz(path: Path) -> dict:
    """Every array of an .npz, read and checked without running code: no
    pickles, no member names that are paths, no duplicate members, no member
    whose header declares more data than it holds, and no zip bomb. Each
    member's size is checked against the zip directory and its .npy header
    before its data is read, so a hostile file cannot make us allocate more
    than about MAX_EXPANSION times its own size."""
    if not path.exists():
        raise WeightsError(f"{path}: no such file")
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder; pass the weights.npz inside it")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise WeightsError(f"{path}: not a weights file (an .npz is a zip archive; this is not one)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _check_members(path, archive.infolist(), path.stat().st_size)
            return {name: _read_member(path, archive, info) for name, info in members.items()}
    except WeightsError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError, NotImplementedError, zlib.error) as exc:
        raise WeightsError(f"{path}: not a valid weights file ({type(exc).__name__}: {exc})") from None


def _check_members(path: Path, infos: list, file_size: int) -> dict:
    """The members by array name, once the zip directory passes the checks."""
    if len(infos) > MAX_MEMBERS:
        raise WeightsError(f"{path}: holds {len(infos)} members; a weights file has far fewer (at most {MAX_MEMBERS})")
    members, packed = {}, 0
    for info in infos:
        name = info.filename
        if not _MEMBER_NAME.match(name) or ".." in name:
            raise WeightsError(
                f"{path}: not an mlpcli weights file: member {name!r} is not an array "
                "(a plain NAME.npy, no folders or '..'); refusing the file"
            )
        if name[:-4] in members:
            raise WeightsError(f"{path}: member {name!r} appears twice; refusing the file")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise WeightsError(f"{path}: member {name!r} uses an unsupported compression method ({info.compress_type})")
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or (
            info.file_size > MAX_EXPANSION * info.compress_size + EXPANSION_SLACK
        ):
            raise WeightsError(
                f"{path}: member {name!r} claims {info.file_size} bytes from {info.compress_size} stored "
                "ones; refusing it (a damaged file or a zip bomb)"
            )
        packed += info.compress_size
        members[name[:-4]] = info
    if packed > file_size:  # members that overlap (a zip bomb's trick) or a truncated file
        raise WeightsError(f"{path}: its members claim {packed} bytes, more than the file's {file_size}; damaged or hostile")
    return members


def _read_member(path: Path, archive: zipfile.ZipFile, info) -> np.ndarray:
    """One member as an array: its .npy header is checked (no object dtype, a
    size that matches the member's) before its data is read."""
    name = info.filename[:-4]
    with archive.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except (ValueError, TypeError, SyntaxError) as exc:
            raise WeightsError(f"{path}: {name} is not a valid .npy array ({exc})") from None
        if dtype.hasobject:
            raise WeightsError(f"{path}: {name} holds pickled Python objects, which are never loaded")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if f.tell() + nbytes != info.file_size:
            raise WeightsError(
                f"{path}: {name} declares shape {shape} of {dtype} ({nbytes} bytes) but holds "
                f"{info.file_size - f.tell()} bytes of data; damaged or forged"
            )
        array = np.empty(count, dtype=dtype)
        if nbytes and f.readinto(memoryview(array.view(np.uint8))) != nbytes:
            raise WeightsError(f"{path}: {name} is truncated")
        f.read(1)  # at the member's end: zipfile checks its CRC
    return array.reshape(shape, order="F" if fortran else "C")


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
