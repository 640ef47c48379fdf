"""mlp validate, mlp init, mlp schema, the shipped configs' schema line and
shell completion (issue 6)."""
import json
import os
import subprocess
import sys

import jsonschema
import pytest
import yaml

from mlpcli.config import OPTIMIZER_CONFIGS, SCHEDULE_CONFIGS, parse_config, parse_yaml
from mlpcli.config_tools import (
    DATASET_TASKS, SCHEMA_LINE, json_schema, schema_text, starter_config, undescribed_keys,
)
from mlpcli.data import DATASETS

from .conftest import CONFIGS, ROOT, SHIPPED, assert_refused, run_mlp

SCHEMA_FILE = ROOT / "schema" / "mlpcli.schema.json"


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(json_schema())


def mlp_piped(first: list, second: list, cwd=None):
    """`mlp FIRST | mlp SECOND`, as a shell runs it; returns the second's CompletedProcess."""
    command = [sys.executable, "-m", "mlpcli"]
    env = {k: v for k, v in os.environ.items() if k != "MLP_DEBUG"}
    producer = subprocess.Popen([*command, *first], stdout=subprocess.PIPE, env=env, cwd=cwd)
    try:
        return subprocess.run([*command, *second], stdin=producer.stdout, capture_output=True, text=True,
                              env=env, cwd=cwd, timeout=120)
    finally:
        producer.stdout.close()
        assert producer.wait(timeout=60) == 0


# --------------------------------------------------------------------------- mlp validate


def test_validate_prints_the_resolved_config_without_reading_the_data(tmp_path):
    # The data file does not exist: validate reads no data, so it is no problem here.
    (tmp_path / "c.yaml").write_text("data: {dataset: missing.csv}\nmodel:\n  layers: [{units: 8}]\n")
    result = run_mlp("validate", "c.yaml", "--set", "train.optimizer.name=sgd", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["data"]["dataset"] == str(tmp_path.resolve() / "missing.csv")  # recorded absolute, as train does
    assert resolved["model"]["task"] == "auto"  # resolved from the targets only when training
    assert resolved["train"]["optimizer"] == {"name": "sgd", "lr": 0.01, "momentum": 0.0, "nesterov": False}
    assert resolved["train"]["weight_decay"] == 0.0 and resolved["model"]["layers"][0]["activation"] == "relu"
    assert not any(tmp_path.glob("runs*"))


def test_validate_json_is_the_same_config_and_the_output_validates_again(tmp_path):
    yaml_out = run_mlp("validate", CONFIGS / "digits.yaml", cwd=tmp_path)
    json_out = run_mlp("validate", CONFIGS / "digits.yaml", "--json", cwd=tmp_path)
    assert yaml_out.returncode == json_out.returncode == 0
    assert json.loads(json_out.stdout) == yaml.safe_load(yaml_out.stdout)
    # The resolved config is itself a config, and resolving it again changes nothing.
    again = parse_config(yaml.safe_load(yaml_out.stdout)).to_dict()
    assert again == yaml.safe_load(yaml_out.stdout)


def test_validate_prints_every_problem_on_one_line_and_exits_2(tmp_path):
    (tmp_path / "bad.yaml").write_text("seed: 0\nmodel:\n  layers:\n    - {units: 8, dropout: 1.5}\ntrian: {}\n")
    result = run_mlp("validate", "bad.yaml", "--set", "train.optimiser.lr=0.1", cwd=tmp_path)
    line = assert_refused(result, "bad.yaml: 3 problems")
    assert line == (
        "Error: bad.yaml: 3 problems: line 4: model.layers[0].dropout: must be in [0, 1), got 1.5 | "
        "line 5: trian: unknown key; did you mean 'train'? | "
        "(--set) train.optimiser: unknown key; did you mean 'optimizer'?"
    )


# --------------------------------------------------------------------------- mlp init


def starter_cases():
    cases = [(name, None) for name in DATASETS]
    cases += [("digits", "classification"), ("data/table.csv", "regression"), ("x.npy", "multilabel"),
              ("openml:61", None), ("data/table.csv", None)]
    return cases


@pytest.mark.parametrize("dataset, task", starter_cases())
def test_init_writes_a_commented_config_that_validates(dataset, task, validator):
    text = starter_config(dataset, task)
    assert text.splitlines()[0] == SCHEMA_LINE
    raw, _ = parse_yaml(text, "init")
    cfg = parse_config(raw, source="mlp init")
    assert cfg.data.dataset == dataset
    assert cfg.model.task == (task or DATASET_TASKS.get(dataset, "auto"))
    assert not list(validator.iter_errors(raw))  # and the editor's schema agrees
    # Every section, each with its main keys, and a comment on every key line.
    assert set(raw) == {"seed", "data", "model", "train", "output"}
    for key in ("dataset", "test_size", "val_size", "scale"):
        assert key in raw["data"]
    for key in ("epochs", "batch_size", "optimizer", "early_stopping", "loss"):
        assert key in raw["train"]
    for line in text.splitlines():
        if ":" in line and not line.lstrip().startswith(("#", "-")) and not line.endswith(":"):
            assert " # " in line, line


def test_init_piped_into_validate_from_stdin():
    result = mlp_piped(["init", "--dataset", "wine"], ["validate", "-", "--json"])
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    assert resolved["data"]["dataset"] == "wine" and resolved["model"]["task"] == "classification"


def test_init_refuses_an_unknown_data_set_and_a_task_that_does_not_fit_it():
    assert_refused(run_mlp("init", "--dataset", "irs"), "unknown dataset 'irs'", "did you mean 'iris'?")
    assert_refused(run_mlp("init", "--dataset", "diabetes", "--task", "classification"),
                   "--task classification", "diabetes is a regression data set")


# --------------------------------------------------------------------------- mlp schema and the shipped configs


def test_the_committed_schema_is_what_mlp_schema_prints():
    result = run_mlp("schema")
    assert result.returncode == 0, result.stderr
    assert result.stdout == schema_text()
    assert SCHEMA_FILE.read_text() == result.stdout, (
        "schema/mlpcli.schema.json is stale: regenerate it with `mlp schema > schema/mlpcli.schema.json`"
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_points_at_the_schema_and_satisfies_it(name, validator):
    path = CONFIGS / f"{name}.yaml"
    first = path.read_text().splitlines()[0]
    assert first == SCHEMA_LINE
    assert (path.parent / first.split("$schema=")[1]).resolve() == SCHEMA_FILE.resolve()
    raw, _ = parse_yaml(path.read_text(), str(path))  # YAML 1.2 numbers, as an editor reads them
    assert not list(validator.iter_errors(raw))


@pytest.mark.parametrize("bad, where", [
    ({"trian": {}}, "trian"),
    ({"model": {"layers": [{"units": 8, "activation": "rellu"}]}}, "rellu"),
    ({"model": {"layers": [{"activation": "relu"}]}}, "units"),
    ({"train": {"optimizer": {"name": "sgd", "beta1": 0.9}}}, "optimizer"),
    ({"train": {"schedule": {"name": "cosine", "gamma": 0.5}}}, "schedule"),
    ({"train": {"early_stopping": {"monitor": "val_acc"}}}, "val_acc"),
    ({"data": {"test_size": 1.5}}, "1.5"),
])
def test_the_schema_catches_what_an_editor_should_underline(bad, where, validator):
    errors = list(validator.iter_errors(bad))
    assert errors and any(where in (e.message + json.dumps(list(e.absolute_path))) for e in errors), errors


def test_optimizer_and_schedule_are_discriminated_unions_by_name():
    train = json_schema()["$defs"]["TrainConfig"]["properties"]
    optimizer = train["optimizer"]
    schedule = train["schedule"]["anyOf"][0]  # or null: a constant schedule
    for union, configs in ((optimizer, OPTIMIZER_CONFIGS), (schedule, SCHEDULE_CONFIGS)):
        assert union["discriminator"]["propertyName"] == "name"
        assert set(union["discriminator"]["mapping"]) == set(configs)
        assert len(union["oneOf"]) == len(configs)


def test_every_key_has_a_description_for_the_editor():
    assert undescribed_keys() == []

    def walk(node, path):
        for key, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{path}{key}"
        for child in node.get("$defs", {}).values():
            walk(child, "")

    walk(json_schema(), "")


# --------------------------------------------------------------------------- shell completion


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F _mlp_completion mlp"),
                                           ("zsh", "compdef _mlp_completion mlp"),
                                           ("fish", "complete --no-files --command mlp")])
def test_click_prints_a_completion_script(shell, marker):
    result = run_mlp(env={"_MLP_COMPLETE": f"{shell}_source"})
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout


def test_completion_offers_the_commands_and_choices():
    env = {"_MLP_COMPLETE": "bash_complete", "COMP_WORDS": "mlp val", "COMP_CWORD": "1"}
    assert run_mlp(env=env).stdout.split() == ["plain,validate"]
    env.update(COMP_WORDS="mlp init --task ", COMP_CWORD="3")
    assert run_mlp(env=env).stdout.split() == ["plain,classification", "plain,regression", "plain,multilabel"]
