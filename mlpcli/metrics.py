"""Metrics by task, from scikit-learn.metrics; the loss is the model's own objective."""
from __future__ import annotations

import warnings

import numpy as np


def classification(y: np.ndarray, proba: np.ndarray, loss: float) -> dict:
    """y (n,) class indices, proba (n, k) -> loss, accuracy, balanced_accuracy, f1_macro."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    pred = proba.argmax(axis=1)
    labels = np.arange(proba.shape[1])
    return {
        "loss": loss,
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "f1_macro": float(f1_score(y, pred, average="macro", labels=labels, zero_division=0)),
    }


def regression(y: np.ndarray, pred: np.ndarray, loss: float) -> dict:
    """y, pred (n, k) -> loss, r2, mse, mae (averaged uniformly over targets)."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    pred = pred.astype(np.float64)
    return {
        "loss": loss,
        "r2": float(r2_score(y, pred)),
        "mse": float(mean_squared_error(y, pred)),
        "mae": float(mean_absolute_error(y, pred)),
    }


def score(network, X: np.ndarray, y: np.ndarray, task: str) -> dict:
    """Every metric of ``task`` for a network on already-scaled X."""
    loss, out = network.evaluate(X, y)
    with warnings.catch_warnings():
        # A class absent from a small split (its recall is 0), or r2 on one sample
        # (undefined: NaN, written as null), is not the user's error to be warned of.
        warnings.simplefilter("ignore")
        if task == "classification":
            return classification(y, out, loss)
        return regression(y, out, loss)
