"""The train section's optimizer, schedule, regularisation and stopping keys:
defaults recorded in the resolved config, and one clear error per mistake."""
from __future__ import annotations

import pytest

from mlpcli.config import parse_config
from mlpcli.errors import ConfigError


def resolved_train(train: dict, **sections) -> dict:
    return parse_config({"train": train, **sections}).to_dict()["train"]


def test_defaults_are_recorded():
    train = resolved_train({})
    assert train["schedule"] == {"name": "constant"}
    assert (train["l1"], train["l2"], train["weight_decay"]) == (0.0, 0.0, 0.0)
    assert train["max_norm"] is train["clip_norm"] is train["clip_value"] is train["max_seconds"] is None


@pytest.mark.parametrize(
    "optimizer, expected",
    [
        ({"name": "adamw"}, {"name": "adamw", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
        ({"name": "rmsprop"}, {"name": "rmsprop", "lr": 0.01, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0,
                               "centered": False}),
        ({"name": "adagrad"}, {"name": "adagrad", "lr": 0.01, "eps": 1e-10, "initial_accumulator_value": 0.0}),
        ({"name": "lbfgs"}, {"name": "lbfgs", "history_size": 10, "gtol": 1e-5, "max_fun": 15000}),
    ],
)
def test_optimizer_defaults_are_pytorchs(optimizer, expected):
    assert resolved_train({"optimizer": optimizer})["optimizer"] == expected


def test_weight_decay_default_depends_on_the_optimizer():
    assert resolved_train({"optimizer": {"name": "adamw"}})["weight_decay"] == 0.01
    assert resolved_train({"optimizer": {"name": "adamw"}, "weight_decay": 0})["weight_decay"] == 0.0
    assert resolved_train({"optimizer": {"name": "sgd"}, "weight_decay": 0.0005})["weight_decay"] == 0.0005
    # the resolved config is itself a valid config and resolves to itself
    again = parse_config(parse_config({"train": {"optimizer": {"name": "adamw"}}}).to_dict()).to_dict()
    assert again["train"]["weight_decay"] == 0.01


def test_schedule_defaults_are_filled_in():
    assert resolved_train({"schedule": {"name": "cosine"}})["schedule"] == {
        "name": "cosine", "warmup_epochs": 0, "min_lr": 0.0}
    assert resolved_train({"schedule": {"name": "one_cycle"}, "optimizer": {"lr": 0.004}})["schedule"] == {
        "name": "one_cycle", "max_lr": 0.004, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4}
    assert resolved_train({"schedule": {"name": "reduce_on_plateau"}})["schedule"] == {
        "name": "reduce_on_plateau", "monitor": "val_loss", "mode": "auto", "factor": 0.1, "patience": 10,
        "min_delta": 1e-4, "cooldown": 0, "min_lr": 0.0}
    assert resolved_train({"schedule": None})["schedule"] == {"name": "constant"}


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"train": {"schedule": {"name": "cosin"}}},
         "train.schedule.name: unknown schedule 'cosin'; valid: constant, cosine, exponential, one_cycle, "
         "reduce_on_plateau, step; did you mean 'cosine'?"),
        ({"train": {"schedule": {"gamma": 0.5}}}, "train.schedule.name: required; valid: constant"),
        ({"train": {"schedule": {"name": "step", "gama": 0.5}}}, "train.schedule.gama: unknown key; did you mean 'gamma'?"),
        ({"train": {"schedule": {"name": "exponential", "gamma": 0}}}, "train.schedule.gamma: must be > 0, got 0"),
        ({"train": {"epochs": 5, "schedule": {"name": "cosine", "warmup_epochs": 5}}},
         "train.schedule.warmup_epochs: must be < train.epochs (5), got 5"),
        ({"train": {"schedule": {"name": "cosine", "min_lr": 0.1}}},
         "train.schedule.min_lr: must be <= train.optimizer.lr (0.001), got 0.1"),
        ({"train": {"schedule": {"name": "one_cycle", "pct_start": 1}}},
         "train.schedule.pct_start: must be in (0, 1), got 1"),
        ({"train": {"schedule": {"name": "reduce_on_plateau", "factor": 1.5}}},
         "train.schedule.factor: must be in (0, 1), got 1.5"),
        ({"train": {"schedule": {"name": "reduce_on_plateau", "monitor": "val_acc"}}},
         "train.schedule.monitor: unknown metric 'val_acc'"),
        ({"data": {"val_size": 0}, "train": {"schedule": {"name": "reduce_on_plateau"}}},
         "train.schedule.monitor: 'val_loss' needs a validation split (data.val_size > 0), or monitor 'train_loss'"),
        ({"model": {"task": "regression"}, "train": {"schedule": {"name": "reduce_on_plateau", "monitor": "val_accuracy"}}},
         "train.schedule.monitor: 'val_accuracy' is not logged for regression"),
        ({"train": {"optimizer": {"name": "adamax"}}}, "train.optimizer.name: unknown optimizer 'adamax'; valid: adagrad, adam, adamw"),
        ({"train": {"optimizer": {"name": "rmsprop", "rho": 0.9}}}, "train.optimizer.rho: unknown key; did you mean 'alpha'?"),
        ({"train": {"optimizer": {"name": "rmsprop", "alpha": 1}}}, "train.optimizer.alpha: must be in [0, 1), got 1"),
        ({"train": {"optimizer": {"name": "lbfgs", "lr": 0.1}}}, "train.optimizer.lr: unknown key"),
        ({"train": {"clip_norm": 1, "clip_value": 1}}, "train.clip_norm and train.clip_value: set one of them, not both"),
        ({"train": {"clipnorm": 1}}, "train.clipnorm: unknown key; did you mean 'clip_norm'?"),
        ({"train": {"clip_norm": 0}}, "train.clip_norm: must be > 0, got 0"),
        ({"train": {"l1": -0.1}}, "train.l1: must be >= 0, got -0.1"),
        ({"train": {"max_norm": 0}}, "train.max_norm: must be > 0, got 0"),
        ({"train": {"max_seconds": -1}}, "train.max_seconds: must be > 0, got -1"),
        ({"train": {"optimizer": {"name": "lbfgs"}, "schedule": {"name": "step"}}},
         "train.schedule: does not apply to optimizer lbfgs"),
        ({"train": {"optimizer": {"name": "lbfgs"}, "clip_value": 1}}, "train.clip_value: does not apply to optimizer lbfgs"),
        ({"train": {"optimizer": {"name": "lbfgs"}}, "model": {"layers": [{"units": 4}, {"units": 4, "dropout": 0.5}]}},
         "model.layers[1].dropout: must be 0 with optimizer lbfgs, got 0.5"),
    ],
)
def test_mistakes_are_one_clear_error(raw, message):
    with pytest.raises(ConfigError) as info:
        parse_config(raw, source="c.yaml")
    assert str(info.value).startswith("c.yaml: ")
    assert message in str(info.value)
