"""Checkpoints and exact resume (issue 5, promise 6): a run stopped at any step
and continued with `mlp resume` ends with the very weights an uninterrupted
run of the same config gives."""
import json
import signal
import zipfile

import numpy as np
import pytest

import mlpcli
from mlpcli import runner
from mlpcli.engine import get_optimizer, get_schedule
from mlpcli.engine.layers import Dropout
from mlpcli.errors import CheckpointError, RunFolderError, TrainingInterrupted
from mlpcli.training import Callback

from .conftest import assert_refused, run_mlp

# Dropout (a mask pool part used), BatchNorm (running statistics), a schedule
# that learns (reduce_on_plateau), early stopping (best parameters), 37 batches an epoch.
CONFIG = {
    "seed": 3,
    "data": {"dataset": "digits", "val_size": 0.2},
    "model": {"layers": [{"units": 24, "dropout": 0.3, "batch_norm": True}, {"units": 12, "dropout": 0.1}]},
    "train": {
        "epochs": 6,
        "batch_size": 32,
        "optimizer": {"name": "adam", "lr": 0.01},
        "schedule": {"name": "reduce_on_plateau", "patience": 0, "factor": 0.5},
        "early_stopping": {"patience": 4},
        "checkpoint_every": {"epochs": 1},  # a checkpoint every epoch: generations to fall back between
    },
}
BATCHES = 36  # ceil(1149 training rows / 32)


class _Stop:
    signum = 0
    armed = False


class StopAt(Callback):
    """Sets the stop flag after the ``step``-th step, as the first SIGINT would."""

    def __init__(self, stop, step):
        self.stop, self.step, self.n = stop, step, 0

    def on_batch_end(self, batch):
        self.n += 1
        if self.n == self.step:
            self.stop.signum = signal.SIGINT


def interrupted_run(config, run_dir, step):
    stop = _Stop()
    with pytest.raises(TrainingInterrupted) as info:
        runner.train(config, run_dir, interrupt=stop, callbacks=[StopAt(stop, step)])
    assert info.value.exit_code == 130 and f"mlp resume {run_dir}" in str(info.value)
    return info.value


def arrays(path):
    """weights.npz member by member, the bytes of each array (meta aside) and meta's JSON."""
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist() if name != "meta.npy"}
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
    return members, meta


def assert_same_run(a, b):
    """Same weights bit for bit; same meta and metrics but for the timings."""
    (members_a, meta_a), (members_b, meta_b) = arrays(a / "weights.npz"), arrays(b / "weights.npz")
    assert members_a.keys() == members_b.keys()
    for name in members_a:
        assert members_a[name] == members_b[name], name
    for meta in (meta_a, meta_b):
        meta["metrics"].pop("train_seconds")
    assert meta_a == meta_b

    def epochs(run):
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        for line in lines:
            line.pop("epoch_seconds")
        return lines

    assert epochs(a) == epochs(b)
    assert [e["epoch"] for e in epochs(b)] == list(range(1, len(epochs(b)) + 1))  # each epoch once


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    mlpcli.train(CONFIG, run_dir)
    return run_dir


@pytest.mark.parametrize("step", [1, BATCHES - 1, BATCHES, 2 * BATCHES + 7, 6 * BATCHES])
def test_resume_after_an_interruption_gives_the_same_weights(tmp_path, reference, step):
    """Mid-epoch (step 1, 2 * 31 + 7), at an epoch's last step, and at the very end."""
    error = interrupted_run(CONFIG, tmp_path / "run", step)
    status = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert status["status"] == "interrupted" and status["signal"] == "SIGINT"
    assert (status["epoch"], status["step"]) == (error.epoch, error.step) == ((step - 1) // BATCHES + 1, step)
    assert not (tmp_path / "run" / "weights.npz").exists()
    result = runner.resume(tmp_path / "run")
    assert result.metrics["status"] == "completed"
    assert_same_run(reference, tmp_path / "run")


@pytest.mark.parametrize(
    "optimizer",
    [{"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True}, {"name": "sgd", "lr": 0.05},
     {"name": "adamw", "lr": 0.01}, {"name": "rmsprop", "lr": 0.005, "momentum": 0.5, "centered": True},
     {"name": "adagrad", "lr": 0.05}],
)
def test_every_optimizer_resumes_exactly(tmp_path, optimizer):
    config = {**CONFIG, "train": {**CONFIG["train"], "epochs": 3, "optimizer": optimizer,
                                  "schedule": {"name": "cosine", "warmup_epochs": 1}}}
    mlpcli.train(config, tmp_path / "full")
    interrupted_run(config, tmp_path / "run", BATCHES + 5)
    runner.resume(tmp_path / "run")
    assert_same_run(tmp_path / "full", tmp_path / "run")


def test_a_kill_between_the_metrics_line_and_the_checkpoint_leaves_each_epoch_once(tmp_path, reference):
    """A SIGKILL can land after an epoch's metrics.jsonl line and before its
    checkpoint: resume rewrites the lines the checkpoint vouches for."""
    interrupted_run(CONFIG, tmp_path / "run", 2 * BATCHES + 3)
    (tmp_path / "run" / "metrics.json").unlink()  # a kill writes no status
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"epoch": 3, "train_loss": 1.0}) + "\n")
    runner.resume(tmp_path / "run")
    assert_same_run(reference, tmp_path / "run")


@pytest.mark.parametrize("early_stopping", [None, {"patience": 1, "min_delta": 0.3}])
def test_a_run_killed_while_writing_its_results_resumes_to_the_same_results(tmp_path, early_stopping):
    """Training had ended (all epochs, or early stopping with its best weights to
    put back) when the kill came: resume trains nothing and writes the results."""
    import shutil

    config = {**CONFIG, "train": {**CONFIG["train"], "epochs": 4, "early_stopping": early_stopping}}
    full = mlpcli.train(config, tmp_path / "full")
    assert full.metrics["stopped"] == ("early_stopping" if early_stopping else "epochs")
    shutil.copytree(tmp_path / "full", tmp_path / "run")
    for name in ("weights.npz", "metrics.json"):
        (tmp_path / "run" / name).unlink()
    result = runner.resume(tmp_path / "run")
    assert result.metrics["stopped"] == full.metrics["stopped"]
    assert result.metrics["best_epoch"] == full.metrics["best_epoch"]
    assert_same_run(tmp_path / "full", tmp_path / "run")


def test_a_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path, reference, capfd):
    interrupted_run(CONFIG, tmp_path / "run", 3 * BATCHES + 2)
    latest = tmp_path / "run" / "checkpoint.npz"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])  # truncated
    runner.resume(tmp_path / "run")
    err = capfd.readouterr().err
    assert err.startswith("Warning: ") and "checkpoint.npz" in err and "checkpoint.prev.npz" in err
    assert err.count("\n") == 1
    assert_same_run(reference, tmp_path / "run")


def hostile_checkpoints(path):
    """Damaged or forged versions of a real checkpoint, each written to ``path``."""
    good = dict(np.load(path, allow_pickle=False))
    yield "not a zip", b"hello"
    yield "pickled", {**good, "params": np.array([{"x": 1}], dtype=object)}
    yield "wrong shape", {**good, "params": good["params"][:-1]}
    yield "wrong dtype", {**good, "params": good["params"].astype(np.float64)}
    yield "unknown member", {**good, "extra": np.zeros(3)}
    yield "missing member", {k: v for k, v in good.items() if k != "optimizer.m"}
    yield "non-finite", {**good, "params": np.full_like(good["params"], np.nan)}
    meta = json.loads(str(good["meta"]))
    yield "bad meta", {**good, "meta": np.array("{not json")}
    yield "newer format", {**good, "meta": np.array(json.dumps({**meta, "format_version": 99}))}
    yield "bad position", {**good, "meta": np.array(json.dumps({**meta, "epoch": 0}))}
    yield "bad rng", {**good, "meta": np.array(json.dumps({**meta, "rng": {"shuffle": 3}}))}


def test_every_damaged_or_forged_checkpoint_is_refused(tmp_path):
    interrupted_run(CONFIG, tmp_path / "run", BATCHES + 2)
    latest, previous = tmp_path / "run" / "checkpoint.npz", tmp_path / "run" / "checkpoint.prev.npz"
    previous.unlink()
    original = latest.read_bytes()
    for what, content in hostile_checkpoints(latest):
        if isinstance(content, bytes):
            latest.write_bytes(content)
        else:
            with open(latest, "wb") as f:
                np.savez(f, **content)
        with pytest.raises(CheckpointError) as info:
            runner.resume(tmp_path / "run")
        assert str(latest) in str(info.value), what
        latest.write_bytes(original)


def test_cli_resume_refuses_a_completed_run_and_an_edited_config(tmp_path):
    mlpcli.train(_config(epochs=2), tmp_path / "done")
    assert_refused(run_mlp("resume", "done", cwd=tmp_path), "done", "complete")
    interrupted_run(_config(epochs=2), tmp_path / "edited", 3)
    config = tmp_path / "edited" / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.01", "lr: 0.02"))
    assert_refused(run_mlp("resume", "edited", cwd=tmp_path), "config.yaml", "changed")


def test_resume_refuses_a_folder_that_is_no_run_and_an_lbfgs_run(tmp_path):
    with pytest.raises(RunFolderError, match="not a run folder"):
        runner.resume(tmp_path / "nowhere")
    config = {**_config(epochs=2), "model": {"layers": [{"units": 4}]}, "train": {"optimizer": {"name": "lbfgs"}}}
    mlpcli.train(config, tmp_path / "lbfgs")
    (tmp_path / "lbfgs" / "metrics.json").unlink()  # as if it had been killed
    with pytest.raises(RunFolderError, match="lbfgs run cannot be resumed"):
        runner.resume(tmp_path / "lbfgs")


def test_cli_resume_continues_and_prints_the_summary(tmp_path):
    _write_config(tmp_path)
    interrupted_run(_config(epochs=2), tmp_path / "run", 5)
    result = run_mlp("resume", "run", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "completed" and out["epochs_run"] == 2 and out["run_dir"] == "run"
    mlpcli.train(_config(epochs=2), tmp_path / "full")
    assert_same_run(tmp_path / "full", tmp_path / "run")


def _config(epochs):
    return {"seed": 0, "data": {"dataset": "iris"}, "model": {"layers": [{"units": 8, "dropout": 0.2}]},
            "train": {"epochs": epochs, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01},
                      "checkpoint_every": {"epochs": 1}}}


def _write_config(tmp_path):
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(_config(epochs=3)))
    return tmp_path


def test_training_into_an_interrupted_run_folder_needs_overwrite(tmp_path):
    interrupted_run(_config(epochs=2), tmp_path / "run", 3)
    with pytest.raises(RunFolderError, match="checkpoint.npz"):
        mlpcli.train(_config(epochs=2), tmp_path / "run")
    mlpcli.train(_config(epochs=2), tmp_path / "run", overwrite=True)
    # the new run's two generations, none of the old run's
    for name, epoch in (("checkpoint.npz", 3), ("checkpoint.prev.npz", 2)):
        with np.load(tmp_path / "run" / name) as f:
            assert json.loads(str(f["meta"]))["epoch"] == epoch


# --------------------------------------------------------------------------- state of each piece


@pytest.mark.parametrize(
    "name, options",
    [("sgd", {"momentum": 0.9, "nesterov": True}), ("sgd", {}), ("adam", {}), ("adamw", {"decay_size": 3}),
     ("rmsprop", {"momentum": 0.5, "centered": True}), ("rmsprop", {}), ("adagrad", {})],
)
def test_an_optimizer_loaded_from_its_state_continues_identically(name, options):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(7) for _ in range(6)]
    a, p_a = get_optimizer(name, lr=0.01, **options), rng.standard_normal(7)
    for g in grads[:3]:
        a.step(p_a, g)
    b, p_b = get_optimizer(name, lr=0.5, **options), p_a.copy()
    b.load_state_dict({k: None if v is None else np.copy(v) for k, v in a.state_dict().items()})
    assert b.lr == 0.01 and b.t == 3
    for g in grads[3:]:
        a.step(p_a, g)
        b.step(p_b, g)
    assert np.array_equal(p_a, p_b)


def test_an_optimizer_refuses_state_that_does_not_fit():
    adam = get_optimizer("adam", lr=0.01)
    with pytest.raises(ValueError, match=r"needs arrays \['m', 'v'\], got \['m'\]"):
        adam.load_state_dict({"t": 2, "lr": 0.01, "m": np.zeros(3)})


def test_a_dropout_layer_continues_its_mask_sequence_from_its_state():
    shared = np.random.default_rng(5)
    a = Dropout(0.4, shared)
    x = np.ones((40, 30), np.float32)
    for _ in range(3):
        a.forward(x, training=True)
    state, rng_state = json.loads(json.dumps(a.state_dict())), shared.bit_generator.state
    expected = [a.forward(x, training=True).copy() for _ in range(300)]  # past the pool's end
    other = np.random.default_rng(99)
    b = Dropout(0.4, other)
    b.load_state_dict(state)
    other.bit_generator.state = rng_state
    for want in expected:
        assert np.array_equal(b.forward(x, training=True), want)


def test_reduce_on_plateau_continues_from_its_state():
    a = get_schedule("reduce_on_plateau", 0.1, 20, patience=1, cooldown=1)
    values = [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8]
    for v in values[:4]:
        a.epoch_end({"val_loss": v})
    b = get_schedule("reduce_on_plateau", 0.1, 20, patience=1, cooldown=1)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    for v in values[4:]:
        a.epoch_end({"val_loss": v})
        b.epoch_end({"val_loss": v})
        assert a.lr(1) == b.lr(1)
    assert a.lr(1) < 0.1


def test_a_version_1_checkpoint_from_an_older_mlpcli_still_resumes(tmp_path):
    """Version 1 stored Adam's moments divided by (1 - beta1) and (1 - beta2);
    such a checkpoint is brought to today's scale, not refused, and the run
    ends where an uninterrupted one does, to float32 rounding."""
    reference = runner.train(CONFIG, tmp_path / "reference")
    interrupted_run(CONFIG, tmp_path / "run", 6 * BATCHES - 4)  # a few steps before the end: rounding has no time to grow
    (tmp_path / "run" / "checkpoint.prev.npz").unlink()
    latest = tmp_path / "run" / "checkpoint.npz"
    current = dict(np.load(latest, allow_pickle=False))
    meta = json.loads(str(current.pop("meta")))
    old = {k: v for k, v in current.items() if k not in ("optimizer.m", "optimizer.v")}
    old["optimizer.m_scaled"] = current["optimizer.m"] / np.float32(1 - 0.9)
    old["optimizer.v_scaled"] = current["optimizer.v"] / np.float32(1 - 0.999)
    old["meta"] = np.array(json.dumps({**meta, "format_version": 1}))
    with open(latest, "wb") as f:
        np.savez(f, **old)
    resumed = runner.resume(tmp_path / "run")
    assert resumed.metrics["epochs_run"] == reference.metrics["epochs_run"]
    for name, value in reference.model.network.parameters.items():
        np.testing.assert_allclose(resumed.model.network.parameters[name], value, rtol=1e-3, atol=1e-4, err_msg=name)
