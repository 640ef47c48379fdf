"""The fit loop and the runner: determinism, random streams, early stopping, divergence."""
import json

import numpy as np
import pytest

import mlpcli
from mlpcli.errors import TrainingDiverged
from mlpcli.runner import prepare_data, resolve_config

from .conftest import CONFIGS


def _weights(run_dir):
    with np.load(run_dir / "weights.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k != "meta"}


def test_same_config_and_seed_give_identical_weights(tmp_path):
    overrides = ["train.epochs=3"]
    a = mlpcli.train(CONFIGS / "digits.yaml", tmp_path / "a", overrides=overrides)
    b = mlpcli.train(CONFIGS / "digits.yaml", tmp_path / "b", overrides=overrides)
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert wa[key].tobytes() == wb[key].tobytes(), key
    assert a.metrics["test"] == b.metrics["test"]
    c = mlpcli.train(CONFIGS / "digits.yaml", tmp_path / "c", overrides=[*overrides, "seed=1"])
    assert not np.array_equal(c.model.network.params, a.model.network.params)


def _split_of(overrides):
    cfg, _ = resolve_config(CONFIGS / "digits.yaml", overrides)
    prepared = prepare_data(cfg.to_dict())
    return {name: s.X.copy() for name, s in prepared.splits.items()}


def test_model_settings_never_change_the_data_split():
    base = _split_of([])
    for overrides in (["model.layers.0.dropout=0.5"], ["train.batch_size=7", "model.dtype=float64"]):
        other = _split_of(overrides)
        for name in base:
            np.testing.assert_array_equal(base[name], other[name])
    reseeded = _split_of(["seed=3"])
    assert not np.array_equal(base["test"], reseeded["test"])


def test_classification_split_is_stratified():
    cfg, _ = resolve_config(CONFIGS / "iris.yaml")
    prepared = prepare_data(cfg.to_dict())
    assert np.bincount(prepared.splits["test"].y).tolist() == [10, 10, 10]


def test_scaler_is_fitted_on_the_training_split_only(tmp_path):
    result = mlpcli.train(CONFIGS / "digits.yaml", tmp_path / "r", overrides=["train.epochs=1"])
    prepared = prepare_data(result.model.config)
    train_X = prepared.splits["train"].X
    offset, scale = result.model.scaler
    np.testing.assert_allclose(offset, train_X.mean(axis=0), rtol=1e-5, atol=1e-5)
    all_X = np.concatenate([s.X for s in prepared.splits.values()])
    assert not np.allclose(offset, all_X.mean(axis=0), rtol=1e-5, atol=1e-5)
    scaled = result.model.transform(train_X)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-4)


def test_early_stopping_stops_and_restores_the_best_epoch(tmp_path):
    result = mlpcli.train(
        CONFIGS / "digits.yaml", tmp_path / "r",
        overrides=["train.epochs=200", "train.optimizer.lr=0.01",
                   "train.early_stopping={monitor: val_loss, patience: 3}"],
    )
    m = result.metrics
    assert m["epochs_run"] < 200
    assert m["epochs_run"] == m["best_epoch"] + 3
    rows = [json.loads(l) for l in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    best_row = min(rows, key=lambda r: r["val_loss"])
    assert best_row["epoch"] == m["best_epoch"]
    # the saved weights are the best epoch's: their validation loss is that epoch's
    assert m["val"]["loss"] == pytest.approx(best_row["val_loss"], rel=1e-9)


def test_early_stopping_on_a_maximised_metric(tmp_path):
    result = mlpcli.train(
        CONFIGS / "breast_cancer.yaml", tmp_path / "r",
        overrides=["train.early_stopping={monitor: val_accuracy, patience: 5}"],
    )
    rows = result.history
    best = max(r["val_accuracy"] for r in rows)
    first_best = next(r["epoch"] for r in rows if r["val_accuracy"] == best)
    assert result.metrics["best_epoch"] == first_best
    assert result.metrics["val"]["accuracy"] == best


def test_weight_decay_shrinks_the_weights(tmp_path):
    def norm(wd, name):
        r = mlpcli.train(CONFIGS / "iris.yaml", tmp_path / name,
                         overrides=["train.epochs=50", f"train.weight_decay={wd}"])
        return float(np.sum(r.model.network.params[: r.model.network.n_weights] ** 2))

    assert norm(0.1, "decayed") < 0.8 * norm(0.0, "plain")


def test_divergence_raises_with_epoch_and_step(tmp_path):
    with pytest.raises(TrainingDiverged) as info:
        mlpcli.train(
            CONFIGS / "diabetes.yaml", tmp_path / "r",
            overrides=["data.scale=none", "train.optimizer={name: sgd, lr: 10}", "train.epochs=5"],
        )
    # reported at the step whose loss stopped being finite, not at the end of the epoch
    assert info.value.epoch == 1 and 1 <= info.value.step < 19
    assert "lower learning rate" in str(info.value)
    assert not (tmp_path / "r" / "weights.npz").exists()


def test_sgd_with_momentum_learns(tmp_path):
    result = mlpcli.train(CONFIGS / "moons.yaml", tmp_path / "r", overrides=["train.epochs=20"])
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.metrics["test"]["accuracy"] > 0.85


def test_multi_output_regression(tmp_path):
    result = mlpcli.train(
        {"data": {"dataset": "linnerud", "val_size": 0, "test_size": 0.25},
         "model": {"layers": [{"units": 16}]}, "train": {"epochs": 5, "batch_size": 4}},
        tmp_path / "r",
    )
    assert result.model.task == "regression"
    assert result.model.network.n_outputs == 3
    assert set(result.metrics["test"]) == {"loss", "r2", "mse", "mae"}
    assert result.model.predict(np.zeros((2, 3))).shape == (2, 3)


def test_linear_model_with_no_hidden_layers(tmp_path):
    result = mlpcli.train(CONFIGS / "iris.yaml", tmp_path / "r", overrides=["model.layers=[]"])
    assert [d.W.shape for d in result.model.network.dense] == [(4, 3)]
    assert result.metrics["test"]["accuracy"] > 0.8
