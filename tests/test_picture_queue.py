"""A sweep's and a tune's trial pictures, drawn by a helper process while the
next trial trains (plots.worker.PictureQueue), and the one BLAS thread a small
step leaves to it (mlpcli.threads)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import yaml
from threadpoolctl import threadpool_info

import mlpcli
from mlpcli.engine import MLP, LayerSpec
from mlpcli import threads
from mlpcli.plots import worker

CONFIG = {
    "seed": 2,
    "data": {"dataset": "iris", "val_size": 0.2},
    "model": {"layers": [{"units": 8}]},
    "train": {"epochs": 5, "batch_size": 16},
}
PICTURES = ("learning_curves.png", "confusion_matrix.png")
PROBE = """
import sys
from mlpcli.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(code, "matplotlib" in sys.modules)
"""
two_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a picture helper needs a spare core")


def _trials(command: str, n: int, pruner: str = "none") -> list[str]:
    """`mlp sweep` / `mlp tune` of ``n`` trials of c.yaml over the learning rate, into s/."""
    if command == "sweep":
        return ["sweep", "c.yaml", "--grid", "train.optimizer.lr=" + ",".join(["0.01", "0.02", "0.05"][:n]),
                "--out", "s", "--quiet"]
    return ["tune", "c.yaml", "--range", "train.optimizer.lr=0.001:0.1:log", "--trials", str(n), "--out", "s",
            "--pruner", pruner, "--quiet"]


def _mlp(cwd, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("MLP_DEBUG", "MPLBACKEND")}
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.stderr == "", done.stderr
    return done.stdout.split()[-2:]


@two_cores
@pytest.mark.plots
@pytest.mark.parametrize("command", ["sweep", "tune"])
def test_trial_pictures_come_from_a_helper_all_on_disk_when_the_command_returns(tmp_path, command):
    """The sweep / tune process never loads matplotlib, yet when it exits every
    trial has its two pictures, byte for byte those drawn in process."""
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(CONFIG))
    assert _mlp(tmp_path, *_trials(command, 3), "--jobs", "1") == ["0", "False"]
    trials = sorted(p.parent for p in (tmp_path / "s").glob("*/weights.npz"))
    assert len(trials) == 3
    for trial in trials:
        # a step this small trained on one BLAS thread beside the helper, and run.json says so
        pools = json.loads((trial / "run.json").read_text())["threadpools"]
        assert {pool["num_threads"] for pool in pools if pool["user_api"] == "blas"} == {1}, pools
        config = yaml.safe_load((trial / "config.yaml").read_text())
        mlpcli.train(config, tmp_path / "api" / trial.name)  # the same run, drawn in this process
        for name in PICTURES:
            assert (trial / name).read_bytes() == (tmp_path / "api" / trial.name / name).read_bytes(), (trial, name)


def _finished_run(tmp_path):
    """(run folder, the arguments of a PictureQueue.draw) of a trained run without pictures."""
    result = mlpcli.train({**CONFIG, "output": {"plots": False}}, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    return tmp_path / "run", (result.history, "classification", metrics["test"], [0, 1, 2])


@two_cores
@pytest.mark.plots
def test_the_queue_is_bounded_so_a_returning_sweep_never_waits_on_a_backlog(tmp_path, monkeypatch):
    """Runs handed over faster than they are drawn wait for the oldest: never
    more than MAX_QUEUED undrawn, so finish() waits for that many at most."""
    import shutil

    run, args = _finished_run(tmp_path)
    runs = [run]
    for i in range(5):
        runs.append(tmp_path / f"run{i}")
        shutil.copytree(run, runs[-1])
    queue = worker.PictureQueue()
    for n, folder in enumerate(runs, 1):
        assert queue.draw(folder, *args)
        assert len(queue.queued) <= queue.MAX_QUEUED
        drawn = [r for r in runs if all((r / name).is_file() for name in PICTURES)]
        assert len(drawn) >= n - queue.MAX_QUEUED  # the helper acknowledges a run once its PNGs are written
    queue.finish()
    assert all((r / name).is_file() for r in runs for name in PICTURES)
    assert queue.process is None and not queue.queued


@two_cores
@pytest.mark.plots
def test_a_helper_that_dies_is_made_up_for_by_drawing_in_place(tmp_path):
    run, args = _finished_run(tmp_path)
    queue = worker.PictureQueue()
    assert queue.draw(run, *args)  # queued: the helper is still warming up
    queue.process.send_signal(signal.SIGKILL)
    queue.process.wait()
    assert not queue.draw(run, *args)  # the helper is gone: this one is the caller's to draw
    queue.finish()  # the queued one is drawn here
    assert all((run / name).is_file() for name in PICTURES)


@two_cores
@pytest.mark.plots
def test_an_abandoned_queue_is_still_drawn_by_its_helper(tmp_path):
    """A second Ctrl-C stops waiting for the pictures; the helper draws what it
    holds (each PNG whole) and exits by itself."""
    run, args = _finished_run(tmp_path)
    queue = worker.PictureQueue()
    assert queue.draw(run, *args)
    helper = queue.process
    queue.abandon()
    assert helper.wait(timeout=60) == 0
    assert all((run / name).is_file() for name in PICTURES)
    assert not queue.draw(run, *args)  # nothing new is queued after


def test_a_helper_is_used_only_with_a_core_to_spare_for_it(monkeypatch):
    monkeypatch.setattr(worker, "_own_stderr", lambda: True)  # pytest captures stderr
    for cores, jobs, helper in [(2, 1, True), (2, 2, False), (4, 2, True), (4, 3, False), (1, 1, False)]:
        monkeypatch.setattr(os, "cpu_count", lambda: cores)
        context = worker.trial_pictures(jobs)
        assert isinstance(context, worker.PictureQueue) == helper, (cores, jobs)


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.mark.parametrize("hidden, batch, one_thread", [([8], 16, True), ([256, 128], 32, True),
                                                        ([512, 256], 128, False), ([8], None, False)])
def test_a_small_step_leaves_the_helper_a_core(hidden, batch, one_thread):
    network = MLP(64, [LayerSpec(units, "relu", 0.0) for units in hidden], 10, "cross_entropy",
                  rng=np.random.default_rng(0))
    assert threads.network_step_macs(network, batch or 1) == threads.step_macs(64, hidden, 10, batch or 1)
    before = _blas_threads()
    with threads.leave_a_core(network, batch):
        inside = _blas_threads()
    assert _blas_threads() == before
    assert inside == ([1] * len(before) if one_thread else before)


def test_a_signal_after_the_last_trial_ended_cuts_nothing_short():
    """A Ctrl-C while the last pictures are drawn leaves a complete sweep complete (exit 0)."""
    from types import SimpleNamespace

    from mlpcli.sweep.execution import _cut_short

    plan = SimpleNamespace(trials=["a", "b"])
    done = {"a": {"status": "completed"}, "b": {"status": "failed"}}
    assert not _cut_short(plan, done)
    assert _cut_short(plan, {"a": done["a"]})  # b never started
    assert _cut_short(plan, {**done, "b": {"status": "interrupted"}})  # b stopped at its checkpoint


@pytest.mark.plots
@pytest.mark.parametrize("command", ["sweep", "tune"])
def test_a_rerun_draws_the_pictures_a_killed_command_left_undrawn(tmp_path, command):
    """A sweep or tune killed (SIGKILL, a lost machine) while finished trials'
    pictures waited for the helper leaves those folders without PNGs (each is
    whole or absent, never torn). Running the same command again draws the
    missing ones, byte for byte as they would have been (early stopping's best
    epoch marked, here one the run did not restore; a pruned tune trial's too),
    leaves a picture that is there as it is, and trains nothing again."""
    from tests.conftest import run_mlp

    stopping = {"monitor": "val_loss", "patience": 2, "restore_best": False, "min_delta": 0.05}
    config = {**CONFIG, "train": {**CONFIG["train"], "epochs": 12, "early_stopping": stopping}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    args = _trials(command, 3, pruner="halving")
    first = run_mlp(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    trials = sorted(p.parent for p in (tmp_path / "s").glob("*/weights.npz"))
    status = {t: json.loads((t / "metrics.json").read_text())["status"] for t in trials}
    trials.sort(key=lambda t: status[t] != "pruned")  # a pruned trial first, where there is one
    assert len(trials) == 3 and (command == "sweep" or status[trials[0]] == "pruned")
    drawn = {(t, name): (t / name).read_bytes() for t in trials for name in PICTURES}
    kept = {t: ((t / "metrics.json").read_bytes(), (t / "weights.npz").read_bytes()) for t in trials}
    assert any(json.loads((t / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] < 12 for t in trials)  # stopped early
    for name in PICTURES:  # the first trial's were both queued; the second's confusion matrix was being drawn
        (trials[0] / name).unlink()
    (trials[1] / "confusion_matrix.png").unlink()
    (trials[1] / "learning_curves.png").write_bytes(b"the user's own")  # there: left as it is
    drawn[(trials[1], "learning_curves.png")] = b"the user's own"

    result = run_mlp(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert {key: key[0].joinpath(key[1]).read_bytes() for key in drawn} == drawn
    assert {t: ((t / "metrics.json").read_bytes(), (t / "weights.npz").read_bytes()) for t in trials} == kept


@pytest.mark.plots
def test_a_redraw_makes_do_with_what_the_folder_still_has(tmp_path):
    """Without config.yaml the weights file's meta gives the config; with an
    unreadable weights file the learning curves are still drawn (the
    confusion matrix needs its class names); a run with pictures off gets none."""
    from mlpcli.plots.runs import redraw_missing

    run = tmp_path / "run"
    mlpcli.train(CONFIG, run)
    drawn = {name: (run / name).read_bytes() for name in PICTURES}
    config = (run / "config.yaml").read_bytes()
    for name in PICTURES:
        (run / name).unlink()
    (run / "config.yaml").unlink()
    assert sorted(p.name for p in redraw_missing(run)) == sorted(PICTURES)
    assert {name: (run / name).read_bytes() for name in PICTURES} == drawn
    for name in PICTURES:
        (run / name).unlink()
    (run / "config.yaml").write_bytes(config)
    (run / "weights.npz").write_bytes(b"not a weights file")
    assert [p.name for p in redraw_missing(run)] == ["learning_curves.png"]
    assert (run / "learning_curves.png").read_bytes() == drawn["learning_curves.png"]
    off = tmp_path / "off"
    mlpcli.train({**CONFIG, "output": {"plots": False}}, off)
    assert redraw_missing(off) == [] and not any((off / name).exists() for name in PICTURES)
