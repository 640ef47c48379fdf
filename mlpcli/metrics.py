"""Metrics by task; the loss is the model's own objective.

Two sets, with scikit-learn's definitions throughout:

- every epoch (``full=False``), the validation metrics that cost next to
  nothing: for classification those that one confusion matrix gives (a count
  per (true, predicted) pair, from one ``np.bincount``), for multi-label those
  that the per-label counts of hits, misses and false alarms give, for
  regression the per-target sums of errors. A full scikit-learn suite every
  epoch would cost more than the epoch on a small data set.
- the final figures (``full=True``: metrics.json, ``mlp eval``), each from its
  scikit-learn.metrics function, plus the ones that need the probabilities or
  a sort (log loss, ROC AUC) and the confusion matrix itself.

The tests check every per-epoch figure against scikit-learn's own function.
Where scikit-learn would divide by zero (the precision of a class never
predicted) the figure is 0, as with its ``zero_division=0``; a figure that is
undefined (ROC AUC with a class absent, r2 on one sample) is None / NaN,
written as null.
"""
from __future__ import annotations

import warnings

import numpy as np

# Which of the figures below each task logs every epoch (as val_<name>); config.TASK_METRICS lists the same.
EPOCH_METRICS = {
    "classification": (
        "accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro",
        "precision_weighted", "recall_weighted", "f1_weighted",
    ),
    "multilabel": ("subset_accuracy", "hamming_loss", "f1_micro", "f1_macro", "f1_samples"),
    "regression": ("r2", "mse", "rmse", "mae", "explained_variance"),
}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


# --------------------------------------------------------------------------- classification


def confusion_counts(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) counts, rows the true class, columns the predicted one (scikit-learn's layout)."""
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def classification(y: np.ndarray, proba: np.ndarray, loss: float, full: bool = False) -> dict:
    """y (n,) class indices, proba (n, k) -> the loss and the classification metrics.

    Averages run over all k classes of the model (``labels=range(k)``), so a
    class missing from a small split counts as 0 in a macro average, as
    scikit-learn does when given the labels."""
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    if full:
        return {"loss": loss, **_classification_sklearn(y, proba, pred, k)}
    counts = confusion_counts(y, pred, k)
    hits = np.diag(counts).astype(np.float64)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    precision, recall = _ratio(hits, predicted), _ratio(hits, support)
    f1 = _ratio(2 * hits, support + predicted)
    present = support > 0
    out = {
        "loss": loss,
        "accuracy": float(hits.sum() / max(len(y), 1)),
        "balanced_accuracy": float(np.mean(recall[present])) if present.any() else float("nan"),
    }
    for name, per_class in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"{name}_macro"] = float(per_class.mean())
    for name, per_class in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"{name}_weighted"] = float(_ratio(per_class @ support, support.sum()))
    return out


def _classification_sklearn(y, proba, pred, k) -> dict:
    from sklearn.metrics import (
        accuracy_score, balanced_accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support,
    )

    labels = np.arange(k)
    out = {"accuracy": float(accuracy_score(y, pred)), "balanced_accuracy": float(balanced_accuracy_score(y, pred))}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, labels=labels, average=average, zero_division=0)
        out.update({f"precision_{average}": float(p), f"recall_{average}": float(r), f"f1_{average}": float(f)})
    proba = proba.astype(np.float64)
    out["log_loss"] = float(log_loss(y, proba, labels=labels))
    out["roc_auc"] = _roc_auc(y, proba[:, 1] if k == 2 else proba, multi_class="ovr", labels=labels)
    out["confusion_matrix"] = confusion_matrix(y, pred, labels=labels).tolist()
    return out


def _roc_auc(y, score, **options) -> float | None:
    """ROC AUC, or None where undefined (a class absent from y)."""
    from sklearn.metrics import roc_auc_score

    try:
        value = float(roc_auc_score(y, score, **options))
    except ValueError:  # older scikit-learn raises where newer warns and returns NaN
        return None
    return None if np.isnan(value) else value


# --------------------------------------------------------------------------- multi-label


def multilabel(y: np.ndarray, proba: np.ndarray, loss: float, full: bool = False) -> dict:
    """y (n, k) 0/1 labels, proba (n, k) each label's probability -> the loss and
    the multi-label metrics; a label is predicted where its probability is >= 0.5."""
    truth = y.astype(bool)
    pred = proba >= 0.5
    if full:
        return {"loss": loss, **_multilabel_sklearn(truth, proba, pred)}
    hits = (truth & pred).sum(axis=0)
    false_alarms, misses = (pred & ~truth).sum(axis=0), (truth & ~pred).sum(axis=0)
    row_hits = (truth & pred).sum(axis=1)
    row_errors = (truth != pred).sum(axis=1)
    return {
        "loss": loss,
        "subset_accuracy": float(np.mean(row_errors == 0)),
        "hamming_loss": float(row_errors.sum() / max(truth.size, 1)),
        "f1_micro": float(_ratio(2 * hits.sum(), 2 * hits.sum() + false_alarms.sum() + misses.sum())),
        "f1_macro": float(_ratio(2 * hits, 2 * hits + false_alarms + misses).mean()),
        "f1_samples": float(_ratio(2 * row_hits, 2 * row_hits + row_errors).mean()),
    }


def _multilabel_sklearn(truth, proba, pred) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss

    out = {"subset_accuracy": float(accuracy_score(truth, pred)), "hamming_loss": float(hamming_loss(truth, pred))}
    for average in ("micro", "macro", "samples"):
        out[f"f1_{average}"] = float(f1_score(truth, pred, average=average, zero_division=0))
    # Macro ROC AUC over the labels it is defined for (both 0 and 1 present), None if none is.
    defined = [j for j in range(truth.shape[1]) if 0 < truth[:, j].sum() < len(truth)]
    out["roc_auc"] = (
        _roc_auc(truth[:, defined], proba[:, defined].astype(np.float64), average="macro") if defined else None
    )
    return out


# --------------------------------------------------------------------------- regression


def regression(y: np.ndarray, pred: np.ndarray, loss: float, full: bool = False) -> dict:
    """y, pred (n, k) -> the loss, r2, mse, rmse, mae, explained_variance, each
    averaged uniformly over the k targets (scikit-learn's multioutput default)."""
    y, pred = y.astype(np.float64), pred.astype(np.float64)
    if full:
        return {"loss": loss, **_regression_sklearn(y, pred)}
    error = y - pred
    mse = np.mean(error * error, axis=0)
    return {
        "loss": loss,
        "r2": _explained(mse, y),
        "mse": float(mse.mean()),
        "rmse": float(np.sqrt(mse).mean()),
        "mae": float(np.abs(error).mean()),
        "explained_variance": _explained(np.var(error, axis=0), y),
    }


def _explained(residual: np.ndarray, y: np.ndarray) -> float:
    """Mean over targets of 1 - residual / var(y), with scikit-learn's rules for a
    constant target (1 if predicted exactly, else 0); NaN for fewer than 2 samples."""
    if len(y) < 2:
        return float("nan")
    total = np.var(y, axis=0)
    score = np.where(total > 0, 1 - _ratio(residual, total), np.where(residual == 0, 1.0, 0.0))
    return float(score.mean())


def _regression_sklearn(y, pred) -> dict:
    from sklearn.metrics import (
        explained_variance_score, mean_absolute_error, mean_squared_error, r2_score, root_mean_squared_error,
    )

    return {
        "r2": float(r2_score(y, pred)),
        "mse": float(mean_squared_error(y, pred)),
        "rmse": float(root_mean_squared_error(y, pred)),
        "mae": float(mean_absolute_error(y, pred)),
        "explained_variance": float(explained_variance_score(y, pred)),
    }


# --------------------------------------------------------------------------- entry points

SCORERS = {"classification": classification, "multilabel": multilabel, "regression": regression}


def score(network, X: np.ndarray, y: np.ndarray, task: str, full: bool = False) -> dict:
    """The metrics of ``task`` for a network on already-scaled X: the per-epoch
    set, or with ``full`` every final figure."""
    loss, out = network.evaluate(X, y)
    with warnings.catch_warnings():
        # A class absent from a small split (its recall is 0), or r2 on one sample
        # (undefined: NaN, written as null), is not the user's error to be warned of.
        warnings.simplefilter("ignore")
        return SCORERS[task](y, out, loss, full=full)


def per_class(y: np.ndarray, pred: np.ndarray, labels) -> dict:
    """{label: {precision, recall, f1, support}} from scikit-learn's
    precision_recall_fscore_support; y, pred class indices (n,) or 0/1 label
    matrices (n, k); ``labels`` names the classes / label columns in order."""
    from sklearn.metrics import precision_recall_fscore_support

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, s = precision_recall_fscore_support(
            y, pred, labels=np.arange(len(labels)), average=None, zero_division=0
        )
    return {
        str(label): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, label in enumerate(labels)
    }
