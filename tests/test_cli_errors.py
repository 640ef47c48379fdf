"""The bad-input contract, through ``mlp``'s entry point (in process; divergence in a real one).

DESIGN.md: bad usage, config or input file exits 2; training that diverges
exits 3; either way stderr holds one line starting ``Error:`` and never a
traceback (unless --debug), stdout stays empty, and nothing is written.
"""
from __future__ import annotations

import json
import shutil
import struct
import zipfile

import numpy as np
import pytest

from .conftest import CONFIGS, assert_refused, run_mlp, run_mlp_process, snapshot




def run_refused(tmp_path, args, *names, env=None, code=2) -> str:
    """Run mlp in tmp_path, check the refusal, and that tmp_path is byte-identical afterwards."""
    before = snapshot(tmp_path)
    result = run_mlp(*args, cwd=tmp_path, env=env)
    line = assert_refused(result, *names, code=code)
    assert snapshot(tmp_path) == before, "the refused command wrote files"
    return line


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny trained models (2 epochs): iris (classification, 4 features) and diabetes (regression)."""
    root = tmp_path_factory.mktemp("models")
    for name in ("iris", "diabetes"):
        result = run_mlp("train", CONFIGS / f"{name}.yaml", "--out", name, "--set", "train.epochs=2", "--quiet",
                         cwd=root)
        assert result.returncode == 0, result.stderr
    return {name: root / name for name in ("iris", "diabetes")}


# --------------------------------------------------------------------------- mlp train: bad configs

TINY = "model:\n  layers: [{units: 2}]\ntrain: {epochs: 1}\n"

CONFIG_CASES = [
    pytest.param("trian:\n  epochs: 2\n", ["trian", "'train'"], id="unknown-top-level-key"),
    pytest.param("train:\n  epochz: 2\n", ["train.epochz", "'epochs'"], id="misspelt-nested-key"),
    pytest.param("model:\n  layers:\n    - {unit: 8}\n", ["model.layers[0].unit", "'units'"],
                 id="misspelt-layer-key"),
    pytest.param('train:\n  epochs: "ten"\n', ["train.epochs", "'ten'"], id="wrong-type"),
    pytest.param("model:\n  layers:\n    - {units: 8, dropout: 1.5}\n",
                 ["model.layers[0].dropout", "1.5"], id="dropout-1.5"),
    pytest.param("data:\n  test_size: 0\n", ["data.test_size", "got 0"], id="test-size-0"),
    pytest.param("train:\n  epochs: 0\n", ["train.epochs", "got 0"], id="epochs-0"),
    pytest.param("train:\n  optimizer: {lr: -1}\n", ["train.optimizer.lr", "-1"],
                 id="lr-negative"),
    pytest.param("model:\n  layers:\n    - {units: 8, activation: relu6}\n",
                 ["model.layers[0].activation", "relu6"], id="unknown-activation"),
    pytest.param("train:\n  optimizer: {name: adamm}\n", ["train.optimizer.name", "adamm", "'adam'"],
                 id="unknown-optimizer"),
    pytest.param("data:\n  dataset: digit\n", ["data.dataset", "'digits'"], id="unknown-dataset"),
    pytest.param("data:\n  val_size: 0\ntrain:\n  early_stopping: {monitor: val_loss}\n",
                 ["train.early_stopping.monitor", "data.val_size"], id="early-stopping-without-validation"),
    pytest.param("trian: {}\ntrain: {epochs: 0}\n", ["trian", "train.epochs"], id="several-errors"),
    pytest.param("train:\n  epochs: 3\n bad: 1\n", ["config.yaml:3:2", "invalid YAML"], id="broken-yaml"),
    pytest.param("train:\n  epochs: 3\n  epochs: 4\n", ["duplicate key 'epochs'"], id="duplicate-key"),
    pytest.param('train: !!python/object/apply:os.system ["touch hacked"]\n', ["python/object/apply"],
                 id="python-tag"),
    pytest.param("- 1\n- 2\n", ["expected a mapping"], id="not-a-mapping"),
]


@pytest.mark.parametrize("text, names", CONFIG_CASES)
def test_bad_config(tmp_path, text, names):
    (tmp_path / "config.yaml").write_text(text)
    run_refused(tmp_path, ["train", "config.yaml"], "config.yaml", *names)
    assert not (tmp_path / "hacked").exists()


def test_bad_override(tmp_path):
    (tmp_path / "config.yaml").write_text(TINY)
    run_refused(tmp_path, ["train", "config.yaml", "--set", "train.epochz=3"], "train.epochz", "'epochs'")


def test_malformed_override(tmp_path):
    (tmp_path / "config.yaml").write_text(TINY)
    run_refused(tmp_path, ["train", "config.yaml", "--set", "nokey"], "nokey", "KEY=VALUE")


# --------------------------------------------------------------------------- mlp train: bad data


def _npz_without_xy(path):
    np.savez(path, A=np.zeros((10, 2)))


def _npz_length_mismatch(path):
    np.savez(path, X=np.zeros((30, 2)), y=np.arange(29) % 2)


DATA_CASES = [
    pytest.param("missing.npz", None, ["missing.npz", "no such file"], id="missing-npz"),
    pytest.param("noxy.npz", _npz_without_xy, ["noxy.npz", "'X'", "'y'"], id="npz-without-X-y"),
    pytest.param("short.npz", _npz_length_mismatch, ["short.npz", "30", "29"], id="npz-y-length"),
]


@pytest.mark.parametrize("dataset, make, names", DATA_CASES)
def test_bad_data_file(tmp_path, dataset, make, names):
    if make:
        make(tmp_path / dataset)
    (tmp_path / "config.yaml").write_text(f"data:\n  dataset: {dataset}\n  val_size: 0\n" + TINY)
    run_refused(tmp_path, ["train", "config.yaml"], *names)


def test_unknown_generator_option(tmp_path):
    (tmp_path / "config.yaml").write_text(
        "data:\n  dataset: moons\n  options: {n_samples: 50, noize: 0.2}\n" + TINY
    )
    run_refused(tmp_path, ["train", "config.yaml"], "data.options.noize", "'noise'")


# --------------------------------------------------------------------------- mlp train: usage


def test_missing_config_file(tmp_path):
    run_refused(tmp_path, ["train", "nope.yaml"], "nope.yaml")


def test_config_path_is_a_directory(tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    run_refused(tmp_path, ["train", "folder.yaml"], "folder.yaml", "directory")


def test_unknown_option(tmp_path):
    (tmp_path / "x.yaml").write_text(TINY)
    run_refused(tmp_path, ["train", "x.yaml", "--ot", "dir"], "--ot")


def test_unknown_command(tmp_path):
    run_refused(tmp_path, ["trian", "x.yaml"], "trian")


def test_out_folder_with_results_is_not_overwritten(tmp_path, models):
    shutil.copytree(models["iris"], tmp_path / "run")
    args = ["train", CONFIGS / "iris.yaml", "--out", "run", "--set", "train.epochs=2", "--quiet"]
    run_refused(tmp_path, args, "run", "--overwrite")

    result = run_mlp(*args, "--overwrite", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "weights.npz").is_file()
    assert not [p.name for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- mlp eval: bad weights files


def _text(path, models):
    path.write_text("these are not weights\n")


def _foreign_zip(path, models):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")


def _npz_without_meta(path, models):
    np.savez(path, a=np.zeros(3))


def _truncated_half(path, models):
    data = (models["iris"] / "weights.npz").read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncated_tail(path, models):
    path.write_bytes((models["iris"] / "weights.npz").read_bytes()[:-10])


def _format_version_99(path, models):
    with np.load(models["iris"] / "weights.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["meta"]))
    meta["format_version"] = 99
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


def _unknown_compression(path, models):
    # A damaged zip directory: the first member's compression method becomes 99.
    data = bytearray((models["iris"] / "weights.npz").read_bytes())
    at = data.index(b"PK\x01\x02")
    data[at + 10 : at + 12] = struct.pack("<H", 99)
    path.write_bytes(bytes(data))


WEIGHTS_CASES = [
    pytest.param(None, ["weights.npz", "no such file"], id="missing"),
    pytest.param(_text, ["weights.npz", "not a weights file"], id="text-file"),
    pytest.param(_foreign_zip, ["weights.npz", "not an mlpcli weights file"], id="foreign-zip"),
    pytest.param(_npz_without_meta, ["weights.npz", "meta"], id="npz-without-meta"),
    pytest.param(_truncated_half, ["weights.npz"], id="truncated-half"),
    pytest.param(_truncated_tail, ["weights.npz"], id="truncated-tail"),
    pytest.param(_format_version_99, ["weights.npz", "99"], id="format-version-99"),
    pytest.param(_unknown_compression, ["weights.npz"], id="unknown-compression"),
]


@pytest.mark.parametrize("make, names", WEIGHTS_CASES)
def test_eval_bad_weights(tmp_path, models, make, names):
    if make:
        make(tmp_path / "weights.npz", models)
    run_refused(tmp_path, ["eval", "weights.npz"], *names)


def test_eval_on_the_run_folder(tmp_path, models):
    shutil.copytree(models["iris"], tmp_path / "run")
    run_refused(tmp_path, ["eval", "run"], "run", "weights.npz")


# --------------------------------------------------------------------------- mlp predict


def test_predict_wrong_feature_count(tmp_path, models):
    np.savetxt(tmp_path / "x.csv", np.ones((3, 3)), delimiter=",", header="a,b,c", comments="")
    line = run_refused(tmp_path, ["predict", models["iris"] / "weights.npz", "x.csv"], "x.csv")
    rest = line.split("x.csv", 1)[1]
    assert "3" in rest and "4" in rest, line


def test_predict_missing_input(tmp_path, models):
    run_refused(tmp_path, ["predict", models["iris"] / "weights.npz", "nope.csv"], "nope.csv")


def test_predict_proba_on_a_regression_model(tmp_path, models):
    np.save(tmp_path / "x.npy", np.zeros((2, 10)))
    run_refused(tmp_path, ["predict", models["diabetes"] / "weights.npz", "x.npy", "--proba"], "--proba", "regression")


def test_predict_output_of_an_unknown_type(tmp_path, models):
    np.save(tmp_path / "x.npy", np.zeros((2, 4)))
    run_refused(tmp_path, ["predict", models["iris"] / "weights.npz", "x.npy", "-o", "out.txt"], "out.txt")


# --------------------------------------------------------------------------- --debug


@pytest.mark.parametrize(
    "flags, after, env, traceback",
    [(["--debug"], [], {}, True), ([], ["--debug"], {}, True),
     ([], [], {"MLP_DEBUG": "1"}, True), ([], [], {"MLP_DEBUG": "0"}, False)],
    ids=["--debug", "train-then---debug", "MLP_DEBUG=1", "MLP_DEBUG=0"],
)
def test_debug_adds_the_traceback(tmp_path, flags, after, env, traceback):
    (tmp_path / "config.yaml").write_text("train:\n  epochs: 0\n")
    result = run_mlp(*flags, "train", "config.yaml", *after, cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert ("Traceback" in result.stderr) is traceback, result.stderr
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert errors == [lines[-1]]
    assert "train.epochs" in errors[0]


# --------------------------------------------------------------------------- exit 3: divergence

DIVERGE = ["--set", "train.optimizer.name=sgd", "--set", "train.optimizer.lr=10", "--set", "train.epochs=3"]


def test_divergence_exits_3_with_one_error_line(tmp_path):
    # A real process: its exit status, and its stderr, where a fresh interpreter prints warnings.
    result = run_mlp_process("train", CONFIGS / "diabetes.yaml", "--out", "run", *DIVERGE, cwd=tmp_path)
    # Only the Error line: NumPy's overflow warnings must not reach stderr either.
    line = assert_refused(result, "diverged", code=3)
    assert "lower learning rate" in line and "train.optimizer.lr" in line
