"""Data sets: the registry of scikit-learn loaders and generators, files,
target encoding, the split and input scaling.

scikit-learn is imported inside the functions that need it, so importing this
module (as the config schema does, for the registry's names) stays cheap.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from .errors import DataError

# name -> scikit-learn function. Loaders ship their data with scikit-learn;
# generators draw it, from data.options and a random_state derived from the seed.
LOADERS = {
    "iris": "load_iris",
    "digits": "load_digits",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
    "linnerud": "load_linnerud",
}
GENERATORS = {
    "moons": "make_moons",
    "circles": "make_circles",
    "blobs": "make_blobs",
    "classification": "make_classification",
    "regression": "make_regression",
    "friedman1": "make_friedman1",
}
DATASETS = {**LOADERS, **GENERATORS}
FILE_SUFFIXES = (".npz", ".csv")
# Loader arguments that would change what the loader returns, not the data.
_RESERVED_OPTIONS = {
    "return_X_y", "as_frame", "random_state", "data_home", "download_if_missing",
    "return_centers", "coef",  # these make a generator return a third array
}


def _sklearn_function(name: str):
    import sklearn.datasets

    return getattr(sklearn.datasets, DATASETS[name])


def check_options(dataset: str, options: dict) -> None:
    """Refuse data.options keys the loader or generator does not take."""
    if dataset not in DATASETS:
        if options:
            raise DataError(f"data.options: a file data set takes no options, got {sorted(options)}")
        return
    params = inspect.signature(_sklearn_function(dataset)).parameters
    valid = [p for p in params if p not in _RESERVED_OPTIONS or (p == "random_state" and dataset in GENERATORS)]
    for key in options:
        if key not in valid:
            import difflib

            match = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean {match[0]!r}?" if match else ""
            raise DataError(
                f"data.options.{key}: {DATASETS[dataset]} takes no option {key!r}{hint}; "
                f"valid: {', '.join(valid) or 'none'}"
            )


def load_dataset(dataset: str, options: dict, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Features X (n, d) and raw targets y (n,) or (n, k) for a registry name or a file path."""
    if dataset in DATASETS:
        check_options(dataset, options)
        fn = _sklearn_function(dataset)
        kwargs = dict(options)
        if dataset in LOADERS:
            kwargs["return_X_y"] = True
        else:
            kwargs.setdefault("random_state", random_state)
        try:
            X, y = fn(**kwargs)
        except (TypeError, ValueError) as exc:
            raise DataError(f"data.options: {DATASETS[dataset]} refused {options}: {exc}") from None
    else:
        X, y = read_xy(dataset)
    X, y = np.asarray(X), _squeeze_column(np.asarray(y))
    check_xy(X, y, dataset)
    return X, y


def _squeeze_column(y: np.ndarray) -> np.ndarray:
    """A target of shape (n, 1) is one target: (n,)."""
    return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y


def read_xy(path: str) -> tuple[np.ndarray, np.ndarray]:
    """X and y from a .npz (arrays X and y) or a .csv (target in the last column)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return read_features(path, with_target=True)
    if suffix != ".npz":
        raise DataError(
            f"{path}: needs features and targets: an .npz with arrays X and y, "
            "or a .csv with the target in the last column"
        )
    try:
        with np.load(p, allow_pickle=False) as archive:
            missing = {"X", "y"} - set(archive.files)
            if missing:
                raise DataError(
                    f"{path}: needs arrays 'X' and 'y', found {sorted(archive.files) or 'none'}"
                )
            return archive["X"], _squeeze_column(archive["y"])
    except DataError:
        raise
    except Exception as exc:  # zipfile, pickle refusal, truncation: all unusable input
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None


def read_features(path: str, with_target: bool = False):
    """Rows of a .csv / .npz / .npy file as a 2-D array (a header row is skipped).

    With ``with_target``, a .csv's last column is split off and returned as y.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: no such file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as archive:
                if "X" in archive.files:
                    return archive["X"]
                if len(archive.files) == 1:
                    return archive[archive.files[0]]
                raise DataError(f"{path}: holds {sorted(archive.files)}; expected an array named 'X'")
        if suffix == ".csv":
            return _read_csv(p, with_target)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot read it as {suffix} ({exc})") from None
    raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv, .npz or .npy")


def _read_csv(path: Path, with_target: bool):
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        table = [row for row in csv.reader(f) if row]  # quoted fields may hold commas
    widths = {len(row) for row in table}
    if len(widths) > 1:
        raise DataError(f"{path}: rows have different numbers of columns ({sorted(widths)})")
    rows = np.array(table, dtype=str).reshape(len(table), -1)
    if len(rows) and _is_header(rows, with_target):
        rows = rows[1:]
    if len(rows) == 0:
        raise DataError(f"{path}: no data rows")
    features = rows[:, :-1] if with_target else rows
    try:
        X = features.astype(np.float64)
    except ValueError:
        raise DataError(f"{path}: the feature columns must be numbers") from None
    if not with_target:
        return X
    return X, _parse_target(rows[:, -1])


def _numeric(values) -> np.ndarray:
    """Which of these strings parse as numbers."""
    out = np.empty(len(values), bool)
    for i, v in enumerate(values):
        try:
            float(v)
            out[i] = True
        except ValueError:
            out[i] = False
    return out


def _is_header(rows: np.ndarray, with_target: bool) -> bool:
    """Whether the first row names the columns: some column holds numbers below
    it but not in it; or (features only) it is pandas' default header 0, 1, 2 ...;
    or (with a target column) its label appears nowhere below, which no row of
    a trainable file can do (a class of one sample cannot be split)."""
    first = rows[0]
    if not with_target and first.tolist() == [str(i) for i in range(len(first))]:
        return True
    if len(rows) < 2:
        return not _numeric(first).all()
    below = rows[1:]
    if with_target and not _numeric([first[-1]])[0] and first[-1] not in set(below[:, -1].tolist()):
        return True
    return not _numeric(first).any() or any(
        not _numeric([first[j]])[0] and _numeric(below[:100, j]).all() for j in range(rows.shape[1])
    )


def _parse_target(column: np.ndarray) -> np.ndarray:
    """Numbers written with a point or an exponent are floats (regression); whole
    numbers are integer labels; anything else stays a string label."""
    if not _numeric(column).all():
        return column
    if any(any(c in v for c in ".eEnN") for v in column):  # 1.0, 1e3, nan, inf
        return column.astype(np.float64)
    return column.astype(np.int64)


def check_xy(X, y, source: str) -> None:
    if X.ndim != 2:
        raise DataError(f"{source}: X must be 2-D (samples, features), got shape {X.shape}")
    if len(X) == 0:
        raise DataError(f"{source}: no samples")
    if len(y) != len(X):
        raise DataError(f"{source}: X has {len(X)} rows but y has {len(y)}")
    if not np.issubdtype(X.dtype, np.number):
        raise DataError(f"{source}: X must be numeric, got dtype {X.dtype}")
    if not np.all(np.isfinite(X)):
        raise DataError(f"{source}: X holds NaN or infinite values")


def infer_task(y: np.ndarray) -> str:
    """Floating-point targets are regression; integers, booleans and strings are classes.
    (Set model.task to classify float-coded labels.)"""
    return "regression" if np.issubdtype(y.dtype, np.floating) else "classification"


def encode_classes(y: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Class labels of any kind -> (indices into classes, sorted classes)."""
    if y.ndim != 1:
        raise DataError(f"{source}: classification needs one target column, got shape {y.shape}")
    classes, indices = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{source}: classification needs at least 2 classes, found {len(classes)}")
    return indices.astype(np.int64), classes


def regression_targets(y: np.ndarray, source: str) -> np.ndarray:
    try:
        y = np.asarray(y, dtype=np.float64)
    except ValueError:
        raise DataError(f"{source}: regression targets must be numbers") from None
    if not np.all(np.isfinite(y)):
        raise DataError(f"{source}: y holds NaN or infinite values")
    return y.reshape(len(y), -1)


def split(y, task: str, test_size: float, val_size: float, random_state: int) -> dict[str, np.ndarray]:
    """Sample indices by split: test held out, then validation from the rest;
    stratified for classification."""
    from sklearn.model_selection import train_test_split

    def cut(idx, size, name, key):
        stratify = y[idx] if task == "classification" else None
        try:
            return train_test_split(idx, test_size=size, stratify=stratify, random_state=random_state)
        except ValueError as exc:
            reason = str(exc).split(". ")[0][:160]
            raise DataError(
                f"data.{key}: cannot split off the {name} set from {len(idx)} samples ({reason}); "
                f"try another data.{key}" + (" or more samples per class" if stratify is not None else "")
            ) from None

    rest, test = cut(np.arange(len(y)), test_size, "test", "test_size")
    if val_size > 0:
        train, val = cut(rest, val_size, "validation", "val_size")
        return {"train": train, "val": val, "test": test}
    return {"train": rest, "test": test}


def fit_scaler(kind: str, X_train: np.ndarray, chunk_rows: int = 4096):
    """(offset, scale) such that (X - offset) / scale is the scaled input, or None.

    As scikit-learn's StandardScaler (population std) and MinMaxScaler, with a
    constant feature's scale set to 1; statistics accumulate in float64 over
    blocks of rows, so fitting never copies the whole data set.
    """
    if kind == "none":
        return None
    X = X_train
    blocks = [X[i : i + chunk_rows] for i in range(0, len(X), chunk_rows)]
    if kind == "minmax":
        low = np.min(X, axis=0).astype(np.float64)
        spread = np.max(X, axis=0).astype(np.float64) - low
        spread[spread < 10 * np.finfo(np.float64).eps] = 1.0
        return low, spread
    n = len(X)
    mean = sum(np.add.reduce(b, axis=0, dtype=np.float64) for b in blocks) / n
    var = sum(np.add.reduce(np.square(b - mean), axis=0) for b in blocks) / n
    # scikit-learn's test for a constant feature: var within the rounding error of its computation.
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    return mean, np.where(constant, 1.0, np.sqrt(var))
