"""`mlp cv`: k-fold cross-validation over every row, each fold trained as `mlp train` would."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mlpcli import crossval
from mlpcli.cli import cli
from mlpcli.errors import MLPError

from .conftest import assert_refused, run_mlp, snapshot

IRIS = "data: {dataset: iris, val_size: 0}\nmodel: {layers: [{units: 8}]}\ntrain: {epochs: 15, optimizer: {lr: 0.02}}\n"


def _cv(tmp_path, *args, config=IRIS):
    (tmp_path / "c.yaml").write_text(config)
    result = CliRunner().invoke(cli, ["cv", str(tmp_path / "c.yaml"), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_json_is_one_object_with_mean_and_std_of_every_metric(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    out = json.loads(_cv(tmp_path, "--folds", "3", "--json").stdout)
    assert snapshot(tmp_path) == before | {"c.yaml": (tmp_path / "c.yaml").read_bytes()}  # no run folder
    assert out["folds"] == 3 and out["task"] == "classification"
    assert out["n_samples"] == 150 and sum(out["fold_sizes"]) == 150 and out["fold_sizes"] == [50, 50, 50]
    assert set(out["metrics"]) >= {"loss", "accuracy", "balanced_accuracy", "f1_macro"}
    for name, m in out["metrics"].items():
        assert len(m["values"]) == 3, name
        assert m["mean"] == np.mean(m["values"]) and m["std"] == np.std(m["values"]), name
    assert out["metrics"]["accuracy"]["mean"] > 0.8  # iris is easy; the folds learned something
    assert len(set(out["metrics"]["loss"]["values"])) == 3  # three different held-out folds


def test_same_seed_same_numbers_other_seed_other_folds(tmp_path):
    first = _cv(tmp_path, "--folds", "3", "--json").stdout
    assert _cv(tmp_path, "--folds", "3", "--json").stdout == first
    other = _cv(tmp_path, "--folds", "3", "--json", "--set", "seed=1").stdout
    assert json.loads(other)["metrics"]["loss"]["values"] != json.loads(first)["metrics"]["loss"]["values"]


def test_table_lists_mean_and_std_per_metric(tmp_path):
    text = _cv(tmp_path, "--folds", "2").stdout
    assert text.splitlines()[0] == (  # iris: model.task auto, so the task says how it was chosen (issue 14)
        "2-fold cross-validation, 150 samples, classification, inferred: the target holds integer labels "
        "(to override, set model.task, e.g. --set model.task=regression)"
    )
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:]}
    assert set(rows) >= {"loss", "accuracy"} and all(len(v) == 2 for v in rows.values())


def test_out_writes_one_run_folder_per_fold_holding_its_scores(tmp_path):
    config = IRIS.replace("val_size: 0", "val_size: 0.2")  # each fold carves its validation split
    out = json.loads(_cv(tmp_path, "--folds", "2", "--json", "--out", str(tmp_path / "cv"), config=config).stdout)
    assert out["run_dirs"] == [str(tmp_path / "cv" / "fold-1"), str(tmp_path / "cv" / "fold-2")]
    for i, folder in enumerate(out["run_dirs"]):
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
        assert metrics["test"]["accuracy"] == out["metrics"]["accuracy"]["values"][i]
        assert "val" in metrics  # trained with a validation split, as mlp train would
        epochs = [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()]
        assert len(epochs) == 15 and "val_loss" in epochs[0]
    with pytest.raises(MLPError, match="fold-1: already holds results"):
        crossval.cross_validate(tmp_path / "c.yaml", 2, out=tmp_path / "cv")


def test_regression_uses_plain_k_fold(tmp_path):
    config = "data: {dataset: diabetes, val_size: 0}\nmodel: {layers: [{units: 8}]}\ntrain: {epochs: 5}\n"
    out = json.loads(_cv(tmp_path, "--folds", "4", "--json", config=config).stdout)
    assert out["task"] == "regression" and sorted(out["fold_sizes"]) == [110, 110, 111, 111]  # 442 rows
    assert {"r2", "mse", "mae"} <= set(out["metrics"])


def test_bad_folds_exit_2_with_one_line(tmp_path):
    (tmp_path / "c.yaml").write_text(IRIS)
    assert_refused(run_mlp("cv", "c.yaml", "--folds", "1", cwd=tmp_path), "--folds 1", "at least 2")
    # iris has 50 samples of each class: 51 stratified folds cannot each hold one.
    with pytest.raises(MLPError, match=r"--folds 51: class '0' has only 50 samples.*use --folds 50 or fewer"):
        crossval.cross_validate(tmp_path / "c.yaml", 51, out=tmp_path / "cv")
    with pytest.raises(MLPError, match=r"--folds 443: more folds than samples \(442\)"):
        crossval.cross_validate({"data": {"dataset": "diabetes"}}, 443)
    assert list(tmp_path.iterdir()) == [tmp_path / "c.yaml"]
