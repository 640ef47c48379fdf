"""A trained model as users hold it: the network, its input scaling and its labels.

Training, ``mlp eval``, ``mlp predict`` and ``mlpcli.load`` all go through
this one class, so a metric recomputed from the weights file is computed by
exactly the code that produced it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .engine import ACTIVATION_OPTIONS, MLP, LayerSpec
from .errors import DataError


def output_head(task: str, n_classes: int | None) -> str:
    if task == "regression":
        return "mse"
    return "binary_cross_entropy" if n_classes == 2 else "cross_entropy"


def build_network(model_config: dict, n_features: int, n_outputs: int, head: str, rng=None) -> MLP:
    """The engine network a resolved ``model`` config section describes."""
    hidden = [
        LayerSpec(
            units=layer["units"],
            activation=layer["activation"],
            dropout=layer["dropout"],
            activation_options={k: layer[k] for k in ACTIVATION_OPTIONS.get(layer["activation"], {})},
        )
        for layer in model_config["layers"]
    ]
    return MLP(n_features, hidden, n_outputs, head, dtype=model_config["dtype"], rng=rng)


@dataclass
class TrainedModel:
    network: MLP
    task: str
    classes: np.ndarray | None
    scaler: tuple[np.ndarray, np.ndarray] | None
    config: dict
    metrics: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return self.network.n_inputs

    # Rows scaled and pushed through the network at a time by ``output``: the
    # intermediate arrays stay small and in cache, whatever the size of X.
    CHUNK_ROWS = 4096

    def transform(self, X, source: str = "input", copy: bool = True) -> np.ndarray:
        """Raw features -> the network's scaled input, in its dtype.

        ``copy=False`` scales X itself when it already has the network's dtype
        (for data the caller owns and no longer needs raw)."""
        return self._scale(self._check(X, source), source, copy)

    def _check(self, X, source: str) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2:
            raise DataError(f"{source}: expected a 2-D array of samples x features, got shape {X.shape}")
        if len(X) == 0:
            raise DataError(f"{source}: no rows")
        if X.shape[1] != self.n_features:
            raise DataError(
                f"{source}: has {X.shape[1]} features; the model expects {self.n_features}"
            )
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise DataError(f"{source}: features must be real numbers, got dtype {X.dtype}")
        return X

    @np.errstate(over="ignore", invalid="ignore")  # overflow is caught as a non-finite value
    def _scale(self, X, source: str, copy: bool = True, out: np.ndarray | None = None) -> np.ndarray:
        """Scaled X in the network's dtype: into ``out`` if given, else a new
        array, or X itself with ``copy=False`` when it has that dtype already."""
        dtype = self.network.dtype
        if out is None:
            out = X if not copy and X.dtype == dtype else np.empty(X.shape, dtype)
        if self.scaler is None:
            if out is not X:
                np.copyto(out, X, casting="same_kind")
        else:
            offset, scale = self.scaler
            np.subtract(X, offset, out=out)  # converts and shifts in one pass
            # Multiplying by 1 / scale is faster than dividing, and the same to 1 ulp.
            out *= (1 / scale.astype(np.float64)).astype(dtype)
        if not _all_finite(out):
            raise DataError(f"{source}: holds NaN or infinite values")
        return out

    def output(self, X, source: str = "input") -> np.ndarray:
        """Class probabilities (n, n_classes) or predicted values (n, n_targets)."""
        X = self._check(X, source)
        out = np.empty((len(X), self.network.head_width), self.network.dtype)
        step = self.CHUNK_ROWS
        rows = np.empty((min(step, len(X)), X.shape[1]), self.network.dtype)  # reused: no page faults per chunk
        for i in range(0, len(X), step):
            chunk = X[i : i + step]
            scaled = self._scale(chunk, source, out=rows[: len(chunk)])
            out[i : i + len(chunk)] = self.network.predict(scaled, batch_size=step)
        return out

    def predict_proba(self, X) -> np.ndarray:
        if self.task != "classification":
            raise ValueError("predict_proba is for classifiers; this model does regression")
        return self.output(X)

    def predict(self, X) -> np.ndarray:
        """Labels in the training data's own kind (ints, strings), or values."""
        return self.decode(self.output(X))

    def decode(self, out: np.ndarray) -> np.ndarray:
        """Head output -> labels (classification) or values, 1-D for one target."""
        if self.task == "classification":
            return self.classes[out.argmax(axis=1)]
        return out[:, 0] if out.shape[1] == 1 else out

    def score(self, X, y, source: str = "input") -> dict:
        """Every metric of the task on raw features and raw targets."""
        from . import metrics
        from .data import regression_targets

        Xs = self.transform(X, source)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if len(y) != len(Xs):
            raise DataError(f"{source}: {len(Xs)} rows of features but {len(y)} targets")
        if self.task == "classification":
            if y.ndim != 1:
                raise DataError(f"{source}: a classifier takes one target column, got shape {y.shape}")
            index = np.clip(np.searchsorted(self.classes, y), 0, len(self.classes) - 1)
            unknown = self.classes[index] != y
            if np.any(unknown):
                raise DataError(f"{source}: labels the model never saw: {sorted(set(y[unknown].tolist()))[:5]}")
            return metrics.score(self.network, Xs, index, self.task)
        target = regression_targets(y, source)
        if target.shape[1] != self.network.n_outputs:
            raise DataError(
                f"{source}: has {target.shape[1]} target columns; the model predicts {self.network.n_outputs}"
            )
        return metrics.score(self.network, Xs, target, self.task)

    def __repr__(self):
        return f"TrainedModel(task={self.task!r}, n_features={self.n_features}, network={self.network!r})"


@np.errstate(over="ignore", invalid="ignore")
def _all_finite(X: np.ndarray) -> bool:
    """Whether every value is finite: one sum (NaN or inf anywhere makes it
    non-finite), and the exact test only when the sum itself overflowed."""
    return bool(np.isfinite(np.add.reduce(X.ravel()))) or bool(np.isfinite(X).all())
