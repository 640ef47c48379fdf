"""Regression tests for edge cases that were bugs: CSV target and header rules,
``mlp eval --data`` checks, ``mlp predict`` output and errors, finite config
numbers, run folder safety, bare ``mlp``, undefined metrics as JSON null,
bracket paths in ``--set``, generator options, early-stopping monitors,
metrics.jsonl lines and file modes.

Each test checks what a user sees: exit codes, the one ``Error:`` line on
stderr, files in the run folder, and the results a command prints.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

import mlpcli
from mlpcli import runner
from mlpcli.config import load_config

from .conftest import CONFIGS, assert_refused, run_mlp, snapshot

TINY_MODEL = {"layers": [{"units": 4}]}
TINY_TRAIN = {"epochs": 2, "batch_size": 8}


# --------------------------------------------------------------------------- helpers




def write_yaml(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity / -Infinity tokens."""

    def reject(token):
        raise ValueError(f"non-standard JSON constant {token!r}")

    return json.loads(text, parse_constant=reject)


def run_with_umask(*args, cwd, umask: int):
    """Run `mlp` with the given umask (this process's, put back after)."""
    old = os.umask(umask)
    try:
        return run_mlp(*args, cwd=cwd)
    finally:
        os.umask(old)


def csv_config(path: Path) -> dict:
    return {"data": {"dataset": str(path), "val_size": 0}, "model": TINY_MODEL, "train": TINY_TRAIN}


# --------------------------------------------------------------------------- shared models


@pytest.fixture(scope="module")
def iris(tmp_path_factory) -> Path:
    """weights.npz of a 2-epoch iris classifier (4 features, classes 0, 1, 2)."""
    out = tmp_path_factory.mktemp("iris") / "run"
    return mlpcli.train(CONFIGS / "iris.yaml", out, overrides=["train.epochs=2"]).run_dir / "weights.npz"


@pytest.fixture(scope="module")
def linnerud(tmp_path_factory) -> Path:
    """weights.npz of a 2-epoch regressor with 3 targets."""
    out = tmp_path_factory.mktemp("linnerud") / "run"
    config = {
        "data": {"dataset": "linnerud", "val_size": 0},
        "model": TINY_MODEL,
        "train": {"epochs": 2, "batch_size": 4},
    }
    result = mlpcli.train(config, out)
    assert result.model.network.n_outputs == 3
    return result.run_dir / "weights.npz"


# --------------------------------------------------------------------------- 1. CSV target and header rules


def _features(n=30, d=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).round(3)


@pytest.mark.parametrize("fmt", ["%.18e", "%.1f"], ids=["savetxt-default", "one-decimal"])
def test_csv_float_target_trains_as_regression(tmp_path, fmt):
    # Whole-number values written with a point (151.0, or 1.51e+02) are floats.
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X, y = X[:40, :3], y[:40]
    assert np.all(y == np.round(y)), "diabetes targets are whole numbers: the trap this test sets"
    path = tmp_path / "diabetes.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt=["%.18e"] * 3 + [fmt])
    if fmt == "%.1f":
        assert path.read_text().splitlines()[0].endswith(f",{y[0]:.1f}")

    model = mlpcli.train(csv_config(path), tmp_path / "run").model
    assert model.task == "regression"
    assert model.classes is None
    assert model.network.n_outputs == 1


def test_csv_whole_number_target_trains_as_classification(tmp_path):
    X = _features()
    y = np.arange(30) % 3
    path = tmp_path / "labels.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt=["%.3f"] * 3 + ["%d"])
    assert path.read_text().splitlines()[0].endswith(",0")

    model = mlpcli.train(csv_config(path), tmp_path / "run").model
    assert model.task == "classification"
    assert model.classes.tolist() == [0, 1, 2]


@pytest.mark.parametrize("target", ["float", "int"])
def test_csv_integer_looking_header_is_not_data(tmp_path, target):
    # pandas writes a DataFrame's default column names 0, 1, 2 as the header.
    X = _features()
    y = np.linspace(1, 30, 30) if target == "float" else np.arange(30) % 2
    lines = ["0,1,2,y"] + [
        ",".join(f"{v:.3f}" for v in row) + "," + (f"{t:.1f}" if target == "float" else str(t))
        for row, t in zip(X, y)
    ]
    path = tmp_path / "pandas.csv"
    path.write_text("\n".join(lines) + "\n")

    result = mlpcli.train(csv_config(path), tmp_path / "run")
    weights = result.run_dir / "weights.npz"
    assert result.model.n_features == 3
    assert runner.evaluate(weights, split="all")["n_samples"] == 30  # the header is not a sample
    if target == "float":
        assert result.model.task == "regression"
    else:
        assert result.model.task == "classification"
        assert result.model.classes.tolist() == [0, 1]


def _labelled_rows(n=30):
    X = _features(n, 2)
    labels = ["cat" if i % 2 else "dog" for i in range(n)]
    return [f"{a},{b},{lab}" for (a, b), lab in zip(X, labels)]


def test_csv_header_with_string_labels_is_classification(tmp_path):
    path = tmp_path / "pets.csv"
    path.write_text("\n".join(["f1,f2,label", "1.5,2.0,cat", "1.4,2.1,dog", *_labelled_rows()]) + "\n")

    result = mlpcli.train(csv_config(path), tmp_path / "run")
    assert result.model.task == "classification"
    assert result.model.classes.tolist() == ["cat", "dog"]
    assert result.model.n_features == 2
    assert runner.evaluate(result.run_dir / "weights.npz", split="all")["n_samples"] == 32


def test_csv_integer_looking_header_with_string_labels(tmp_path):
    path = tmp_path / "pets.csv"
    path.write_text("\n".join(["0,1,label", *_labelled_rows()]) + "\n")

    result = mlpcli.train(csv_config(path), tmp_path / "run")
    assert result.model.classes.tolist() == ["cat", "dog"]
    assert runner.evaluate(result.run_dir / "weights.npz", split="all")["n_samples"] == 30


def test_csv_without_header_is_read_whole(tmp_path):
    X = _features()
    y = np.arange(30) % 2
    path = tmp_path / "plain.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt=["%.3f"] * 3 + ["%d"])
    assert len(path.read_text().splitlines()) == 30

    result = mlpcli.train(csv_config(path), tmp_path / "run")
    assert result.model.n_features == 3
    assert runner.evaluate(result.run_dir / "weights.npz", split="all")["n_samples"] == 30


def test_csv_with_quoted_labels_and_pandas_feature_header(tmp_path):
    """Labels holding commas, quoted as mlp predict writes them; and a features-only
    CSV as pandas writes it (header 0, 1, ...) for mlp predict."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-2, 1, (20, 2)), rng.normal(2, 1, (20, 2))])
    labels = ["big, red"] * 20 + ["small"] * 20
    rows = [f'{a},{b},"{t}"' for (a, b), t in zip(X.tolist(), labels)]
    (tmp_path / "d.csv").write_text("x1,x2,size\n" + "\n".join(rows) + "\n")
    config = {**csv_config(tmp_path / "d.csv"), "train": {"epochs": 60, "optimizer": {"lr": 0.01}}}
    result = mlpcli.train(config, tmp_path / "run")
    assert result.model.classes.tolist() == ["big, red", "small"]
    (tmp_path / "new.csv").write_text("0,1\n-3.0,-3.0\n3.0,3.0\n")
    proc = run_mlp("predict", tmp_path / "run" / "weights.npz", tmp_path / "new.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(csv.reader(io.StringIO(proc.stdout))) == [["label"], ["big, red"], ["small"]]


# --------------------------------------------------------------------------- 2. mlp eval --data


def _iris_rows():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def test_eval_data_column_target_scores_like_flat_target(iris, tmp_path):
    X, y = _iris_rows()
    np.savez(tmp_path / "flat.npz", X=X, y=y)
    np.savez(tmp_path / "column.npz", X=X, y=y.reshape(-1, 1))

    results = {}
    for name in ("flat", "column"):
        r = run_mlp("eval", iris, "--data", f"{name}.npz", "--json", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        results[name] = strict_json(r.stdout)
    assert results["column"] == results["flat"]
    assert results["flat"]["n_samples"] == 150
    assert 0 <= results["flat"]["accuracy"] <= 1


@pytest.mark.parametrize("shape", ["flat", "column"])
def test_eval_data_wrong_target_count_for_regressor(linnerud, tmp_path, shape):
    from sklearn.datasets import load_linnerud

    X, Y = load_linnerud(return_X_y=True)
    y = Y[:, 0] if shape == "flat" else Y[:, :1]
    np.savez(tmp_path / "one_target.npz", X=X, y=y)

    r = run_mlp("eval", linnerud, "--data", "one_target.npz", cwd=tmp_path)
    line = assert_refused(r, "one_target.npz")
    numbers = re.findall(r"\d+", line.replace("one_target.npz", ""))
    assert sorted(numbers) == ["1", "3"], line  # both the file's and the model's count


def test_eval_data_npy_needs_npz_or_csv(iris, tmp_path):
    np.save(tmp_path / "X.npy", _iris_rows()[0])
    r = run_mlp("eval", iris, "--data", "X.npy", cwd=tmp_path)
    line = assert_refused(r, "X.npy", ".npz", ".csv")
    assert "X" in line and "y" in line


def test_eval_data_and_split_choose_one(iris, tmp_path):
    X, y = _iris_rows()
    np.savez(tmp_path / "f.npz", X=X, y=y)
    r = run_mlp("eval", iris, "--data", "f.npz", "--split", "val", cwd=tmp_path)
    assert_refused(r, "--data", "--split")


def test_eval_data_wrong_feature_count_names_the_file(iris, tmp_path):
    X, y = _iris_rows()
    np.savez(tmp_path / "three.npz", X=X[:, :3], y=y)
    r = run_mlp("eval", iris, "--data", "three.npz", cwd=tmp_path)
    line = assert_refused(r, "three.npz")
    assert sorted(re.findall(r"\d+", line.replace("three.npz", ""))) == ["3", "4"], line


# --------------------------------------------------------------------------- 3. mlp predict


@pytest.mark.parametrize("name", ["p.npy", "p.csv"])
def test_predict_output_in_missing_folder(iris, tmp_path, name):
    np.save(tmp_path / "X.npy", _iris_rows()[0][:5])
    target = f"missing_dir/{name}"
    r = run_mlp("predict", iris, "X.npy", "-o", target, cwd=tmp_path)
    assert_refused(r, target)
    assert not (tmp_path / "missing_dir").exists()


def test_predict_header_only_csv_has_no_rows(iris, tmp_path):
    (tmp_path / "empty.csv").write_text("sepal_length,sepal_width,petal_length,petal_width\n")
    r = run_mlp("predict", iris, "empty.csv", cwd=tmp_path)
    line = assert_refused(r, "empty.csv")
    assert re.search(r"\bno (data )?rows\b", line), line


@pytest.fixture(scope="module")
def comma_labels(tmp_path_factory):
    """A classifier trained from an .npz whose labels hold a comma, and its input rows."""
    root = tmp_path_factory.mktemp("comma")
    rng = np.random.default_rng(1)
    labels = np.array(["big, red", "small"] * 20)
    X = rng.normal(size=(40, 2)) + np.where(labels == "small", 3.0, -3.0)[:, None]
    np.savez(root / "data.npz", X=X, y=labels)
    np.save(root / "X.npy", X[:10])
    config = {"data": {"dataset": str(root / "data.npz"), "val_size": 0}, "model": TINY_MODEL, "train": TINY_TRAIN}
    result = mlpcli.train(config, root / "run")
    assert result.model.classes.tolist() == ["big, red", "small"]
    return root, result.run_dir / "weights.npz"


def test_predict_csv_quotes_labels_with_commas(comma_labels):
    root, weights = comma_labels
    r = run_mlp("predict", weights, "X.npy", cwd=root)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["label"]
    assert all(len(row) == 1 for row in rows)
    got = [row[0] for row in rows[1:]]
    assert len(got) == 10
    assert set(got) <= {"big, red", "small"}
    assert got == mlpcli.load(weights).predict(np.load(root / "X.npy")).tolist()


def test_predict_proba_header_parses_to_class_names(comma_labels):
    root, weights = comma_labels
    r = run_mlp("predict", weights, "X.npy", "--proba", cwd=root)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["big, red", "small"]
    assert len(rows) == 11
    proba = np.array(rows[1:], dtype=float)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)


# --------------------------------------------------------------------------- 4. finite config numbers


@pytest.mark.parametrize(
    "override, key",
    [
        ("train.optimizer.lr=.inf", "train.optimizer.lr"),
        ("train.weight_decay=.inf", "train.weight_decay"),
        ("train.optimizer.eps=.nan", "train.optimizer.eps"),
    ],
)
def test_non_finite_config_numbers_refused_before_writing(tmp_path, override, key):
    before = snapshot(tmp_path)
    r = run_mlp("train", CONFIGS / "iris.yaml", "--out", "run", "--set", override, cwd=tmp_path)
    line = assert_refused(r, key, "must be a finite number")
    assert not (tmp_path / "run").exists(), line
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- 5. run folder safety


def test_out_dot_keeps_users_config_yaml(tmp_path):
    # The user's own config is called config.yaml and they train into the current folder.
    config = tmp_path / "config.yaml"
    config.write_text("# my settings\ndata: {dataset: iris, val_size: 0}\nmodel: {layers: [{units: 4}]}\n"
                      "train: {epochs: 2}\n")
    before = snapshot(tmp_path)
    r = run_mlp("train", "config.yaml", "--out", ".", cwd=tmp_path)
    assert_refused(r, "config.yaml")
    assert snapshot(tmp_path) == before


def test_overwrite_with_diverging_run_leaves_no_stale_results(tmp_path):
    first = mlpcli.train(CONFIGS / "diabetes.yaml", tmp_path / "run", overrides=["train.epochs=2"])
    assert {"weights.npz", "metrics.json"} <= {p.name for p in first.run_dir.iterdir()}

    r = run_mlp(
        "train", CONFIGS / "diabetes.yaml", "--out", "run", "--overwrite", "--set", "train.epochs=2",
        "--set", "train.optimizer.name=sgd", "--set", "train.optimizer.lr=10", "--set", "data.scale=none",
        cwd=tmp_path,
    )
    assert_refused(r, "diverged", code=3)
    run = tmp_path / "run"
    names = {p.name for p in run.iterdir()}
    assert "weights.npz" not in names, names
    assert names <= {"config.yaml", "metrics.jsonl", "run.json", "metrics.json"}, names
    assert json.loads((run / "metrics.json").read_text())["status"] == "diverged"  # the new run's status
    # What is left is the new run's, not the first one's.
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["train"]["optimizer"] == {"name": "sgd", "lr": 10.0, "momentum": 0.0, "nesterov": False}
    assert config["data"]["scale"] == "none"
    if "metrics.jsonl" in names:
        for line in (run / "metrics.jsonl").read_text().splitlines():
            assert json.loads(line)["lr"] == 10.0


# --------------------------------------------------------------------------- 6. bare mlp


def test_bare_mlp_prints_help():
    r = run_mlp()
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout
    assert "Commands:" in r.stdout
    for command in ("train", "eval", "predict", "info"):
        assert re.search(rf"^\s+{command}\s", r.stdout, re.M), command
    assert "Error:" not in r.stdout + r.stderr
    assert r.stderr == ""


# --------------------------------------------------------------------------- 7. undefined metrics are null


@pytest.fixture(scope="module")
def one_sample_test(tmp_path_factory):
    """A regression whose test split is one sample, trained through the CLI with --json."""
    root = tmp_path_factory.mktemp("one")
    write_yaml(root / "one.yaml", {
        "data": {"dataset": "regression", "options": {"n_samples": 12, "n_features": 3},
                 "test_size": 0.05, "val_size": 0},
        "model": TINY_MODEL,
        "train": {"epochs": 2, "batch_size": 4},
    })
    r = run_mlp("train", "one.yaml", "--out", "run", "--json", cwd=root)
    return root, r


def test_one_sample_test_split_metrics_are_null(one_sample_test):
    root, r = one_sample_test
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # no UndefinedMetricWarning or other warning text

    printed = strict_json(r.stdout)
    assert printed["test"]["r2"] is None
    assert Path(printed["run_dir"]).name == "run"

    metrics = strict_json((root / "run" / "metrics.json").read_text())
    assert metrics["test"]["r2"] is None
    for name in ("loss", "mse", "mae"):
        assert isinstance(metrics["test"][name], float)
    for line in (root / "run" / "metrics.jsonl").read_text().splitlines():
        strict_json(line)


def test_one_sample_test_split_eval_json_is_strict(one_sample_test):
    root, _ = one_sample_test
    r = run_mlp("eval", "run/weights.npz", "--json", cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    result = strict_json(r.stdout)
    assert result["n_samples"] == 1  # the test split really is one sample
    assert result["r2"] is None


# --------------------------------------------------------------------------- 8. bracket paths in --set


def test_set_bracket_index_like_dotted(tmp_path):
    bracket = load_config(CONFIGS / "iris.yaml", ["model.layers[0].units=7"]).to_dict()
    dotted = load_config(CONFIGS / "iris.yaml", ["model.layers.0.units=7"]).to_dict()
    assert bracket == dotted

    r = run_mlp("train", CONFIGS / "iris.yaml", "--out", "run", "--set", "train.epochs=2",
                "--set", "model.layers[0].units=7", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert [layer["units"] for layer in config["model"]["layers"]] == [7, 16]
    with np.load(tmp_path / "run" / "weights.npz", allow_pickle=False) as weights:
        assert weights["dense.0.weight"].shape == (4, 7)


# --------------------------------------------------------------------------- 9. generator options


@pytest.mark.parametrize(
    "dataset, option",
    [("blobs", "return_centers"), ("regression", "coef")],
)
def test_generator_options_returning_a_third_array_are_refused(tmp_path, dataset, option):
    write_yaml(tmp_path / "gen.yaml", {
        "data": {"dataset": dataset, "options": {option: True}},
        "model": TINY_MODEL, "train": TINY_TRAIN,
    })
    before = snapshot(tmp_path)
    r = run_mlp("train", "gen.yaml", "--out", "run", cwd=tmp_path)
    assert_refused(r, f"data.options.{option}")
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- 10. early-stopping monitor


def test_monitor_not_logged_for_regression_is_refused(tmp_path):
    r = run_mlp("train", CONFIGS / "diabetes.yaml", "--out", "run",
                "--set", "train.early_stopping.monitor=val_accuracy", cwd=tmp_path)
    line = assert_refused(r, "train.early_stopping.monitor", "val_accuracy", "val_r2")
    assert not (tmp_path / "run").exists(), line


def test_regression_monitor_is_accepted(tmp_path):
    result = mlpcli.train(CONFIGS / "diabetes.yaml", tmp_path / "run",
                          overrides=["train.epochs=2", "train.early_stopping.monitor=val_mse"])
    assert result.metrics["epochs_run"] == 2
    assert all("val_mse" in logs for logs in result.history)
    config = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert config["train"]["early_stopping"]["monitor"] == "val_mse"


# --------------------------------------------------------------------------- 11, 12. metrics.jsonl and file modes


@pytest.fixture(scope="module")
def umask_022_run(tmp_path_factory):
    """A 3-epoch diabetes run folder, trained by the CLI under umask 022."""
    root = tmp_path_factory.mktemp("umask")
    r = run_with_umask("train", CONFIGS / "diabetes.yaml", "--out", "run", "--set", "train.epochs=3",
                       cwd=root, umask=0o022)
    assert r.returncode == 0, r.stderr
    return root / "run"


def test_metrics_jsonl_one_whole_line_per_epoch(umask_022_run):
    run = umask_022_run
    text = (run / "metrics.jsonl").read_text()
    assert text.endswith("\n")
    records = [strict_json(line) for line in text.splitlines()]
    epochs_run = json.loads((run / "metrics.json").read_text())["epochs_run"]
    assert epochs_run == 3
    assert [rec["epoch"] for rec in records] == [1, 2, 3]
    for rec in records:
        assert {"train_loss", "val_loss", "lr", "epoch_seconds"} <= set(rec)


def test_metrics_jsonl_grows_in_place_while_training(tmp_path):
    # `tail -f metrics.jsonl` follows a run: after each epoch the same file
    # (same inode, not a renamed copy) holds exactly one more whole line.
    from mlpcli.training import Callback

    path = tmp_path / "run" / "metrics.jsonl"
    seen = []

    class Watch(Callback):
        def on_epoch_end(self, epoch, logs):
            text = path.read_text()
            assert text.endswith("\n")
            seen.append((epoch, os.stat(path).st_ino, [strict_json(line)["epoch"] for line in text.splitlines()]))

    mlpcli.train(CONFIGS / "iris.yaml", tmp_path / "run", overrides=["train.epochs=3"], callbacks=[Watch()])
    assert [lines for _, _, lines in seen] == [[1], [1, 2], [1, 2, 3]]
    assert len({inode for _, inode, _ in seen}) == 1
    assert os.stat(path).st_ino == seen[0][1]


def test_run_folder_has_no_leftover_temporary_files(umask_022_run):
    names = sorted(p.name for p in umask_022_run.iterdir())
    assert [n for n in names if not n.startswith("checkpoint")] == [
        "config.yaml", "learning_curves.png", "metrics.json", "metrics.jsonl", "run.json", "weights.npz"
    ]
    assert not [n for n in names if n.startswith(".")]


def test_run_files_have_usual_mode_under_umask_022(umask_022_run):
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in umask_022_run.iterdir()}
    assert {"config.yaml", "metrics.json", "metrics.jsonl", "run.json", "weights.npz"} <= set(modes)
    assert modes == dict.fromkeys(modes, "0o644")  # checkpoints too


def test_predict_output_has_usual_mode_under_umask_022(iris, tmp_path):
    np.save(tmp_path / "X.npy", _iris_rows()[0][:5])
    for name in ("p.csv", "p.npy"):
        r = run_with_umask("predict", iris, "X.npy", "-o", name, cwd=tmp_path, umask=0o022)
        assert r.returncode == 0, r.stderr
        assert oct((tmp_path / name).stat().st_mode & 0o777) == "0o644", name


def test_run_files_follow_a_stricter_umask(tmp_path):
    old = os.umask(0o077)
    try:
        run = mlpcli.train(CONFIGS / "iris.yaml", tmp_path / "run", overrides=["train.epochs=2"]).run_dir
    finally:
        os.umask(old)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in run.iterdir()}
    assert set(modes.values()) == {"0o600"}, modes
