"""Targets (the task they imply, class indices, label columns, regression
values) and the train / validation / test split."""
from __future__ import annotations

import numpy as np

from ..errors import DataError

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

