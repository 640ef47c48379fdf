"""Data files: features and targets from .npz, .npy and (through csv_files)
.csv files, read without pickles."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import inputs
from .csv_files import read_csv

def read_npy_pair(x_path: str, y_path: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Features from one .npy file and targets from another (data.target), no pickles."""
    if not y_path:
        raise DataError(f"{x_path}: a .npy data set needs its targets in a second .npy file: set data.target")
    arrays = []
    for path in (x_path, y_path):
        if not Path(path).is_file():
            raise DataError(f"{path}: no such file")
        try:
            array = np.load(path, allow_pickle=False)
        except Exception as exc:  # pickled objects, truncation, not a .npy at all
            raise _unreadable(path, "a readable .npy file", exc) from None
        if not isinstance(array, np.ndarray):
            raise DataError(f"{path}: is an .npz archive, not a .npy array")
        arrays.append(array)
    X, y = _features(arrays[0], x_path), _labels(arrays[1], y_path)
    if y.ndim == 0 or len(y) != len(X):
        raise DataError(f"{x_path} has {len(X)} rows but {y_path} has {len(y) if y.ndim else 0}")
    return X, squeeze_column(y)


def _features(X: np.ndarray, path) -> np.ndarray:
    """Features as stored in a .npy / .npz: booleans become 0 / 1; a structured
    (record) array is refused: it is no 2-D array of numbers, and only a CSV's
    columns are read by name."""
    if X.dtype.names:
        raise DataError(
            f"{path}: X has a structured dtype {X.dtype} (named fields); mlpcli reads a plain 2-D array "
            "of numbers (np.column_stack the fields), or a .csv with a header row for named columns"
        )
    return X.astype(np.uint8) if X.dtype == bool else X


def _labels(y: np.ndarray, path) -> np.ndarray:
    """Targets as stored in a .npy / .npz: bytes labels (dtype S) decoded as
    UTF-8 (ASCII included) into strings, the labels a CSV gives."""
    if y.dtype.names:
        raise DataError(f"{path}: y has a structured dtype {y.dtype} (named fields); store the targets as a plain array")
    if y.dtype.kind != "S":
        return y
    try:
        return np.char.decode(y, "utf-8")
    except UnicodeDecodeError:
        flat = y.ravel()
        bad = next(v for v in flat.tolist() if not _decodes(v))
        raise DataError(f"{path}: y holds the label {bad!r}, which is not UTF-8 text; store labels as str or numbers") from None


def _decodes(value: bytes) -> bool:
    try:
        value.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def squeeze_column(y: np.ndarray) -> np.ndarray:
    """A target of shape (n, 1) is one target: (n,)."""
    return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y


def _opened(path) -> tuple[str, object, str, bytes | None]:
    """(format suffix, what np.load opens, the name messages use, a stream's
    bytes or None) for a data file, ``-`` or a pipe (inputs.py: its bytes tell
    the format)."""
    if inputs.is_stream(path):
        suffix, content = inputs.read_stream(path)
        return suffix, io.BytesIO(content), inputs.source_name(path), content
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: no such file")
    return p.suffix.lower(), p, str(path), None


def read_xy(path: str, **columns) -> tuple[np.ndarray, np.ndarray]:
    """X and y from a .npz (arrays X and y) or a .csv (the target column
    ``target``, by default the last; see csv_files.read_csv for ``columns``);
    ``-`` or a pipe as its bytes show."""
    suffix, file, name, content = _opened(path)
    if suffix == ".csv":
        return _read_features(suffix, file, name, content, True, columns)
    if suffix != ".npz":
        raise DataError(
            f"{name}: needs features and targets: an .npz with arrays X and y, "
            "or a .csv with the target in the last column"
        )
    try:
        with np.load(file, allow_pickle=False) as archive:
            missing = {"X", "y"} - set(archive.files)
            if missing:
                raise DataError(
                    f"{name}: needs arrays 'X' and 'y', found {sorted(archive.files) or 'none'}"
                )
            return _features(archive["X"], name), squeeze_column(_labels(archive["y"], name))
    except DataError:
        raise
    except Exception as exc:  # zipfile, pickle refusal, truncation: all unusable input
        raise _unreadable(name, "a readable .npz file", exc) from None


def read_features(path: str, with_target: bool = False, **columns):
    """Rows of a .csv / .npz / .npy file as a 2-D array (a header row is skipped),
    or a CSV's named columns as a table (see csv_files.read_csv); ``-`` or a
    pipe as its bytes show.

    With ``with_target``, a .csv's target column is split off and returned as y.
    """
    return _read_features(*_opened(path), with_target, columns)


def _read_features(suffix, file, name, content, with_target: bool, columns: dict):
    try:
        if suffix == ".npy":
            array = np.load(file, allow_pickle=False)
            if not isinstance(array, np.ndarray):
                array.close()
                raise DataError(f"{name}: is an .npz archive, not a .npy array")
            return _features(array, name)
        if suffix == ".npz":
            with np.load(file, allow_pickle=False) as archive:
                if "X" in archive.files:
                    return _features(archive["X"], name)
                if len(archive.files) == 1:
                    return _features(archive[archive.files[0]], name)
                raise DataError(f"{name}: holds {sorted(archive.files)}; expected an array named 'X'")
        if suffix == ".csv":
            text = None if content is None else inputs.text(content, name)
            return read_csv(name if content is not None else file, with_target, text=text, **columns)
    except DataError:
        raise
    except Exception as exc:
        raise _unreadable(name, f"readable as {suffix}", exc) from None
    raise DataError(f"{name}: unsupported file type {suffix!r}; use .csv, .npz or .npy")


def _unreadable(path, what: str, exc: Exception) -> DataError:
    """The error for a data file NumPy or the CSV reader could not read."""
    if "allow_pickle" in str(exc):  # NumPy's refusal of an object array
        return DataError(f"{path}: holds pickled Python objects, which are never loaded")
    return DataError(f"{path}: not {what} ({type(exc).__name__}: {exc})")

