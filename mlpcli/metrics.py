"""Metrics by task; the loss is the model's own objective.

Every figure has scikit-learn's definition, computed here in NumPy, so that
scoring a run never imports scikit-learn (about 0.8 s of every short
``mlp train``); tests/test_metrics.py checks each against scikit-learn's own
function. Two sets:

- every epoch (``full=False``), the validation metrics that one pass over the
  counts gives: for classification those of one confusion matrix (a count per
  (true, predicted) pair, from one ``np.bincount``), for multi-label those of
  the per-label counts of hits, misses and false alarms, for regression the
  per-target sums of errors.
- the final figures (``full=True``: metrics.json, ``mlp eval``): the same,
  plus those that need the probabilities or a sort (log loss, ROC AUC) and
  the confusion matrix itself.

Where scikit-learn would divide by zero (the precision of a class never
predicted) the figure is 0, as with its ``zero_division=0``; a figure that is
undefined (ROC AUC with a class absent, r2 on one sample) is None / NaN,
written as null.
"""
from __future__ import annotations

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
    if full:
        proba = proba.astype(np.float64)
        out["log_loss"] = log_loss(y, proba)
        truth = y[:, None] == np.arange(k)
        # Binary: the positive class's AUC; more classes: one-vs-rest, macro-averaged.
        out["roc_auc"] = roc_auc(truth[:, 1:], proba[:, 1:]) if k == 2 else roc_auc(truth, proba)
        out["confusion_matrix"] = counts.tolist()
    return out


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log of each sample's probability for its true class,
    clipped to [eps, 1 - eps] (scikit-learn's log_loss with the model's labels)."""
    eps = np.finfo(proba.dtype).eps
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], eps, 1 - eps))))


def roc_auc(truth: np.ndarray, score: np.ndarray) -> float | None:
    """Macro mean over columns of the area under each column's ROC curve
    (truth (n, m) bool, score (n, m)); None if a column has no positive or no
    negative sample, where it is undefined (scikit-learn's roc_auc_score).

    Each area is the Mann-Whitney statistic: the chance that a random positive
    scores above a random negative, ties counting one half, from average
    ranks; it equals the trapezoidal area under the curve."""
    areas = []
    for j in range(truth.shape[1]):
        positive = truth[:, j]
        n_pos = int(positive.sum())
        n_neg = len(positive) - n_pos
        if n_pos == 0 or n_neg == 0:
            return None
        rank_sum = _average_ranks(score[:, j])[positive].sum()
        areas.append((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(areas))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = ((starts + 1 + ends) / 2)[np.cumsum(first) - 1]
    return ranks


# --------------------------------------------------------------------------- multi-label


def multilabel(y: np.ndarray, proba: np.ndarray, loss: float, full: bool = False) -> dict:
    """y (n, k) 0/1 labels, proba (n, k) each label's probability -> the loss and
    the multi-label metrics; a label is predicted where its probability is >= 0.5."""
    truth = y.astype(bool)
    pred = proba >= 0.5
    hits = (truth & pred).sum(axis=0)
    false_alarms, misses = (pred & ~truth).sum(axis=0), (truth & ~pred).sum(axis=0)
    row_hits = (truth & pred).sum(axis=1)
    row_errors = (truth != pred).sum(axis=1)
    out = {
        "loss": loss,
        "subset_accuracy": float(np.mean(row_errors == 0)),
        "hamming_loss": float(row_errors.sum() / max(truth.size, 1)),
        "f1_micro": float(_ratio(2 * hits.sum(), 2 * hits.sum() + false_alarms.sum() + misses.sum())),
        "f1_macro": float(_ratio(2 * hits, 2 * hits + false_alarms + misses).mean()),
        "f1_samples": float(_ratio(2 * row_hits, 2 * row_hits + row_errors).mean()),
    }
    if full:
        # Macro ROC AUC over the labels it is defined for (both 0 and 1 present), None if none is.
        positives = truth.sum(axis=0)
        defined = (positives > 0) & (positives < len(truth))
        out["roc_auc"] = roc_auc(truth[:, defined], proba[:, defined].astype(np.float64)) if defined.any() else None
    return out


# --------------------------------------------------------------------------- regression


def regression(y: np.ndarray, pred: np.ndarray, loss: float, full: bool = False) -> dict:
    """y, pred (n, k) -> the loss, r2, mse, rmse, mae, explained_variance, each
    averaged uniformly over the k targets (scikit-learn's multioutput default);
    the final set (``full``) is the same."""
    y, pred = y.astype(np.float64), pred.astype(np.float64)
    error = y - pred
    mse = np.mean(error * error, axis=0)
    return {
        "loss": loss,
        "r2": _explained(mse, y) if len(y) > 1 else float("nan"),  # undefined on one sample
        "mse": float(mse.mean()),
        "rmse": float(np.sqrt(mse).mean()),
        "mae": float(np.abs(error).mean()),
        "explained_variance": _explained(np.var(error, axis=0), y),
    }


def _explained(residual: np.ndarray, y: np.ndarray) -> float:
    """Mean over targets of 1 - residual / var(y), with scikit-learn's rules for a
    constant target (1 if predicted exactly, else 0; so explained variance is 1
    on one sample, where r2 is undefined)."""
    total = np.var(y, axis=0)
    score = np.where(total > 0, 1 - _ratio(residual, total), np.where(residual == 0, 1.0, 0.0))
    return float(score.mean())


# --------------------------------------------------------------------------- entry points

SCORERS = {"classification": classification, "multilabel": multilabel, "regression": regression}


def score(network, X: np.ndarray, y: np.ndarray, task: str, full: bool = False) -> dict:
    """The metrics of ``task`` for a network on already-scaled X: the per-epoch
    set, or with ``full`` every final figure."""
    loss, out = network.evaluate(X, y)
    return SCORERS[task](y, out, loss, full=full)


def per_class(y: np.ndarray, pred: np.ndarray, labels) -> dict:
    """{label: {precision, recall, f1, support}} as scikit-learn's
    precision_recall_fscore_support(average=None, zero_division=0); y, pred
    class indices (n,) or 0/1 label matrices (n, k); ``labels`` names the
    classes / label columns in order."""
    k = len(labels)
    if y.ndim == 1:
        counts = confusion_counts(y, pred, k)
        hits, support, predicted = np.diag(counts), counts.sum(axis=1), counts.sum(axis=0)
    else:
        truth, pred = y.astype(bool), pred.astype(bool)
        hits, support, predicted = (truth & pred).sum(axis=0), truth.sum(axis=0), pred.sum(axis=0)
    precision, recall, f1 = _ratio(hits, predicted), _ratio(hits, support), _ratio(2 * hits, support + predicted)
    return {
        str(label): {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                     "support": int(support[i])}
        for i, label in enumerate(labels)
    }
