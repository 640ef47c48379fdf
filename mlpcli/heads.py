"""The output head a task and its data take: the loss, the output layer's
width and the loss's options. The one place that rule is written; training,
the estimators and the weights file all ask here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import task_problem
from .errors import ConfigError


@dataclass(frozen=True)
class Head:
    loss: str  # a name of engine.LOSSES
    n_outputs: int  # units of the output layer


def resolve_head(task: str, train: dict, n_columns: int) -> Head:
    """The head for ``task`` under a resolved ``train`` section; ``n_columns``
    is the number of classes, of labels, or of target columns. train.loss
    'auto' is the task's own (Keras's and scikit-learn's choice): binary
    cross-entropy on one sigmoid unit for two classes and on k sigmoid units
    for k labels, softmax cross-entropy on a unit per class for more classes,
    mean squared error on a unit per target. Raises ConfigError when the loss
    or its options do not fit the task and its classes."""
    n_classes = None if task == "regression" else n_columns
    problem = task_problem(task, train["loss"], train["class_weight"], train["label_smoothing"], n_classes)
    if problem:
        raise ConfigError(problem)
    loss = train["loss"]
    if loss == "auto":
        if task == "regression":
            loss = "mse"
        elif task == "multilabel" or n_classes == 2:
            loss = "binary_cross_entropy"
        else:
            loss = "cross_entropy"
    single_sigmoid = task == "classification" and loss == "binary_cross_entropy"
    return Head(loss, 1 if single_sigmoid else n_columns)


def loss_options(train: dict, task: str, loss: str, classes) -> dict:
    """The head's options (engine/losses.py) from a resolved ``train`` section:
    the huber delta, label smoothing, and class weights in ``classes`` order."""
    options = {}
    if loss == "huber":
        options["delta"] = train["huber_delta"]
    if task != "regression" and train.get("label_smoothing"):
        options["label_smoothing"] = train["label_smoothing"]
    if task == "classification" and isinstance(train.get("class_weight"), dict):
        options["class_weight"] = class_weight_array(train["class_weight"], classes)
    return options


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
