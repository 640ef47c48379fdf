"""Signals and divergence (issue 5, promises 7 and 8), through the real `mlp`
command in a subprocess: SIGINT / SIGTERM stop at a step with a checkpoint,
`mlp resume` finishes the run with the weights an uninterrupted run gives;
a diverging run keeps its last finite checkpoint and exits 3."""
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import yaml

import mlpcli
from mlpcli import process

from .conftest import CONFIGS, assert_refused, run_mlp

# About 1 ms of training an epoch and a few more for its checkpoint (an fsync):
# 80 epochs outlast the signal (sent as the first epoch ends) many times over.
CONFIG = {
    "seed": 0,
    "data": {"dataset": "iris", "val_size": 0.2},
    "model": {"layers": [{"units": 16, "dropout": 0.2}]},
    "train": {"epochs": 80, "batch_size": 8, "optimizer": {"name": "adam", "lr": 0.01},
              "schedule": {"name": "cosine"}, "checkpoint_every": {"epochs": 1}},
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    mlpcli.train(CONFIG, run_dir)
    return run_dir


def start_training(tmp_path, *args):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(CONFIG))
    env = {k: v for k, v in os.environ.items() if k != "MLP_DEBUG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlpcli", "train", "c.yaml", "--out", "run", *args],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (lines.exists() and lines.read_text().count("\n") >= 1):  # an epoch is done
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    return proc


def weights_members(path):
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist() if name != "meta.npy"}


@pytest.mark.parametrize("sig, code, verb", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_checkpoints_the_step_and_resume_finishes_the_same_run(tmp_path, reference, sig, code, verb):
    proc = start_training(tmp_path)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert out == "" and "Traceback" not in err
    assert err.splitlines() == [err.splitlines()[0]] and err.startswith(f"Error: {verb} at epoch ")
    assert "mlp resume run" in err  # how to go on
    run = tmp_path / "run"
    status = json.loads((run / "metrics.json").read_text())
    assert status["status"] == "interrupted" and status["signal"] == sig.name
    assert 1 <= status["epochs_run"] < 80 and status["step"] >= 1
    assert (run / "checkpoint.npz").exists() and not (run / "weights.npz").exists()
    assert not [p for p in os.listdir(run) if p.endswith(".tmp")]

    resumed = run_mlp("resume", "run", "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("run: test accuracy") and resumed.stderr == ""
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"
    assert weights_members(run / "weights.npz") == weights_members(reference / "weights.npz")
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 81))


def test_a_second_signal_exits_at_once_without_a_traceback(tmp_path):
    proc = start_training(tmp_path)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("Error: interrupted")


def test_the_handler_sets_the_flag_once_then_raises():
    """While fit runs (armed), the first signal only asks it to stop after the
    step; a second one, or one outside the loop, stops at once."""
    stop = process.STOP
    try:
        stop.armed, stop.signum = True, 0
        process.on_signal(signal.SIGTERM, None)
        assert stop.signum == signal.SIGTERM
        with pytest.raises(process.Signalled):
            process.on_signal(signal.SIGINT, None)
        stop.armed, stop.signum = False, 0
        with pytest.raises(process.Signalled):
            process.on_signal(signal.SIGINT, None)
    finally:
        stop.armed, stop.signum = False, 0


# --------------------------------------------------------------------------- divergence

# The rate grows tenfold an epoch: epoch 1 trains, a later one diverges.
DIVERGING = ["--set", "train.optimizer={name: sgd, lr: 0.001}", "--set", "train.schedule={name: exponential, gamma: 10}",
             "--set", "train.epochs=30", "--set", "train.early_stopping=null",
             "--set", "train.checkpoint_every.epochs=1"]


def test_divergence_keeps_the_last_finite_checkpoint_and_exits_3(tmp_path):
    result = run_mlp("train", CONFIGS / "diabetes.yaml", "--out", "run", *DIVERGING, cwd=tmp_path)
    line = assert_refused(result, "diverged", "lower learning rate", code=3)
    run = tmp_path / "run"
    status = json.loads((run / "metrics.json").read_text())
    assert status["status"] == "diverged" and status["epoch"] >= 2 and status["step"] >= 1
    assert f"epoch {status['epoch']}, step {status['step']}" in line
    assert not (run / "weights.npz").exists()
    with np.load(run / "checkpoint.npz", allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        assert meta["epoch"] == status["epoch"]  # the position at the start of the epoch that diverged
        assert all(np.isfinite(f[name]).all() for name in f.files if name != "meta")
    assert len((run / "metrics.jsonl").read_text().splitlines()) == status["epoch"] - 1 == status["epochs_run"]
    # resuming would diverge again: refused, with the advice
    assert_refused(run_mlp("resume", "run", cwd=tmp_path), "diverged", "train.optimizer.lr")
