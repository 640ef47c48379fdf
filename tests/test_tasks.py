"""Tasks, losses and their options end to end: each changes training the way it should."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

import mlpcli
from mlpcli.artifacts import to_json
from mlpcli.errors import ConfigError

from .conftest import CONFIGS, assert_refused, run_mlp

MULTILABEL = {
    "data": {"dataset": "multilabel", "options": {"n_samples": 300, "n_features": 10, "n_classes": 4}, "val_size": 0.1},
    "model": {"layers": [{"units": 32}]},
    "train": {"epochs": 30, "batch_size": 32, "optimizer": {"lr": 0.01}},
}


def test_multilabel_is_detected_trained_and_predicted(tmp_path):
    result = mlpcli.train(MULTILABEL, tmp_path / "r")
    model = result.model
    assert model.task == "multilabel" and model.network.n_outputs == 4
    assert model.network.head.name == "binary_cross_entropy"
    config = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert config["model"]["task"] == "multilabel" and config["train"]["loss"] == "binary_cross_entropy"
    assert {"val_subset_accuracy", "val_hamming_loss", "val_f1_samples"} <= set(result.history[-1])
    test = result.metrics["test"]
    assert {"subset_accuracy", "hamming_loss", "f1_micro", "f1_macro", "f1_samples", "roc_auc"} <= set(test)
    assert test["hamming_loss"] < 0.25 and test["roc_auc"] > 0.8
    X = np.random.default_rng(0).standard_normal((5, 10))
    assert model.predict_proba(X).shape == (5, 4)
    assert set(np.unique(model.predict(X))) <= {0, 1} and model.predict(X).shape == (5, 4)
    # the weights file alone rebuilds it: eval gives the same figures
    reloaded = mlpcli.load(tmp_path / "r" / "weights.npz")
    assert reloaded.task == "multilabel"
    np.testing.assert_array_equal(reloaded.predict_proba(X), model.predict_proba(X))


def test_cross_entropy_on_two_classes_gives_a_two_unit_softmax(tmp_path):
    result = mlpcli.train(CONFIGS / "breast_cancer.yaml", tmp_path / "r",
                          overrides=["train.loss=cross_entropy", "train.epochs=3"])
    assert result.model.network.n_outputs == 2 and result.model.network.head.name == "cross_entropy"
    assert result.metrics["test"]["accuracy"] > 0.85


@pytest.mark.parametrize(
    "config, overrides, names",
    [
        ("iris", ["train.loss=mse"], ["train.loss", "'mse'", "classification", "cross_entropy"]),
        ("iris", ["train.loss=binary_cross_entropy"], ["train.loss", "needs 2 classes", "3"]),
        ("diabetes", ["train.loss=cross_entropy"], ["train.loss", "regression", "huber"]),
        ("diabetes", ["train.class_weight=balanced"], ["train.class_weight", "regression"]),
        ("diabetes", ["train.label_smoothing=0.1"], ["train.label_smoothing", "regression"]),
        ("iris", ["train.class_weight={0: 2, 7: 1}"], ["train.class_weight", "'7'", "0, 1, 2"]),
        ("iris", ["train.class_weight={0: 0, 1: 0, 2: 0}"], ["train.class_weight", "every weight is 0"]),
        ("iris", ["train.huber_delta=2"], ["train.huber_delta", "huber"]),
        ("iris", ["model.task=regression", "train.loss=cross_entropy"], ["train.loss", "regression"]),
    ],
)
def test_a_loss_or_option_that_does_not_fit_the_task_is_refused(tmp_path, config, overrides, names):
    with pytest.raises(ConfigError) as info:
        mlpcli.train(CONFIGS / f"{config}.yaml", tmp_path / "r", overrides=overrides)
    for name in names:
        assert name in str(info.value)
    assert not (tmp_path / "r").exists()


def test_the_cli_refuses_a_misfit_loss_with_one_line_and_exit_2(tmp_path):
    result = run_mlp("train", CONFIGS / "iris.yaml", "--out", tmp_path / "r", "--set", "train.loss=huber")
    assert_refused(result, "train.loss", "'huber'", "classification")


def _imbalanced(tmp_path, name, class_weight):
    return mlpcli.train(
        {
            "seed": 1,
            "data": {"dataset": "classification", "val_size": 0, "test_size": 0.3,
                     "options": {"n_samples": 800, "n_features": 8, "weights": [0.93], "class_sep": 0.6,
                                 "flip_y": 0.0}},
            "model": {"layers": [{"units": 16}]},
            "train": {"epochs": 15, "class_weight": class_weight},
        },
        tmp_path / name,
    )


def test_balanced_class_weight_raises_the_recall_of_the_minority_class(tmp_path):
    plain, weighted = _imbalanced(tmp_path, "plain", None), _imbalanced(tmp_path, "weighted", "balanced")

    def minority_recall(result):
        (tn, fp), (fn, tp) = result.metrics["test"]["confusion_matrix"]
        return tp / (tp + fn)

    assert minority_recall(weighted) >= minority_recall(plain) + 0.15, (minority_recall(plain), minority_recall(weighted))
    # recorded as scikit-learn's weights n / (2 * count) on the training split
    counts = np.bincount(weighted.model.classes.searchsorted(
        mlpcli.prepare.prepare_data(weighted.model.config).splits["train"].y))
    recorded = weighted.model.config["train"]["class_weight"]
    assert recorded == pytest.approx({"0": counts.sum() / (2 * counts[0]), "1": counts.sum() / (2 * counts[1])})


def test_a_class_weight_mapping_weighs_the_named_classes(tmp_path):
    heavy = _imbalanced(tmp_path, "heavy", {1: 10.0})
    assert heavy.model.config["train"]["class_weight"] == {"0": 1.0, "1": 10.0}
    (tn, fp), (fn, tp) = heavy.metrics["test"]["confusion_matrix"]
    plain = _imbalanced(tmp_path, "plain", None).metrics["test"]["confusion_matrix"]
    assert fp > plain[0][1]  # weighing class 1 up trades false alarms for hits


def test_an_all_zero_class_weight_is_refused_with_exit_2(tmp_path):
    result = run_mlp("train", CONFIGS / "iris.yaml", "--out", tmp_path / "r",
                     "--set", "train.class_weight={0: 0, 1: 0, 2: 0}")
    assert_refused(result, "train.class_weight", "every weight is 0")
    assert not (tmp_path / "r").exists()


def test_class_weights_resolving_to_all_zero_are_refused_before_the_run_folder(tmp_path, monkeypatch):
    # The config check sees only the mapping; the resolved weights (every class,
    # 'balanced' included) are checked again before the engine would refuse them.
    monkeypatch.setattr("mlpcli.builder.balanced_class_weight", lambda target, classes: {str(c): 0.0 for c in classes})
    with pytest.raises(ConfigError, match=r"train.class_weight: gives every class of the data \(0, 1, 2\) weight 0"):
        mlpcli.train(CONFIGS / "iris.yaml", tmp_path / "r", overrides=["train.class_weight=balanced"])
    assert not (tmp_path / "r").exists()


def test_a_class_weight_label_yaml_read_as_a_boolean_suggests_quoting(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "yn.npz", X=rng.normal(size=(40, 2)), y=np.array(["no", "yes"] * 20))
    config = {"data": {"dataset": str(tmp_path / "yn.npz"), "val_size": 0}, "model": {"layers": []},
              "train": {"epochs": 1}}
    (tmp_path / "yn.yaml").write_text(yaml.safe_dump(config))
    result = run_mlp("train", tmp_path / "yn.yaml", "--out", tmp_path / "r", "--set", "train.class_weight={yes: 3}")
    line = assert_refused(result, "train.class_weight", "'True' is not a class", "compared as written", "\"yes\"")
    assert "classes: no, yes" in line
    with pytest.raises(ConfigError, match="labels are compared as written"):
        mlpcli.train(CONFIGS / "iris.yaml", tmp_path / "r", overrides=["train.class_weight={0: 2, 7: 1}"])
    # quoted, it is the class
    quoted = mlpcli.train(tmp_path / "yn.yaml", tmp_path / "ok", overrides=['train.class_weight={"yes": 3}'])
    assert quoted.model.config["train"]["class_weight"] == {"no": 1.0, "yes": 3.0}


def test_label_smoothing_keeps_probabilities_off_0_and_1(tmp_path):
    def confidence(smoothing, name):
        result = mlpcli.train(CONFIGS / "iris.yaml", tmp_path / name,
                              overrides=["train.epochs=150", f"train.label_smoothing={smoothing}"])
        X = mlpcli.prepare.prepare_data(result.model.config).splits["test"].X
        return result.model.predict_proba(X).max(axis=1).mean(), result.metrics["test"]["accuracy"]

    sharp, accuracy = confidence(0.0, "sharp")
    smooth, smooth_accuracy = confidence(0.3, "smooth")
    # e = 0.3 over 3 classes: the best possible probability is 1 - e + e / 3 = 0.8
    assert smooth < 0.81 < 0.9 < sharp
    assert smooth_accuracy >= accuracy - 0.1


@pytest.mark.parametrize("loss", ["mae", "huber"])
def test_robust_losses_ignore_outliers_that_pull_mse(tmp_path, loss):
    """A line with one target in ten shifted by +40: mse's fit moves up by about
    the mean shift (4); mae's and huber's stay near the line."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (400, 1))
    y = 3 * X[:, 0] + 1 + rng.normal(0, 0.1, 400)
    y[rng.random(400) < 0.1] += 40
    np.savez(tmp_path / "line.npz", X=X, y=y)

    def offset(name):
        result = mlpcli.train(
            {"data": {"dataset": str(tmp_path / "line.npz"), "val_size": 0},
             "model": {"layers": []},
             "train": {"epochs": 60, "loss": name, "optimizer": {"lr": 0.05}}},
            tmp_path / name,
        )
        grid = np.linspace(-2, 2, 21)[:, None]
        return float(np.mean(result.model.predict(grid) - (3 * grid[:, 0] + 1)))

    assert offset("mse") > 2.5
    assert abs(offset(loss)) < 0.5


def test_eval_per_class_table_and_json(tmp_path):
    out = tmp_path / "iris"
    mlpcli.train(CONFIGS / "iris.yaml", out, overrides=["train.epochs=20"])
    text = run_mlp("eval", out / "weights.npz", "--per-class")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["class", "precision"])
    assert [line.split()[0] for line in lines[header + 1 :]] == ["0", "1", "2"]
    assert "confusion_matrix" in text.stdout and "roc_auc" in text.stdout
    as_json = json.loads(to_json(mlpcli.runner.evaluate(out / "weights.npz", per_class=True)))
    assert set(as_json["per_class"]) == {"0", "1", "2"}
    assert sum(row["support"] for row in as_json["per_class"].values()) == as_json["n_samples"] == 30
    recalls = [row["recall"] for row in as_json["per_class"].values()]
    assert np.mean(recalls) == pytest.approx(as_json["balanced_accuracy"])


def test_eval_per_class_is_refused_for_regression(tmp_path):
    out = tmp_path / "d"
    mlpcli.train(CONFIGS / "diabetes.yaml", out, overrides=["train.epochs=1"])
    assert_refused(run_mlp("eval", out / "weights.npz", "--per-class"), "--per-class", "regression")
