"""Determinism (issue 5, promise 9): the same config and seed give
byte-identical weights on the same machine, through the real ``mlp train``;
the data split has its own random stream, so a dropout rate cannot move it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from mlpcli import prepare, runner
from mlpcli.builder import Trainer

CONFIG = """\
seed: 0
data: {dataset: iris, test_size: 0.2, val_size: 0.2}
model:
  layers:
    - {units: 16, activation: relu, dropout: 0.1}
train: {epochs: 4, batch_size: 16, optimizer: {name: adam, lr: 0.01}}
"""

RUNS = {
    "base": [],
    "again": [],
    "dropout": ["--set", "model.layers.0.dropout=0.3"],
    "seed": ["--set", "seed=1"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The four runs of RUNS, trained at once by `mlp train` subprocesses."""
    root = tmp_path_factory.mktemp("determinism")
    (root / "config.yaml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k != "MLP_DEBUG"}
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", "mlpcli", "train", "config.yaml", "--out", name, "--quiet", *extra],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name, extra in RUNS.items()
    }
    for name, process in processes.items():
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, (name, err)
    return {name: root / name for name in RUNS}


def arrays(run) -> dict[str, np.ndarray]:
    """Every array of weights.npz but meta (which holds the run's timings)."""
    with np.load(run / "weights.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files if name != "meta"}


def history(run) -> list[dict]:
    """metrics.jsonl without the timings."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "epoch_seconds"} for line in lines]


def splits(run) -> dict:
    """The data split the run's recorded config gives, as eval rebuilds it."""
    return prepare.prepare_data(yaml.safe_load((run / "config.yaml").read_text())).splits


def test_same_config_and_seed_give_byte_identical_weights(runs):
    base, again = arrays(runs["base"]), arrays(runs["again"])
    assert sorted(base) == sorted(again)
    assert len(base) >= 5  # two dense layers' weights and biases, the scaler
    for name in base:
        a, b = base[name], again[name]
        assert (a.dtype, a.shape) == (b.dtype, b.shape), name
        assert a.tobytes() == b.tobytes(), f"{name} differs between two runs of one config"
    assert history(runs["base"]) == history(runs["again"])
    run_json = [json.loads((runs[n] / "run.json").read_text()) for n in ("base", "again")]
    assert run_json[0]["config_sha256"] == run_json[1]["config_sha256"]
    assert run_json[0]["data_sha256"] == run_json[1]["data_sha256"]


def test_changing_dropout_keeps_the_data_split(runs):
    base, dropout = splits(runs["base"]), splits(runs["dropout"])
    assert sorted(base) == ["test", "train", "val"]
    for name in base:
        np.testing.assert_array_equal(dropout[name].X, base[name].X, err_msg=name)
        np.testing.assert_array_equal(dropout[name].y, base[name].y, err_msg=name)
    # ... while the dropout rate did change training, so the runs really differ.
    a, b = arrays(runs["base"]), arrays(runs["dropout"])
    assert any(a[name].tobytes() != b[name].tobytes() for name in a)


def test_changing_the_seed_changes_the_data_split(runs):
    base, reseeded = splits(runs["base"]), splits(runs["seed"])
    assert base["test"].X.shape == reseeded["test"].X.shape
    assert not np.array_equal(base["test"].X, reseeded["test"].X)
    assert not np.array_equal(base["train"].X, reseeded["train"].X)


def test_changing_dropout_keeps_the_initial_weights():
    """Initialisation draws from its own stream: the dropout rate does not move it."""
    config = yaml.safe_load(CONFIG)
    initial = []
    for rate in (0.1, 0.3):
        config["model"]["layers"][0]["dropout"] = rate
        cfg, _ = runner.resolve_config(config)
        resolved = cfg.to_dict()
        rngs = prepare.generators(resolved["seed"])
        prepared = prepare.prepare_data(resolved, rngs)
        initial.append(Trainer(cfg, resolved, prepared, rngs).model.network.parameters)
    assert sorted(initial[0]) == sorted(initial[1])
    for name in initial[0]:
        assert initial[0][name].tobytes() == initial[1][name].tobytes(), name
