"""run.json: the command, config hash, data fingerprint, seed, start time and
environment (versions, BLAS, thread counts) of every run (issue 5, promise 9)."""
from __future__ import annotations

import json
import platform
import shlex
import sys
from datetime import datetime, timedelta, timezone
from importlib.metadata import version

import numpy as np
import pytest
import yaml

import mlpcli
from mlpcli import artifacts, data, run_folder
from mlpcli.errors import RunFolderError

from .conftest import CONFIGS, run_mlp_process

TINY = {
    "seed": 3,
    "data": {"dataset": "moons", "options": {"n_samples": 60, "noise": 0.2}, "val_size": 0.0},
    "model": {"layers": [{"units": 4}]},
    "train": {"epochs": 2, "batch_size": 16},
}


def _with(config: dict, path: str, value) -> dict:
    """A deep copy of config with the dotted key path set to value."""
    config = json.loads(json.dumps(config))
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return config


def _run_json(config: dict, out) -> dict:
    mlpcli.train(config, out)
    return json.loads((out / "run.json").read_text())


def test_run_json_from_the_cli_records_the_command_and_environment(tmp_path):
    args = ["train", CONFIGS / "iris.yaml", "--out", "run", "--set", "train.epochs=2", "--quiet"]
    before = datetime.now(timezone.utc)
    result = run_mlp_process(*args, cwd=tmp_path)  # a real process: the command is its sys.argv
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    record = json.loads((run / "run.json").read_text())

    assert record["command"] == "python -m mlpcli " + shlex.join(map(str, args))  # conftest runs `python -m mlpcli`
    started = datetime.fromisoformat(record["started"])
    assert started.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= started <= datetime.now(timezone.utc)
    assert record["seed"] == 0
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert record["config_sha256"] == artifacts.config_hash(resolved)
    X, y = data.load_dataset("iris", {}, 0)  # a loader: the same rows whatever the seed
    assert record["data_sha256"] == artifacts.data_fingerprint(X, y)

    assert record["python"] == platform.python_version()
    assert record["numpy"] == np.__version__
    assert record["scikit-learn"] == version("scikit-learn")
    assert record["mlpcli"] == mlpcli.__version__
    assert record["blas"]["name"]  # the BLAS NumPy was built with
    pools = record["threadpools"]
    assert any(pool["user_api"] == "blas" for pool in pools), pools
    assert all(isinstance(pool["num_threads"], int) and pool["num_threads"] >= 1 for pool in pools)
    assert record["platform"] and record["cpu_count"] >= 1


def test_python_api_run_says_so(tmp_path):
    assert _run_json(TINY, tmp_path / "a")["command"] == "python API"


def test_hashes_are_the_same_for_the_same_inputs_and_change_with_them(tmp_path):
    base = _run_json(TINY, tmp_path / "base")
    again = _run_json(TINY, tmp_path / "again")
    assert (again["config_sha256"], again["data_sha256"]) == (base["config_sha256"], base["data_sha256"])

    more_epochs = _run_json(_with(TINY, "train.epochs", 3), tmp_path / "epochs")
    assert more_epochs["config_sha256"] != base["config_sha256"]
    assert more_epochs["data_sha256"] == base["data_sha256"]  # same data, different training

    noisier = _run_json(_with(TINY, "data.options.noise", 0.3), tmp_path / "noise")
    assert noisier["data_sha256"] != base["data_sha256"]
    # A generator's rows come from the seed's data stream: another seed, other data.
    reseeded = _run_json(_with(TINY, "seed", 4), tmp_path / "seed")
    assert reseeded["seed"] == 4
    assert reseeded["data_sha256"] != base["data_sha256"]
    assert reseeded["config_sha256"] != base["config_sha256"]


def test_data_fingerprint_follows_the_file_contents(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    np.savez(tmp_path / "d.npz", X=X, y=y)
    config = _with(TINY, "data", {"dataset": str(tmp_path / "d.npz"), "val_size": 0.0})
    first = _run_json(config, tmp_path / "first")["data_sha256"]
    assert first == artifacts.data_fingerprint(X, y)

    X[7, 2] += 1e-9  # one value, in the last bits
    np.savez(tmp_path / "d.npz", X=X, y=y)
    assert _run_json(config, tmp_path / "second")["data_sha256"] != first


def test_data_fingerprint_covers_dtype_shape_and_targets():
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    y = np.array([0, 1] * 3)
    base = artifacts.data_fingerprint(X, y)
    assert artifacts.data_fingerprint(X.copy(), y.copy()) == base
    assert artifacts.data_fingerprint(np.asfortranarray(X), y) == base  # the values, not the memory layout
    assert artifacts.data_fingerprint(X.reshape(3, 4), y) != base
    assert artifacts.data_fingerprint(X.view(np.int64), y) != base  # same bytes, another dtype
    assert artifacts.data_fingerprint(X, y[::-1].copy()) != base


def test_config_hash_is_canonical_and_survives_config_yaml(tmp_path):
    mlpcli.train(TINY, tmp_path / "run")
    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    digest = artifacts.config_hash(resolved)
    assert digest == json.loads((tmp_path / "run" / "run.json").read_text())["config_sha256"]
    reordered = dict(reversed(list(resolved.items())))
    assert artifacts.config_hash(reordered) == digest
    changed = _with(resolved, "train.optimizer.lr", resolved["train"]["optimizer"]["lr"] * 2)
    assert artifacts.config_hash(changed) != digest


def test_run_json_alone_marks_a_folder_as_used(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    with pytest.raises(RunFolderError, match="run.json"):
        run_folder.new_run_dir(str(tmp_path / "run"), None, "x", overwrite=False)


def test_command_line_is_the_python_api_outside_the_cli(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/bin/mlp", "train", "a b.yaml"])
    assert artifacts.command_line() == "python API"  # no Click context: not the CLI
    import click

    with click.Context(click.Command("train")):
        assert artifacts.command_line() == "mlp train 'a b.yaml'"  # quoted as a shell would need it
