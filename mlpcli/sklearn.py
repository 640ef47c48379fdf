"""scikit-learn estimators on mlpcli's engine: ``MLPNetClassifier`` and ``MLPNetRegressor``.

The parameters mirror the config keys (README "Config reference"), with the
config's defaults, and take scikit-learn's names where those mean the same
thing (sklearn_params.ALIASES: ``random_state``, ``max_iter``,
``learning_rate_init``, ``validation_fraction``; ``batch_size`` and
``early_stopping`` are the same names). ``fit`` builds the resolved config
from them and trains through the very builder ``mlp train`` uses
(builder.Trainer), so an estimator and a CLI run of the same config and data
give the same network. ``to_weights(path)`` writes the standard weights file
(``mlp eval`` / ``mlp predict`` / ``mlp info`` read it) and
``from_weights(path)`` loads one as a fitted estimator.

Where scikit-learn and the CLI differ:

- all of X (less the ``val_size`` validation share) trains: the estimator
  holds out no test split (data.test_size is unused; score it yourself, or
  use cross_val_score);
- a bad parameter value raises ValueError at ``fit`` (scikit-learn's
  convention) carrying the config's message (key path, allowed range);
- ``random_state=None`` (the default) means ``seed`` (0), not fresh
  randomness: two fits of one estimator give the same model;
- the weights file records ``data.dataset`` as ``in-memory.npz`` (the arrays
  came from Python): score it with ``mlp eval WEIGHTS --data FILE``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .builder import Trainer
from .config import parse_config
from .data.splitting import SplitError, train_test_indices
from .errors import ConfigError
from .heads import resolve_head
from .prepare import PreparedData, Split, generators, random_state
from .sklearn_params import (
    IN_MEMORY_DATASET,
    estimator_config,
    mirror_aliases,
    params_from_config,
    resolve_aliases,
)
from .trained import load_weights, save_weights

# IN_MEMORY_DATASET: what a fitted estimator's weights file names as its data set (a
# .npz path, so the config validates; `mlp eval` without --data says so).
__all__ = ["IN_MEMORY_DATASET", "MLPNetClassifier", "MLPNetRegressor", "expected_failed_checks"]

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
    """Shared by the classifier and the regressor (see the module docstring).
    Each public class writes out its own ``__init__`` (scikit-learn reads the
    parameters from its signature, and a wrong keyword names that class)."""

    _task: str = ""

    def _set(self, params: dict) -> None:
        """Store ``__init__``'s arguments as they are (scikit-learn's rule: no checks, no changes)."""
        for name, value in params.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    def set_params(self, **params):
        """As BaseEstimator's, and a setting given by one of its two names
        (max_iter / epochs ...) sets the other too, so the last value set counts."""
        return super().set_params(**mirror_aliases(self.get_params(deep=False), params))

    # ------------------------------------------------------------------ config

    def _config(self, task: str, n_samples: int):
        """The validated config the parameters describe, for ``task`` on ``n_samples`` rows."""
        owner = type(self).__name__
        params = resolve_aliases(self.get_params(deep=False), owner)
        try:
            return parse_config(estimator_config(params, task, n_samples), source=owner)
        except ConfigError as exc:  # scikit-learn's convention: a bad parameter is a ValueError
            raise ValueError(str(exc)) from None

    # ------------------------------------------------------------------ fit

    def _targets(self, y):
        """(task, raw y, what the network trains on, classes or None)."""
        raise NotImplementedError

    def fit(self, X, y):
        """Train a new network on X, y (no warm start), as ``mlp train`` would."""
        X, y = self._validate_xy(X, y)
        task, y, target, classes = self._targets(y)
        cfg = self._config(task, len(X))
        resolved = cfg.to_dict()
        try:
            head = resolve_head(task, resolved["train"], target.shape[1] if classes is None else len(classes))
        except ConfigError as exc:  # scikit-learn's convention, as in _config
            raise ValueError(str(exc)) from None
        rngs = generators(resolved["seed"])
        index = self._split(target, task, resolved["data"]["val_size"], random_state(rngs["split"]))
        splits = {name: Split(X[i], y[i], target[i]) for name, i in index.items()}
        try:
            trainer = Trainer(cfg, resolved, PreparedData(task, classes, head, splits), rngs)
        except ConfigError as exc:  # what only the data shows (a class_weight label it does not have)
            raise ValueError(str(exc)) from None
        history = trainer.fit()
        trainer.model.metrics = {"status": "completed", **trainer.outcome(history)}
        self._set_fitted(trainer.model, list(history))
        return self

    @staticmethod
    def _split(target, task, val_size, random_state) -> dict:
        n = len(target)
        if not val_size:
            return {"train": np.arange(n)}
        stratify = target if task == "classification" else None
        try:
            try:
                train, val = train_test_indices(np.arange(n), val_size, stratify, random_state)
            except SplitError:
                if stratify is None:
                    raise
                # Too few samples of some class to stratify: a plain random split (the CLI refuses
                # instead; scikit-learn's searches hand estimators small folds).
                stratify = None
                train, val = train_test_indices(np.arange(n), val_size, None, random_state)
        except SplitError as exc:
            reason = str(exc).split(". ")[0][:160]
            raise ValueError(
                f"val_size (validation_fraction)={val_size}: cannot split a validation set off {n} samples "
                f"({reason}); set val_size=0 or give more samples" + (" per class" if stratify is not None else "")
            ) from None
        return {"train": train, "val": val}

    def _set_fitted(self, model, history: list[dict]) -> None:
        self.model_ = model
        self.n_features_in_ = model.n_features
        self.history_ = history
        self.n_iter_ = len(history)
        self.loss_curve_ = [h["train_loss"] for h in history]
        key = {"classification": "val_accuracy", "multilabel": "val_subset_accuracy"}.get(model.task, "val_r2")
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
        tasks = ("classification", "multilabel") if cls._task == "classification" else ("regression",)
        if model.task not in tasks:
            raise ValueError(f"{path}: holds a {model.task} model; {cls.__name__} needs a {' or '.join(tasks)} one")
        if model.encoder is not None:
            raise ValueError(f"{path}: a model trained on a CSV table (named columns) cannot be an array estimator")
        estimator = cls(**params_from_config(model.config, cls._get_param_names()))
        estimator._set_fitted(model, [])
        return estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class MLPNetClassifier(ClassifierMixin, _MLPNet):
    """A multi-layer perceptron classifier trained by mlpcli's engine:
    classes (y of labels, 1-D) or labels (y a 2-D 0/1 indicator matrix: the
    multilabel task, one sigmoid unit per label, as scikit-learn's MLPClassifier).

    Parameters mirror the config keys, with the config's defaults:
    ``hidden_layer_sizes`` (model.layers: ints, each a layer of that many units
    with ``activation`` and ``dropout``, or model.layers entries as dicts),
    ``optimizer`` (train.optimizer.name, or the whole dict) and ``lr``,
    ``batch_size`` (or 'auto': min(200, n_samples)), ``epochs``, ``schedule``,
    ``weight_decay``, ``l1``, ``l2``, ``clip_norm``, ``early_stopping`` (with
    ``monitor``, ``patience``, ``min_delta``), ``val_size``, ``scale``,
    ``init``, ``dtype``, ``shuffle``, ``max_seconds``, ``seed``;
    ``class_weight`` ('balanced' or {label: weight}) and ``label_smoothing``
    (train.class_weight, train.label_smoothing). scikit-learn's
    ``random_state``, ``max_iter``, ``learning_rate_init`` and
    ``validation_fraction`` set ``seed``, ``epochs``, ``lr`` and ``val_size``
    (None: not given); both names of one setting given different values is a
    ValueError at ``fit``.

    Fitted attributes: ``classes_`` (the labels; for multilabel the label
    columns 0..k-1), ``n_features_in_``, ``loss_curve_`` (train loss by epoch),
    ``validation_scores_`` (validation accuracy, subset accuracy for
    multilabel, by epoch; None with val_size=0), ``n_iter_``, ``best_epoch_``,
    ``history_`` (metrics.jsonl's records) and ``model_`` (the TrainedModel).
    """

    _task = "classification"

    def __init__(
        self, hidden_layer_sizes=(100,), activation="relu", dropout=0.0, batch_norm=False, optimizer="adam",
        lr=0.001, batch_size=32, epochs=50, schedule="constant", weight_decay=None, l1=0.0, l2=0.0,
        clip_norm=None, early_stopping=False, monitor="val_loss", patience=10, min_delta=0.0, val_size=0.1,
        scale="standard", init="auto", dtype="float32", shuffle=True, max_seconds=None, seed=0,
        class_weight=None, label_smoothing=0.0,
        random_state=None, max_iter=None, learning_rate_init=None, validation_fraction=None,
    ):
        self._set(locals())

    def _validate_xy(self, X, y):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), multi_output=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind == "multilabel-indicator":
            return X, y
        if kind == "multiclass-multioutput":
            raise ValueError(
                "y has several columns of more than two values (multiclass-multioutput): the classifier takes "
                "one column of labels, or a 0/1 indicator matrix (multilabel)"
            )
        return X, column_or_1d(y, warn=True)

    def _targets(self, y):
        if y.ndim == 2:  # multilabel-indicator: a 0/1 column per label
            return "multilabel", y, y.astype(np.int8), np.arange(y.shape[1])
        classes, indices = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y has {len(classes)} class ({classes.tolist()}); a classifier needs at least 2 classes")
        return "classification", y, indices.astype(np.int64), classes

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, n_classes), columns in ``classes_`` order; for
        multilabel each label's probability (n, n_labels), independent of the others."""
        return self._output(X)

    def predict(self, X) -> np.ndarray:
        """Labels (n,); for multilabel a 0/1 indicator matrix (n, n_labels), probability >= 0.5."""
        proba = self.predict_proba(X)  # checks it is fitted
        return self.model_.decode(proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPNetRegressor(RegressorMixin, _MLPNet):
    """A multi-layer perceptron regressor trained by mlpcli's engine (one or
    several targets). Parameters as MLPNetClassifier's, less ``class_weight``
    and ``label_smoothing``; ``validation_scores_`` holds the validation R² by epoch."""

    _task = "regression"

    def __init__(
        self, hidden_layer_sizes=(100,), activation="relu", dropout=0.0, batch_norm=False, optimizer="adam",
        lr=0.001, batch_size=32, epochs=50, schedule="constant", weight_decay=None, l1=0.0, l2=0.0,
        clip_norm=None, early_stopping=False, monitor="val_loss", patience=10, min_delta=0.0, val_size=0.1,
        scale="standard", init="auto", dtype="float32", shuffle=True, max_seconds=None, seed=0,
        random_state=None, max_iter=None, learning_rate_init=None, validation_fraction=None,
    ):
        self._set(locals())

    def _validate_xy(self, X, y):
        return validate_data(self, X, y, dtype=(np.float64, np.float32), y_numeric=True, multi_output=True)

    def _targets(self, y):
        y = np.asarray(y, dtype=np.float64)
        return "regression", y, y.reshape(len(y), -1), None

    def predict(self, X) -> np.ndarray:
        out = self._output(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
