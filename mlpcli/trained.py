"""A trained model as users hold it: the network, its input scaling and its labels.

Training, ``mlp eval``, ``mlp predict`` and ``mlpcli.load`` all go through
this one class, so a metric recomputed from the weights file is computed by
exactly the code that produced it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .engine import ACTIVATION_OPTIONS, MLP, LayerSpec
from .errors import ConfigError, DataError


def output_head(task: str, n_classes: int | None, loss: str = "auto") -> str:
    """The loss head: train.loss, or for 'auto' the task's (Keras's and
    scikit-learn's choice): binary cross-entropy on one sigmoid unit for two
    classes and on k sigmoid units for k labels, softmax cross-entropy for more
    classes, mean squared error for regression."""
    if loss != "auto":
        return loss
    if task == "regression":
        return "mse"
    if task == "multilabel":
        return "binary_cross_entropy"
    return "binary_cross_entropy" if n_classes == 2 else "cross_entropy"


def head_for(config: dict, task: str, classes) -> tuple[str, dict]:
    """The head a resolved config describes and its options (engine/losses.py):
    class weights in ``classes`` order, label smoothing, the huber delta."""
    train = config["train"]
    head = output_head(task, None if classes is None else len(classes), train.get("loss", "auto"))
    options = {}
    if head == "huber":
        options["delta"] = train["huber_delta"]
    if task != "regression" and train.get("label_smoothing"):
        options["label_smoothing"] = train["label_smoothing"]
    if task == "classification" and isinstance(train.get("class_weight"), dict):
        options["class_weight"] = class_weight_array(train["class_weight"], classes)
    return head, options


# What a boolean key of train.class_weight was written as (the words YAML 1.1 reads as one).
_YAML_BOOLEANS = {"True": ("yes", "on", "true"), "False": ("no", "off", "false")}


def class_weight_array(weights: dict, classes: np.ndarray) -> np.ndarray:
    """{label: weight} -> one weight per class, in ``classes`` order; a class
    the mapping leaves out weighs 1 (as in Keras and scikit-learn). Labels are
    matched by their text (YAML and JSON keys), so 1 and '1' name class 1."""
    names = [str(c) for c in classes.tolist()]
    unknown = [label for label in weights if label not in names]
    if unknown:
        hint = "labels are compared as written"
        if unknown[0] in _YAML_BOOLEANS:  # YAML 1.1 read an unquoted yes / no / on / off as a boolean
            words = _YAML_BOOLEANS[unknown[0]]
            example = next((name for name in names if name.lower() in words), words[0])
            hint += (
                f", and YAML reads an unquoted {' / '.join(words)} as the boolean {unknown[0]}: "
                f"quote the label, e.g. '\"{example}\"'"
            )
        raise ConfigError(
            f"train.class_weight: {unknown[0]!r} is not a class of the data ({hint}); classes: "
            + ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
        )
    return np.array([weights.get(name, 1.0) for name in names], np.float64)


def balanced_class_weight(target: np.ndarray, classes: np.ndarray) -> dict:
    """scikit-learn's 'balanced' weights, n_samples / (n_classes * bincount(y)),
    from the training split's class indices, as {label: weight}."""
    counts = np.bincount(target, minlength=len(classes))
    weights = len(target) / (len(classes) * np.maximum(counts, 1))
    return {str(c): float(w) for c, w in zip(classes.tolist(), weights)}


def build_network(
    model_config: dict, n_features: int, n_outputs: int, head: str, rng=None, loss_options: dict | None = None
) -> MLP:
    """The engine network a resolved ``model`` config section describes."""
    hidden = [
        LayerSpec(
            units=layer["units"],
            activation=layer["activation"],
            dropout=layer["dropout"],
            activation_options={k: layer[k] for k in ACTIVATION_OPTIONS.get(layer["activation"], {})},
            norm=next((k for k in ("batch_norm", "layer_norm") if layer.get(k)), None),
        )
        for layer in model_config["layers"]
    ]
    return MLP(n_features, hidden, n_outputs, head, dtype=model_config["dtype"], rng=rng, loss_options=loss_options)


@dataclass
class TrainedModel:
    network: MLP
    task: str
    classes: np.ndarray | None
    scaler: tuple[np.ndarray, np.ndarray] | None
    config: dict
    metrics: dict = field(default_factory=dict)
    # A CSV model's columns (tabular.Encoder): rows are matched by column name,
    # missing values filled, categories one-hot encoded, before the scaling.
    encoder: object | None = None

    @property
    def n_features(self) -> int:
        """Inputs of the network (a CSV model's one-hot columns count one each)."""
        return self.network.n_inputs

    # Rows scaled and pushed through the network at a time by ``output``: the
    # intermediate arrays stay small and in cache, whatever the size of X.
    CHUNK_ROWS = 4096

    def transform(self, X, source: str = "input", copy: bool = True) -> np.ndarray:
        """Raw features -> the network's scaled input, in its dtype. For a CSV
        model, X is a table (tabular.py; fields matched by name) or an array
        with its columns in order.

        ``copy=False`` scales X itself when it already has the network's dtype
        (for data the caller owns and no longer needs raw)."""
        return self._scale(self._check(X, source), source, copy)

    def _check(self, X, source: str) -> np.ndarray:
        if self.encoder is not None:
            X = self.encoder.encode(X, source)
        X = np.asarray(X)
        if X.dtype.names:  # a CSV table, for a model trained on plain numbers
            raise DataError(
                f"{source}: has text columns or missing values; the model takes {self.n_features} numbers a row"
            )
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
        from .data import check_range

        check_range(X, self.network.dtype, source)
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
        """Class probabilities (n, n_classes), or each label's probability (n, n_labels)."""
        if self.task == "regression":
            raise ValueError("predict_proba is for classifiers; this model does regression")
        return self.output(X)

    def predict(self, X) -> np.ndarray:
        """Labels in the training data's own kind (ints, strings), or values."""
        return self.decode(self.output(X))

    def decode(self, out: np.ndarray) -> np.ndarray:
        """Head output -> labels (classification), a 0/1 indicator matrix (n, n_labels)
        for multilabel (probability >= 0.5, as Keras's and scikit-learn's
        threshold), or values, 1-D for one target."""
        if self.task == "classification":
            return self.classes[out.argmax(axis=1)]
        if self.task == "multilabel":
            return (out >= 0.5).astype(np.int64)
        return out[:, 0] if out.shape[1] == 1 else out

    def score(self, X, y, source: str = "input") -> dict:
        """Every metric of the task on raw features and raw targets."""
        from . import metrics

        Xs = self.transform(X, source)
        return metrics.score(self.network, Xs, self._targets(y, len(Xs), source), self.task, full=True)

    def per_class(self, X, y, source: str = "input") -> dict:
        """{label: {precision, recall, f1, support}} on raw features and targets (classifiers)."""
        from . import metrics

        target = self._targets(y, len(self._check(X, source)), source)
        pred = self.output(X, source)
        pred = pred.argmax(axis=1) if self.task == "classification" else pred >= 0.5
        return metrics.per_class(target, pred, self.classes.tolist())

    def _targets(self, y, n_rows: int, source: str) -> np.ndarray:
        """Raw targets -> what the head takes: class indices, 0/1 label columns or values."""
        from .data import multilabel_targets, regression_targets

        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if len(y) != n_rows:
            raise DataError(f"{source}: {n_rows} rows of features but {len(y)} targets")
        if self.task == "classification":
            if y.ndim != 1:
                raise DataError(f"{source}: a classifier takes one target column, got shape {y.shape}")
            index = np.clip(np.searchsorted(self.classes, y), 0, len(self.classes) - 1)
            unknown = self.classes[index] != y
            if np.any(unknown):
                raise DataError(f"{source}: labels the model never saw: {sorted(set(y[unknown].tolist()))[:5]}")
            return index
        if self.task == "multilabel":
            return multilabel_targets(y, source, n_labels=self.network.n_outputs).astype(self.network.dtype)
        target = regression_targets(y, source)
        if target.shape[1] != self.network.n_outputs:
            raise DataError(
                f"{source}: has {target.shape[1]} target columns; the model predicts {self.network.n_outputs}"
            )
        return target

    def to_numpy_fn(self):
        """A pure-NumPy function raw X -> what ``output`` gives (probabilities or
        values), closing over copies of the arrays and using no mlpcli code
        (numpy_fn.py); for embedding in code that does not install mlpcli."""
        from .numpy_fn import numpy_fn

        return numpy_fn(self)

    def __repr__(self):
        return f"TrainedModel(task={self.task!r}, n_features={self.n_features}, network={self.network!r})"


@np.errstate(over="ignore", invalid="ignore")
def _all_finite(X: np.ndarray) -> bool:
    """Whether every value is finite: one sum (NaN or inf anywhere makes it
    non-finite), and the exact test only when the sum itself overflowed."""
    return bool(np.isfinite(np.add.reduce(X.ravel()))) or bool(np.isfinite(X).all())
