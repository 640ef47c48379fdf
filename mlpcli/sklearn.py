"""scikit-learn estimators on mlpcli's engine: ``MLPNetClassifier`` and ``MLPNetRegressor``.

The parameters mirror the config keys (README "Config reference"), with the
config's defaults; ``fit`` builds the resolved config from them and trains
through the very builder ``mlp train`` uses (builder.Trainer), so an estimator
and a CLI run of the same config and data give the same network.
``to_weights(path)`` writes the standard weights file (``mlp eval`` /
``mlp predict`` / ``mlp info`` read it) and ``from_weights(path)`` loads one
as a fitted estimator.

Where scikit-learn and the CLI differ:

- all of X (less the ``val_size`` validation share) trains: the estimator
  holds out no test split (data.test_size is unused; score it yourself, or
  use cross_val_score);
- a bad parameter value raises ValueError at ``fit`` (scikit-learn's
  convention) carrying the config's message (key path, allowed range);
- ``random_state`` is not a parameter: ``seed`` is (an int, as the config's
  ``seed``), so two fits of one estimator give the same model;
- the weights file records ``data.dataset`` as ``in-memory.npz`` (the arrays
  came from Python): score it with ``mlp eval WEIGHTS --data FILE``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .builder import Trainer
from .config import parse_config
from .errors import ConfigError
from .heads import resolve_head
from .prepare import PreparedData, Split, generators, random_state
from .trained import load_weights, save_weights

# What a fitted estimator's weights file names as its data set (a .npz path, so
# the config validates; `mlp eval` without --data says the file is not there).
IN_MEMORY_DATASET = "in-memory.npz"

# Checks of sklearn.utils.estimator_checks that cannot always pass, with the reason
# (pass as parametrize_with_checks(..., expected_failed_checks=expected_failed_checks)).
FLOAT32_FAILED_CHECKS = {
    "check_methods_subset_invariance": (
        "with dtype='float32' (the config's default) a row predicted alone (a matrix-vector product) "
        "and in a batch (a matrix product) is summed in whatever orders the BLAS picks for the two; "
        "where they differ, float32 rounding (a few ulps, ~1e-7 relative) exceeds the check's "
        "atol and rtol of 1e-7 (a regressor's by up to 1.8x); where they agree (OpenBLAS on x86-64 "
        "at the check's widths) it passes. With dtype='float64' it passes everywhere"
    ),
}


def expected_failed_checks(estimator) -> dict[str, str]:
    """The checks of sklearn.utils.estimator_checks ``estimator`` is known to
    fail, {check name: reason} (for parametrize_with_checks' expected_failed_checks)."""
    return dict(FLOAT32_FAILED_CHECKS) if getattr(estimator, "dtype", None) == "float32" else {}


class _MLPNet(BaseEstimator):
    """Shared by the classifier and the regressor (see the module docstring)."""

    _task: str = ""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
        optimizer="adam",
        lr=0.001,
        batch_size=32,
        epochs=50,
        schedule="constant",
        weight_decay=None,
        l1=0.0,
        l2=0.0,
        clip_norm=None,
        early_stopping=False,
        monitor="val_loss",
        patience=10,
        min_delta=0.0,
        val_size=0.1,
        scale="standard",
        init="auto",
        dtype="float32",
        shuffle=True,
        max_seconds=None,
        seed=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.schedule = schedule
        self.weight_decay = weight_decay
        self.l1 = l1
        self.l2 = l2
        self.clip_norm = clip_norm
        self.early_stopping = early_stopping
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.val_size = val_size
        self.scale = scale
        self.init = init
        self.dtype = dtype
        self.shuffle = shuffle
        self.max_seconds = max_seconds
        self.seed = seed

    # ------------------------------------------------------------------ config

    def _raw_config(self) -> dict:
        """The config (before defaults are filled in) the parameters describe."""
        sizes = self.hidden_layer_sizes
        if sizes is None:
            sizes = ()
        elif isinstance(sizes, (int, np.integer, dict)):
            sizes = (sizes,)
        layers = []
        for size in sizes:
            if isinstance(size, dict):  # a model.layers entry, as in a config file
                layers.append({"activation": self.activation, "dropout": self.dropout, **size})
            else:
                layers.append({"units": size, "activation": self.activation, "dropout": self.dropout})
            if self.batch_norm and "batch_norm" not in layers[-1]:
                layers[-1]["batch_norm"] = True
        optimizer = dict(self.optimizer) if isinstance(self.optimizer, dict) else {"name": self.optimizer}
        if self.lr is not None and optimizer.get("name", "adam") != "lbfgs":
            optimizer.setdefault("lr", self.lr)
        schedule = dict(self.schedule) if isinstance(self.schedule, dict) else {"name": self.schedule}
        stop = None
        if self.early_stopping:
            stop = {"monitor": self.monitor, "patience": self.patience, "min_delta": self.min_delta}
        return {
            "seed": self.seed,
            "data": {"dataset": IN_MEMORY_DATASET, "val_size": self.val_size, "scale": self.scale},
            "model": {"task": self._task, "layers": layers, "init": self.init, "dtype": self.dtype},
            "train": {
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "optimizer": optimizer,
                "schedule": schedule,
                "weight_decay": self.weight_decay,
                "l1": self.l1,
                "l2": self.l2,
                "clip_norm": self.clip_norm,
                "early_stopping": stop,
                "shuffle": self.shuffle,
                "max_seconds": self.max_seconds,
            },
            "output": {"plots": False},
        }

    def _config(self):
        try:
            return parse_config(self._raw_config(), source=type(self).__name__)
        except ConfigError as exc:  # scikit-learn's convention: a bad parameter is a ValueError
            raise ValueError(str(exc)) from None

    # ------------------------------------------------------------------ fit

    def _targets(self, y):
        """(raw y, what the network trains on, classes or None)."""
        raise NotImplementedError

    def fit(self, X, y):
        """Train a new network on X, y (no warm start), as ``mlp train`` would."""
        X, y = self._validate_xy(X, y)
        cfg = self._config()
        resolved = cfg.to_dict()
        y, target, classes = self._targets(y)
        task = self._task
        try:
            head = resolve_head(task, resolved["train"], target.shape[1] if classes is None else len(classes))
        except ConfigError as exc:  # scikit-learn's convention, as in _config
            raise ValueError(str(exc)) from None
        rngs = generators(resolved["seed"])
        index = self._split(target, task, resolved["data"]["val_size"], random_state(rngs["split"]))
        splits = {name: Split(X[i], y[i], target[i]) for name, i in index.items()}
        trainer = Trainer(cfg, resolved, PreparedData(task, classes, head, splits), rngs)
        history = trainer.fit()
        trainer.model.metrics = {"status": "completed", **trainer.outcome(history)}
        self._set_fitted(trainer.model, list(history))
        return self

    @staticmethod
    def _split(target, task, val_size, random_state) -> dict:
        n = len(target)
        if not val_size:
            return {"train": np.arange(n)}
        from sklearn.model_selection import train_test_split

        stratify = target if task == "classification" else None
        try:
            try:
                train, val = train_test_split(
                    np.arange(n), test_size=val_size, stratify=stratify, random_state=random_state
                )
            except ValueError:
                if stratify is None:
                    raise
                # Too few samples of some class to stratify: a plain random split (the CLI refuses
                # instead; scikit-learn's searches hand estimators small folds).
                stratify = None
                train, val = train_test_split(np.arange(n), test_size=val_size, random_state=random_state)
        except ValueError as exc:
            reason = str(exc).split(". ")[0][:160]
            raise ValueError(
                f"val_size={val_size}: cannot split a validation set off {n} samples ({reason}); "
                "set val_size=0 or give more samples" + (" per class" if stratify is not None else "")
            ) from None
        return {"train": train, "val": val}

    def _set_fitted(self, model, history: list[dict]) -> None:
        self.model_ = model
        self.n_features_in_ = model.n_features
        self.history_ = history
        self.n_iter_ = len(history)
        self.loss_curve_ = [h["train_loss"] for h in history]
        key = "val_accuracy" if self._task == "classification" else "val_r2"
        self.validation_scores_ = [h[key] for h in history if key in h] or None
        self.best_epoch_ = model.metrics.get("best_epoch")
        if model.classes is not None:
            self.classes_ = model.classes

    # ------------------------------------------------------------------ predict

    def _output(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.model_.output(X).astype(np.float64)

    # ------------------------------------------------------------------ weights file

    def to_weights(self, path) -> Path:
        """Write the standard weights file (DESIGN.md), readable by ``mlp eval / predict / info``."""
        check_is_fitted(self, "model_")
        return save_weights(path, self.model_)

    @classmethod
    def from_weights(cls, path):
        """A fitted estimator from a weights file (one ``mlp train`` wrote, or ``to_weights``).
        Its parameters are read back from the file's resolved config."""
        model = load_weights(path)
        task = "classification" if cls._task == "classification" else "regression"
        if model.task != task:
            raise ValueError(f"{path}: holds a {model.task} model; {cls.__name__} needs a {task} one")
        if model.encoder is not None:
            raise ValueError(f"{path}: a model trained on a CSV table (named columns) cannot be an array estimator")
        estimator = cls(**_params_from_config(model.config))
        estimator._set_fitted(model, [])
        return estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _params_from_config(config: dict) -> dict:
    """Estimator parameters from a resolved config (from_weights)."""
    train, model = config["train"], config["model"]
    stop = train["early_stopping"]
    optimizer = dict(train["optimizer"])
    lr = optimizer.pop("lr", None)
    schedule = dict(train["schedule"])
    params = {
        "hidden_layer_sizes": tuple(dict(layer) for layer in model["layers"]),
        "optimizer": optimizer if len(optimizer) > 1 else optimizer["name"],
        "lr": lr,
        "batch_size": train["batch_size"],
        "epochs": train["epochs"],
        "schedule": schedule if len(schedule) > 1 else schedule["name"],
        "weight_decay": train["weight_decay"],
        "l1": train["l1"],
        "l2": train["l2"],
        "clip_norm": train["clip_norm"],
        "early_stopping": bool(stop),
        "val_size": config["data"]["val_size"],
        "scale": config["data"]["scale"],
        "init": model["init"],
        "dtype": model["dtype"],
        "shuffle": train["shuffle"],
        "max_seconds": train["max_seconds"],
        "seed": config["seed"],
    }
    if stop:
        params.update(monitor=stop["monitor"], patience=stop["patience"], min_delta=stop["min_delta"])
    return params


class MLPNetClassifier(ClassifierMixin, _MLPNet):
    """A multi-layer perceptron classifier trained by mlpcli's engine.

    Parameters mirror the config keys, with the config's defaults:
    ``hidden_layer_sizes`` (model.layers: ints, each a layer of that many units
    with ``activation`` and ``dropout``, or model.layers entries as dicts),
    ``optimizer`` (train.optimizer.name, or the whole dict) and ``lr``,
    ``batch_size``, ``epochs``, ``schedule``, ``weight_decay``, ``l1``, ``l2``,
    ``clip_norm``, ``early_stopping`` (with ``monitor``, ``patience``,
    ``min_delta``), ``val_size``, ``scale``, ``init``, ``dtype``, ``shuffle``,
    ``max_seconds``, ``seed``.

    Fitted attributes: ``classes_``, ``n_features_in_``, ``loss_curve_``
    (train loss by epoch), ``validation_scores_`` (validation accuracy by
    epoch; None with val_size=0), ``n_iter_``, ``best_epoch_``, ``history_``
    (metrics.jsonl's records) and ``model_`` (the TrainedModel).
    """

    _task = "classification"

    def _validate_xy(self, X, y):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        return X, column_or_1d(y, warn=True)

    def _targets(self, y):
        classes, indices = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y has {len(classes)} class ({classes.tolist()}); a classifier needs at least 2 classes")
        return y, indices.astype(np.int64), classes

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, n_classes), columns in ``classes_`` order."""
        return self._output(X)

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]


class MLPNetRegressor(RegressorMixin, _MLPNet):
    """A multi-layer perceptron regressor trained by mlpcli's engine (one or
    several targets). Parameters as MLPNetClassifier's; ``validation_scores_``
    holds the validation R² by epoch."""

    _task = "regression"

    def _validate_xy(self, X, y):
        return validate_data(self, X, y, dtype=(np.float64, np.float32), y_numeric=True, multi_output=True)

    def _targets(self, y):
        y = np.asarray(y, dtype=np.float64)
        return y, y.reshape(len(y), -1), None

    def predict(self, X) -> np.ndarray:
        out = self._output(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
