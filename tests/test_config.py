"""mlpcli.config: the schema's defaults, its error messages, YAML loading and --set overrides.

Every message a user reads must name the key's full path and say what is
wrong with it; these tests pin the wording where DESIGN.md gives it.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlpcli.config import apply_overrides, load_config, parse_config, read_yaml
from mlpcli.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))



def error_of(raw) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_config(raw)
    return str(exc.value)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- defaults


def test_empty_config_fills_every_documented_key():
    d = parse_config({}).to_dict()
    assert set(d) == {"seed", "data", "model", "train", "output"}
    assert set(d["data"]) >= {"dataset", "options", "test_size", "val_size", "scale"}
    assert set(d["model"]) >= {"task", "layers"}
    assert set(d["train"]) >= {"epochs", "batch_size", "optimizer", "early_stopping"}
    assert set(d["train"]["optimizer"]) >= {"name", "lr"}
    assert set(d["output"]) == {"dir", "plots"}
    for layer in d["model"]["layers"]:
        assert set(layer) >= {"units", "activation", "dropout"}


def test_defaults_match_the_documented_values():
    d = parse_config({}).to_dict()
    assert d["seed"] == 0
    assert d["data"] == {
        "dataset": "digits", "options": {}, "test_size": 0.2, "val_size": 0.1, "scale": "standard",
        "target": None, "features": None, "impute": {"numeric": "mean", "categorical": "most_frequent"},
        "delimiter": "auto",
    }
    assert d["model"]["task"] == "auto"
    assert d["train"]["epochs"] == 50
    assert d["train"]["batch_size"] == 32
    assert d["train"]["optimizer"]["name"] == "adam"
    assert d["train"]["optimizer"]["lr"] == 0.001
    assert d["train"]["early_stopping"] is None
    assert d["output"]["dir"] is None


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"model": {"layers": [
            {"units": 8, "activation": "leaky_relu", "dropout": 0.5},
            {"units": 4, "activation": "gelu", "approximate": "tanh"},
            {"units": 2, "activation": "tanh"},
        ]}},
        {"train": {"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
                   "early_stopping": {"monitor": "val_accuracy", "patience": 3}}},
        {"data": {"dataset": "moons", "options": {"n_samples": 50, "noise": 0.1}, "val_size": 0.0}},
    ],
    ids=["defaults", "activations", "sgd-early-stopping", "generator"],
)
def test_to_dict_round_trips_through_parse_config_and_yaml(raw, tmp_path):
    resolved = parse_config(raw).to_dict()
    assert parse_config(resolved).to_dict() == resolved
    # What the run folder's config.yaml holds must load back to the same config.
    path = write(tmp_path / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    assert load_config(path).to_dict() == resolved


def test_empty_layers_list_is_a_linear_model():
    assert parse_config({"model": {"layers": []}}).to_dict()["model"]["layers"] == []


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_validate(path):
    resolved = load_config(path).to_dict()
    assert parse_config(resolved).to_dict() == resolved


def test_the_shipped_configs_are_there():
    assert {p.stem for p in CONFIGS} >= {"digits", "iris", "moons", "diabetes", "breast_cancer"}


# --------------------------------------------------------------------------- activation options


def test_leaky_relu_gets_pytorchs_default_slope():
    layer = parse_config({"model": {"layers": [{"units": 4, "activation": "leaky_relu"}]}}).to_dict()[
        "model"]["layers"][0]
    assert layer["negative_slope"] == 0.01
    assert "approximate" not in layer


def test_leaky_relu_keeps_an_explicit_slope():
    layer = parse_config(
        {"model": {"layers": [{"units": 4, "activation": "leaky_relu", "negative_slope": 0.2}]}}
    ).to_dict()["model"]["layers"][0]
    assert layer["negative_slope"] == 0.2


def test_gelu_gets_the_exact_form_by_default():
    layer = parse_config({"model": {"layers": [{"units": 4, "activation": "gelu"}]}}).to_dict()[
        "model"]["layers"][0]
    assert layer["approximate"] == "none"
    assert "negative_slope" not in layer


def test_relu_layer_carries_no_activation_options():
    layer = parse_config({"model": {"layers": [{"units": 4, "activation": "relu"}]}}).to_dict()[
        "model"]["layers"][0]
    assert set(layer) == {"units", "activation", "dropout", "batch_norm", "layer_norm"}


@pytest.mark.parametrize(
    "layer, words",
    [
        ({"units": 4, "activation": "relu", "negative_slope": 0.2}, ["model.layers[0]", "negative_slope", "leaky_relu"]),
        ({"units": 4, "activation": "tanh", "approximate": "tanh"}, ["model.layers[0]", "approximate", "gelu"]),
        ({"units": 4, "activation": "selu", "alpha": 1.5}, ["model.layers[0]", "alpha", "elu"]),
        ({"units": 4, "activation": "gelu", "beta": 2}, ["model.layers[0]", "beta", "softplus"]),
    ],
    ids=["slope-on-relu", "approximate-on-tanh", "alpha-on-selu", "beta-on-gelu"],
)
def test_activation_option_on_the_wrong_activation_is_refused(layer, words):
    message = error_of({"model": {"layers": [layer]}})
    for word in words:
        assert word in message


# --------------------------------------------------------------------------- error messages


def test_out_of_range_names_the_full_path_and_the_interval():
    message = error_of({"model": {"layers": [{"units": 8}, {"units": 4, "dropout": 1.5}]}})
    assert "model.layers[1].dropout: must be in [0, 1), got 1.5" in message


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"data": {"test_size": 0}}, "data.test_size: must be in (0, 1), got 0"),
        ({"data": {"val_size": 1}}, "data.val_size: must be in [0, 1), got 1"),
        ({"train": {"epochs": 0}}, "train.epochs: must be >= 1, got 0"),
        ({"seed": -1}, "seed: must be >= 0, got -1"),
        pytest.param({"train": {"optimizer": {"lr": -1}}}, "train.optimizer.lr: must be > 0, got -1",
                     id="adam-lr"),
        pytest.param({"train": {"optimizer": {"name": "sgd", "lr": 0}}}, "train.optimizer.lr: must be > 0, got 0",
                     id="sgd-lr"),
        pytest.param({"model": {"layers": [{"units": 0}]}}, "model.layers[0].units: must be >= 1, got 0",
                     id="units"),
    ],
)
def test_out_of_range_values(raw, expected):
    assert expected in error_of(raw)


def test_unknown_top_level_key_suggests_the_closest():
    message = error_of({"trian": {"epochs": 3}})
    assert "trian: unknown key; did you mean 'train'?" in message


def test_unknown_nested_key_suggests_the_closest():
    assert "train.epochz: unknown key; did you mean 'epochs'?" in error_of({"train": {"epochz": 3}})


def test_unknown_layer_key_suggests_units():
    message = error_of({"model": {"layers": [{"unit": 8}]}})
    assert "model.layers[0].unit: unknown key; did you mean 'units'?" in message


def test_unknown_optimizer_key_lists_the_valid_ones():
    message = error_of({"train": {"optimizer": {"learning_rate": 0.1}}})
    assert "train.optimizer.learning_rate: unknown key" in message
    assert "did you mean 'lr'?" in message.split("learning_rate", 1)[1]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"train": {"epochs": "ten"}}, "train.epochs: expected an integer, got 'ten'"),
        ({"train": {"batch_size": 1.5}}, "train.batch_size: expected an integer, got 1.5"),
        ({"train": {"shuffle": "maybe"}}, "train.shuffle: expected true or false, got 'maybe'"),
        ({"train": 3}, "train: expected a mapping, got 3"),
        pytest.param({"model": {"layers": "abc"}}, "model.layers: expected a list, got 'abc'",
                     id="layers-not-a-list"),
        pytest.param({"output": {"dir": 3}}, "output.dir: expected a string, got 3",
                     id="dir-not-a-string"),
    ],
)
def test_wrong_types(raw, expected):
    assert expected in error_of(raw)


@pytest.mark.parametrize(
    "raw", [{"train": {"epochs": True}}, {"train": {"weight_decay": True}}], ids=["epochs", "weight_decay"]
)
def test_a_boolean_is_not_a_number(raw):
    # YAML 1.1 reads `yes` / `on` as true: `epochs: yes` must not train one epoch.
    error_of(raw)


@pytest.mark.parametrize(
    "raw, words",
    [
        pytest.param({"model": {"layers": [{"units": 4, "activation": "relu6"}]}},
                     ["model.layers[0].activation", "'relu6'", "relu", "leaky_relu", "gelu", "tanh"],
                     id="activation"),
        pytest.param({"train": {"optimizer": {"name": "adamm"}}},
                     ["train.optimizer.name", "'adamm'", "did you mean 'adam'?", "sgd"],
                     id="optimizer"),
        pytest.param({"data": {"dataset": "digit"}},
                     ["data.dataset", "'digit'", "did you mean 'digits'?", "iris", ".npz"], id="dataset"),
        pytest.param({"data": {"scale": "standart"}},
                     ["data.scale", "'standart'", "did you mean 'standard'?", "minmax", "none"],
                     id="scale"),
        pytest.param({"model": {"init": "he"}},
                     ["model.init", "'he'", "he_normal", "glorot_uniform"], id="initializer"),
        pytest.param({"train": {"early_stopping": {"monitor": "val_acc"}}},
                     ["train.early_stopping.monitor", "did you mean 'val_accuracy'?"],
                     id="monitor"),
    ],
)
def test_unknown_names_suggest_or_list_the_valid_ones(raw, words):
    message = error_of(raw)
    for word in words:
        assert word in message


def test_several_errors_are_reported_together():
    message = error_of({"trian": {}, "train": {"epochs": 0}, "data": {"test_size": 0}})
    assert "trian: unknown key" in message
    assert "train.epochs: must be >= 1" in message
    assert "data.test_size: must be in (0, 1)" in message


@pytest.mark.parametrize("early_stopping", [{"monitor": "val_loss"}, {}], ids=["explicit", "default-monitor"])
def test_early_stopping_on_validation_needs_a_validation_split(early_stopping):
    message = error_of({"data": {"val_size": 0}, "train": {"early_stopping": early_stopping}})
    assert "train.early_stopping.monitor" in message
    assert "data.val_size" in message


def test_early_stopping_on_train_loss_needs_no_validation_split():
    cfg = parse_config({"data": {"val_size": 0}, "train": {"early_stopping": {"monitor": "train_loss"}}})
    assert cfg.train.early_stopping.monitor == "train_loss"


def test_monitor_of_the_other_task_is_refused_when_the_task_is_forced():
    message = error_of({"model": {"task": "regression"}, "train": {"early_stopping": {"monitor": "val_accuracy"}}})
    assert "train.early_stopping.monitor" in message and "regression" in message


@pytest.mark.parametrize("raw", [[1, 2], "hello", 3, None], ids=["list", "string", "int", "null"])
def test_top_level_must_be_a_mapping(raw):
    assert "expected a mapping" in error_of(raw)


def test_messages_from_a_file_name_the_file(tmp_path):
    path = write(tmp_path / "bad.yaml", "train:\n  epochs: 0\n")
    with pytest.raises(ConfigError, match="train.epochs") as exc:
        load_config(path)
    assert str(exc.value).startswith(str(path))


# --------------------------------------------------------------------------- YAML loading


def test_exponent_without_a_dot_is_a_float(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-3 as a string; the schema still takes it as a number.
    cfg = load_config(write(tmp_path / "c.yaml", "train:\n  optimizer: {lr: 1e-3}\n"))
    assert isinstance(cfg.train.optimizer.lr, float)
    assert cfg.train.optimizer.lr == 0.001


def test_exponent_without_a_dot_is_a_float_in_data_options(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", "data:\n  dataset: moons\n  options: {noise: 1e-1}\n"))
    assert cfg.data.options["noise"] == 0.1


@pytest.mark.parametrize(
    "text, where",
    [
        ("train:\n  epochs: 3\n bad: 1\n", "3:2"),
        ("train: {epochs: 3\n", "2:1"),
        ("train:\n\tepochs: 3\n", "2:1"),
    ],
    ids=["indentation", "unclosed-flow", "tab"],
)
def test_syntax_error_reports_file_line_and_column(tmp_path, text, where):
    path = write(tmp_path / "broken.yaml", text)
    with pytest.raises(ConfigError, match="invalid YAML") as exc:
        read_yaml(path)
    assert f"{path}:{where}:" in str(exc.value)


@pytest.mark.parametrize(
    "text, key, line",
    [
        ("train:\n  epochs: 3\n  epochs: 4\n", "epochs", 3),
        ("train:\n  epochs: 3\ntrain:\n  batch_size: 4\n", "train", 3),
    ],
    ids=["nested", "top-level"],
)
def test_duplicate_keys_are_refused(tmp_path, text, key, line):
    path = write(tmp_path / "dup.yaml", text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    message = str(exc.value)
    assert f"duplicate key {key!r}" in message
    assert f"{path}:{line}:" in message


@pytest.mark.parametrize(
    "template",
    [
        '!!python/object/apply:os.system ["touch {marker}"]\n',
        'train: !!python/object/apply:os.system ["touch {marker}"]\n',
        'data:\n  options:\n    noise: !!python/object/apply:os.system ["touch {marker}"]\n',
        'train: !!python/object/new:os.system ["touch {marker}"]\n',
        'train: !!python/name:os.system\n',
    ],
    ids=["top-level", "nested", "deep", "object-new", "name"],
)
def test_python_tags_are_refused_and_nothing_runs(tmp_path, template):
    marker = tmp_path / "hacked"
    path = write(tmp_path / "evil.yaml", template.format(marker=marker))
    with pytest.raises(ConfigError, match="python/") as exc:
        load_config(path)
    assert str(path) in str(exc.value)
    assert not marker.exists()


def test_the_python_tag_payload_would_run_under_an_unsafe_loader(tmp_path):
    # The control for the test above: the payload is live, so its absence of effect means something.
    marker = tmp_path / "hacked"
    yaml.unsafe_load(f'!!python/object/apply:os.system ["touch {marker}"]\n')
    assert marker.exists()


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"], ids=["empty", "newline", "comment", "document-marker"])
def test_empty_file_is_refused(tmp_path, text):
    # An empty document would train every default (digits); `{}` says that on purpose (issue 14).
    with pytest.raises(ConfigError, match="holds no config"):
        load_config(write(tmp_path / "empty.yaml", text))
    assert load_config(write(tmp_path / "all_defaults.yaml", "{}\n")).to_dict() == parse_config({}).to_dict()


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "hello\n", "42\n"], ids=["list", "string", "number"])
def test_non_mapping_file_is_refused(tmp_path, text):
    path = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError, match="expected a mapping") as exc:
        load_config(path)
    assert str(path) in str(exc.value)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="no such file") as exc:
        load_config(path)
    assert str(path) in str(exc.value)


def test_directory_is_not_a_config(tmp_path):
    with pytest.raises(ConfigError, match="directory") as exc:
        load_config(tmp_path)
    assert str(tmp_path) in str(exc.value)


def test_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("output: {dir: caf\xe9}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="cannot read") as exc:
        load_config(path)
    assert str(path) in str(exc.value)


# --------------------------------------------------------------------------- --set overrides

TWO_LAYERS = "model:\n  layers:\n    - {units: 8, activation: tanh}\n    - {units: 4}\n"


def test_override_dotted_path(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", "train: {epochs: 3}\n"), ["train.epochs=5", "seed=7"])
    assert cfg.train.epochs == 5 and cfg.seed == 7


def test_override_creates_missing_sections(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", ""), ["train.optimizer.name=sgd", "data.options.noise=0.3"])
    assert cfg.train.optimizer.name == "sgd"
    assert cfg.data.options == {"noise": 0.3}


def test_override_list_index(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", TWO_LAYERS), ["model.layers.0.units=256"])
    assert [layer.units for layer in cfg.model.layers] == [256, 4]
    assert cfg.model.layers[0].activation == "tanh"


def test_override_values_are_yaml_typed(tmp_path):
    path = write(tmp_path / "c.yaml", "train:\n  early_stopping: {patience: 3}\n")
    cfg = load_config(path, ["train.optimizer.lr=3e-4", "train.early_stopping=null", "train.shuffle=false"])
    assert isinstance(cfg.train.optimizer.lr, float) and cfg.train.optimizer.lr == 0.0003
    assert cfg.train.early_stopping is None
    assert cfg.train.shuffle is False


def test_override_a_whole_list_as_yaml(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", TWO_LAYERS), ["model.layers=[{units: 3}]"])
    assert [layer.units for layer in cfg.model.layers] == [3]


def test_apply_overrides_parses_values_and_keeps_its_input():
    raw = {"train": {"epochs": 3}}
    out = apply_overrides(raw, ["train.epochs=5", "train.shuffle=no", "output.dir=a=b", "data.options={n_samples: 9}"])
    assert raw == {"train": {"epochs": 3}}
    assert out["train"] == {"epochs": 5, "shuffle": False}
    assert out["output"]["dir"] == "a=b"  # only the first '=' separates key and value
    assert out["data"]["options"] == {"n_samples": 9}


def test_the_last_override_wins(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", ""), ["train.epochs=5", "train.epochs=7"])
    assert cfg.train.epochs == 7


@pytest.mark.parametrize("item", ["nokey", "=3", " =3"], ids=["no-equals", "no-key", "blank-key"])
def test_malformed_override(item):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, [item])


@pytest.mark.parametrize("index", ["5", "1", "x", "-1"])
def test_override_index_not_in_the_list(index):
    raw = {"model": {"layers": [{"units": 8}]}}
    with pytest.raises(ConfigError) as exc:
        apply_overrides(raw, [f"model.layers.{index}.units=3"])
    message = str(exc.value)
    assert "model.layers" in message and repr(index) in message


def test_override_value_that_is_not_yaml():
    with pytest.raises(ConfigError, match="train.optimizer.lr"):
        apply_overrides({}, ["train.optimizer.lr=[1"])


def test_override_of_an_unknown_key_is_refused_with_a_suggestion(tmp_path):
    path = write(tmp_path / "c.yaml", "")
    with pytest.raises(ConfigError, match=r"train\.epochz: unknown key; did you mean 'epochs'\?"):
        load_config(path, ["train.epochz=3"])


def test_override_of_an_unknown_layer_key_is_refused_with_a_suggestion(tmp_path):
    path = write(tmp_path / "c.yaml", TWO_LAYERS)
    with pytest.raises(ConfigError, match=r"model\.layers\[0\]\.unit: unknown key; did you mean 'units'\?"):
        load_config(path, ["model.layers.0.unit=3"])


def test_override_of_a_layer_the_file_does_not_list_is_a_config_error(tmp_path):
    # The default layers are not in the raw file, so the override cannot index them.
    path = write(tmp_path / "c.yaml", "")
    with pytest.raises(ConfigError, match=r"model\.layers is not a list .*set the whole list"):
        load_config(path, ["model.layers.0.units=256"])


def test_override_wrong_type_is_reported_by_validation(tmp_path):
    path = write(tmp_path / "c.yaml", "")
    with pytest.raises(ConfigError, match="train.epochs: expected an integer, got 'ten'"):
        load_config(path, ["train.epochs=ten"])


# --------------------------------------------------------------------------- line numbers, --set, hostile YAML


def test_a_problem_names_the_line_of_its_key(tmp_path):
    path = write(tmp_path / "bad.yaml", "seed: 0\nmodel:\n  layers:\n    - {units: 8}\n    - units: 4\n      dropout: 1.5\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value) == f"{path}:6: model.layers[1].dropout: must be in [0, 1), got 1.5"


def test_several_problems_are_one_line_top_to_bottom_with_their_lines(tmp_path):
    path = write(tmp_path / "bad.yaml", "train:\n  epochs: 0\ntrian: {}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, ["data.test_size=0"])
    message = str(exc.value)
    assert "\n" not in message
    assert message == (
        f"{path}: 3 problems: line 2: train.epochs: must be >= 1, got 0 | "
        "line 3: trian: unknown key; did you mean 'train'? | (--set) data.test_size: must be in (0, 1), got 0"
    )


def test_a_value_set_on_the_command_line_says_so_instead_of_a_line(tmp_path):
    path = write(tmp_path / "c.yaml", "train:\n  epochs: 3\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, ["train.epochs=0"])
    assert str(exc.value) == f"{path} (--set): train.epochs: must be >= 1, got 0"


def test_a_misspelt_required_key_is_one_problem_not_two(tmp_path):
    path = write(tmp_path / "c.yaml", "model:\n  layers:\n    - {unit: 8}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value) == f"{path}:3: model.layers[0].unit: unknown key; did you mean 'units'?"


@pytest.mark.parametrize("text, line, message", [
    ("train:\n  epochs: 5\n  schedule:\n    name: cosine\n    warmup_epochs: 9\n", 5,
     "train.schedule.warmup_epochs: must be < train.epochs (5), got 9"),
    ("model:\n  layers:\n    - units: 4\n    - units: 3\n      batch_norm: true\ntrain:\n  batch_size: 1\n", 5,
     "model.layers[1].batch_norm: needs train.batch_size >= 2 (the statistics of a one-row batch are undefined), "
     "got 1; or use layer_norm"),
    ("train:\n  loss: mse\n  huber_delta: 2\n", 3, "train.huber_delta: applies to train.loss 'huber' only, not 'mse'"),
])
def test_a_problem_across_keys_names_the_line_of_the_key_it_blames(tmp_path, text, line, message):
    # The check sees a whole section (or the whole config); the line is the blamed key's, not the section's.
    path = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value) == f"{path}:{line}: {message}"


@pytest.mark.parametrize("raw, expected", [
    ({"output": {"zzz": 1}}, "output.zzz: unknown key (valid keys here: dir, plots)"),
    ({"data": {"dataset": "t.csv", "features": []}}, "data.features: must list at least 1 item(s), got []"),
    ({"train": {"l1": True}}, "train.l1: expected a number, got true"),
    ({"model": {"layers": [{"units": 3, "alpha": 0.5}]}},
     "model.layers[0]: alpha applies to activation 'elu' only, not 'relu'"),
    ({"model": {"layers": [{"units": 3, "activation": "gelu", "approximate": "tan"}]}},
     "model.layers[0].approximate: must be one of none, tanh, got 'tan'; did you mean 'tanh'?"),
])
def test_message_wording(raw, expected):
    assert error_of(raw) == f"config: {expected}"


def test_importing_the_config_loads_no_heavy_library():
    # mlp validate / mlp init stay fast: scikit-learn and matplotlib load only where a command needs them.
    import subprocess
    import sys

    code = "import sys, mlpcli.config; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for heavy in ("sklearn", "matplotlib", "scipy", "pandas", "joblib"):
        assert f"'{heavy}'" not in loaded


def test_a_merge_key_may_be_overridden_without_a_duplicate_error(tmp_path):
    text = "model:\n  layers:\n    - &base {units: 4, activation: tanh}\n    - <<: *base\n      units: 8\n"
    cfg = load_config(write(tmp_path / "c.yaml", text))
    assert [(layer.units, layer.activation) for layer in cfg.model.layers] == [(4, "tanh"), (8, "tanh")]


def test_a_date_stays_text(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", "output:\n  dir: 2024-01-01\n"))
    assert cfg.output.dir == "2024-01-01"


@pytest.mark.parametrize(
    "text, words",
    [
        ("seed: !!binary aGk=\n", ["c.yaml:1:7", "tag !!binary is not allowed"]),
        ("seed: !custom 1\n", ["tag !custom is not allowed"]),
        ("data: &a {options: *a}\n", ["recursive structure"]),
        ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
            f"{b}: &{b} [{', '.join([f'*{p}'] * 10)}]\n" for p, b in zip("abcde", "bcdef")),
         ["aliases expand to more than 100000 values"]),
    ],
    ids=["binary", "local-tag", "recursive-alias", "alias-bomb"],
)
def test_hostile_yaml_is_refused_before_anything_is_built(tmp_path, text, words):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path / "c.yaml", text))
    for word in words:
        assert word in str(exc.value)


def test_a_modest_alias_is_fine(tmp_path):
    text = "x: &layer {units: 4}\n"
    assert read_yaml(write(tmp_path / "c.yaml", text + "y: [*layer, *layer]\n"))["y"] == [{"units": 4}] * 2


def test_an_alias_bomb_in_a_set_value_is_refused():
    value = "[" + ", ".join(["[" + ", ".join(["lol"] * 400) + "]"] * 2) + "]"
    assert apply_overrides({}, [f"data.options={{n: {value}}}"])  # large but plain: fine
    bomb = "&a [" + ", ".join(["x"] * 400) + "]"
    with pytest.raises(ConfigError, match="--set"):
        apply_overrides({}, ["data.options=" + "{a: " + bomb + ", b: [" + ", ".join(["*a"] * 400) + "]}"])
