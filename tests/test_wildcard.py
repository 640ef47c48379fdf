"""Key paths with a wildcard index (issue 14, sweeps over layers):
``model.layers[*].dropout`` in --set (train, cv, validate), --grid and
--range / --random; one parser for every command (config.overrides); sweep
folder names and results.csv values readable, never Python reprs; resume and
`mlp plot --x` with the key as typed."""
import csv
import json

import pytest
import yaml

from mlpcli import sweep
from mlpcli.config import apply_overrides, expand_key, key_text, load_config, parse_key, set_value, value_text
from mlpcli.errors import ConfigError

from .conftest import assert_refused, run_mlp

LAYERS = (
    "data: {dataset: iris, val_size: 0.2}\n"
    "model:\n  layers:\n    - {units: 8}\n    - {units: 4, dropout: 0.1}\n"
    "train: {epochs: 2}\n"
)


def _config(tmp_path, text=LAYERS):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- the parser and applier


@pytest.mark.parametrize("text, path", [
    ("model.layers[*].dropout", ("model", "layers", "*", "dropout")),
    ("model.layers.*.dropout", ("model", "layers", "*", "dropout")),
    ("model.layers[0].units", ("model", "layers", 0, "units")),
    ("model.layers.1.units", ("model", "layers", 1, "units")),
    (" train.optimizer.lr ", ("train", "optimizer", "lr")),
])
def test_a_key_path_parses_to_its_parts_and_prints_back(text, path):
    assert parse_key(text) == path
    assert parse_key(key_text(path)) == path
    assert key_text(("model", "layers", "*", "dropout")) == "model.layers[*].dropout"


@pytest.mark.parametrize("text, shown", [
    ("model..units", "is not a key path"), ("model.layers[x].units", "[x] is not a list index"),
    ("model.layers[-1].units", "[-1] is not a list index"), ("model.layers[*", "is not a key path"), ("", "is not a key path"),
])
def test_a_malformed_key_path_is_refused_naming_it(text, shown):
    with pytest.raises(ConfigError, match=r"^--grid K: ") as exc:
        parse_key(text, "--grid K")
    assert shown in str(exc.value)


def test_set_value_sets_every_item_each_its_own_copy_and_returns_the_paths():
    raw = {"model": {"layers": [{"units": 8}, {"units": 4, "dropout": 0.1}]}}
    assert set_value(raw, "model.layers[*].dropout", 0.3) == [("model", "layers", 0, "dropout"), ("model", "layers", 1, "dropout")]
    assert [layer["dropout"] for layer in raw["model"]["layers"]] == [0.3, 0.3]
    set_value(raw, "model.layers[*].extra", {"a": 1})
    raw["model"]["layers"][0]["extra"]["a"] = 2
    assert raw["model"]["layers"][1]["extra"] == {"a": 1}  # not one shared mapping
    assert expand_key(raw, "model.layers[*].units") == [("model", "layers", 0, "units"), ("model", "layers", 1, "units")]
    assert expand_key(raw, "train.epochs") == [("train", "epochs")]


def test_apply_overrides_takes_the_wildcard_and_keeps_its_input():
    raw = {"model": {"layers": [{"units": 8}, {"units": 4}]}}
    out = apply_overrides(raw, ["model.layers[*].activation=tanh", "model.layers[1].activation=relu"])
    assert [layer["activation"] for layer in out["model"]["layers"]] == ["tanh", "relu"]  # in order, the last wins
    assert raw == {"model": {"layers": [{"units": 8}, {"units": 4}]}}


@pytest.mark.parametrize("value, text", [
    ([{"units": 64}, {"units": 32}], "[{units: 64}, {units: 32}]"), ({"a": [1, 2]}, "{a: [1, 2]}"),
    (True, "true"), (None, "null"), (0.2, "0.2"), ("relu", "relu"), ([], "[]"),
])
def test_value_text_is_yaml_flow_never_a_python_repr(value, text):
    assert value_text(value) == text
    assert yaml.safe_load(value_text(value)) == value


# --------------------------------------------------------------------------- --set in train, cv, validate


def test_set_wildcard_in_validate_train_and_cv(tmp_path):
    path = _config(tmp_path)
    cfg = load_config(path, ["model.layers[*].dropout=0.3"])
    assert [layer.dropout for layer in cfg.model.layers] == [0.3, 0.3]
    result = run_mlp("validate", path, "--set", "model.layers[*].dropout=0.3", "--json")
    assert [layer["dropout"] for layer in json.loads(result.stdout)["model"]["layers"]] == [0.3, 0.3]

    result = run_mlp("train", path, "--out", tmp_path / "run", "--set", "model.layers[*].activation=tanh", "--quiet")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert [layer["activation"] for layer in config["model"]["layers"]] == ["tanh", "tanh"]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["overrides"] == ["model.layers[*].activation=tanh"]

    result = run_mlp("cv", path, "--folds", "2", "--json", "--set", "model.layers[*].units=3")
    assert result.returncode == 0, result.stderr


def test_a_bad_value_through_the_wildcard_is_marked_set_at_each_layer(tmp_path):
    line = assert_refused(run_mlp("validate", _config(tmp_path), "--set", "model.layers[*].dropout=1.5"),
                          "(--set) model.layers[0].dropout: must be in [0, 1), got 1.5", "(--set) model.layers[1].dropout")
    assert "line " not in line and "c.yaml:4" not in line  # not at the file's line of the layer: the override set it


@pytest.mark.parametrize("config, key, shown", [
    ("data: {dataset: iris}\n", "model.layers[*].dropout",
     "--set model.layers[*].dropout: model.layers is not a list in"),  # the default layers are not in the file
    ("model: {layers: []}\n", "model.layers[*].dropout", "model.layers is an empty list in"),
    ("seed: 3\n", "seed[*]", "seed is 3 in"),
    ("data: {dataset: iris}\n", "train.optimizer[*].lr", "train.optimizer is not a list"),
    ("data: {dataset: iris, options: {}}\n", "data.options[*].a", "data.options is a mapping in"),
    ("data: {dataset: iris}\n", "model.layrs[*].units", "did you mean 'layers'"),
    (LAYERS, "model.layers[2].units", "model.layers is a list of 2 (indices 0 to 1); '2' is not an index"),
    (LAYERS, "model.layers[²].units", "[²] is not a list index"),
])
def test_a_wildcard_the_config_cannot_take_is_one_error_naming_the_key(tmp_path, config, key, shown):
    assert_refused(run_mlp("validate", _config(tmp_path, config), "--set", f"{key}=1"), shown)


# --------------------------------------------------------------------------- sweeps


def test_grid_over_every_layer_is_one_parameter_with_short_names():
    grid = sweep.parse_grid(["model.layers[*].dropout=0,0.2,0.4"])
    trials = sweep.expand(grid, [], 0, None, 0)
    assert [t.name for t in trials] == ["dropout=0", "dropout=0.2", "dropout=0.4"]
    assert trials[1].params == {"model.layers[*].dropout": 0.2}  # the key as typed
    assert trials[1].overrides == ("model.layers[*].dropout=0.2",)


def test_a_list_value_gets_a_short_readable_safe_name_and_a_hash_only_when_long():
    grid = sweep.parse_grid(["model.layers=[{units: 64}, {units: 32}],[{units: 16, activation: tanh}]"])
    names = [t.name for t in sweep.expand(grid, [], 0, None, 0)]
    assert names == ["layers=units-64+units-32", "layers=units-16_activation-tanh"]
    long = "[" + ", ".join(f"{{units: {n}, dropout: 0.25}}" for n in (512, 256, 128, 64)) + "]"
    [name, again] = [t.name for _ in range(2) for t in sweep.expand(sweep.parse_grid([f"model.layers={long}"]), [], 0, None, 0)]
    assert name.startswith("layers=units-512_dropout-0.25+") and len(name) <= len("layers=") + 40
    assert again == name  # stable: a re-run of the sweep finds the folder
    for n in names + [name]:
        assert not set(n) & set("/ []{}*'\"?:")


def test_the_list_is_set_before_the_wildcard_whatever_the_order_given():
    grid = sweep.parse_grid(["model.layers[*].dropout=0.2", "model.layers=[{units: 8}, {units: 4}]"])
    [trial] = sweep.expand(grid, [], 0, None, 0)
    assert trial.overrides == ("model.layers=[{units: 8}, {units: 4}]", "model.layers[*].dropout=0.2")
    assert trial.name == "dropout=0.2,layers=units-8+units-4"  # names keep the order given


def test_a_set_inside_a_swept_value_applies_to_each_value_instead_of_being_replaced(tmp_path):
    """--set model.layers[*].dropout=0.3 with --grid model.layers=...: every
    swept list gets the dropout (before, the swept list replaced it without a
    word); a --set on the same key as a sweep still loses to the trial's value."""
    result = run_mlp("sweep", _config(tmp_path), "--set", "model.layers[*].dropout=0.3", "--set", "train.epochs=1",
                     "--grid", "model.layers=[{units: 8}, {units: 4}],[{units: 6}]", "--grid", "train.epochs=2",
                     "--out", tmp_path / "s", "--quiet")
    assert result.returncode == 0, result.stderr
    for row in _csv(tmp_path / "s" / "results.csv"):
        config = yaml.safe_load((tmp_path / "s" / row["trial"] / "config.yaml").read_text())
        assert [layer["dropout"] for layer in config["model"]["layers"]] == [0.3] * len(config["model"]["layers"])
        assert config["train"]["epochs"] == 2
    from mlpcli.config import with_swept

    assert with_swept(["model.layers[0].units=5", "seed=1"], ["model.layers=[{units: 2}]", "seed=2"]) == [
        "seed=1", "model.layers=[{units: 2}]", "seed=2", "model.layers[0].units=5"]


def test_a_tune_set_inside_a_chosen_value_applies_to_it(tmp_path):
    pytest.importorskip("optuna")  # as tests/test_tune.py: the tune extra
    result = run_mlp("tune", _config(tmp_path), "--set", "model.layers[*].dropout=0.3", "--set", "data.val_size=0.2",
                     "--choice", "model.layers=[{units: 8}, {units: 4}],[{units: 6}]", "--trials", "2",
                     "--pruner", "none", "--out", tmp_path / "t", "--quiet")
    assert result.returncode == 0, result.stderr
    configs = [yaml.safe_load(p.read_text()) for p in (tmp_path / "t").glob("trial-*/config.yaml")]
    assert len(configs) == 2
    for config in configs:
        assert [layer["dropout"] for layer in config["model"]["layers"]] == [0.3] * len(config["model"]["layers"])


@pytest.mark.parametrize("items, shown", [
    (["model.layers[*].dropout=0,0.2", "model.layers[0].dropout=0.1"], "model.layers[0].dropout: also set by model.layers[*].dropout"),
    (["model.layers.0.units=4", "model.layers[0].units=5"], "model.layers[0].units: swept twice (model.layers.0.units)"),
])
def test_one_key_swept_two_ways_is_refused(items, shown):
    with pytest.raises(ConfigError) as exc:
        sweep.expand(sweep.parse_grid(items), [], 0, None, 0)
    assert str(exc.value).startswith(shown)


def test_random_ranges_take_the_wildcard(tmp_path):
    path = _config(tmp_path)
    result = run_mlp("sweep", path, "--random", "2", "--range", "model.layers[*].dropout=0:0.5", "--out", tmp_path / "r",
                     "--quiet", "--json")
    assert result.returncode == 0, result.stderr
    rows = _csv(tmp_path / "r" / "results.csv")
    for row in rows:
        dropout = float(row["model.layers[*].dropout"])
        assert row["trial"] == f"dropout={row['model.layers[*].dropout']}" and 0 <= dropout <= 0.5
        config = yaml.safe_load((tmp_path / "r" / row["trial"] / "config.yaml").read_text())
        assert [layer["dropout"] for layer in config["model"]["layers"]] == [dropout, dropout]


def test_tune_ranges_and_choices_take_the_wildcard(tmp_path):
    pytest.importorskip("optuna")  # as tests/test_tune.py: the tune extra
    result = run_mlp("tune", _config(tmp_path), "--set", "data.val_size=0.2", "--range", "model.layers[*].dropout=0:0.5",
                     "--choice", "model.layers[*].units=4,8", "--trials", "3", "--pruner", "none",
                     "--out", tmp_path / "t", "--quiet")
    assert result.returncode == 0, result.stderr
    rows = _csv(tmp_path / "t" / "results.csv")
    assert len(rows) == 3
    for row in rows:
        dropout, units = float(row["model.layers[*].dropout"]), int(row["model.layers[*].units"])
        assert 0 <= dropout <= 0.5 and units in (4, 8)
        config = yaml.safe_load((tmp_path / "t" / row["trial"] / "config.yaml").read_text())
        assert [(layer["dropout"], layer["units"]) for layer in config["model"]["layers"]] == [(dropout, units)] * 2


def test_a_sweep_wildcard_the_config_cannot_take_names_the_option_before_anything_is_written(tmp_path):
    path = _config(tmp_path, "data: {dataset: iris}\ntrain: {epochs: 2}\n")
    result = run_mlp("sweep", path, "--grid", "model.layers[*].dropout=0,0.2", "--out", tmp_path / "s")
    assert_refused(result, "--grid model.layers[*].dropout: model.layers is not a list in", "set the whole list")
    result = run_mlp("sweep", path, "--random", "2", "--range", "model.layers[*].dropout=0:0.5", "--out", tmp_path / "s")
    assert_refused(result, "--range model.layers[*].dropout: model.layers is not a list in")
    result = run_mlp("sweep", path, "--grid", "model.layers[x].dropout=0,0.2", "--out", tmp_path / "s")
    assert_refused(result, "model.layers[x].dropout", "[x] is not a list index")
    assert not (tmp_path / "s").exists()


def test_print_commands_quote_the_wildcard_and_list_values_as_typed(tmp_path):
    result = run_mlp("sweep", _config(tmp_path), "--grid", "model.layers[*].dropout=0,0.2",
                     "--grid", "model.layers=[{units: 8}]", "--out", tmp_path / "s", "--print-commands")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.endswith("--set 'model.layers=[{units: 8}]' --set 'model.layers[*].dropout=0'")
    assert "{'units'" not in result.stdout


def test_a_wildcard_sweep_records_readable_values_resumes_and_plots(tmp_path):
    path = _config(tmp_path)
    args = ["sweep", path, "--grid", "model.layers[*].dropout=0,0.2", "--grid",
            "model.layers=[{units: 8}],[{units: 8}, {units: 4, activation: tanh}]", "--out", tmp_path / "s", "--quiet"]
    result = run_mlp(*args)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "s").iterdir() if p.is_dir())
    assert names == ["dropout=0,layers=units-8", "dropout=0,layers=units-8+units-4_activation-tanh",
                     "dropout=0.2,layers=units-8", "dropout=0.2,layers=units-8+units-4_activation-tanh"]
    rows = _csv(tmp_path / "s" / "results.csv")
    assert [r["model.layers"] for r in rows] == ["[{units: 8}]", "[{units: 8}, {units: 4, activation: tanh}]"] * 2
    assert [r["model.layers[*].dropout"] for r in rows] == ["0", "0", "0.2", "0.2"]
    assert "{'units'" not in (tmp_path / "s" / "results.csv").read_text() + result.stdout  # nor in the leaderboard
    assert "[{units: 8}, {units: 4, activation: tanh}]" in result.stdout
    line = json.loads((tmp_path / "s" / "results.jsonl").read_text().splitlines()[-1])
    assert line["params"] == {"model.layers[*].dropout": 0.2, "model.layers": [{"units": 8}, {"units": 4, "activation": "tanh"}]}
    config = yaml.safe_load((tmp_path / "s" / names[3] / "config.yaml").read_text())
    assert [(layer["units"], layer["dropout"]) for layer in config["model"]["layers"]] == [(8, 0.2), (4, 0.2)]

    again = run_mlp(*args, "--json")  # the same sweep again: every trial found finished
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["skipped"] == 4 and summary["completed"] == 4
    assert sorted(p.name for p in (tmp_path / "s").iterdir() if p.is_dir()) == names

    result = run_mlp("plot", tmp_path / "s", "--x", "model.layers[*].dropout", "-o", tmp_path / "d.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d.png").read_bytes().startswith(b"\x89PNG")
