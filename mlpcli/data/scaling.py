"""Input scaling: fitting data.scale's offset and scale, and checking them
against the model's dtype."""
from __future__ import annotations

import numpy as np

from ..errors import DataError

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

