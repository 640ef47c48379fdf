"""What a newcomer trips over (issue 14): the task ``auto`` infers and says,
CSV delimiters, identifier targets, binary or empty configs, ``--set KEY VALUE``,
relative data paths, pipes and standard input, in-memory models."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from mlpcli import data
from mlpcli.errors import DataError

from .conftest import assert_refused, run_mlp

QUICK = ["--set", "train.epochs=2", "--set", "data.val_size=0", "--quiet"]


def write_csv(path: Path, X, y, header: str | None = "a,b,c,label", sep: str = ",", fmt: str = "{:.1f}") -> Path:
    lines = [header.replace(",", sep)] if header else []
    lines += [sep.join(f"{v:.4f}" for v in row) + sep + fmt.format(t) for row, t in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def config(path: Path, dataset, **data_keys) -> Path:
    extra = "".join(f", {k}: {json.dumps(v)}" for k, v in data_keys.items())
    path.write_text(f"data: {{dataset: {dataset}{extra}}}\nmodel: {{layers: [{{units: 4}}]}}\n")
    return path


@pytest.fixture
def features():
    X = np.random.default_rng(0).normal(size=(120, 3))
    return X, (X[:, 0] > 0).astype(float)


# --------------------------------------------------------------------------- 1. the task auto infers, and says


@pytest.mark.parametrize(("y", "task", "why"), [
    (np.array([0.0, 1.0] * 50), "classification", "2 distinct whole numbers in 100 rows"),
    (np.arange(200.0) % 3, "classification", "3 distinct whole numbers in 200 rows"),
    (np.arange(20.0) % 3, "regression", "too many for classes (at most 10% of the rows)"),  # 15%: few rows
    (np.arange(5000.0) % 300, "regression", "at most 5% of the rows"),  # 6% past 1,000 rows
    (np.arange(100.0) / 7, "regression", "fractional numbers"),
    (np.arange(100) % 4, "classification", "integer labels"),
    (np.array(["a", "b"] * 5), "classification", "text labels"),
    (np.zeros((10, 2)), "regression", "2 columns of numbers"),
    (np.eye(4, dtype=int)[np.arange(12) % 4][:, :3], "multilabel", "3 columns of 0/1 labels"),
])
def test_the_task_rule(y, task, why):
    assert data.explain_task(y) == (task, data.explain_task(y)[1]) and why in data.explain_task(y)[1]


def test_the_diabetes_target_stays_regression():
    from sklearn.datasets import load_diabetes

    y = load_diabetes().target  # whole numbers as floats: 214 distinct in 442 rows
    assert np.all(y == np.round(y)) and len(np.unique(y)) == 214
    assert data.explain_task(y)[0] == "regression"


def test_float_coded_labels_train_a_classifier_and_the_summary_says_so(tmp_path, features):
    cfg = config(tmp_path / "c.yaml", write_csv(tmp_path / "d.csv", *features))  # label written 0.0 / 1.0
    text = run_mlp("train", cfg, "-o", tmp_path / "a", *QUICK)
    assert text.returncode == 0, text.stderr
    assert "test accuracy" in text.stdout
    assert "; task classification, inferred: the target holds 2 distinct whole numbers in 120 rows " \
           "(to override, set model.task, e.g. --set model.task=regression)" in text.stdout
    assert len(text.stdout.splitlines()) == 1
    as_json = json.loads(run_mlp("train", cfg, "-o", tmp_path / "b", "--json", *QUICK).stdout)
    assert as_json["task"] == "classification" and "set model.task" in as_json["task_note"]
    forced = run_mlp("train", cfg, "-o", tmp_path / "c", "--json", *QUICK, "--set", "model.task=regression")
    forced = json.loads(forced.stdout)
    assert forced["task"] == "regression" and forced["task_note"] == "" and "r2" in forced["test"]


def test_cv_and_the_python_api_say_the_same_task(tmp_path, features):
    import mlpcli

    cfg = config(tmp_path / "c.yaml", write_csv(tmp_path / "d.csv", *features))
    cv = json.loads(run_mlp("cv", cfg, "--folds", "2", "--json", *QUICK).stdout)
    run = mlpcli.train(str(cfg), tmp_path / "api", overrides=["train.epochs=2", "data.val_size=0"])
    assert cv["task"] == run.model.task == "classification"
    assert cv["task_note"] == run.task_note and run.task_note.startswith("classification, inferred:")
    table = run_mlp("cv", cfg, "--folds", "2", *QUICK).stdout.splitlines()[0]
    assert table == f"2-fold cross-validation, 120 samples, {run.task_note}"


# --------------------------------------------------------------------------- 2. the column separator


def test_a_semicolon_csv_is_detected_and_predicted_on(tmp_path, features):
    X, y = features
    path = write_csv(tmp_path / "semi.csv", X, y.astype(int), sep=";", fmt="{}")
    result = run_mlp("train", config(tmp_path / "c.yaml", path), "-o", tmp_path / "run", "--json", *QUICK)
    assert result.returncode == 0, result.stderr  # was: X has no feature columns
    assert json.loads(result.stdout)["task"] == "classification"
    rows = write_csv(tmp_path / "rows.csv", X[:5], [], header=None, sep=";")
    rows.write_text("\n".join(";".join(f"{v:.4f}" for v in r) for r in X[:5]) + "\n")
    predicted = run_mlp("predict", tmp_path / "run" / "weights.npz", rows)
    assert predicted.returncode == 0, predicted.stderr
    assert len(predicted.stdout.splitlines()) == 6


@pytest.mark.parametrize("sep", ["\t", "|"])
def test_tab_and_bar_separated_files_are_detected(tmp_path, features, sep):
    X, y = features
    path = write_csv(tmp_path / "d.csv", X, y.astype(int), sep=sep, fmt="{}")
    assert run_mlp("train", config(tmp_path / "c.yaml", path), "-o", tmp_path / "run", *QUICK).returncode == 0


def test_an_explicit_delimiter_wins_and_a_wrong_one_is_named(tmp_path, features):
    X, y = features
    path = write_csv(tmp_path / "semi.csv", X, y.astype(int), sep=";", fmt="{}")
    wrong = run_mlp("train", config(tmp_path / "c.yaml", path, delimiter=","), "-o", tmp_path / "run", *QUICK)
    assert_refused(wrong, "semi.csv: reads as one column, split on ','", "it looks ';'-separated",
                   "set data.delimiter: ';'")
    assert not (tmp_path / "run").exists()
    right = run_mlp("train", config(tmp_path / "c.yaml", path, delimiter=";"), "-o", tmp_path / "run", *QUICK)
    assert right.returncode == 0, right.stderr


def test_an_ambiguous_file_says_it_looks_semicolon_separated(tmp_path):
    path = tmp_path / "eu.csv"  # ';' columns and decimal commas: every row splits evenly on both
    path.write_text("".join(f"{i},5;{i + 1},25;{i % 2}\n" for i in range(40)))
    result = run_mlp("train", config(tmp_path / "c.yaml", path), "-o", tmp_path / "run", *QUICK)
    assert_refused(result, "eu.csv: cannot tell its column separator", "it looks ';'-separated",
                   "set data.delimiter: ';'")


def test_the_delimiter_key_is_validated():
    result = run_mlp("validate", "-", input="data: {delimiter: ':'}\n")
    assert_refused(result, "data.delimiter")


# --------------------------------------------------------------------------- 3. an identifier as the target


def test_an_identifier_target_names_data_target_not_test_size(tmp_path, features):
    X, _ = features
    path = write_csv(tmp_path / "ids.csv", X, np.arange(len(X)) + 1000, header="a,b,c,customer_id", fmt="{}")
    result = run_mlp("train", config(tmp_path / "c.yaml", path), "-o", tmp_path / "run", *QUICK)
    line = assert_refused(result, "data.target: column 'customer_id'", "a different value in each of its 120 rows",
                          "identifier", "set data.target to the column to predict")
    assert "test_size" not in line
    headerless = write_csv(tmp_path / "bare.csv", X, np.arange(len(X)), header=None, fmt="{}")
    result = run_mlp("train", config(tmp_path / "c.yaml", headerless), "-o", tmp_path / "run", *QUICK)
    assert_refused(result, "data.target: the last column of", "identifier")
    np.savez(tmp_path / "ids.npz", X=X, y=np.arange(len(X)))
    assert_refused(run_mlp("train", config(tmp_path / "c.yaml", tmp_path / "ids.npz"), *QUICK),
                   "y holds a different label in each of its 120 rows")


def test_a_nearly_unique_target_names_data_target_not_test_size(tmp_path, features):
    """Codes with a few repeats are not every row's own, but still leave classes of
    one sample, which no data.test_size can split: the target is named."""
    X, _ = features
    codes = np.arange(len(X)) + 1000
    codes[1::10] = codes[::10]  # 12 codes seen twice, 96 once
    path = write_csv(tmp_path / "codes.csv", X, codes, header="a,b,c,code", fmt="{}")
    result = run_mlp("train", config(tmp_path / "c.yaml", path), "-o", tmp_path / "run", *QUICK)
    line = assert_refused(result, "data.target: 96 of its 108 classes have a single sample (1002, 1003, 1004, ...)",
                          "set data.target to the column to predict")
    assert "test_size" not in line and not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- 4. a binary file as the config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("bc") / "run"
    result = run_mlp("train", "-", "-o", run, *QUICK, input="data: {dataset: iris}\nmodel: {layers: [{units: 4}]}\n")
    assert result.returncode == 0, result.stderr
    return run


def test_a_weights_file_given_to_train_says_what_to_run(trained):
    weights = trained / "weights.npz"
    line = assert_refused(run_mlp("train", weights), f"{weights}: is a weights file (.npz), not a YAML config")
    assert f"`mlp eval {weights}`" in line and f"`mlp info {weights}`" in line
    assert_refused(run_mlp("validate", weights), "is a weights file")
    assert_refused(run_mlp("train", trained / "checkpoint.npz"), "is a checkpoint", f"`mlp resume {trained}`")


@pytest.mark.parametrize(("content", "what"), [
    (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'", "is a NumPy .npy array, not a YAML config"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a PNG image"),
    (bytes(range(256)) * 4, "is a binary file, not a YAML config"),
    (b"\x00\x00\x00\x18ftypmp42", "is a binary file"),
])
def test_any_binary_config_gets_one_clear_line(tmp_path, content, what):
    path = tmp_path / "thing.yaml"
    path.write_bytes(content)
    assert_refused(run_mlp("train", path), f"{path}: {what}")
    assert_refused(run_mlp("validate", "-", input=content), f"<stdin>: {what}")


# --------------------------------------------------------------------------- 5. an empty config


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing yet\n", "---\n", "# a\n---\n# b\n"])
def test_an_empty_config_is_refused(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    assert_refused(run_mlp("train", path, "-o", tmp_path / "run"), f"{path}: holds no config", "mlp init")
    assert not (tmp_path / "run").exists()
    assert_refused(run_mlp("validate", "-", input=text), "<stdin>: holds no config")


@pytest.mark.parametrize("command", [["sweep", "-", "--grid", "train.optimizer.lr=0.1,0.01"],
                                     ["tune", "-", "--range", "train.optimizer.lr=1e-3:1e-1"]])
def test_an_empty_config_on_stdin_is_refused_by_sweeps_and_tunes_too(tmp_path, command):
    """A sweep or tune reads stdin once, itself: the same rule as mlp train and mlp validate."""
    result = run_mlp(*command, "--out", tmp_path / "out", input="# nothing yet\n", cwd=tmp_path)
    assert_refused(result, "<stdin>: holds no config")
    assert not (tmp_path / "out").exists()


def test_every_default_on_purpose_is_accepted(tmp_path):
    assert run_mlp("validate", "-", input="{}\n").returncode == 0
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert run_mlp("validate", path, "--set", "data.dataset=iris").returncode == 0  # every key from --set


# --------------------------------------------------------------------------- 6. --set KEY VALUE


@pytest.mark.parametrize("command", [["train"], ["validate"], ["cv", "--folds", "2"]])
def test_a_space_instead_of_equals_suggests_key_equals_value(tmp_path, command):
    cfg = config(tmp_path / "c.yaml", "iris")
    result = run_mlp(*command, cfg, "--set", "train.optimizer.lr", "0.1")
    line = assert_refused(result, "--set train.optimizer.lr 0.1: write --set train.optimizer.lr=0.1")
    assert "unexpected extra argument" not in line


def test_a_space_in_a_sweep_grid_is_named_too(tmp_path):
    result = run_mlp("sweep", config(tmp_path / "c.yaml", "iris"), "--grid", "train.optimizer.lr", "0.1,0.01")
    assert_refused(result, "--grid train.optimizer.lr 0.1,0.01: write --grid train.optimizer.lr=0.1,0.01")


def test_a_space_in_a_range_is_named_too(tmp_path):
    result = run_mlp("sweep", config(tmp_path / "c.yaml", "iris"), "--random", "2", "--range", "train.optimizer.lr", "1e-4:1e-1:log")
    assert_refused(result, "--range train.optimizer.lr 1e-4:1e-1:log: write --range train.optimizer.lr=1e-4:1e-1:log")


def test_a_set_without_a_value_says_key_equals_value(tmp_path):
    result = run_mlp("validate", config(tmp_path / "c.yaml", "iris"), "--set", "train.optimizer.lr")
    assert_refused(result, "--set 'train.optimizer.lr': expected KEY=VALUE")


def test_other_extra_arguments_keep_clicks_message(tmp_path):
    result = run_mlp("validate", config(tmp_path / "c.yaml", "iris"), "stray")
    assert_refused(result, "Got unexpected extra argument (stray)")


# --------------------------------------------------------------------------- 7. relative data paths


def test_a_data_path_beside_the_config_is_named_with_the_path_to_use(tmp_path, features):
    work = tmp_path / "work"
    work.mkdir()
    write_csv(work / "houses.csv", *features)
    cfg = config(work / "houses.yaml", "houses.csv")
    result = run_mlp("train", "work/houses.yaml", "-o", tmp_path / "run", *QUICK, cwd=tmp_path)
    assert_refused(result, "data.dataset: houses.csv: no such file in the working directory",
                   "it exists beside the config, as work/houses.csv", "write dataset: work/houses.csv")
    assert_refused(run_mlp("validate", "work/houses.yaml", cwd=tmp_path), "as work/houses.csv")
    inside = run_mlp("train", cfg.name, "-o", tmp_path / "run", *QUICK, cwd=work)  # the rule: the working directory
    assert inside.returncode == 0, inside.stderr
    missing = config(work / "other.yaml", "nowhere.csv")
    assert_refused(run_mlp("train", missing, *QUICK, cwd=tmp_path), "nowhere.csv: no such file")


def test_a_npy_target_beside_the_config_is_named_too(tmp_path, features):
    work = tmp_path / "work"
    work.mkdir()
    np.save(tmp_path / "X.npy", features[0])
    np.save(work / "y.npy", features[1].astype(int))
    (work / "c.yaml").write_text(f"data: {{dataset: {tmp_path / 'X.npy'}, target: y.npy}}\n")
    assert_refused(run_mlp("train", "work/c.yaml", *QUICK, cwd=tmp_path),
                   "data.target: y.npy: no such file in the working directory", "as work/y.npy")


# --------------------------------------------------------------------------- 8. pipes and standard input


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    X = np.random.default_rng(1).normal(5, 1, size=(7, 4))
    folder = tmp_path_factory.mktemp("rows")
    np.save(folder / "rows.npy", X)
    np.savez(folder / "rows.npz", X=X)
    (folder / "rows.csv").write_text("\n".join(",".join(f"{v:.6f}" for v in r) for r in X) + "\n")
    return folder


@pytest.mark.parametrize("name", ["rows.csv", "rows.npy", "rows.npz"])
def test_predict_reads_standard_input(trained, rows, name):
    weights = trained / "weights.npz"
    expected = run_mlp("predict", weights, rows / name)
    assert expected.returncode == 0, expected.stderr
    piped = run_mlp("predict", weights, "-", input=(rows / name).read_bytes())
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == expected.stdout and len(piped.stdout.splitlines()) == 8


def _fifo(tmp_path, content: bytes) -> Path:
    """A named pipe a thread writes ``content`` into, as <(python make_rows.py) is."""
    path = tmp_path / "pipe"
    os.mkfifo(path)

    def feed():
        with open(path, "wb") as f:
            f.write(content)

    threading.Thread(target=feed, daemon=True).start()
    return path


@pytest.mark.parametrize("name", ["rows.csv", "rows.npy"])
def test_predict_reads_a_pipe(trained, rows, tmp_path, name):
    weights = trained / "weights.npz"
    expected = run_mlp("predict", weights, rows / name).stdout
    result = run_mlp("predict", weights, _fifo(tmp_path, (rows / name).read_bytes()))
    assert result.returncode == 0, result.stderr  # was: /dev/fd/63: no such file
    assert result.stdout == expected


def test_eval_data_reads_standard_input_and_a_pipe(trained, tmp_path):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    np.savez(tmp_path / "iris.npz", X=X, y=y)
    weights = trained / "weights.npz"
    on_file = run_mlp("eval", weights, "--data", tmp_path / "iris.npz", "--json")
    assert on_file.returncode == 0, on_file.stderr
    piped = run_mlp("eval", weights, "--data", "-", "--json", input=(tmp_path / "iris.npz").read_bytes())
    assert json.loads(piped.stdout) == json.loads(on_file.stdout)
    fifo = run_mlp("eval", weights, "--data", _fifo(tmp_path, (tmp_path / "iris.npz").read_bytes()), "--json")
    assert json.loads(fifo.stdout) == json.loads(on_file.stdout)


def test_an_empty_standard_input_is_named(trained):
    assert_refused(run_mlp("predict", trained / "weights.npz", "-", input=b""), "<stdin>: is empty")


# --------------------------------------------------------------------------- 9. a model trained in memory


def test_eval_of_an_estimators_weights_says_data_is_needed(tmp_path):
    from sklearn.datasets import load_iris

    from mlpcli.sklearn import IN_MEMORY_DATASET, MLPNetClassifier

    assert IN_MEMORY_DATASET == data.IN_MEMORY_DATASET  # what the estimator records is what eval recognises
    X, y = load_iris(return_X_y=True)
    path = MLPNetClassifier(hidden_layer_sizes=(4,), epochs=2).fit(X, y).to_weights(tmp_path / "w.npz")
    assert_refused(run_mlp("eval", path), "this model was trained in memory", "--data FILE")
    assert_refused(run_mlp("eval", path, "--split", "val"), "cannot rebuild its val split")
    np.savez(tmp_path / "iris.npz", X=X, y=y)
    assert run_mlp("eval", path, "--data", tmp_path / "iris.npz").returncode == 0


def test_refuse_in_memory_leaves_files_alone():
    data.refuse_in_memory("data/train.npz", "w.npz")
    with pytest.raises(DataError, match="trained in memory"):
        data.refuse_in_memory(data.IN_MEMORY_DATASET, "w.npz")
