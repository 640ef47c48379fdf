"""Hostile config input (issue 13, items 13, 15, 16, 19, 21, 22): devices and
endless streams, control characters and bytes that are not UTF-8, nesting past
what the serialisers take, a closed standard input, odd --set indices,
non-finite data.options and colliding class_weight labels. Each is refused as
one ``Error:`` line naming the file (or --set / <stdin>), exit 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
import yaml

from mlpcli.config import MAX_DEPTH, Config, load_config, parse_config, parse_yaml
from mlpcli.config.loading import MAX_CONFIG_BYTES
from mlpcli.errors import ConfigError

from .conftest import assert_refused, run_mlp

LAYERED = "model:\n  layers: [{units: 4}]\n"


def write(path, text):
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# --------------------------------------------------------------------------- item 13: what is read, and how much


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_character_device_is_refused_without_reading_it():
    start = time.monotonic()
    result = run_mlp("validate", "/dev/zero")
    assert time.monotonic() - start < 30
    assert_refused(result, "/dev/zero", "character device")


def test_a_file_over_the_bound_is_refused(tmp_path):
    path = write(tmp_path / "big.yaml", b"seed: 0\n" + b"#" * MAX_CONFIG_BYTES + b"\n")
    assert_refused(run_mlp("validate", path), str(path), "larger than 4 MiB")


def test_standard_input_over_the_bound_is_refused():
    result = run_mlp("validate", "-", input=b"seed: 0\n" + b"#" * MAX_CONFIG_BYTES)
    assert_refused(result, "<stdin>", "larger than 4 MiB")


def _feed(fifo, data: bytes) -> threading.Thread:
    def writer():
        try:
            with open(fifo, "wb") as stream:
                stream.write(data)
        except BrokenPipeError:  # the reader stopped at the bound
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    return thread


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_is_read_like_a_file(tmp_path):
    # A process substitution, mlp validate <(make_config), is a pipe.
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    thread = _feed(fifo, b"train: {epochs: 3}\n")
    assert load_config(fifo).train.epochs == 3
    thread.join(10)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_an_endless_pipe_is_read_up_to_the_bound(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    thread = _feed(fifo, b"#" * (MAX_CONFIG_BYTES + 100_000))
    with pytest.raises(ConfigError, match="larger than 4 MiB"):
        load_config(fifo)
    thread.join(10)


# --------------------------------------------------------------------------- item 15: control characters, not UTF-8


@pytest.mark.parametrize(("text", "line", "code"), [
    (b"seed: 0 # bell \x07\n", 1, "U+0007"),
    (b"seed: 0\n# \x1b[31mred\n", 2, "U+001B"),
    (b"seed: 0\ntrain: {epochs: 3}\x00\n", 2, "U+0000"),
    (b'seed: 0\noutput: {dir: "a\x01b"}\n', 2, "U+0001"),
])
def test_a_control_character_names_file_line_and_character(tmp_path, text, line, code):
    path = write(tmp_path / "c.yaml", text)
    assert_refused(run_mlp("validate", path), f"{path}:{line}:", code, "control character")


def test_a_control_character_on_standard_input():
    assert_refused(run_mlp("validate", "-", input=b"seed: 0\n\n# \x07\n"), "<stdin>:3:", "U+0007")


def test_a_control_character_in_a_set_value(tmp_path):
    path = write(tmp_path / "c.yaml", "seed: 0\n")
    assert_refused(run_mlp("validate", path, "--set", "seed=1 # \x07"), "--set", "seed=1", "U+0007")


@pytest.mark.parametrize("where", ["file", "stdin"])
def test_bytes_that_are_not_utf8_name_the_line_and_byte(tmp_path, where):
    data = "seed: 0\n# café\n".encode("latin-1")
    if where == "file":
        path = write(tmp_path / "latin1.yaml", data)
        result, source = run_mlp("validate", path), str(path)
    else:
        result, source = run_mlp("validate", "-", input=data), "<stdin>"
    assert_refused(result, f"{source}:2:", "0xE9", "not UTF-8")


@pytest.mark.parametrize(("name", "code"), [
    ("\x01.csv", "U+0001"), ("a\nseed: 5\n.csv", "U+000A"), ("a\u2028b.csv", "U+2028"), ("a\x85b.csv", "U+0085"),
    ("\x1b[31m.csv", "U+001B"), ("tab\there.csv", "U+0009"),
])
def test_init_refuses_a_dataset_name_with_control_characters(name, code):
    # Printed into the config (and a comment line), it would make a config that does not read back.
    assert_refused(run_mlp("init", "--dataset", name), "--dataset", code)


@pytest.mark.parametrize("name", ["données.csv", "a b.csv", "x: y.csv", "#hash.csv", "'quoted'.csv", 'say "hi".npz',
                                  "nbsp\u00a0x.csv"])
def test_an_init_config_for_an_odd_dataset_name_validates_as_printed(name):
    printed = run_mlp("init", "--dataset", name)
    assert printed.returncode == 0, printed.stderr
    result = run_mlp("validate", "--json", "-", input=printed.stdout.encode())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["data"]["dataset"].endswith(name)


# --------------------------------------------------------------------------- item 16: depth


def _nested(depth: int) -> str:
    """data.options.a holding lists nested so the whole document is ``depth`` levels deep."""
    lists = depth - 4  # the top mapping, data, options, and the innermost scalar
    return "data:\n  dataset: moons\n  options:\n    a: " + "[" * lists + "1" + "]" * lists + "\n"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 450, 5000])
def test_yaml_nested_past_the_limit_is_refused_at_its_line(tmp_path, depth):
    path = write(tmp_path / "deep.yaml", _nested(depth))
    assert_refused(run_mlp("validate", path), f"{path}:4:", "nested too deeply")


def test_yaml_nested_to_the_limit_goes_through_the_whole_pipeline(tmp_path):
    path = write(tmp_path / "deep.yaml", _nested(MAX_DEPTH))
    as_yaml, as_json = run_mlp("validate", path), run_mlp("validate", "--json", path)
    assert as_yaml.returncode == as_json.returncode == 0, as_yaml.stderr + as_json.stderr
    options = json.loads(as_json.stdout)["data"]["options"]
    assert options == yaml.safe_load(_nested(MAX_DEPTH))["data"]["options"]
    assert parse_yaml(as_yaml.stdout, "printed")[0]["data"]["options"] == options


def test_the_limit_leaves_a_margin_under_the_serialisers():
    # What the resolved config goes through: pydantic's model_dump, yaml.safe_dump, json.
    value = 1
    for _ in range(MAX_DEPTH * 3):
        value = [value]
    data = {"data": {"dataset": "moons", "options": {"a": value}}}
    dumped = Config.model_validate(data).to_dict()  # model_dump raises past pydantic's limit (~255)
    yaml.safe_dump(dumped)
    json.dumps(dumped)


def test_a_deep_meta_config_is_refused_by_parse_config():
    value = 1
    for _ in range(400):
        value = {"a": value}
    with pytest.raises(ConfigError, match=r"w\.npz: meta\.config: nested too deeply"):
        parse_config({"data": {"dataset": "moons", "options": value}}, source="w.npz: meta.config")


def test_set_cannot_nest_past_the_limit(tmp_path):
    path = write(tmp_path / "c.yaml", "seed: 0\n")
    key = "data.options." + ".".join(["a"] * 300)
    assert_refused(run_mlp("validate", path, "--set", f"{key}=1"), str(path), "nested too deeply")


# --------------------------------------------------------------------------- item 19 (part): stdin closed, odd indices


def test_a_closed_standard_input_in_the_real_command():
    # `mlp validate - <&-`: the interpreter starts with descriptor 0 closed, so sys.stdin is None.
    result = subprocess.run(
        ["sh", "-c", f'exec "{sys.executable}" -m mlpcli validate - <&-'],
        capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "MLP_DEBUG"},
    )
    assert_refused(result, "<stdin>", "standard input is closed")


@pytest.mark.parametrize("key", ["model.layers.²", "model.layers.٣", "model.layers.¹.units", "model.layers[²].units"])
def test_a_set_index_that_is_not_ascii_digits_is_refused(tmp_path, key):
    path = write(tmp_path / "c.yaml", LAYERED)
    assert_refused(run_mlp("validate", path, "--set", f"{key}=5"), "--set", "model.layers")


# --------------------------------------------------------------------------- item 21: non-finite data.options


@pytest.mark.parametrize(("value", "key", "shown"), [
    (".inf", "data.options.noise", "inf"),
    ("-.inf", "data.options.noise", "-inf"),
    (".nan", "data.options.noise", "nan"),
    ("[0.1, .inf]", "data.options.noise[1]", "inf"),
    ("{deep: .nan}", "data.options.noise.deep", "nan"),
])
def test_a_non_finite_data_option_is_refused(tmp_path, value, key, shown):
    path = write(tmp_path / "c.yaml", f"data:\n  dataset: moons\n  options:\n    noise: {value}\n")
    assert_refused(run_mlp("validate", path), f"{path}:4:", key, f"must be a finite number, got {shown}")


def test_a_non_finite_data_option_from_set_is_refused(tmp_path):
    path = write(tmp_path / "c.yaml", "data: {dataset: moons}\n")
    result = run_mlp("validate", path, "--set", "data.options.noise=.inf")
    assert_refused(result, "(--set)", "data.options.noise", "must be a finite number, got inf")


def test_finite_data_options_still_pass(tmp_path):
    path = write(tmp_path / "c.yaml", "data:\n  dataset: moons\n  options: {noise: 0.25, n_samples: 100}\n")
    assert load_config(path).data.options == {"noise": 0.25, "n_samples": 100}


# --------------------------------------------------------------------------- item 22: colliding class_weight labels


@pytest.mark.parametrize(("mapping", "first", "second"), [
    ('{1: 1, "1": 2}', "1", "'1'"),
    ('{"0": 1, 0: 3}', "'0'", "0"),
    ('{true: 1, "True": 2}', "True", "'True'"),
])
def test_class_weight_labels_that_collide_as_text_are_refused(tmp_path, mapping, first, second):
    path = write(tmp_path / "c.yaml", f"train:\n  class_weight: {mapping}\n")
    line = assert_refused(run_mlp("validate", path), f"{path}:2:", "train.class_weight")
    assert f"labels {first} and {second} are the same class" in line


def test_distinct_class_weight_labels_still_pass(tmp_path):
    path = write(tmp_path / "c.yaml", 'train:\n  class_weight: {0: 1, "1": 2.5}\n')
    assert load_config(path).train.class_weight == {"0": 1.0, "1": 2.5}
