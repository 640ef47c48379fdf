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
    "multilabel": "make_multilabel_classification",
}
DATASETS = {**LOADERS, **GENERATORS}
FILE_SUFFIXES = (".npz", ".csv", ".npy")  # a .npy holds X; its targets are the .npy file data.target names
# openml:NAME or openml:ID, fetched with sklearn.datasets.fetch_openml and cached in its data home.
OPENML_PREFIX = "openml:"
# fetch_openml arguments mlpcli sets itself (NumPy arrays from the pandas-free parser,
# the name or id from data.dataset, scikit-learn's data home); data.options takes the rest.
_OPENML_RESERVED = {"name", "data_id", "data_home", "return_X_y", "as_frame", "parser", "read_csv_kwargs"}
# Loader arguments that would change what the loader returns, not the data.
_RESERVED_OPTIONS = {
    "return_X_y", "as_frame", "random_state", "data_home", "download_if_missing",
    "return_centers", "coef",  # these make a generator return a third array
    "sparse", "return_indicator", "return_distributions",  # make_multilabel_classification: other array kinds
}


def _sklearn_function(name: str):
    import sklearn.datasets

    return getattr(sklearn.datasets, DATASETS[name])


def is_openml(dataset: str) -> bool:
    return dataset.startswith(OPENML_PREFIX)


def check_options(dataset: str, options: dict) -> None:
    """Refuse data.options keys the loader or generator does not take."""
    if is_openml(dataset):
        import sklearn.datasets

        function = "fetch_openml"
        params = inspect.signature(sklearn.datasets.fetch_openml).parameters
        valid = [p for p in params if p not in _OPENML_RESERVED]
    elif dataset not in DATASETS:
        if options:
            raise DataError(f"data.options: a file data set takes no options, got {sorted(options)}")
        return
    else:
        function = DATASETS[dataset]
        params = inspect.signature(_sklearn_function(dataset)).parameters
        valid = [p for p in params if p not in _RESERVED_OPTIONS or (p == "random_state" and dataset in GENERATORS)]
    for key in options:
        if key not in valid:
            import difflib

            match = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean {match[0]!r}?" if match else ""
            raise DataError(
                f"data.options.{key}: {function} takes no option {key!r}{hint}; "
                f"valid: {', '.join(valid) or 'none'}"
            )


def load_dataset(
    dataset: str, options: dict, random_state: int, target: str | None = None,
    features: list[str] | None = None, impute: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features X (n, d) and raw targets y (n,) or (n, k) for a registry name,
    an ``openml:`` name or id, or a file path (a .npy of features takes its
    targets from the .npy file ``target``)."""
    if is_openml(dataset):
        check_options(dataset, options)
        X, y = fetch_openml(dataset, options)
    elif dataset.lower().endswith(".npy"):
        check_options(dataset, options)
        X, y = read_npy_pair(dataset, target)
    elif dataset in DATASETS:
        check_options(dataset, options)
        fn = _sklearn_function(dataset)
        kwargs = dict(options)
        if dataset in LOADERS:
            kwargs["return_X_y"] = True
        else:
            kwargs.setdefault("random_state", random_state)
            check_generator_size(dataset, options)
        try:
            X, y = fn(**kwargs)
        except (TypeError, ValueError) as exc:
            raise DataError(f"data.options: {DATASETS[dataset]} refused {options}: {exc}") from None
    else:
        X, y = read_xy(dataset, target=target, features=features, impute=impute)
    X, y = np.asarray(X), _squeeze_column(np.asarray(y))
    check_xy(X, y, dataset)
    return X, y


# Bytes a generated data set holds per value: float64 X and y, a split copy, the model's cast.
_BYTES_PER_VALUE = 3 * 8


def check_generator_size(dataset: str, options: dict) -> None:
    """Refuse generator options whose data cannot fit in the memory available
    now (n_samples: 1e12 is a typo, not a data set), before generating it."""
    params = inspect.signature(_sklearn_function(dataset)).parameters

    def option(name):
        value = options.get(name, params[name].default if name in params else None)
        return value

    def count(value):  # n_samples may be a sequence: samples per class or per centre
        if isinstance(value, (list, tuple)):
            return sum(count(v) for v in value)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

    n_samples = count(option("n_samples"))
    width = count(option("n_features")) or 2  # moons and circles: two features
    width += count(option("n_classes")) if dataset == "multilabel" else count(option("n_targets")) or 1
    needed = n_samples * width * _BYTES_PER_VALUE
    available = available_memory()
    if available is None or needed <= available:
        return
    features = f" x {count(option('n_features')):,.0f} features" if "n_features" in params else ""
    raise DataError(
        f"data.options.n_samples: {n_samples:,.0f} samples{features} need about {_size(needed)} to generate "
        f"and train on, more than the {_size(available)} of memory available; lower data.options.n_samples"
        + (" or data.options.n_features" if "n_features" in params else "")
    )


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux's MemAvailable,
    else the physical memory), or None where neither is known."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""


def fetch_openml(dataset: str, options: dict) -> tuple[np.ndarray, np.ndarray]:
    """X and y of ``openml:NAME`` / ``openml:ID`` from scikit-learn's fetch_openml.

    Read with its pure-Python ARFF parser into NumPy arrays, so pandas is not
    needed: nominal features arrive as category indices (0, 1, ...) and a
    nominal target as string labels. Downloads are cached in scikit-learn's
    data home (``SCIKIT_LEARN_DATA``, default ~/scikit_learn_data) and the
    cached copy is used from then on, offline too.
    """
    import warnings
    from urllib.error import HTTPError, URLError

    import sklearn.datasets

    key = dataset[len(OPENML_PREFIX) :].strip()
    which = {"data_id": int(key)} if key.isdigit() else {"name": key}
    home = Path(sklearn.datasets.get_data_home())
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="A network error occurred")  # retries are ours to report
            bunch = sklearn.datasets.fetch_openml(
                **which, **options, data_home=str(home), as_frame=False, parser="liac-arff"
            )
    except (URLError, TimeoutError, ConnectionError) as exc:
        reason = f"HTTP {exc.code}" if isinstance(exc, HTTPError) else getattr(exc, "reason", exc)
        raise DataError(
            f"{dataset}: could not be downloaded from openml.org ({reason}) and is not cached "
            f"in scikit-learn's data home {home / 'openml'} (set SCIKIT_LEARN_DATA to use another)"
        ) from None
    except (TypeError, ValueError) as exc:  # OpenMLError, a bad option, an unusable ARFF file
        if "STRING attributes" in str(exc):
            raise DataError(f"{dataset}: has free-text (STRING) features, which mlpcli cannot use") from None
        raise DataError(f"{dataset}: {exc}") from None
    X, y = bunch.data, bunch.target
    if y is None:
        raise DataError(f"{dataset}: has no default target column; name one with data.options.target_column")
    if hasattr(X, "toarray"):  # a sparse ARFF file
        X = X.toarray()
    y = np.asarray(y)
    if y.dtype == object:  # nominal target: class labels
        y = y.astype(str)
    return np.asarray(X, dtype=np.float64), y


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
    return X, _squeeze_column(y)


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


def _squeeze_column(y: np.ndarray) -> np.ndarray:
    """A target of shape (n, 1) is one target: (n,)."""
    return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y


def read_xy(path: str, **columns) -> tuple[np.ndarray, np.ndarray]:
    """X and y from a .npz (arrays X and y) or a .csv (the target column
    ``target``, by default the last; see _read_csv for ``columns``)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return read_features(path, with_target=True, **columns)
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
            return _features(archive["X"], path), _squeeze_column(_labels(archive["y"], path))
    except DataError:
        raise
    except Exception as exc:  # zipfile, pickle refusal, truncation: all unusable input
        raise _unreadable(path, "a readable .npz file", exc) from None


def read_features(path: str, with_target: bool = False, **columns):
    """Rows of a .csv / .npz / .npy file as a 2-D array (a header row is skipped),
    or a CSV's named columns as a table (see _read_csv).

    With ``with_target``, a .csv's target column is split off and returned as y.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: no such file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(p, allow_pickle=False)
            if not isinstance(array, np.ndarray):
                array.close()
                raise DataError(f"{path}: is an .npz archive, not a .npy array")
            return _features(array, path)
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as archive:
                if "X" in archive.files:
                    return _features(archive["X"], path)
                if len(archive.files) == 1:
                    return _features(archive[archive.files[0]], path)
                raise DataError(f"{path}: holds {sorted(archive.files)}; expected an array named 'X'")
        if suffix == ".csv":
            return _read_csv(p, with_target, **columns)
    except DataError:
        raise
    except Exception as exc:
        raise _unreadable(path, f"readable as {suffix}", exc) from None
    raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv, .npz or .npy")


def _unreadable(path, what: str, exc: Exception) -> DataError:
    """The error for a data file NumPy or the CSV reader could not read."""
    if "allow_pickle" in str(exc):  # NumPy's refusal of an object array
        return DataError(f"{path}: holds pickled Python objects, which are never loaded")
    return DataError(f"{path}: not {what} ({type(exc).__name__}: {exc})")


def _read_csv(path: Path, with_target: bool, target=None, features=None, impute=None, encoder=None):
    """A CSV's features: a plain float array, or a table (tabular.py) of named
    numeric and categorical columns, with missing values.

    A table when the file has a header row and data.target or data.features
    names columns, or a feature column holds a non-number or a missing value;
    a headerless file must be all numbers, with the target last. ``impute``
    (data.impute) says which missing values to refuse. With a trained model's
    ``encoder``, its columns are read by header name (by position in a file
    with no header row, or pandas' 0, 1, 2 ...), as the kinds it was fitted on.
    """
    rows, lines = _csv_records(path)
    if encoder is not None:
        return _read_model_csv(path, rows, lines, encoder, with_target)
    header = bool(len(rows)) and _is_header(rows, with_target)
    body = rows[1:] if header else rows
    if len(body) == 0:
        raise DataError(f"{path}: no data rows")
    named = target is not None or features is not None
    if not named:
        X = _numbers(body[:, :-1] if with_target else body)
        if X is not None and not (header and with_target and np.isnan(X).any()):
            return (X, _parse_target(body[:, -1])) if with_target else X
        if not (header and with_target):
            raise DataError(
                f"{path}: the feature columns must be numbers (categorical columns and missing "
                "values need a header row naming the columns)"
            )
    elif not header:
        raise DataError(f"{path}: has no header row, so data.target and data.features cannot name its columns")
    from . import tabular

    names = [h.strip() for h in rows[0]]
    if target is None:  # data.target unset: the last column
        target = names[-1]
        if features is not None and target in features:
            raise DataError(
                f"data.features: lists {target!r}, the target column (data.target is not set, so the "
                "target is the last column); leave it out of data.features, or set data.target to "
                "another column"
            )
    features = [h for h in names if h != target] if features is None else features
    X = tabular.table_from_rows(names, body, lines[1:], features, str(path))
    impute = impute or {"numeric": "mean", "categorical": "most_frequent"}
    refused = [name for name in features if impute[tabular.kind_of(X[name])] == "refuse"]
    tabular.refuse_missing(X, refused, str(path), "data.impute.{kind} is refuse", lines[1:])
    return X, _table_target(path, names, body, lines[1:], target)


def _read_model_csv(path: Path, rows: np.ndarray, lines: np.ndarray, encoder, with_target: bool):
    """The columns a trained model's encoder takes (and its target), by header
    name, or by position when the file has no header row (or pandas' 0, 1, ...).
    The model knows its column names, so the first row is a header only if it
    holds one of them: any other row is data (a one-row file too)."""
    from . import tabular

    need = encoder.names + ([encoder.target] if with_target and encoder.target else [])
    first = [h.strip() for h in rows[0]] if len(rows) else []
    pandas_header = first == [str(i) for i in range(len(first))]
    if not pandas_header and set(first) & set(need):
        names, body, body_lines = first, rows[1:], lines[1:]
    else:
        if rows.shape[1] != len(need):
            raise DataError(
                f"{path}: has {rows.shape[1]} columns and no header row naming them; the model takes "
                f"{len(need)}: {', '.join(need)}"
            )
        skip = 1 if pandas_header else 0
        names, body, body_lines = need, rows[skip:], lines[skip:]
    if len(body) == 0:
        raise DataError(f"{path}: no data rows")
    X = tabular.table_from_rows(names, body, body_lines, encoder.names, str(path), kinds=encoder.kinds)
    why = "the model was trained with data.impute.{kind}: refuse"
    tabular.refuse_missing(X, encoder.refused, str(path), why, body_lines)
    if not with_target:
        return X
    return X, _table_target(path, names, body, body_lines, encoder.target)


def _table_target(path, names: list[str], body: np.ndarray, lines: np.ndarray, target: str) -> np.ndarray:
    """The target column of a CSV table; every row must have a value."""
    from . import tabular

    column = np.char.strip(body[:, tabular.column_index(names, [target], str(path), "target column")[target]])
    gap = tabular.missing(column)
    if gap.any():
        raise DataError(
            f"{path}: column {target!r} (the target) has a missing value at row {lines[gap.argmax()]}; "
            "every row needs a target"
        )
    return _parse_target(column)


def csv_header(path) -> list[str]:
    """The first non-blank row of a CSV, its fields stripped."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: drops the byte-order mark Excel writes
        return next(([h.strip() for h in row] for row in csv.reader(f) if row), [])


def _csv_records(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The non-blank records of a CSV as a 2-D string array, and the 1-based
    file row (line) each one ends on."""
    import csv

    table, lines = [], []
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: drops the byte-order mark Excel writes
        reader = csv.reader(f)  # quoted fields may hold commas
        for row in reader:
            if row:
                table.append(row)
                lines.append(reader.line_num)
    if not table:
        raise DataError(f"{path}: is empty (no rows)")
    widths = {len(row) for row in table}
    if len(widths) > 1:
        bad = next(i for i, row in enumerate(table) if len(row) != len(table[0]))
        raise DataError(
            f"{path}: rows have different numbers of columns ({sorted(widths)}): row {lines[bad]} "
            f"has {len(table[bad])}, row {lines[0]} has {len(table[0])}"
        )
    return np.array(table, dtype=str).reshape(len(table), -1), np.array(lines, dtype=np.int64)


def _numbers(values: np.ndarray) -> np.ndarray | None:
    """Strings as float64, or None if any is not a number."""
    try:
        return values.astype(np.float64)
    except ValueError:
        return None


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
    from .tabular import missing

    def numbers_below(j):  # missing values are no evidence either way
        values = below[:100, j]
        values = values[~missing(values)]
        return len(values) > 0 and _numeric(values).all()

    return not _numeric(first).any() or any(
        not _numeric([first[j]])[0] and not missing([first[j]])[0] and numbers_below(j)
        for j in range(rows.shape[1])
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
    """Refuse data no model can be trained or scored on: X not 2-D numbers (or a
    CSV table), no samples or no features, non-finite features, targets that are
    not one value or one row of values per sample."""
    if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] == 0):
        raise DataError(f"{source}: y must hold one target (or one row of targets) per sample, got shape {y.shape}")
    if y.dtype.kind not in "biufUS":
        raise DataError(f"{source}: y must hold numbers or labels, got dtype {y.dtype}")
    if X.dtype.names:  # a CSV table (tabular.py): NaN marks a missing value, to be filled
        if len(X) != len(y):
            raise DataError(f"{source}: X has {len(X)} rows but y has {len(y)}")
        for name in X.dtype.names:
            if X[name].dtype.kind == "f" and np.isinf(X[name]).any():
                raise DataError(f"{source}: column {name!r} holds infinite values")
        return
    if X.ndim != 2:
        raise DataError(f"{source}: X must be 2-D (samples, features), got shape {X.shape}")
    if len(X) == 0:
        raise DataError(f"{source}: no samples")
    if len(y) != len(X):
        raise DataError(f"{source}: X has {len(X)} rows but y has {len(y)}")
    if X.shape[1] == 0:
        raise DataError(f"{source}: X has no feature columns")
    if X.dtype.kind not in "biuf":  # complex would lose its imaginary part, silently
        raise DataError(f"{source}: X must hold real numbers, got dtype {X.dtype}")
    if not np.all(np.isfinite(X)):
        raise DataError(f"{source}: X holds NaN or infinite values")


def check_range(X, dtype, source: str) -> None:
    """Refuse features beyond the range of the model's dtype (1e39 in float32):
    cast, they would become infinite. Names the first such column."""
    limit = float(np.finfo(dtype).max)
    if X.dtype.names:  # a CSV table: its numeric columns by name
        columns = [(repr(name), X[name]) for name in X.dtype.names if X[name].dtype.kind == "f"]
    elif X.dtype.kind == "f" and X.dtype.itemsize > np.dtype(dtype).itemsize and X.ndim == 2 and X.size:
        finite = np.isfinite(X)  # non-finite values are check_xy's (or the scaling's) to refuse
        top = np.max(X, axis=0, initial=0.0, where=finite)
        bottom = np.min(X, axis=0, initial=0.0, where=finite)
        columns = [(f"{j + 1} of {X.shape[1]}", np.array([bottom[j], top[j]])) for j in range(X.shape[1])]
    else:
        return
    for name, values in columns:
        with np.errstate(invalid="ignore"):
            beyond = np.abs(values[np.isfinite(values)]) > limit
        if beyond.any():
            value = values[np.isfinite(values)][beyond][0]
            raise DataError(
                f"{source}: column {name} holds {value:.3g}, beyond the range of {np.dtype(dtype)} "
                f"(up to {limit:.3g}), the model's dtype; rescale that column, or train with model.dtype: float64"
            )


def check_scaler(scaler, dtype, kind: str, source: str) -> None:
    """Refuse a fitted scaling whose offset or scale (a column's range, say
    6e38) is beyond the model dtype's range: cast, it would be infinite."""
    if scaler is None:
        return
    limit = float(np.finfo(dtype).max)
    for what, values in zip(("offset", "scale"), scaler):
        beyond = np.flatnonzero(np.abs(values) > limit)
        if len(beyond):
            j = beyond[0]
            raise DataError(
                f"{source}: column {j + 1} of {len(values)} needs a data.scale: {kind} {what} of {values[j]:.3g}, "
                f"beyond the range of {np.dtype(dtype)} (up to {limit:.3g}), the model's dtype; rescale that "
                "column, or train with model.dtype: float64"
            )


def infer_task(y: np.ndarray) -> str:
    """Floating-point targets are regression; several columns of 0/1 integers or
    booleans are labels (multilabel); other integers, booleans and strings are
    classes. (Set model.task to classify float-coded labels.)"""
    if np.issubdtype(y.dtype, np.floating):
        return "regression"
    if y.ndim == 2 and (y.dtype == bool or np.issubdtype(y.dtype, np.integer)) and np.isin(y, (0, 1)).all():
        return "multilabel"
    return "classification"


def multilabel_targets(y: np.ndarray, source: str, n_labels: int | None = None) -> np.ndarray:
    """Label columns (n, k) of 0 / 1 (integers, booleans or floats) -> int8 (n, k)."""
    y = np.asarray(y)
    if y.ndim == 1 and n_labels is not None:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or (n_labels is None and y.shape[1] < 2):
        raise DataError(f"{source}: multilabel needs two or more 0/1 label columns, got shape {y.shape}")
    if n_labels is not None and y.shape[1] != n_labels:
        raise DataError(f"{source}: has {y.shape[1]} label columns; the model predicts {n_labels}")
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise DataError(f"{source}: multilabel targets must be 0 or 1, got dtype {y.dtype}")
    if not np.isin(y, (0, 1)).all():
        bad = y[~np.isin(y, (0, 1))].ravel()[:3].tolist()
        raise DataError(f"{source}: multilabel targets must be 0 or 1, found {bad}")
    return y.astype(np.int8)


def encode_classes(y: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Class labels of any kind -> (indices into classes, sorted classes)."""
    if y.ndim != 1:
        raise DataError(
            f"{source}: classification needs one target column, got shape {y.shape} "
            "(several 0/1 columns are multilabel; float columns are multi-output regression)"
        )
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

    As scikit-learn's StandardScaler (offset the mean, scale the population
    std), MinMaxScaler (the minimum, the range) and RobustScaler (the median,
    the 25-75 interquartile range, percentiles by linear interpolation), with a
    constant feature's scale set to 1. standard's statistics accumulate in
    float64 over blocks of rows, so fitting it never copies the whole data set.
    """
    if kind == "none":
        return None
    X = X_train
    if kind == "robust":
        q25, median, q75 = np.percentile(np.asarray(X, dtype=np.float64), [25, 50, 75], axis=0)
        iqr = q75 - q25
        iqr[iqr < 10 * np.finfo(np.float64).eps] = 1.0
        return median, iqr
    if kind == "minmax":
        low = np.min(X, axis=0).astype(np.float64)
        spread = np.max(X, axis=0).astype(np.float64) - low
        spread[spread < 10 * np.finfo(np.float64).eps] = 1.0
        return low, spread
    n = len(X)
    blocks = [X[i : i + chunk_rows] for i in range(0, n, chunk_rows)]
    mean = sum(np.add.reduce(b, axis=0, dtype=np.float64) for b in blocks) / n
    var = sum(np.add.reduce(np.square(b - mean), axis=0) for b in blocks) / n
    # scikit-learn's test for a constant feature: var within the rounding error of its computation.
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    return mean, np.where(constant, 1.0, np.sqrt(var))
