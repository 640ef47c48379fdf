"""Every metric figure, per epoch and final, equals scikit-learn's own function."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mlpcli import metrics
from mlpcli.config import MAXIMISED, TASK_METRICS, monitors


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def classification_case(seed, n, k, absent=None):
    """Labels and noisy probabilities that are right about two times in three;
    ``absent``: a class that occurs in neither y nor the predictions."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    z = rng.standard_normal((n, k))
    z[np.arange(n), y] += rng.uniform(0, 2.5, n)
    if absent is not None:
        y[y == absent] = (absent + 1) % k
        z[:, absent] = -50
    return y, softmax(z)


def sklearn_classification(y, proba):
    k = proba.shape[1]
    labels, pred = np.arange(k), proba.argmax(axis=1)
    out = {"accuracy": skm.accuracy_score(y, pred), "balanced_accuracy": skm.balanced_accuracy_score(y, pred)}
    for average in ("macro", "weighted"):
        for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
            out[f"{name}_{average}"] = fn(y, pred, labels=labels, average=average, zero_division=0)
    return out


@pytest.mark.parametrize("seed, n, k, absent", [(0, 50, 2, None), (1, 200, 3, None), (2, 120, 10, None),
                                                (3, 40, 4, 2), (4, 7, 5, None)])
def test_classification_per_epoch_and_final_figures_are_scikit_learns(seed, n, k, absent):
    y, proba = classification_case(seed, n, k, absent)
    expected = sklearn_classification(y, proba)
    cheap = metrics.classification(y, proba, 0.5)
    full = metrics.classification(y, proba, 0.5, full=True)
    assert set(cheap) == {"loss", *TASK_METRICS["classification"]}
    for name, value in expected.items():
        assert cheap[name] == pytest.approx(value, abs=1e-12), name
        assert full[name] == pytest.approx(value, abs=1e-12), name
    assert cheap["accuracy"] == full["accuracy"]  # early stopping's best == the saved val figure
    assert full["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=np.arange(k)), rel=1e-12)
    assert full["confusion_matrix"] == skm.confusion_matrix(y, proba.argmax(axis=1), labels=np.arange(k)).tolist()
    assert isinstance(full["confusion_matrix"][0][0], int)
    if absent is not None or len(np.unique(y)) < k:
        assert full["roc_auc"] is None  # undefined with a class missing from y
    elif k == 2:
        assert full["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), rel=1e-12)
    else:
        assert full["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"), rel=1e-12)


def test_multilabel_figures_are_scikit_learns():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, (60, 4))
    y[:, 3] = 0  # a label never present: its ROC AUC is undefined, the macro skips it
    y[:5] = 0  # rows with no label at all
    proba = np.clip(0.65 * y + rng.uniform(0, 0.6, y.shape), 0, 1)
    pred = proba >= 0.5
    expected = {
        "subset_accuracy": skm.accuracy_score(y, pred),
        "hamming_loss": skm.hamming_loss(y, pred),
        **{f"f1_{a}": skm.f1_score(y, pred, average=a, zero_division=0) for a in ("micro", "macro", "samples")},
    }
    cheap = metrics.multilabel(y.astype(np.float32), proba, 0.1)
    full = metrics.multilabel(y.astype(np.float32), proba, 0.1, full=True)
    assert set(cheap) == {"loss", *TASK_METRICS["multilabel"]}
    for name, value in expected.items():
        assert cheap[name] == pytest.approx(value, abs=1e-12), name
        assert full[name] == pytest.approx(value, abs=1e-12), name
    assert full["roc_auc"] == pytest.approx(skm.roc_auc_score(y[:, :3], proba[:, :3], average="macro"), rel=1e-12)


@pytest.mark.parametrize("k", [1, 3])
def test_regression_figures_are_scikit_learns(k):
    rng = np.random.default_rng(6)
    y = rng.standard_normal((40, k)) * [3.0, 1.0, 0.1][:k]
    pred = y + rng.standard_normal((40, k)) * 0.5 + 0.2
    expected = {
        "r2": skm.r2_score(y, pred), "mse": skm.mean_squared_error(y, pred),
        "rmse": skm.root_mean_squared_error(y, pred), "mae": skm.mean_absolute_error(y, pred),
        "explained_variance": skm.explained_variance_score(y, pred),
    }
    cheap, full = metrics.regression(y, pred, 0.3), metrics.regression(y, pred, 0.3, full=True)
    assert set(cheap) == set(full) == {"loss", *TASK_METRICS["regression"]}
    for name, value in expected.items():
        assert cheap[name] == pytest.approx(value, rel=1e-10), name
        assert full[name] == pytest.approx(value, rel=1e-10), name


def test_regression_edge_cases_follow_scikit_learn():
    constant = np.ones((5, 1))
    exact, off = metrics.regression(constant, constant.copy(), 0.0), metrics.regression(constant, constant + 1, 1.0)
    assert exact["r2"] == skm.r2_score(constant, constant) == 1.0
    assert off["r2"] == skm.r2_score(constant, constant + 1) == 0.0
    assert off["explained_variance"] == skm.explained_variance_score(constant, constant + 1)
    one = metrics.regression(np.full((1, 1), 3.0), np.full((1, 1), 2.0), 1.0, full=True)
    assert np.isnan(one["r2"])  # undefined on one sample; scikit-learn warns and gives NaN
    assert one["explained_variance"] == skm.explained_variance_score([[3.0]], [[2.0]]) == 1.0


def test_per_class_table_is_scikit_learns():
    y, proba = classification_case(8, 90, 3)
    table = metrics.per_class(y, proba.argmax(axis=1), ["setosa", "versicolor", "virginica"])
    p, r, f, s = skm.precision_recall_fscore_support(y, proba.argmax(axis=1))
    assert list(table) == ["setosa", "versicolor", "virginica"]
    for i, row in enumerate(table.values()):
        assert row == pytest.approx({"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]})


def test_every_logged_metric_can_be_monitored_in_the_right_direction():
    for task, names in TASK_METRICS.items():
        assert monitors(task) == ["val_loss", *(f"val_{m}" for m in names), "train_loss"]
    assert {"precision_weighted", "f1_samples", "subset_accuracy", "explained_variance"} <= MAXIMISED
    assert not {"hamming_loss", "mse", "rmse", "mae", "loss", "log_loss"} & MAXIMISED


@pytest.mark.parametrize("k", [2, 3, 6])
def test_ranking_figures_with_ties_and_certain_mistakes_are_scikit_learns(k):
    """ROC AUC counts tied scores one half and log loss clips a probability of
    0 for the true class at eps, as scikit-learn does: probabilities rounded
    to one decimal (many ties), some rows certain of a wrong class."""
    y, proba = classification_case(10 + k, 300, k)
    proba = np.round(proba, 1)
    proba[:20] = 0.0
    proba[np.arange(20), (y[:20] + 1) % k] = 1.0  # sure, and wrong
    proba /= proba.sum(axis=1, keepdims=True)
    full = metrics.classification(y, proba, 0.5, full=True)
    assert full["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=np.arange(k)), rel=1e-12)
    expected = skm.roc_auc_score(y, proba[:, 1]) if k == 2 else skm.roc_auc_score(y, proba, multi_class="ovr")
    assert full["roc_auc"] == pytest.approx(expected, rel=1e-12)


def test_multilabel_per_class_table_is_scikit_learns():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, (50, 4))
    pred = rng.integers(0, 2, (50, 4))
    pred[:, 2] = 0  # a label never predicted: precision 0, not a division by zero
    table = metrics.per_class(y, pred, ["a", "b", "c", "d"])
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, zero_division=0)
    for i, row in enumerate(table.values()):
        assert row == pytest.approx({"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]})
