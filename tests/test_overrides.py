"""--set KEY=VALUE (issue 6): dotted paths with list indices, YAML values read
by the strict safe loader, validated like the file, unknown paths refused with
a suggestion, and the overrides recorded in the run folder."""
import json

import pytest
import yaml

import mlpcli
from mlpcli import crossval, runner
from mlpcli.config import apply_overrides, load_config
from mlpcli.errors import ConfigError

from .conftest import CONFIGS, assert_refused, run_mlp

TWO_LAYERS = "model:\n  layers:\n    - {units: 8, activation: tanh}\n    - {units: 4}\ntrain:\n  epochs: 3\n"
IRIS_FAST = {
    "data": {"dataset": "iris", "val_size": 0.0}, "model": {"layers": [{"units": 4}]}, "train": {"epochs": 2},
    "output": {"plots": False},  # quick: no matplotlib
}


def write(path, text):
    path.write_text(text)
    return path


def refused(path, overrides) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(path, overrides)
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_dotted_paths_with_list_indices_and_yaml_values(tmp_path):
    path = write(tmp_path / "c.yaml", TWO_LAYERS)
    cfg = load_config(path, [
        "model.layers.0.units=256", "model.layers[1].dropout=0.5", "train.optimizer.lr=3e-4",
        "train.optimizer.name=sgd", "train.early_stopping={patience: 2}", "data.val_size=0.2",
    ])
    assert [layer.units for layer in cfg.model.layers] == [256, 4]
    assert cfg.model.layers[0].activation == "tanh"  # the rest of the item is kept
    assert cfg.model.layers[1].dropout == 0.5
    assert cfg.train.optimizer.name == "sgd" and cfg.train.optimizer.lr == pytest.approx(3e-4)
    assert cfg.train.early_stopping.patience == 2


@pytest.mark.parametrize("override, expected", [
    ("train.optimiser.lr=0.1", "(--set): train.optimiser: unknown key; did you mean 'optimizer'?"),
    ("trian.epochs=3", "(--set): trian: unknown key; did you mean 'train'?"),
    ("model.layers.0.unit=3", "(--set): model.layers[0].unit: unknown key; did you mean 'units'?"),
    ("model.layer.0.units=3", "--set model.layer.0.units: model.layer: unknown key; did you mean 'layers'?"),
    ("train.optimizer.learning_rate=0.1", "(--set): train.optimizer.learning_rate: unknown key; did you mean 'lr'?"),
])
def test_an_unknown_path_is_refused_with_a_suggestion_and_says_set(tmp_path, override, expected):
    # Not at the line of the nearest key in the file: the key is only in the override.
    path = write(tmp_path / "c.yaml", TWO_LAYERS)
    message = refused(path, [override])
    assert expected in message, message
    assert f"{path}:" not in message


def test_an_index_past_the_end_of_a_list_names_the_valid_indices(tmp_path):
    path = write(tmp_path / "c.yaml", TWO_LAYERS)
    message = refused(path, ["model.layers.5.units=3"])
    assert "model.layers is a list of 2 (indices 0 to 1); '5' is not an index in it" in message
    assert "--set 'model.layers=[...]'" in message  # how to add a layer instead


def test_descending_into_a_plain_value_is_refused_not_replaced(tmp_path):
    # Replacing seed: 0 (or optimizer: sgd) by a mapping would drop the value without a word.
    path = write(tmp_path / "c.yaml", "seed: 4\n")
    assert "seed is 4 in" in refused(path, ["seed.x=1"])


def test_a_value_is_checked_like_the_file_and_several_problems_are_listed(tmp_path):
    path = write(tmp_path / "c.yaml", TWO_LAYERS)
    message = refused(path, ["train.epochs=0", "model.layers.1.dropout=1.5"])
    assert message == (
        f"{path}: 2 problems: (--set) model.layers[1].dropout: must be in [0, 1), got 1.5 | "
        "(--set) train.epochs: must be >= 1, got 0"
    )


def test_a_value_is_read_by_the_strict_safe_loader():
    with pytest.raises(ConfigError, match="tag !!python/object/apply:os.system is not allowed"):
        apply_overrides({}, ["data.options=!!python/object/apply:os.system ['touch hacked']"])
    with pytest.raises(ConfigError, match="duplicate key"):
        apply_overrides({}, ["data.options={a: 1, a: 2}"])
    assert apply_overrides({}, ["data.options={when: 2024-01-01, tol: 1e-3}"])["data"]["options"] == {
        "when": "2024-01-01", "tol": 0.001,  # a date stays text, 1e-3 is a number, as in a file
    }


def test_the_cli_refuses_an_unknown_path_before_writing_anything(tmp_path):
    result = run_mlp("train", CONFIGS / "iris.yaml", "--out", "run", "--set", "train.optimiser.lr=0.1", cwd=tmp_path)
    assert_refused(result, "(--set)", "train.optimiser", "did you mean 'optimizer'")
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- recorded in the run folder


def test_the_run_folder_records_the_overrides(tmp_path):
    overrides = ["train.epochs=2", "model.layers[0].units=5", "train.optimizer.lr=3e-3"]
    run = mlpcli.train(IRIS_FAST, tmp_path / "run", overrides=overrides).run_dir
    assert json.loads((run / "run.json").read_text())["overrides"] == overrides
    text = (run / "config.yaml").read_text()
    assert text.splitlines()[:4] == [
        "# The resolved config, with these overrides applied (in this order):",
        "#   --set train.epochs=2", "#   --set model.layers[0].units=5", "#   --set train.optimizer.lr=3e-3",
    ]
    resolved = yaml.safe_load(text)  # the comments change nothing a reader sees
    assert resolved["model"]["layers"][0]["units"] == 5 and resolved["train"]["optimizer"]["lr"] == 0.003
    assert mlpcli.load(run / "weights.npz").config == resolved


def test_a_run_without_overrides_records_an_empty_list_and_no_header(tmp_path):
    run = mlpcli.train(IRIS_FAST, tmp_path / "run").run_dir
    assert json.loads((run / "run.json").read_text())["overrides"] == []
    assert (run / "config.yaml").read_text().startswith("seed: ")


def test_eval_and_resume_work_on_a_run_made_with_overrides(tmp_path):
    run = tmp_path / "run"
    full = mlpcli.train(IRIS_FAST, run, overrides=["train.epochs=3", "model.layers.0.units=6"])
    evaluated = runner.evaluate(run / "weights.npz")
    assert evaluated["accuracy"] == full.metrics["test"]["accuracy"]
    # Killed while writing its results: resume reads config.yaml (comments and all), checks its hash, finishes.
    for name in ("weights.npz", "metrics.json"):
        (run / name).unlink()
    resumed = runner.resume(run)
    assert resumed.metrics["test"] == full.metrics["test"]


def test_cross_validation_folds_record_the_overrides(tmp_path):
    crossval.cross_validate(IRIS_FAST, 2, overrides=["train.epochs=1"], out=tmp_path / "cv")
    for fold in ("fold-1", "fold-2"):
        assert json.loads((tmp_path / "cv" / fold / "run.json").read_text())["overrides"] == ["train.epochs=1"]


def test_train_reads_a_config_from_stdin(tmp_path, monkeypatch):
    import io

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(IRIS_FAST)))
    run = runner.train("-", overrides=["train.epochs=1"]).run_dir
    assert run.parent.name == "runs" and run.name.startswith("stdin-")  # named after standard input, not '-'
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 1
