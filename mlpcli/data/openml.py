"""OpenML data sets (``openml:NAME`` / ``openml:ID``), fetched with
scikit-learn's fetch_openml and cached in its data home."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError

# openml:NAME or openml:ID, fetched with sklearn.datasets.fetch_openml and cached in its data home.
OPENML_PREFIX = "openml:"
# fetch_openml arguments mlpcli sets itself (NumPy arrays from the pandas-free parser,
# the name or id from data.dataset, scikit-learn's data home); data.options takes the rest.
_OPENML_RESERVED = {"name", "data_id", "data_home", "return_X_y", "as_frame", "parser", "read_csv_kwargs"}


def is_openml(dataset: str) -> bool:
    return dataset.startswith(OPENML_PREFIX)


def openml_options() -> list[str]:
    """The fetch_openml arguments data.options may set."""
    import inspect

    import sklearn.datasets

    return [p for p in inspect.signature(sklearn.datasets.fetch_openml).parameters if p not in _OPENML_RESERVED]


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
    try:
        home = Path(sklearn.datasets.get_data_home())  # creates the folder
    except OSError as exc:
        raise _unusable_home(dataset, exc) from None
    try:
        # Its warnings are shown once it succeeds: a failure's one Error line says why (an unusable cache too).
        with warnings.catch_warnings(record=True) as caught:
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
    except OSError as exc:  # the cache: a file or folder there cannot be read or written
        raise _unusable_home(dataset, exc) from None
    except (TypeError, ValueError) as exc:  # OpenMLError, a bad option, an unusable ARFF file
        if "STRING attributes" in str(exc):
            raise DataError(f"{dataset}: has free-text (STRING) features, which mlpcli cannot use") from None
        raise DataError(f"{dataset}: {exc}") from None
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    X, y = bunch.data, bunch.target
    if y is None:
        raise DataError(f"{dataset}: has no default target column; name one with data.options.target_column")
    if hasattr(X, "toarray"):  # a sparse ARFF file
        X = X.toarray()
    y = np.asarray(y)
    if y.dtype == object:  # nominal target: class labels
        y = y.astype(str)
    return np.asarray(X, dtype=np.float64), y


def _unusable_home(dataset: str, exc: OSError) -> DataError:
    """The error for a scikit-learn data home (SCIKIT_LEARN_DATA) the download
    cannot be cached in: not a folder, not writable."""
    home = Path(os.path.expanduser(os.environ.get("SCIKIT_LEARN_DATA", os.path.join("~", "scikit_learn_data"))))
    where = Path(exc.filename) if isinstance(exc.filename, str) else home
    why = f"{where} is not a folder" if where.exists() and not where.is_dir() else f"{where}: {exc.strerror or exc}"
    return DataError(
        f"{dataset}: cannot use scikit-learn's data home {home} (set by SCIKIT_LEARN_DATA) for the OpenML cache: "
        f"{why}; set SCIKIT_LEARN_DATA to a writable folder"
    )
