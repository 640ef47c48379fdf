"""Hostile checkpoints, weights meta and run histories (issue 13, items 10, 12,
14, 19 in part and 20): each is refused with exit 2 and one `Error:` line
before anything is allocated, an invalid latest checkpoint falls back to
checkpoint.prev.npz, and a picture never fails a finished run. Hostile
weights files that are plain files live in the corpus (tests/corpus/weights/).
"""
import io
import json
import shutil
import zipfile

import numpy as np
import pytest

import mlpcli
from mlpcli import plots, runner
from mlpcli.engine.layers import Dropout
from mlpcli.errors import CheckpointError, WeightsError
from mlpcli.npz import MAX_META_DEPTH, parse_meta

from .conftest import assert_refused, run_mlp, run_mlp_process
from .test_resume import interrupted_run

# iris: 96 training rows, 6 batches an epoch; a Dropout layer, so the checkpoint holds a mask pool.
CONFIG = {
    "seed": 1,
    "data": {"dataset": "iris", "val_size": 0.2},
    "model": {"layers": [{"units": 8, "dropout": 0.2}]},
    "train": {"epochs": 4, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01},
              "checkpoint_every": {"epochs": 1}},  # two generations to fall back between
}
STOP_AT_STEP = 15  # epoch 3, batch 3: the latest checkpoint is mid-epoch, the previous one ends epoch 2


def _weights(run_dir):
    with np.load(run_dir / "weights.npz", allow_pickle=False) as f:
        return {name: f[name] for name in f.files if name != "meta"}


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """An interrupted run (checkpoint.npz and checkpoint.prev.npz) and the same run uninterrupted."""
    root = tmp_path_factory.mktemp("hostile")
    interrupted_run(CONFIG, root / "interrupted", STOP_AT_STEP)
    mlpcli.train(CONFIG, root / "full")
    return root


@pytest.fixture
def run_dir(interrupted, tmp_path):
    shutil.copytree(interrupted / "interrupted", tmp_path / "run")
    return tmp_path / "run"


def _meta(path):
    with np.load(path, allow_pickle=False) as f:
        return {name: f[name] for name in f.files}, json.loads(str(f["meta"]))


def _write(path, arrays, meta_text):
    with open(path, "wb") as f:
        np.savez(f, **{**arrays, "meta": np.array(meta_text)})


def _set(*keys, value):
    def change(meta):
        target = meta
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        return json.dumps(meta)
    return change


# (what, a change to the latest checkpoint's meta giving its JSON text, a fragment of the refusal)
TAMPERED = [
    ("a dropout pool of 10**13 masks (36 TiB)", _set("rng", "dropout_layers", 0, "pool", value=10**13),
     "meta.rng.dropout_layers[0].pool must be an integer in [0, "),
    ("a dropout pool of 1e13 (a float)", _set("rng", "dropout_layers", 0, "pool", value=1e13),
     "meta.rng.dropout_layers[0].pool"),
    ("a pool position past the pool", _set("rng", "dropout_layers", 0, "used", value=10**9), "dropout_layers[0].used"),
    ("a pool of strings", _set("rng", "dropout_layers", 0, "dtype", value="<U9"), "dropout_layers[0].dtype"),
    ("a shuffle state that is no state", _set("rng", "shuffle", "state", "state", value="x"), "meta.rng.shuffle"),
    ("history[0] an int", _set("history", 0, value=5), "meta.history[0] must be a mapping"),
    ("history[0] a string loss", _set("history", 0, "train_loss", value="low"), "meta.history[0].train_loss"),
    ("history[1] for epoch 7", _set("history", 1, "epoch", value=7), "meta.history[1].epoch must be 2"),
    ("a batch of 1.5", _set("batch", value=1.5), "meta.batch must be an integer"),
    ("a loss sum that is a list", _set("total", value=[1]), "meta.total must be a finite number"),
    ("optimizer state of strings", _set("optimizer", "lr", value="fast"), "meta.optimizer.lr must be a number"),
    ("meta nested 100,000 deep", lambda meta: json.dumps(meta)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
     f"'meta' is nested more than {MAX_META_DEPTH} levels deep"),
    ("a 5,000-digit step", lambda meta: json.dumps({**meta, "step": 0}).replace('"step": 0', '"step": ' + "7" * 5000),
     "an integer of 5000 digits"),
]


@pytest.mark.parametrize("what, change, fragment", TAMPERED, ids=[t[0] for t in TAMPERED])
def test_a_tampered_latest_checkpoint_falls_back_to_the_previous_one(run_dir, interrupted, capfd, what, change, fragment):
    latest = run_dir / "checkpoint.npz"
    arrays, meta = _meta(latest)
    _write(latest, arrays, change(meta))
    capfd.readouterr()
    runner.resume(run_dir)
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("Warning: "), err
    assert fragment in err and "checkpoint.prev.npz" in err, err
    full, resumed = _weights(interrupted / "full"), _weights(run_dir)
    assert full.keys() == resumed.keys()
    for name in full:
        np.testing.assert_array_equal(full[name], resumed[name], err_msg=name)


@pytest.mark.parametrize("what, change, fragment", TAMPERED, ids=[t[0] for t in TAMPERED])
def test_a_tampered_checkpoint_with_no_previous_is_refused_cleanly(run_dir, what, change, fragment):
    latest = run_dir / "checkpoint.npz"
    (run_dir / "checkpoint.prev.npz").unlink()
    arrays, meta = _meta(latest)
    _write(latest, arrays, change(meta))
    assert_refused(run_mlp("resume", run_dir), "checkpoint.npz", fragment)
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "interrupted"  # as it was


def test_a_zero_itemsize_checkpoint_member_is_refused_before_it_is_allocated(run_dir):
    """Item 12 for checkpoints: an extra member of dtype |S0 and shape (10**12,)."""
    latest = run_dir / "checkpoint.npz"
    (run_dir / "checkpoint.prev.npz").unlink()
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|S0", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(latest, "a") as z:
        z.writestr("params_extra.npy", buffer.getvalue())
    assert_refused(run_mlp("resume", run_dir), "checkpoint.npz", "params_extra has dtype |S0")


def test_a_pool_larger_than_the_default_still_resumes(tmp_path):
    """The pool bound follows the model: a batch of 1,149 rows x 256 units
    draws one pool of 294,144 masks (more than Dropout.POOL), and resumes."""
    config = {
        "seed": 2,
        "data": {"dataset": "digits", "val_size": 0.2},
        "model": {"layers": [{"units": 256, "dropout": 0.5}]},
        "train": {"epochs": 2, "batch_size": 2048, "optimizer": {"name": "sgd", "lr": 0.01}},
    }
    interrupted_run(config, tmp_path / "run", 1)
    _, meta = _meta(tmp_path / "run" / "checkpoint.npz")
    assert meta["rng"]["dropout_layers"][0]["pool"] > Dropout.POOL
    runner.resume(tmp_path / "run")
    mlpcli.train(config, tmp_path / "full")
    full, resumed = _weights(tmp_path / "full"), _weights(tmp_path / "run")
    for name in full:
        np.testing.assert_array_equal(full[name], resumed[name], err_msg=name)


# --------------------------------------------------------------------------- meta JSON


def test_meta_json_is_parsed_with_bounded_depth_and_digits():
    deep = '{"a": ' + "[" * (MAX_META_DEPTH - 1) + "]" * (MAX_META_DEPTH - 1) + "}"
    assert parse_meta("f", np.array(deep))["a"]
    with pytest.raises(WeightsError, match="nested more than"):
        parse_meta("f", np.array('{"a": ' + "[" * MAX_META_DEPTH + "]" * MAX_META_DEPTH + "}"))
    # brackets inside strings are not nesting; a PCG64 state's 39-digit integers are read
    text = json.dumps({"s": "[" * 1000 + '\\"{', "n": 2**128 - 1, "m": -(2**128)})
    assert parse_meta("f", np.array(text))["n"] == 2**128 - 1
    with pytest.raises(CheckpointError, match="an integer of 41 digits"):
        parse_meta("f", np.array('{"n": ' + "1" * 41 + "}"), CheckpointError)
    with pytest.raises(WeightsError, match="must be a JSON object"):
        parse_meta("f", np.array("[1, 2]"))


def test_weights_meta_nested_100000_deep_is_refused(tmp_path):
    path = tmp_path / "deep.npz"
    np.savez(path, meta=np.array('{"format": "mlpcli.weights", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"))
    assert_refused(run_mlp("info", path), "deep.npz", "nested more than 64 levels deep")


# --------------------------------------------------------------------------- plots


def _fake_run(path, lines, task="classification"):
    path.mkdir()
    (path / "config.yaml").write_text(f"model: {{task: {task}}}\n")
    (path / "metrics.json").write_text('{"status": "completed", "test": {"accuracy": 0.5}}')
    (path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_plot_refuses_values_too_large_to_draw_naming_file_and_metric(tmp_path):
    _fake_run(tmp_path / "r", [{"epoch": 1, "train_loss": 1e308, "val_loss": 1.0, "lr": 0.1},
                               {"epoch": 2, "train_loss": 1.0, "val_loss": 1e-300, "lr": 0.1}])
    assert_refused(run_mlp("plot", "r", "-o", "p.png", cwd=tmp_path), "r/metrics.jsonl", "train_loss is 1e+308")
    _fake_run(tmp_path / "q", [{"epoch": 1, "train_loss": 1.0, "lr": -1e308}])
    assert_refused(run_mlp("plot", "q", "--metric", "lr", "-o", "p.png", cwd=tmp_path), "q/metrics.jsonl", "lr is -1e+308")
    assert not (tmp_path / "p.png").exists()


def test_plot_draws_extreme_but_drawable_histories(tmp_path):
    """Tiny and large values (a log axis would span 400 decades: linear), odd
    epoch numbers (drawn at their line's place), and lines that are not objects."""
    _fake_run(tmp_path / "r", [{"epoch": 1e308, "train_loss": 1e99, "lr": 1e99},
                               {"epoch": "x", "train_loss": 1e-300, "lr": -1e99}, 5,
                               {"epoch": -3, "train_loss": 1, "val_loss": -1e99}])
    result = run_mlp("plot", "r", "-o", "p.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    png = plots.learning_curves([5, {"epoch": 1, "train_loss": 1e99, "lr": 1e99}, {"epoch": 2, "train_loss": 1e-300}],
                                "classification")
    assert png[:4] == b"\x89PNG"


def test_sweep_plot_refuses_values_too_large_to_draw(tmp_path):
    (tmp_path / "sw").mkdir()
    rows = [{"trial": 0, "params": {"train.optimizer.lr": 1e308}, "status": "completed", "test": {"accuracy": 0.5}},
            {"trial": 1, "params": {"train.optimizer.lr": 1e-3}, "status": "completed", "test": {"accuracy": 1e308}}]
    (tmp_path / "sw" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert_refused(run_mlp("plot", "sw", "--x", "train.optimizer.lr", cwd=tmp_path),
                   "sw/results.jsonl", "trial 0: train.optimizer.lr is 1e+308, too large to plot")


@pytest.mark.plots
def test_a_plot_failure_after_training_is_a_warning_and_the_run_completes(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the renderer broke\nover two lines")

    monkeypatch.setattr(plots.runs, "learning_curves", broken)
    (tmp_path / "c.yaml").write_text(json.dumps({**CONFIG, "train": {**CONFIG["train"], "epochs": 1}}))
    result = run_mlp("train", "c.yaml", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "plots were not drawn" in line]
    assert len(warning) == 1 and warning[0].startswith("Warning: ") and "the renderer broke over two lines" in warning[0]
    assert "Traceback" not in result.stderr
    for name in ("metrics.json", "weights.npz", "metrics.jsonl", "config.yaml"):
        assert (tmp_path / "run" / name).is_file(), name
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "completed"


def test_a_bogus_mplbackend_never_fails_a_finished_run(tmp_path):
    """In a real process (matplotlib refuses to import): train warns and exits 0; mlp plot refuses cleanly."""
    (tmp_path / "c.yaml").write_text(json.dumps({**CONFIG, "train": {**CONFIG["train"], "epochs": 1}}))
    result = run_mlp_process("train", "c.yaml", "--out", "run", "--quiet", cwd=tmp_path, env={"MPLBACKEND": "bogus"})
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Warning: ") and "MPLBACKEND='bogus'" in lines[0], result.stderr
    for name in ("metrics.json", "weights.npz", "metrics.jsonl", "config.yaml"):
        assert (tmp_path / "run" / name).is_file(), name
    assert not (tmp_path / "run" / plots.LEARNING_CURVES).exists()
    assert_refused(run_mlp_process("plot", "run", "-o", "p.png", cwd=tmp_path, env={"MPLBACKEND": "bogus"}),
                   "MPLBACKEND='bogus'")


def test_run_files_nested_thousands_deep_are_refused_or_skipped(tmp_path):
    run = _fake_run(tmp_path / "r", [{"epoch": 1, "train_loss": 1.0}])
    with open(run / "metrics.jsonl", "a") as f:
        f.write("[" * 100_000 + "]" * 100_000 + "\n")  # a line no JSON reader can nest: skipped like a torn one
    assert run_mlp("plot", "r", "-o", "p.png", cwd=tmp_path).returncode == 0
    (run / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_refused(run_mlp("compare", "r", "r", cwd=tmp_path), "r/metrics.json", "not valid JSON")
