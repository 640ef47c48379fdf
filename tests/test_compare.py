"""`mlp compare` and `mlp diff` (issue 6): the config keys that differ
between runs, as dotted paths, and their final test metrics."""
import csv
import io
import json

import pytest

from mlpcli import compare, runner

from .conftest import assert_refused, run_mlp

BASE = {
    "seed": 2,
    "data": {"dataset": "iris", "val_size": 0.0},
    "model": {"layers": [{"units": 6}]},
    "train": {"epochs": 3, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}},
    "output": {"plots": False},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """a: the base; b: another lr and a second layer; c: a copy of a's config."""
    root = tmp_path_factory.mktemp("runs")
    runner.train(BASE, root / "a")
    runner.train(BASE, root / "b", overrides=["train.optimizer.lr=0.05", "model.layers=[{units: 6}, {units: 4}]"])
    runner.train(BASE, root / "c")
    return {name: root / name for name in "abc"}


def test_flatten_gives_dotted_paths_with_layer_indices():
    flat = compare.flatten({"model": {"layers": [{"units": 3}, {"units": 4}]}, "data": {"features": ["x", "y"]}})
    assert flat == {"model.layers.0.units": 3, "model.layers.1.units": 4, "data.features": ["x", "y"]}


def test_compare_json_holds_the_differing_keys_and_every_test_metric(runs):
    result = run_mlp("compare", runs["a"], runs["b"], "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["runs"] == [str(runs["a"]), str(runs["b"])]
    assert out["config"]["train.optimizer.lr"] == [0.01, 0.05]
    assert out["config"]["model.layers.1.units"] == [None, 4]  # a layer only b has
    assert "train.epochs" not in out["config"] and "seed" not in out["config"]
    for name in ("a", "b"):
        test = json.loads((runs[name] / "metrics.json").read_text())["test"]
        i = "ab".index(name)
        assert out["metrics"]["accuracy"][i] == test["accuracy"]
        assert out["metrics"]["loss"][i] == test["loss"]
    assert "confusion_matrix" not in out["metrics"]


def test_compare_table_and_csv(runs):
    table = run_mlp("compare", runs["a"], runs["b"], runs["c"])
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["a", "b", "c"]
    lr = next(line for line in lines if line.startswith("train.optimizer.lr"))
    assert lr.split() == ["train.optimizer.lr", "0.01", "0.05", "0.01"]
    assert any(line.startswith("test.accuracy") for line in lines)
    rows = list(csv.DictReader(io.StringIO(run_mlp("compare", runs["a"], runs["b"], "--csv").stdout)))
    assert [r["run"] for r in rows] == [str(runs["a"]), str(runs["b"])]
    assert [float(r["train.optimizer.lr"]) for r in rows] == [0.01, 0.05]
    accuracy = json.loads((runs["b"] / "metrics.json").read_text())["test"]["accuracy"]
    assert float(rows[1]["test.accuracy"]) == pytest.approx(accuracy, rel=1e-5)


def test_compare_of_identical_configs_says_so(runs):
    text = compare.table(compare.compare([runs["a"], runs["c"]]))
    assert "(configs identical)" in text


def test_diff_shows_old_new_and_each_metric_delta(runs):
    result = run_mlp("diff", runs["a"], runs["b"])
    assert result.returncode == 0, result.stderr
    assert "train.optimizer.lr" in result.stdout and "0.01 -> 0.05" in result.stdout
    assert "model.layers.1.units" in result.stdout and "null -> 4" in result.stdout
    out = json.loads(run_mlp("diff", runs["a"], runs["b"], "--json").stdout)
    a = json.loads((runs["a"] / "metrics.json").read_text())["test"]
    b = json.loads((runs["b"] / "metrics.json").read_text())["test"]
    for name in ("accuracy", "loss", "f1_macro"):
        assert out["metrics"][name] == {"old": a[name], "new": b[name], "delta": pytest.approx(b[name] - a[name])}
    assert out["config"]["train.optimizer.lr"] == {"old": 0.01, "new": 0.05}
    same = compare.diff(runs["a"], runs["c"])
    assert same["config"] == {} and all(d["delta"] == 0 for d in same["metrics"].values())
    assert "config: identical" in compare.diff_text(same)


def test_bad_run_folders_are_refused(runs, tmp_path):
    assert_refused(run_mlp("diff", runs["a"], tmp_path / "missing"), "missing", "not a run folder")
    (tmp_path / "empty").mkdir()
    assert_refused(run_mlp("compare", runs["a"], tmp_path / "empty"), "empty", "config.yaml")
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.yaml").write_text((runs["a"] / "config.yaml").read_text())
    assert_refused(run_mlp("diff", runs["a"], half), "half", "metrics.json")
    (half / "metrics.json").write_text("{not json")
    assert_refused(run_mlp("compare", runs["a"], half), "metrics.json", "not valid JSON")
    assert_refused(run_mlp("compare", runs["a"], runs["b"], "--csv", "--json"), "--csv", "--json")
