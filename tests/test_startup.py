"""Start-up and checkpoint cadence (issue 15): train.checkpoint_every decides
when checkpoint.npz is written, resume stays bit-identical with a sparse
cadence, and a one-run `mlp train` loads only what its options need (no
matplotlib with plots off; with plots on the pictures come from a helper
process, identical to those drawn in process, and are on disk when it exits)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

import mlpcli
from mlpcli import checkpoint, runner

from .test_resume import arrays, interrupted_run

# iris: 120 training rows (no validation split), 8 batches an epoch; dropout, so a mask pool is saved too.
BATCHES = 8


def _config(epochs=5, every=None, plots=False):
    config = {
        "seed": 2,
        "data": {"dataset": "iris", "val_size": 0.0},
        "model": {"layers": [{"units": 8, "dropout": 0.2}]},
        "train": {"epochs": epochs, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}},
        "output": {"plots": plots},
    }
    if every is not None:
        config["train"]["checkpoint_every"] = every
    return config


@pytest.fixture
def saves(monkeypatch):
    """The (epoch, batch) position of every checkpoint written, in order."""
    positions = []
    write = checkpoint.write_checkpoint

    def recording(run_dir, data):
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
        positions.append((meta["epoch"], meta["batch"]))
        return write(run_dir, data)

    monkeypatch.setattr(checkpoint, "write_checkpoint", recording)
    return positions


def test_the_default_is_a_two_second_budget():
    cfg, _ = runner.resolve_config(_config())
    assert cfg.to_dict()["train"]["checkpoint_every"] == {"seconds": 2.0, "epochs": None}


def test_an_epoch_count_saves_every_nth_epoch_and_the_last(tmp_path, saves):
    mlpcli.train(_config(epochs=5, every={"seconds": None, "epochs": 2}), tmp_path / "run")
    assert saves == [(3, 0), (5, 0), (6, 0)]  # the ends of epochs 2, 4 and 5 (the last)


def test_without_a_budget_only_the_last_epoch_saves(tmp_path, saves):
    mlpcli.train(_config(epochs=5, every={"seconds": None, "epochs": None}), tmp_path / "run")
    assert saves == [(6, 0)]


def test_a_spent_time_budget_saves_after_the_step(tmp_path, saves):
    """A budget checked after every step: mid-epoch positions, then the epoch's end."""
    mlpcli.train(_config(epochs=2, every={"seconds": 1e-9}), tmp_path / "run")
    assert saves == [p for e in (1, 2) for p in [*((e, b) for b in range(1, BATCHES)), (e + 1, 0)]]


def test_resume_from_an_older_sparse_checkpoint_is_bit_identical(tmp_path, capfd):
    """Checkpoints at the ends of epochs 3 and 6 only; stopped in epoch 6, the
    latest damaged: resume replays epochs 4 to 6 from the end of epoch 3 and
    ends with the weights of an uninterrupted run."""
    config = _config(epochs=7, every={"seconds": None, "epochs": 3})
    full = tmp_path / "full"
    mlpcli.train(config, full)
    run = tmp_path / "run"
    interrupted_run(config, run, 5 * BATCHES + 3)
    with np.load(run / "checkpoint.prev.npz", allow_pickle=False) as f:
        assert json.loads(str(f["meta"]))["epoch"] == 4  # the state at the end of epoch 3
    latest = run / "checkpoint.npz"
    latest.write_bytes(latest.read_bytes()[:100])
    runner.resume(run)
    assert "checkpoint.prev.npz" in capfd.readouterr().err
    assert arrays(full / "weights.npz")[0] == arrays(run / "weights.npz")[0]
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 8))


def test_checkpoint_every_may_change_before_resume(tmp_path):
    """Not part of the hash resume checks: a config.yaml without the key (as
    an older mlpcli wrote it) or with another cadence still resumes, exactly."""
    config = _config(epochs=3, every={"seconds": None, "epochs": 1})
    mlpcli.train(config, tmp_path / "full")
    interrupted_run(config, tmp_path / "run", BATCHES + 2)
    path = tmp_path / "run" / "config.yaml"
    written = yaml.safe_load(path.read_text())
    del written["train"]["checkpoint_every"]
    path.write_text(yaml.safe_dump(written))
    runner.resume(tmp_path / "run")
    assert arrays(tmp_path / "full" / "weights.npz")[0] == arrays(tmp_path / "run" / "weights.npz")[0]


# --------------------------------------------------------------------------- what a run loads

PROBE = """
import sys
from mlpcli.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(" ".join(sorted(m for m in ("matplotlib", "sklearn.neural_network") if m in sys.modules)))
"""


def _mlp_in_fresh_process(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("MLP_DEBUG", "MPLBACKEND")}
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.stderr == "", done.stderr
    return done.stdout.splitlines()[-1]


def test_plots_off_never_loads_matplotlib(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(_config(plots=False)))
    loaded = _mlp_in_fresh_process(tmp_path, "train", "c.yaml", "--out", "run", "--quiet")
    assert loaded == ""
    assert not list((tmp_path / "run").glob("*.png"))


@pytest.mark.plots
def test_plots_on_come_from_a_helper_and_match_those_drawn_in_process(tmp_path):
    """`mlp train` leaves matplotlib to the helper process; when it exits the
    pictures are on disk, byte for byte those the Python API draws in process."""
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "c.yaml").write_text(yaml.safe_dump(_config(plots=True)))
    loaded = _mlp_in_fresh_process(tmp_path / "cli", "train", "c.yaml", "--out", "run", "--quiet")
    assert loaded == ""  # matplotlib is the helper's to load, not the run's
    mlpcli.train(_config(plots=True), tmp_path / "api" / "run")
    for name in ("learning_curves.png", "confusion_matrix.png"):
        assert (tmp_path / "cli" / "run" / name).read_bytes() == (tmp_path / "api" / "run" / name).read_bytes(), name


def test_a_run_that_fails_ends_its_picture_helper_at_once_and_draws_nothing(tmp_path):
    """A run refused or failed before it has a history kills the helper instead
    of waiting out its warm-up (matplotlib's import, ~0.5 s a refused
    `mlp train`); the helper has written nothing by then."""
    from mlpcli.plots.worker import PlotWorker

    worker = PlotWorker.start()
    assert worker is not None
    worker.close()
    assert worker.process.returncode == -9  # killed mid-warm-up, not left to finish it
    assert not list(tmp_path.rglob("*.png"))

    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**_config(plots=True), "data": {"dataset": "missing.csv"}}))
    done = subprocess.run([sys.executable, "-m", "mlpcli", "train", "c.yaml", "--out", "run", "--quiet"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("Error: ") and "missing.csv" in done.stderr, done.stderr
    assert not (tmp_path / "run").exists() and not list(tmp_path.rglob("*.png"))


@pytest.mark.plots
def test_a_config_that_never_mentions_plots_starts_the_helper_before_the_imports(tmp_path):
    """The early helper (plots.worker.start_early) draws the same pictures."""
    config = _config()
    del config["output"]  # pictures on by default, and "plots" nowhere in the text
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "c.yaml").write_text(yaml.safe_dump(config))
    assert _mlp_in_fresh_process(tmp_path / "cli", "train", "c.yaml", "--out", "run", "--quiet") == ""
    mlpcli.train(config, tmp_path / "api" / "run")
    for name in ("learning_curves.png", "confusion_matrix.png"):
        assert (tmp_path / "cli" / "run" / name).read_bytes() == (tmp_path / "api" / "run" / name).read_bytes(), name


def test_the_helper_starts_early_only_when_pictures_are_surely_on(tmp_path, monkeypatch):
    from mlpcli.plots import worker

    monkeypatch.setattr(worker, "_own_process", lambda: True)  # pytest captures stderr
    started = []
    monkeypatch.setattr(worker.PlotWorker, "start", classmethod(lambda cls: started.append(1) or "helper"))
    (tmp_path / "plain.yaml").write_text("data: {dataset: iris}\n")
    (tmp_path / "off.yaml").write_text("data: {dataset: iris}\noutput: {plots: false}\n")
    (tmp_path / "long.yaml").write_text("# " + "x" * worker._TEXT_READ + "\n")
    os.mkfifo(tmp_path / "fifo.yaml")
    assert worker.start_early(str(tmp_path / "plain.yaml")) == "helper"
    assert worker.start_early(str(tmp_path / "plain.yaml"), ["output.plots=false"]) is None
    for name in ("off.yaml", "long.yaml", "fifo.yaml", "missing.yaml", "-"):  # a pipe is never read here
        assert worker.start_early(str(tmp_path / name) if name != "-" else name) is None, name
    assert started == [1]


def test_a_run_without_pictures_closes_a_helper_started_early(tmp_path):
    from mlpcli.plots.worker import PlotWorker

    helper = PlotWorker.start()
    mlpcli.runner.train(_config(plots=False), tmp_path / "run", background_plots=True, plotter=helper)
    assert helper.process.returncode == -9
    assert (tmp_path / "run" / "weights.npz").exists() and not list(tmp_path.rglob("*.png"))
