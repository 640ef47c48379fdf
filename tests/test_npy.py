"""A pair of .npy files as data: data.dataset (features) and data.target (targets)."""
import json

import numpy as np
import pytest

from mlpcli import runner
from mlpcli.config import parse_config
from mlpcli.errors import ConfigError

from .conftest import assert_refused, run_mlp


def _pair(tmp_path, n=120):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    y = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")  # fixed-width strings: no pickle needed
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return X, y


def test_train_and_eval_from_a_npy_pair(tmp_path, monkeypatch):
    _pair(tmp_path)
    (tmp_path / "c.yaml").write_text(
        "data: {dataset: X.npy, target: y.npy, val_size: 0}\nmodel: {layers: [{units: 8}]}\n"
        "train: {epochs: 30, optimizer: {lr: 0.02}}\n"
    )
    trained = run_mlp("train", "c.yaml", "--out", "run", "--json", "--quiet", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["test"]["accuracy"] >= 0.85  # a linear boundary
    with np.load(tmp_path / "run" / "weights.npz", allow_pickle=False) as weights:
        meta = json.loads(str(weights["meta"]))
    assert meta["classes"] == ["down", "up"]
    assert meta["config"]["data"]["dataset"] == str(tmp_path / "X.npy")  # absolute, for eval from anywhere
    assert meta["config"]["data"]["target"] == str(tmp_path / "y.npy")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert runner.evaluate(tmp_path / "run" / "weights.npz")["accuracy"] == json.loads(trained.stdout)["test"]["accuracy"]


def test_pickled_or_mismatched_targets_are_refused(tmp_path):
    _pair(tmp_path)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 120, dtype=object), allow_pickle=True)
    np.save(tmp_path / "short.npy", np.zeros(119))
    (tmp_path / "c.yaml").write_text("data: {dataset: X.npy, target: y.npy}\ntrain: {epochs: 1}\n")
    assert_refused(run_mlp("train", "c.yaml", "--set", "data.target=objects.npy", cwd=tmp_path), "objects.npy", "pickled Python objects")
    assert_refused(run_mlp("train", "c.yaml", "--set", "data.target=short.npy", cwd=tmp_path), "X.npy has 120 rows", "short.npy has 119")
    assert_refused(run_mlp("train", "c.yaml", "--set", "data.target=gone.npy", cwd=tmp_path), "gone.npy: no such file")
    assert not (tmp_path / "runs").exists()


def test_config_pairs_the_two_files():
    with pytest.raises(ConfigError, match=r"data.target: a .npy data set \(X.npy\) needs its targets in a second .npy file"):
        parse_config({"data": {"dataset": "X.npy"}})
    with pytest.raises(ConfigError, match=r"data.target: 'y.npy' is a .npy file of targets"):
        parse_config({"data": {"dataset": "digits", "target": "y.npy"}})
    assert parse_config({"data": {"dataset": "X.npy", "target": "y.npy"}}).data.target == "y.npy"
