"""The fit loop and the runner: determinism, random streams, early stopping, divergence."""
import json

import numpy as np
import pytest

import mlpcli
from mlpcli.errors import TrainingDiverged
from mlpcli.prepare import prepare_data
from mlpcli.runner import resolve_config

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
    assert {"loss", "r2", "mse", "mae"} <= set(result.metrics["test"])
    assert result.model.predict(np.zeros((2, 3))).shape == (2, 3)


def test_linear_model_with_no_hidden_layers(tmp_path):
    result = mlpcli.train(CONFIGS / "iris.yaml", tmp_path / "r", overrides=["model.layers=[]"])
    assert [d.W.shape for d in result.model.network.dense] == [(4, 3)]
    assert result.metrics["test"]["accuracy"] > 0.8


# -- optimizers, schedules, regularisation and stopping, through the runner --------

MOONS = {
    "data": {"dataset": "moons", "options": {"n_samples": 1000, "noise": 0.2}},
    "model": {"layers": [{"units": 32, "activation": "gelu"}, {"units": 32, "activation": "gelu"}]},
    "train": {"epochs": 20, "batch_size": 32},
}
# From a starting loss of about 0.69 (log 2), within 20 epochs (for lbfgs, 20
# iterations), every optimizer gets the training loss below this.
MOONS_LOSS_BAR = 0.15


def _moons(tmp_path, **train):
    config = json.loads(json.dumps(MOONS))
    config["train"].update(train)
    result = mlpcli.train(config, tmp_path / "r")
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    return result, rows


@pytest.mark.parametrize(
    "optimizer",
    [
        {"name": "sgd", "lr": 0.3},
        {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
        {"name": "adam", "lr": 0.01},
        {"name": "adamw", "lr": 0.01},
        {"name": "rmsprop", "lr": 0.003},
        {"name": "adagrad", "lr": 0.05},
        {"name": "lbfgs"},
    ],
    ids=lambda o: o["name"] + ("-nesterov" if o.get("nesterov") else ""),
)
def test_every_optimizer_fits_moons_within_a_fixed_budget(tmp_path, optimizer):
    result, rows = _moons(tmp_path, optimizer=optimizer)
    assert len(rows) == result.metrics["epochs_run"] <= 20
    assert rows[-1]["train_loss"] < MOONS_LOSS_BAR, rows[-1]["train_loss"]
    assert result.metrics["test"]["accuracy"] > 0.9
    if optimizer["name"] == "lbfgs":
        assert all(r["lr"] is None for r in rows)
        assert result.metrics["stopped"] in ("epochs", "converged")
    else:
        assert result.metrics["stopped"] == "epochs"


def test_adamw_defaults_to_decoupled_decay_of_0_01_and_old_configs_keep_theirs(tmp_path):
    def resolved_decay(config, *overrides):
        return resolve_config(CONFIGS / config, overrides)[0].to_dict()["train"]["weight_decay"]

    assert resolved_decay("iris.yaml", "train.optimizer={name: adamw}") == 0.01
    assert resolved_decay("iris.yaml") == 0.0
    assert resolved_decay("digits.yaml") == 0.0005  # an old config's weight_decay, with adam
    assert resolved_decay("digits.yaml", "train.optimizer={name: adamw}") == 0.0005  # given: kept

    def weights(name, *overrides):
        r = mlpcli.train(CONFIGS / "iris.yaml", tmp_path / name, overrides=["train.epochs=30", *overrides])
        return r.model.network.params[: r.model.network.n_weights].copy()

    decoupled = weights("adamw", "train.optimizer={name: adamw, lr: 0.01}", "train.weight_decay=0.5")
    coupled = weights("adam", "train.optimizer={name: adam, lr: 0.01}", "train.weight_decay=0.5")
    free = weights("free", "train.optimizer={name: adamw, lr: 0.01}", "train.weight_decay=0")
    assert np.sum(decoupled**2) < 0.9 * np.sum(free**2)
    assert not np.allclose(decoupled, coupled, atol=1e-3)  # not the same rule under another name


def test_schedules_set_the_lr_logged_each_epoch(tmp_path):
    from mlpcli.engine import get_schedule

    result, rows = _moons(tmp_path, epochs=6, optimizer={"name": "sgd", "lr": 0.2},
                          schedule={"name": "cosine", "warmup_epochs": 2, "min_lr": 0.01})
    expected = [get_schedule("cosine", 0.2, 6, warmup_epochs=2, min_lr=0.01).lr(e) for e in range(1, 7)]
    assert [r["lr"] for r in rows] == pytest.approx(expected, rel=1e-12)
    assert rows[0]["lr"] == pytest.approx(0.2 / 3) and rows[2]["lr"] == pytest.approx(0.2)
    resolved = result.model.config["train"]["schedule"]
    assert resolved == {"name": "cosine", "warmup_epochs": 2, "min_lr": 0.01}


def test_one_cycle_records_its_max_lr_and_plateau_cuts_the_rate(tmp_path):
    result, rows = _moons(tmp_path / "a", epochs=5, optimizer={"name": "adam", "lr": 0.02},
                          schedule={"name": "one_cycle"})
    assert result.model.config["train"]["schedule"]["max_lr"] == 0.02
    assert max(r["lr"] for r in rows) == pytest.approx(0.02, rel=0.2) and rows[0]["lr"] == pytest.approx(0.02 / 25)
    # min_delta 10: no epoch ever improves on the first, so with patience 0 the
    # rate is cut after every epoch from the second on.
    _, rows = _moons(tmp_path / "b", epochs=5, optimizer={"name": "sgd", "lr": 0.1},
                     schedule={"name": "reduce_on_plateau", "patience": 0, "min_delta": 10, "factor": 0.5})
    assert [r["lr"] for r in rows] == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.0125])


def test_max_seconds_stops_after_the_first_epoch_past_the_budget(tmp_path):
    result, rows = _moons(tmp_path, epochs=50, max_seconds=1e-6)
    assert result.metrics["epochs_run"] == len(rows) == 1
    assert result.metrics["stopped"] == "max_seconds"
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert saved["stopped"] == "max_seconds"


def test_early_stopping_in_max_mode_on_val_accuracy(tmp_path):
    result, rows = _moons(
        tmp_path, epochs=100, optimizer={"name": "adam", "lr": 0.05},
        early_stopping={"monitor": "val_accuracy", "mode": "max", "patience": 3},
    )
    m = result.metrics
    assert m["stopped"] == "early_stopping" and m["epochs_run"] < 100
    best = max(r["val_accuracy"] for r in rows)
    assert m["best_epoch"] == next(r["epoch"] for r in rows if r["val_accuracy"] == best)
    assert m["epochs_run"] == m["best_epoch"] + 3
    assert m["val"]["accuracy"] == best  # the best epoch's weights were restored


def test_regularisation_options_reach_the_fit_loop(tmp_path):
    """l1, max_norm and clip_norm from the config change the trained weights the way they should."""
    def run(name, **train):
        result, _ = _moons(tmp_path / name, epochs=10, optimizer={"name": "sgd", "lr": 0.3, "momentum": 0.9}, **train)
        return result.model.network

    plain = run("plain")
    sparse = run("l1", l1=0.01)
    w_plain, w_sparse = plain.params[: plain.n_weights], sparse.params[: sparse.n_weights]
    assert np.abs(w_sparse).sum() < 0.5 * np.abs(w_plain).sum()
    bounded = run("max_norm", max_norm=0.5)
    assert max(np.linalg.norm(d.W, axis=0).max() for d in bounded.dense) <= 0.5 * (1 + 1e-6)
    assert max(np.linalg.norm(d.W, axis=0).max() for d in plain.dense) > 1.0
    clipped = run("clip", clip_norm=1e-3)  # at most 10 * 22 steps of 0.3 * 1e-3 (momentum aside): barely moves
    first = mlpcli.train(MOONS, tmp_path / "init", overrides=["train.epochs=1", "train.optimizer.lr=1e-30"]).model.network
    assert np.abs(clipped.params - first.params).max() < np.abs(plain.params - first.params).max() / 10


def test_lbfgs_refuses_dropout_from_the_cli(tmp_path):
    from .conftest import assert_refused, run_mlp

    proc = run_mlp("train", CONFIGS / "digits.yaml", "--set", "train.optimizer={name: lbfgs}", "--out", tmp_path / "r")
    assert_refused(proc, "model.layers[0].dropout", "lbfgs")
    assert not (tmp_path / "r").exists()
