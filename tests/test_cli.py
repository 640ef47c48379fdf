"""End to end: the `mlp` command (its entry point, run in process) on every shipped config."""
import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from mlpcli.cli import cli

from .conftest import CONFIGS, SHIPPED, make_shipped_data, run_mlp

FAST = ["--set", "train.epochs=3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Every shipped config, trained for 3 epochs by `mlp train --json` (drawing its pictures: module scope)."""
    root = tmp_path_factory.mktemp("runs")
    make_shipped_data(root)
    runs = {}
    for name in SHIPPED:
        out = root / name
        proc = run_mlp("train", CONFIGS / f"{name}.yaml", "--out", out, "--json", *FAST, cwd=root)
        assert proc.returncode == 0, proc.stderr
        runs[name] = (out, proc)
    return runs


@pytest.mark.parametrize("name", SHIPPED)
def test_train_writes_the_run_folder(trained, name):
    out, proc = trained[name]
    names = sorted(p.name for p in out.iterdir())
    task = yaml.safe_load((out / "config.yaml").read_text())["model"]["task"]
    pictures = ["confusion_matrix.png", "learning_curves.png"] if task == "classification" else ["learning_curves.png"]
    assert [n for n in names if not n.startswith("checkpoint")] == sorted([
        "config.yaml", "metrics.json", "metrics.jsonl", "run.json", "weights.npz", *pictures
    ])
    result = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert result["run_dir"] == str(out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {k: v for k, v in result.items() if k not in ("run_dir", "task", "task_note")} == metrics
    assert result["task"] == task  # and, with model.task auto, how it was inferred (issue 14)
    assert metrics["epochs_run"] == 3 and metrics["status"] == "completed"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert {"train_loss", "lr", "epoch_seconds"} <= row.keys()
        assert row["epoch_seconds"] > 0
    # no progress bar or log lines when stderr is not a terminal
    assert proc.stderr == ""


@pytest.mark.parametrize("name", SHIPPED)
def test_eval_reproduces_the_test_metrics_exactly(trained, name):
    out, _ = trained[name]
    proc = run_mlp("eval", out / "weights.npz", "--json", cwd=out.parent.parent)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    saved = json.loads((out / "metrics.json").read_text())["test"]
    assert result.pop("split") == "test"
    assert result.pop("n_samples") > 0
    assert result == saved  # bit-for-bit: same data, same split, same code path


def test_eval_other_splits_and_files(trained, tmp_path):
    out, _ = trained["digits"]
    weights = out / "weights.npz"
    val = json.loads(run_mlp("eval", weights, "--split", "val", "--json").stdout)
    assert val["split"] == "val"
    assert val["accuracy"] == json.loads((out / "metrics.json").read_text())["val"]["accuracy"]
    everything = json.loads(run_mlp("eval", weights, "--split", "all", "--json").stdout)
    assert everything["n_samples"] == 1797
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    np.savez(tmp_path / "d.npz", X=X[:100], y=y[:100])
    on_file = json.loads(run_mlp("eval", weights, "--data", tmp_path / "d.npz", "--json").stdout)
    assert on_file.pop("split") == "file" and on_file.pop("n_samples") == 100
    import mlpcli

    model = mlpcli.load(weights)
    assert on_file == model.score(X[:100], y[:100])
    assert on_file["accuracy"] == np.mean(model.predict(X[:100]) == y[:100])


def test_eval_human_output_lists_every_metric(trained):
    out, _ = trained["diabetes"]
    proc = run_mlp("eval", out / "weights.npz")
    assert proc.returncode == 0
    assert proc.stdout.startswith("test split, ")
    for key in ("loss", "r2", "mse", "mae"):
        assert f"  {key} " in proc.stdout


def test_predict_labels_and_probabilities(trained, tmp_path):
    out, _ = trained["digits"]
    from sklearn.datasets import load_digits

    X, _ = load_digits(return_X_y=True)
    np.save(tmp_path / "X.npy", X[:7])
    np.savetxt(tmp_path / "X.csv", X[:7], delimiter=",", header=",".join(f"p{i}" for i in range(64)), comments="")
    labels = run_mlp("predict", out / "weights.npz", tmp_path / "X.npy")
    assert labels.returncode == 0, labels.stderr
    lines = labels.stdout.splitlines()
    assert lines[0] == "label" and len(lines) == 8
    proc = run_mlp("predict", out / "weights.npz", tmp_path / "X.csv", "--proba", "-o", tmp_path / "p.npy")
    assert proc.returncode == 0 and proc.stdout == ""
    p = np.load(tmp_path / "p.npy", allow_pickle=False)
    assert p.shape == (7, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    assert [str(c) for c in p.argmax(axis=1)] == lines[1:]
    csv = run_mlp("predict", out / "weights.npz", tmp_path / "X.npy", "--proba")
    header, *rows = csv.stdout.splitlines()
    assert header == ",".join(str(c) for c in range(10))
    np.testing.assert_allclose(np.array([r.split(",") for r in rows], float), p, rtol=1e-6)
    written = run_mlp("predict", out / "weights.npz", tmp_path / "X.npy", "-o", tmp_path / "labels.csv")
    assert written.returncode == 0 and (tmp_path / "labels.csv").read_text() == labels.stdout


def test_predict_regression_values(trained, tmp_path):
    out, _ = trained["diabetes"]
    np.save(tmp_path / "X.npy", np.zeros((3, 10)))
    proc = run_mlp("predict", out / "weights.npz", tmp_path / "X.npy")
    assert proc.returncode == 0
    header, *rows = proc.stdout.splitlines()
    assert header == "prediction" and len(rows) == 3 and all(np.isfinite(float(r)) for r in rows)


def test_info(trained):
    out, _ = trained["breast_cancer"]
    proc = run_mlp("info", out / "weights.npz", "--json")
    assert proc.returncode == 0
    d = json.loads(proc.stdout)
    assert d["task"] == "classification" and d["n_features"] == 30
    assert [(l["in"], l["out"]) for l in d["layers"]] == [(30, 64), (64, 32), (32, 1)]
    assert d["n_params"] == 30 * 64 + 64 + 64 * 32 + 32 + 32 + 1
    assert d["metrics"]["epochs_run"] == 3
    human = run_mlp("info", out / "weights.npz").stdout
    assert "total parameters: 4,097" in human and "dense.2" in human and "sigmoid" in human


def test_click_runner_train_and_version(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    args = ["train", str(CONFIGS / "iris.yaml"), "--set", "train.epochs=2", "--quiet"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    run_dir = result.output.split(":")[0]
    assert run_dir.startswith("runs/iris-")  # runs/<config name>-<timestamp>
    assert "test accuracy" in result.output
    second = runner.invoke(cli, args)
    assert second.exit_code == 0
    assert second.output.split(":")[0] != run_dir  # a fresh folder, never the same one
    assert runner.invoke(cli, ["--version"]).output.startswith("mlpcli, version ")


def test_set_overrides_reach_the_resolved_config(tmp_path):
    proc = run_mlp(
        "train", CONFIGS / "iris.yaml", "--out", tmp_path / "r", "--json",
        "--set", "train.epochs=2", "--set", "model.layers.0.units=7", "--set", "train.optimizer.lr=3e-4",
    )
    assert proc.returncode == 0, proc.stderr
    import yaml

    resolved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert resolved["model"]["layers"][0]["units"] == 7
    assert resolved["train"]["optimizer"]["lr"] == 0.0003
    assert resolved["model"]["task"] == "classification"  # 'auto' resolved
