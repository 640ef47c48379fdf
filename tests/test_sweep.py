"""`mlp sweep`: trials from a grid, random ranges and seeds; results files, resume, failures, parallel workers."""
import csv
import json
import math
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlpcli import runner, sweep
from mlpcli.trained import load_weights
from mlpcli.cli import cli
from mlpcli.errors import ConfigError, MLPError, RunFolderError

from .conftest import assert_refused, run_mlp

IRIS = "data: {dataset: iris, val_size: 0.2}\nmodel: {layers: [{units: 8}]}\ntrain: {epochs: 6, optimizer: {lr: 0.02}}\n"


def _config(tmp_path, text=IRIS) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def _sweep(tmp_path, *args, code=0, config=IRIS):
    result = CliRunner().invoke(cli, ["sweep", str(_config(tmp_path, config)), "--out", str(tmp_path / "s"), *args])
    # CliRunner calls the command, not main(): an MLPError arrives as the exception, not as its exit code
    failed = isinstance(result.exception, MLPError) and result.exception.exit_code
    assert (failed or result.exit_code) == code, (result.output, result.exception)
    return result


def _json(tmp_path, *args, code=0):
    return json.loads(_sweep(tmp_path, "--json", *args, code=code).stdout)


def _rows(tmp_path) -> list[dict]:
    with open(tmp_path / "s" / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- expansion


def test_grid_is_the_product_with_seeds_counting_up_from_the_config_seed():
    grid = sweep.parse_grid(["train.optimizer.lr=0.1,0.01", "model.layers.0.dropout=0,0.5"])
    trials = sweep.expand(grid, [], 0, 2, base_seed=7, sets=("train.epochs=3",))
    assert len(trials) == 2 * 2 * 2
    assert [t.name for t in trials[:3]] == ["lr=0.1,dropout=0,seed=7", "lr=0.1,dropout=0,seed=8", "lr=0.1,dropout=0.5,seed=7"]
    assert trials[1].overrides == ("train.epochs=3", "train.optimizer.lr=0.1", "model.layers.0.dropout=0", "seed=8")
    assert trials[0].params == {"train.optimizer.lr": 0.1, "model.layers.0.dropout": 0, "seed": 7}
    assert trials[0].group == trials[1].group == "lr=0.1,dropout=0"  # seeds of one point are one group
    assert len({t.name for t in trials}) == 8


def test_grid_values_are_yaml_and_commas_inside_brackets_stay():
    [(key, values)] = sweep.parse_grid(["model.layers=[{units: 8}, {units: 4}],[],[{units: 16}]"])
    assert key == "model.layers" and values == ["[{units: 8}, {units: 4}]", "[]", "[{units: 16}]"]
    names = [t.name for t in sweep.expand([(key, values)], [], 0, None, 0)]
    assert len(set(names)) == 3 and not any("/" in n or " " in n or "{" in n for n in names)


def test_keys_are_shortened_only_as_far_as_they_stay_distinct():
    grid = sweep.parse_grid(["model.layers.0.dropout=0.1", "model.layers[1].dropout=0.2"])
    assert [t.name for t in sweep.expand(grid, [], 0, None, 0)] == ["0.dropout=0.1,1.dropout=0.2"]


def test_values_alike_once_made_safe_get_distinct_stable_names():
    grid = sweep.parse_grid(["data.dataset=a/b,a_b"])
    first = [t.name for t in sweep.expand(grid, [], 0, None, 0)]
    assert first[0] == "dataset=a_b" and first[1].startswith("dataset=a_b-") and len(set(first)) == 2
    assert [t.name for t in sweep.expand(grid, [], 0, None, 0)] == first


def test_random_draws_are_reproducible_bounded_and_log_uniform():
    ranges = sweep.parse_ranges(["train.optimizer.lr=1e-4:1e-1:log", "model.layers.0.units=4:8"])
    points = sweep.draw(ranges, 300, seed=3)
    assert points == sweep.draw(ranges, 300, seed=3)
    assert points != sweep.draw(ranges, 300, seed=4)
    lrs = [float(p[0]) for p in points]
    units = [int(p[1]) for p in points]
    assert all(1e-4 <= v <= 1e-1 for v in lrs)
    # log-uniform: each decade holds about a third (uniform would put 90% in the top decade)
    for low in (1e-4, 1e-3, 1e-2):
        assert 0.22 < sum(low <= v < 10 * low for v in lrs) / len(lrs) < 0.45
    assert set(units) == {4, 5, 6, 7, 8}  # integers, both ends included


@pytest.mark.parametrize("item, message", [
    ("train.optimizer.lr=1:0.5", "LOW must be below HIGH"),
    ("train.optimizer.lr=0:1:log", "LOW > 0"),
    ("train.optimizer.lr=a:b", "must be numbers"),
    ("train.optimizer.lr=0.1", "LOW:HIGH"),
])
def test_bad_ranges_are_refused(item, message):
    with pytest.raises(ConfigError, match=message):
        sweep.parse_ranges([item])


def test_config_errors_exit_2_before_anything_is_written(tmp_path):
    _config(tmp_path)
    for args, names in [
        (["--grid", "train.optimizer.lrr=0.1,0.2"], ["lrr", "did you mean 'lr'"]),
        (["--grid", "model.layers.0.dropout=0.2,1.5"], ["dropout=1.5", "model.layers[0].dropout"]),
        (["--random", "2"], ["--range"]),
        (["--range", "train.optimizer.lr=0.1:1"], ["--random"]),
        (["--seeds", "2", "--grid", "seed=1,2"], ["seed"]),
    ]:
        result = run_mlp("sweep", tmp_path / "c.yaml", "--out", tmp_path / "s", *args)
        assert_refused(result, *names)
        assert not (tmp_path / "s").exists()


# --------------------------------------------------------------------------- running


def test_each_trial_is_a_run_folder_with_its_row_in_both_results_files(tmp_path):
    out = _json(tmp_path, "--grid", "train.optimizer.lr=0.05,0.005", "--seeds", "2")
    assert (out["trials"], out["completed"], out["failed"], out["skipped"]) == (4, 4, 0, 0)
    rows = _rows(tmp_path)
    assert [r["trial"] for r in rows] == ["lr=0.05,seed=0", "lr=0.05,seed=1", "lr=0.005,seed=0", "lr=0.005,seed=1"]
    lines = [json.loads(line) for line in (tmp_path / "s" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["trial"] for r in lines) == sorted(r["trial"] for r in rows)
    for row in rows:
        folder = tmp_path / "s" / row["trial"]
        metrics = json.loads((folder / "metrics.json").read_text())
        assert row["status"] == "completed" and row["error"] == ""
        assert float(row["test.accuracy"]) == metrics["test"]["accuracy"]
        assert float(row["val.loss"]) == metrics["val"]["loss"] and float(row["seconds"]) > 0
        assert runner.evaluate(folder / "weights.npz")["accuracy"] == metrics["test"]["accuracy"]  # mlp eval works on it
        config = load_weights(folder / "weights.npz").config
        assert config["seed"] == int(row["seed"]) and config["train"]["optimizer"]["lr"] == float(row["train.optimizer.lr"])


def test_leaderboard_ranks_by_the_validation_metric_with_mean_and_std_over_seeds(tmp_path):
    out = _json(tmp_path, "--grid", "train.optimizer.lr=0.05,0.0001", "--seeds", "2")
    assert (out["metric"], out["split"], out["mode"]) == ("accuracy", "val", "max")
    board = out["leaderboard"]
    assert [e["params"] for e in board] == [{"train.optimizer.lr": 0.05}, {"train.optimizer.lr": 0.0001}]
    rows = {r["trial"]: r for r in _rows(tmp_path)}
    for entry in board:
        values = [float(rows[name]["val.accuracy"]) for name in entry["trials"]]
        assert entry["mean"] == pytest.approx(sum(values) / 2)
        assert entry["std"] == pytest.approx(abs(values[0] - values[1]) / 2)
    text = _sweep(tmp_path, "--grid", "train.optimizer.lr=0.05,0.0001", "--seeds", "2").stdout
    assert "ranked by val accuracy (max)" in text and "4 completed (4 already done)" in text
    assert text.index(" 0.05 ") < text.index(" 0.0001 ")


def test_early_stopping_monitor_ranks_the_trials(tmp_path):
    config = IRIS.replace("train: {", "train: {early_stopping: {monitor: val_loss, patience: 3}, ")
    result = _sweep(tmp_path, "--json", "--grid", "train.optimizer.lr=0.0001,0.05", config=config)
    out = json.loads(result.stdout)
    assert (out["metric"], out["mode"]) == ("loss", "min")
    assert out["leaderboard"][0]["mean"] <= out["leaderboard"][1]["mean"]


def test_rerun_skips_finished_trials_and_runs_only_new_ones(tmp_path):
    _sweep(tmp_path, "--grid", "train.optimizer.lr=0.05,0.01")
    weights = tmp_path / "s" / "lr=0.05" / "weights.npz"
    before = weights.stat().st_mtime_ns
    out = _json(tmp_path, "--grid", "train.optimizer.lr=0.05,0.01,0.02")
    assert (out["trials"], out["completed"], out["skipped"]) == (3, 3, 2)
    assert weights.stat().st_mtime_ns == before
    assert [r["trial"] for r in _rows(tmp_path)] == ["lr=0.05", "lr=0.01", "lr=0.02"]
    assert len((tmp_path / "s" / "results.jsonl").read_text().splitlines()) == 3  # one line per trial, still


def test_a_sweep_folder_of_another_config_is_refused(tmp_path):
    _sweep(tmp_path, "--grid", "train.optimizer.lr=0.05")
    result = CliRunner().invoke(cli, ["sweep", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "s"),
                                      "--grid", "train.optimizer.lr=0.05", "--set", "train.epochs=2"])
    assert isinstance(result.exception, RunFolderError) and "another config" in str(result.exception)


def test_a_failing_trial_is_recorded_the_sweep_goes_on_and_exits_2(tmp_path):
    result = run_mlp("sweep", _config(tmp_path), "--out", tmp_path / "s", "--grid", "train.optimizer.lr=1e30,0.02")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: 1 of 2 trials failed") and "lr=1e30: training diverged" in result.stderr
    rows = {r["trial"]: r for r in _rows(tmp_path)}
    assert rows["lr=1e30"]["status"] == "failed" and "diverged" in rows["lr=1e30"]["error"]
    assert rows["lr=0.02"]["status"] == "completed" and float(rows["lr=0.02"]["test.accuracy"]) > 0.5
    assert "failed" in result.stdout.splitlines()[-1]  # the leaderboard lists it last


def test_fail_fast_stops_at_the_first_failure(tmp_path):
    out = _json(tmp_path, "--grid", "train.optimizer.lr=1e30,0.02,0.01", "--fail-fast", code=2)
    assert (out["failed"], out["completed"], out["not_run"]) == (1, 0, 2)
    assert not (tmp_path / "s" / "lr=0.02").exists()
    assert [r["trial"] for r in _rows(tmp_path)] == ["lr=1e30"]


def test_a_failed_trial_runs_again_on_rerun(tmp_path):
    _sweep(tmp_path, "--grid", "train.optimizer.lr=1e30,0.02", code=2)
    config = _config(tmp_path).read_text()
    out = _json(tmp_path, "--grid", "train.optimizer.lr=1e30,0.02", code=2)
    assert (out["skipped"], out["failed"]) == (1, 1) and _config(tmp_path).read_text() == config
    assert len(_rows(tmp_path)) == 2


def test_print_commands_prints_runnable_train_lines_and_runs_nothing(tmp_path):
    args = ["--grid", "train.optimizer.lr=0.05,0.01", "--set", "train.epochs=3"]
    text = _sweep(tmp_path, "--print-commands", *args).stdout
    lines = text.splitlines()
    assert len(lines) == 2 and not (tmp_path / "s").exists()
    argv = shlex.split(lines[0])
    assert argv[:2] == ["mlp", "train"] and "train.epochs=3" in argv and "train.optimizer.lr=0.05" in argv
    result = run_mlp(*argv[1:])  # what a shell runs for that line
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "s" / "lr=0.05" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3
    # the sweep then collects that trial's results instead of training it again
    out = _json(tmp_path, *args)
    assert out["skipped"] == 1 and out["completed"] == 2


def test_jobs_2_gives_the_same_metrics_as_jobs_1(tmp_path):
    args = ["--grid", "train.optimizer.lr=0.05,0.01", "--seeds", "2"]
    _sweep(tmp_path, *args)
    one = {r["trial"]: r for r in _rows(tmp_path)}
    (tmp_path / "s").rename(tmp_path / "s1")
    assert _json(tmp_path, "--jobs", "2", *args)["completed"] == 4  # two spawned worker processes
    two = {r["trial"]: r for r in _rows(tmp_path)}
    assert set(one) == set(two)
    for name in one:
        for column in one[name]:
            if column.startswith(("test.", "val.")):
                assert one[name][column] == two[name][column], (name, column)
    assert all(math.isfinite(float(r["seconds"])) for r in two.values())


# --------------------------------------------------------------------------- stdin, scheduler, leftovers


def _mlp_stdin(tmp_path, text, *args):
    return run_mlp("sweep", "-", *args, cwd=tmp_path, input=text)


def test_a_config_on_stdin_is_read_once_and_every_trial_trains_on_it(tmp_path):
    text = IRIS.replace("epochs: 6", "epochs: 3") + "seed: 5\n"
    result = _mlp_stdin(tmp_path, text, "--out", "s", "--grid", "train.optimizer.lr=0.05,0.01", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["completed"] == 2
    for row in _rows(tmp_path):
        config = load_weights(tmp_path / "s" / row["trial"] / "weights.npz").config
        assert (config["seed"], config["train"]["epochs"], config["model"]["layers"][0]["units"]) == (5, 3, 8)
        assert config["train"]["optimizer"]["lr"] == float(row["train.optimizer.lr"]) and row["epochs_run"] == "3"
    assert json.loads((tmp_path / "s" / "sweep.json").read_text())["config"] == "-"
    # the same sweep from stdin again: its trials are found finished
    again = _mlp_stdin(tmp_path, text, "--out", "s", "--grid", "train.optimizer.lr=0.05,0.01", "--json")
    assert json.loads(again.stdout)["skipped"] == 2
    # errors in it name <stdin>; printed commands would each need the config: refused
    assert_refused(_mlp_stdin(tmp_path, text, "--out", "t", "--grid", "model.layers.0.dropout=0.2,1.5"),
                   "trial dropout=1.5", "<stdin>", "model.layers[0].dropout")
    assert_refused(_mlp_stdin(tmp_path, text, "--grid", "train.optimizer.lr=0.05", "--print-commands"),
                   "--print-commands", "standard input")
    assert not (tmp_path / "t").exists() and not (tmp_path / "sweeps").exists()


def test_an_unreachable_scheduler_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import socket

    from mlpcli.sweep import workers

    monkeypatch.setattr(workers, "CONNECT_TIMEOUT", "1s")  # the wait is Dask's; the refusal is ours

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_mlp("sweep", _config(tmp_path), "--out", tmp_path / "s", "--grid", "train.optimizer.lr=0.05",
                     "--scheduler", f"tcp://127.0.0.1:{port}")
    assert_refused(result, f"--scheduler tcp://127.0.0.1:{port}", "cannot connect")
    assert not (tmp_path / "s").exists()


def test_a_rerun_removes_the_temporaries_a_killed_sweep_left(tmp_path):
    _sweep(tmp_path, "--grid", "train.optimizer.lr=1e30,0.02", code=2)
    sweep_dir = tmp_path / "s"
    stale = [sweep_dir / ".results.csv.a1b2c3d4.tmp", sweep_dir / "lr=1e30" / ".checkpoint.npz.q9_z8y7x.tmp"]
    kept = sweep_dir / "notes.tmp"
    for path in [*stale, kept]:
        path.write_bytes(b"partial")
    _sweep(tmp_path, "--grid", "train.optimizer.lr=1e30,0.02", code=2)  # the failed trial runs again in its folder
    assert not any(path.exists() for path in stale) and kept.exists()


def test_sigint_in_a_one_process_sweep_checkpoints_the_trial_and_exits_130(tmp_path):
    import os
    import signal
    import time

    _config(tmp_path, IRIS.replace("epochs: 6", "epochs: 400, batch_size: 8"))
    env = {k: v for k, v in os.environ.items() if k != "MLP_DEBUG"}
    proc = subprocess.Popen([sys.executable, "-m", "mlpcli", "sweep", "c.yaml", "--out", "s",
                             "--grid", "train.optimizer.lr=0.05,0.01,0.005"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = tmp_path / "s" / "lr=0.05" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (lines.exists() and lines.read_text().count("\n") >= 1):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("Error: interrupted: 0 trials finished") and "1 stopped at a checkpoint, 2 not started" in err
    assert [r["status"] for r in _rows(tmp_path)] == ["interrupted"]
    assert (tmp_path / "s" / "lr=0.05" / "checkpoint.npz").exists() and not (tmp_path / "s" / "lr=0.01").exists()
