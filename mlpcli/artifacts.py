"""How files get into a run folder: atomic writes, JSON and JSON
lines, run.json, predictions tables.

Every file is written whole or not at all: it goes to a temporary file in the
destination folder, is flushed and fsynced, then renamed over the target
(``os.replace`` is atomic on POSIX), so a crash leaves the old file or the new
one, never half of one. metrics.jsonl grows by one line per epoch, each line a
single append. The weights file's format is weights_file.py's; checkpoints
are checkpoint.py's.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ._version import __version__
from .errors import MLPError, RunFolderError

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


_THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
    "OPENBLAS_THREAD_TIMEOUT",  # an update on two threads needs it (mlpcli.threads)
)


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
    line, so a killed process leaves whole lines; fsynced when closed. A write
    that fails (a full disk, a file-size limit) is cut back to the last whole
    line and raised as a RunFolderError naming the file."""

    def __init__(self, path: str | Path, truncate: bool = True, on_append=None):
        self.path, self.truncate = Path(path), truncate  # truncate=False: add to the lines there (a resumed run)
        self.on_append = on_append  # called after each line is written (the run's first results: RunFolder.commit)

    def __enter__(self):
        # O_NOFOLLOW: a symbolic link planted in the run folder is refused, never written through.
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | (os.O_TRUNC if self.truncate else 0)
        try:
            self.fd = os.open(self.path, flags, 0o666)
        except OSError as exc:
            raise _write_error(self.path, exc) from None
        return self

    def append(self, record: dict) -> None:
        line = (to_json(record) + "\n").encode()
        end = os.fstat(self.fd).st_size  # the last whole line ends here (appends are ours alone: the run folder is locked)
        try:
            rest = memoryview(line)
            while rest:  # a short write (the disk filling up): the next write says why
                rest = rest[os.write(self.fd, rest):]
        except OSError as exc:
            try:
                os.ftruncate(self.fd, end)
            except OSError:
                pass
            raise _write_error(self.path, exc) from None
        if self.on_append:
            self.on_append()

    def __exit__(self, exc_type, *exc):
        try:
            os.fsync(self.fd)
        except OSError as error:
            if exc_type is None:
                raise _write_error(self.path, error) from None
        finally:
            os.close(self.fd)


def _write_error(path: Path, exc: OSError) -> RunFolderError:
    if exc.errno == errno.ELOOP:
        return RunFolderError(f"{path}: is a symbolic link; a run folder's files must be its own, not links")
    return RunFolderError(f"{path}: cannot write ({exc.strerror or exc})")


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
