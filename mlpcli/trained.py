"""A trained model as users hold it: the network, its input scaling and its labels.

Training, ``mlp eval``, ``mlp predict`` and ``mlpcli.load`` all go through
this one class, so a metric recomputed from the weights file is computed by
exactly the code that produced it. The weights file's arrays and meta
(weights_file.py) become a model here, once they are known to fit together.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import weights_file
from .engine import ACTIVATION_OPTIONS, MLP, LayerSpec
from .errors import ConfigError, DataError, WeightsError
from .heads import Head, loss_options, resolve_head


def load_weights(path: str | Path) -> TrainedModel:
    """The model in a weights file, every array checked against its meta. Never runs code."""
    arrays, meta = weights_file.read(path)
    return TrainedModel.from_arrays(arrays, meta, Path(path))


def save_weights(path: str | Path, model: TrainedModel) -> Path:
    """Write ``model`` as DESIGN.md's weights.npz (atomically)."""
    return weights_file.write(path, *model.to_arrays())


def build_network(config: dict, n_features: int, head: Head, classes=None, rng=None) -> MLP:
    """The engine network a resolved config describes, ending in ``head``
    (its loss options from train: class weights in ``classes`` order)."""
    model_config = config["model"]
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
    options = loss_options(config["train"], model_config["task"], head.loss, classes)
    return MLP(n_features, hidden, head.n_outputs, head.loss, dtype=model_config["dtype"], rng=rng, loss_options=options)


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

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        """The weights file's arrays (parameters, BatchNorm's running statistics,
        the scaler) and its meta record."""
        arrays = {**self.network.parameters, **self.network.buffers}
        if self.scaler is not None:
            arrays["scaler.mean"], arrays["scaler.scale"] = self.scaler
        meta = {
            "task": self.task,
            "classes": None if self.classes is None else self.classes.tolist(),
            "n_features": self.n_features,
            "config": self.config,
            "metrics": self.metrics,
        }
        if self.encoder is not None:  # a CSV model's columns, fills and categories
            meta["encoder"] = self.encoder.to_dict()
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict, path: Path) -> TrainedModel:
        """The model a weights file's arrays and checked meta (weights_file.read)
        describe; WeightsError, naming ``path``, when they do not fit together."""
        config, task, classes, n_features = meta["config"], meta["task"], meta.get("classes"), meta["n_features"]
        n_dense = len(config["model"]["layers"]) + 1
        last_bias = arrays.get(f"dense.{n_dense - 1}.bias")
        if last_bias is None or last_bias.ndim != 1:
            raise WeightsError(f"{path}: missing or malformed dense.{n_dense - 1}.bias")
        n_outputs = last_bias.shape[0]
        head = _check_head(path, config, task, classes, n_outputs, f"dense.{n_dense - 1}.bias")
        _check_dense_shapes(path, arrays, config, n_features, n_outputs)
        classes = None if classes is None else np.asarray(classes)
        try:
            network = build_network(config, n_features, head, classes)
        except (ConfigError, ValueError) as exc:
            raise WeightsError(f"{path}: meta.config does not describe this model ({exc})") from None
        named = {**network.parameters, **network.buffers}
        expected = {name: a.shape for name, a in named.items()}
        scaled = config["data"]["scale"] != "none"
        if scaled:
            expected["scaler.mean"] = expected["scaler.scale"] = (n_features,)
        _check_arrays(path, arrays, expected, network.dtype)
        for name, view in named.items():
            view[...] = arrays[name]
        negative = next((n for n in network.buffers if n.endswith(".running_var") and np.any(arrays[n] < 0)), None)
        if negative:
            raise WeightsError(f"{path}: {negative} holds negative variances")
        scaler = (arrays["scaler.mean"], arrays["scaler.scale"]) if scaled else None
        if scaler is not None and not np.all(scaler[1] > 0):
            raise WeightsError(f"{path}: scaler.scale must be positive")
        encoder = _load_encoder(path, meta.get("encoder"), n_features)
        return cls(network, task, classes, scaler, config, meta.get("metrics") or {}, encoder)

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


def _check_head(path: Path, config: dict, task: str, classes, n_outputs: int, bias: str) -> Head:
    """meta.task, meta.classes, meta.config's task and loss, and the width of the
    output layer (``bias``, its n_outputs units) must tell one story; returns that head."""
    if config["model"]["task"] != task:
        raise WeightsError(
            f"{path}: meta.task is {task!r} but meta.config.model.task is {config['model']['task']!r}"
        )
    if task == "regression" and classes is not None:
        raise WeightsError(f"{path}: meta.classes must be null for the regression task, got {len(classes)} classes")
    try:  # a unit per target column for regression, which the file alone does not record
        head = resolve_head(task, config["train"], n_outputs if classes is None else len(classes))
    except ConfigError as exc:
        raise WeightsError(f"{path}: meta.config does not fit meta.task {task!r} and meta.classes ({exc})") from None
    if n_outputs != head.n_outputs:
        if head.n_outputs == 1:
            why = "one sigmoid unit for the 2 classes of meta.classes"
        else:
            kind, kinds = ("label", "labels") if task == "multilabel" else ("class", "classes")
            why = f"a {head.loss} unit per {kind}, and meta.classes lists {len(classes)} {kinds}"
        raise WeightsError(
            f"{path}: the output layer ({bias}) has {n_outputs} units, but a {task} model needs {head.n_outputs}: {why}"
        )
    return head


def _check_dense_shapes(path: Path, arrays: dict, config: dict, n_features: int, n_outputs: int) -> None:
    """Each dense layer's weight has the shape meta.config and meta.n_features give
    it, checked before the network is built, so a file whose meta declares a
    huge model cannot make us allocate one."""
    widths = [layer["units"] for layer in config["model"]["layers"]] + [n_outputs]
    n_in = n_features
    for i, units in enumerate(widths):
        name = f"dense.{i}.weight"
        if name not in arrays:
            raise WeightsError(f"{path}: missing {name}")
        if arrays[name].shape != (n_in, units):
            raise WeightsError(
                f"{path}: {name} has shape {arrays[name].shape}, but meta.n_features and "
                f"meta.config.model.layers give ({n_in}, {units})"
            )
        n_in = units


def _check_arrays(path: Path, arrays: dict, expected: dict, dtype) -> None:
    unknown = sorted(set(arrays) - set(expected))
    if unknown:
        raise WeightsError(f"{path}: unexpected entries {unknown}")
    for name, shape in expected.items():
        if name not in arrays:
            raise WeightsError(f"{path}: missing {name}")
        a = arrays[name]
        if a.dtype != dtype:
            raise WeightsError(f"{path}: {name} has dtype {a.dtype}, expected {dtype}")
        if a.shape != tuple(shape):
            raise WeightsError(f"{path}: {name} has shape {a.shape}, expected {tuple(shape)}")
        if not np.all(np.isfinite(a)):
            raise WeightsError(f"{path}: {name} holds NaN or infinite values")


def _load_encoder(path: Path, obj, n_features: int):
    """meta.encoder (plain JSON: columns, kinds, categories, fill values) as a
    tabular.Encoder, checked against the network's inputs; None if absent."""
    if obj is None:
        return None
    from .tabular import Encoder

    try:
        encoder = Encoder.from_dict(obj)
    except ValueError as exc:
        raise WeightsError(f"{path}: meta.encoder is malformed: {exc}") from None
    if encoder.width != n_features:
        raise WeightsError(
            f"{path}: meta.encoder gives {encoder.width} network inputs, but meta.n_features is {n_features}"
        )
    return encoder
