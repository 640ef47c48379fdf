"""scikit-learn's bundled data sets (iris, digits, wine, breast_cancer,
diabetes, linnerud) read straight from the files it ships, without importing
scikit-learn.

``import sklearn`` costs about 0.8 s (scipy comes with it), more than a whole
short run's training; the files are small CSVs in ``sklearn/datasets/data``,
found here without executing the package. Each reader returns what
``sklearn.datasets.load_NAME(return_X_y=True)`` returns, value for value and
dtype for dtype (tests/test_bundled.py checks every one against scikit-learn's
loader); a loader given data.options, or a scikit-learn whose files are not
where they were, goes through scikit-learn's own loader instead.
"""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np


def data_folder() -> Path | None:
    """Where the installed scikit-learn keeps its bundled data, or None."""
    try:
        spec = importlib.util.find_spec("sklearn")  # locates the package; runs none of it
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return folder if folder.is_dir() else None


def _counted_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's load_csv_data: a header "n_samples,n_features,names...",
    then rows of features and an integer class."""
    with path.open(encoding="utf-8") as f:
        header = f.readline().split(",")
        table = np.loadtxt(f, delimiter=",", ndmin=2)
    if table.shape != (int(header[0]), int(header[1]) + 1):
        raise ValueError(f"{path.name}: {table.shape} values, the header says {header[:2]}")
    return table[:, :-1], table[:, -1].astype(int)


def _gzip_table(path: Path, delimiter: str | None = None) -> np.ndarray:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return np.loadtxt(f, delimiter=delimiter)


def _iris(folder):
    return _counted_csv(folder / "iris.csv")


def _wine(folder):
    return _counted_csv(folder / "wine_data.csv")


def _breast_cancer(folder):
    return _counted_csv(folder / "breast_cancer.csv")


def _digits(folder):
    table = _gzip_table(folder / "digits.csv.gz", delimiter=",")
    return table[:, :-1], table[:, -1].astype(int)


def _diabetes(folder):
    """Features centred and scaled to unit norm per column (load_diabetes's
    scaled=True: sklearn.preprocessing.scale, then / sqrt(n_samples))."""
    X = _gzip_table(folder / "diabetes_data_raw.csv.gz")
    y = _gzip_table(folder / "diabetes_target.csv.gz")
    mean, std = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
    X -= mean
    if not np.allclose(residue := np.nanmean(X, axis=0), 0):  # scale's second pass for a poorly centred column
        X -= residue
    X /= np.where(std < 10 * np.finfo(std.dtype).eps, 1.0, std)
    if not np.allclose(residue := np.nanmean(X, axis=0), 0):
        X -= residue
    X /= X.shape[0] ** 0.5
    return X, y


def _linnerud(folder):
    return (np.loadtxt(folder / "linnerud_exercise.csv", skiprows=1),
            np.loadtxt(folder / "linnerud_physiological.csv", skiprows=1))


READERS = {
    "iris": _iris, "digits": _digits, "wine": _wine, "breast_cancer": _breast_cancer,
    "diabetes": _diabetes, "linnerud": _linnerud,
}


def read_bundled(name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(X, y) of a bundled data set from scikit-learn's files, or None where
    they cannot be read (the caller then asks scikit-learn's loader)."""
    folder = data_folder()
    if folder is None or name not in READERS:
        return None
    try:
        X, y = READERS[name](folder)
    except (OSError, ValueError, IndexError, EOFError):
        return None
    return (X, y) if X.ndim == 2 and len(X) == len(y) > 0 and X.shape[1] > 0 else None
