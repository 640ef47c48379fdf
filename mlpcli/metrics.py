"""Metrics by task, from scikit-learn.metrics; the loss is the model's own objective."""
from __future__ import annotations

import warnings

import numpy as np


def classification(y: np.ndarray, proba: np.ndarray, loss: float) -> dict:
    """y (n,) class indices, proba (n, k) -> loss, accuracy, balanced_accuracy, f1_macro.

    All three come from one scikit-learn confusion matrix (a validation score
    runs every epoch; three scikit-learn calls cost three times as much), with
    scikit-learn's definitions: balanced accuracy averages the recall of the
    classes present in y; macro F1 averages every class's F1, 0 where undefined.
    """
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(y, proba.argmax(axis=1), labels=np.arange(proba.shape[1]))
    hits = np.diag(counts).astype(np.float64)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    present = support > 0
    f1_denominator = support + predicted
    f1 = np.divide(2 * hits, f1_denominator, out=np.zeros_like(hits), where=f1_denominator > 0)
    return {
        "loss": loss,
        "accuracy": float(hits.sum() / max(len(y), 1)),
        "balanced_accuracy": float(np.mean(hits[present] / support[present])),
        "f1_macro": float(f1.mean()),
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
