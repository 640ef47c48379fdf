"""Targets (the task they imply, class indices, label columns, regression
values) and the train / validation / test split."""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .splitting import SplitError, train_test_indices

# Whole-number floats are classes when they are few, as AutoGluon's infer_problem_type
# decides (scikit-learn's type_of_target calls every whole-number float array
# "multiclass", which would turn a count or a score to predict into hundreds of
# classes): two distinct values always; else at most MAX_FLOAT_CLASSES distinct
# values, and at most 10% of the rows (5% past 1,000 rows). The diabetes target
# (214 distinct whole numbers in 442 rows, 48%) stays regression.
MAX_FLOAT_CLASSES = 1000
LARGE_DATA_ROWS = 1000
CLASS_RATIO = {"small": 0.1, "large": 0.05}

OTHER_TASK = {"classification": "regression", "regression": "classification", "multilabel": "regression"}


def infer_task(y: np.ndarray) -> str:
    """The task ``model.task: auto`` trains for targets ``y`` (see explain_task)."""
    return explain_task(y)[0]


def explain_task(y: np.ndarray) -> tuple[str, str]:
    """(task, why) for targets y, the one rule of ``model.task: auto``.

    Several columns of 0/1 integers or booleans are labels (multilabel); other
    integers, booleans and strings are classes; one column of floats that are
    all whole numbers with few distinct values (two; or at most 1,000 and 10%
    of the rows, 5% past 1,000 rows) is classes (labels pandas wrote as
    0.0 / 1.0); other floats are regression."""
    if y.ndim == 2 and (y.dtype == bool or np.issubdtype(y.dtype, np.integer)) and np.isin(y, (0, 1)).all():
        return "multilabel", f"the target is {y.shape[1]} columns of 0/1 labels"
    if not np.issubdtype(y.dtype, np.floating):
        kind = "text" if y.dtype.kind in "US" else "true/false" if y.dtype == bool else "integer"
        return "classification", f"the target holds {kind} labels"
    if y.ndim == 2 and y.shape[1] > 1:
        return "regression", f"the target is {y.shape[1]} columns of numbers"
    values = y.ravel()
    if not np.all(np.isfinite(values)):
        return "regression", "the target holds NaN or infinite values"  # which regression_targets refuses
    if not np.all(values == np.round(values)):
        return "regression", "the target holds fractional numbers"
    distinct, n = len(np.unique(values)), len(values)
    ratio = CLASS_RATIO["large" if n > LARGE_DATA_ROWS else "small"]
    if distinct < 2:
        return "regression", f"the target holds one value in {n} rows"
    if distinct == 2 or (distinct <= MAX_FLOAT_CLASSES and distinct <= ratio * n):
        return "classification", f"the target holds {distinct} distinct whole numbers in {n} rows"
    limit = f"at most {MAX_FLOAT_CLASSES:,}" if distinct > MAX_FLOAT_CLASSES else f"at most {ratio:.0%} of the rows"
    return "regression", f"the target holds {distinct} distinct whole numbers in {n} rows, too many for classes ({limit})"


def task_note(task: str, why: str | None) -> str:
    """How a summary says which task ``auto`` chose and how to choose another;
    "" for a task the config set."""
    if why is None:
        return ""
    return f"{task}, inferred: {why} (to override, set model.task, e.g. --set model.task={OTHER_TASK[task]})"


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


def refuse_identifier(y: np.ndarray, source: str, column: str | None = None) -> None:
    """Refuse class labels that differ in every row (each class one member), as
    an identifier's do: no split, and nothing to learn. ``column``: the CSV
    column they came from (a name, or None for a CSV with no header row: the last)."""
    if y.ndim != 1 or len(y) < 2 or len(np.unique(y)) != len(y):
        return
    if not source.lower().endswith(".csv"):
        raise DataError(
            f"{source}: y holds a different label in each of its {len(y)} rows, as an identifier does, "
            "so no class can be learnt; store the target to predict as y (or set model.task: regression)"
        )
    raise DataError(
        f"data.target: {'the last column' if column is None else f'column {column!r}'} of {source} holds a different value in each of its {len(y)} rows, "
        "as an identifier does, so no class can be learnt; set data.target to the column to predict "
        "(or model.task: regression)"
    )


def _refuse_single_member_classes(y: np.ndarray) -> None:
    """A class with one sample in the whole data cannot be split stratified,
    whatever data.test_size is: say so, naming the target (the column may be an
    identifier's or a measurement's with a few repeats), not the split's size."""
    if y.ndim != 1:
        return
    classes, counts = np.unique(y, return_counts=True)
    single = classes[counts == 1]
    if not len(single):
        return
    shown = ", ".join(repr(c.item() if hasattr(c, "item") else c) for c in single[:3]) + (", ..." if len(single) > 3 else "")
    raise DataError(
        f"data.target: {len(single)} of its {len(classes)} classes have a single sample ({shown}), and a stratified "
        "split needs two of each; if the column is an identifier or a measurement, set data.target to the column "
        "to predict (or model.task: regression), else merge or drop the rare classes"
    )


def split(y, task: str, test_size: float, val_size: float, random_state: int) -> dict[str, np.ndarray]:
    """Sample indices by split: test held out, then validation from the rest;
    stratified for classification."""
    def cut(idx, size, name, key):
        stratify = y[idx] if task == "classification" else None
        if stratify is not None and key == "test_size":
            _refuse_single_member_classes(stratify)
        try:
            return train_test_indices(idx, size, stratify, random_state)
        except SplitError as exc:
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

