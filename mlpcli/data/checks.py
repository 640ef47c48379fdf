"""Checks of loaded data: what no model can train or score on, and features
beyond the range of the model's dtype."""
from __future__ import annotations

import numpy as np

from ..errors import DataError

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


