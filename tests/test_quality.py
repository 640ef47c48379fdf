"""The shipped configs reach their quality bars (fixed seeds, full training)."""
import numpy as np
import pytest
from sklearn.metrics import mean_squared_error

import mlpcli
from mlpcli.prepare import prepare_data

from .conftest import CONFIGS

BARS = {
    "digits": ("accuracy", 0.98),
    "breast_cancer": ("accuracy", 0.96),
    "wine": ("accuracy", 0.95),
    "iris": ("accuracy", 0.95),
    "diabetes": ("r2", 0.45),
    "moons": ("accuracy", 0.9),
    "adamw_schedule": ("accuracy", 0.97),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BARS))
def test_shipped_config_reaches_its_bar(name, tmp_path):
    metric, bar = BARS[name]
    result = mlpcli.train(CONFIGS / f"{name}.yaml", tmp_path / name)
    score = result.metrics["test"][metric]
    assert score >= bar, f"{name}: test {metric} {score:.4f} < {bar}"


@pytest.mark.slow
def test_multilabel_config_beats_predicting_each_labels_majority(tmp_path):
    """The baseline predicts, for every label, its more frequent value in the
    training split. Bars: hamming loss at most 0.7 x the baseline's, subset
    accuracy at least 0.2 above it, and a macro ROC AUC of at least 0.8 (0.5 is chance)."""
    result = mlpcli.train(CONFIGS / "multilabel.yaml", tmp_path / "r")
    splits = prepare_data(result.model.config).splits
    majority = (splits["train"].target.mean(axis=0) >= 0.5).astype(int)
    truth = splits["test"].target
    base_hamming, base_subset = np.mean(truth != majority), np.mean((truth == majority).all(axis=1))
    test = result.metrics["test"]
    assert result.model.task == "multilabel"
    assert test["hamming_loss"] <= 0.7 * base_hamming, (test["hamming_loss"], base_hamming)
    assert test["subset_accuracy"] >= base_subset + 0.2, (test["subset_accuracy"], base_subset)
    assert test["roc_auc"] >= 0.8


@pytest.mark.slow
def test_linnerud_config_beats_predicting_the_mean(tmp_path):
    """Three targets from 15 training men: the baseline predicts each target's
    training mean. Bar: test mse (averaged over the targets) at most half the baseline's."""
    result = mlpcli.train(CONFIGS / "linnerud.yaml", tmp_path / "r")
    splits = prepare_data(result.model.config).splits
    truth = splits["test"].target
    baseline = mean_squared_error(truth, np.tile(splits["train"].target.mean(axis=0), (len(truth), 1)))
    assert result.model.network.n_outputs == 3
    assert result.metrics["test"]["mse"] <= 0.5 * baseline, (result.metrics["test"]["mse"], baseline)
