"""The data set registry: scikit-learn's loaders and generators by name, and
load_dataset, which reads any data.dataset (a registry name, ``openml:``, a
file) into features and raw targets.

scikit-learn is imported inside the functions that need it, so importing this
module (as the config schema does, for the registry's names) stays cheap; a
bundled data set without options is read from scikit-learn's files directly
(bundled), so a run on it never imports scikit-learn.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..errors import DataError
from .bundled import read_bundled
from .checks import check_xy
from .files import read_npy_pair, read_xy, squeeze_column
from .openml import fetch_openml, is_openml, openml_options

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
# Loader arguments that would change what the loader returns, not the data.
_RESERVED_OPTIONS = {
    "return_X_y", "as_frame", "random_state", "data_home", "download_if_missing",
    "return_centers", "coef",  # these make a generator return a third array
    "sparse", "return_indicator", "return_distributions",  # make_multilabel_classification: other array kinds
}


def _sklearn_function(name: str):
    import sklearn.datasets

    return getattr(sklearn.datasets, DATASETS[name])


def check_options(dataset: str, options: dict) -> None:
    """Refuse data.options keys the loader or generator does not take."""
    if not options:
        return
    if is_openml(dataset):
        function = "fetch_openml"
        valid = openml_options()
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
    features: list[str] | None = None, impute: dict | None = None, delimiter: str = "auto",
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
    elif dataset in LOADERS and not options and (bundled := read_bundled(dataset)) is not None:
        X, y = bundled  # scikit-learn's own files, read without importing it
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
        X, y = read_xy(dataset, target=target, features=features, impute=impute, delimiter=delimiter)
    X, y = np.asarray(X), squeeze_column(np.asarray(y))
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
