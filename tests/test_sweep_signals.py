"""`mlp sweep --jobs 2` under signals, through the real command in its own
process group (as a terminal's Ctrl-C reaches it and its workers): one
SIGINT records every finished trial, starts no other, checkpoints the running
ones and exits 130; a second exits at once; a worker killed with SIGKILL
fails only its own trial. Bounds on waiting are generous (30 s): they catch
hangs, they do not time anything."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import epochs_done, wait_for

EPOCHS = 300  # a few seconds a trial: signals land while both workers train
CONFIG = f"""\
seed: 0
data: {{dataset: iris, val_size: 0.2}}
model: {{layers: [{{units: 8}}]}}
train: {{epochs: {EPOCHS}, batch_size: 8}}
output: {{plots: false}}
"""
GRID = ["--grid", "train.optimizer.lr=0.05,0.04,0.03,0.02,0.01,0.005"]
TRIALS = ["lr=0.05", "lr=0.04", "lr=0.03", "lr=0.02", "lr=0.01", "lr=0.005"]


def start_sweep(tmp_path, *args):
    (tmp_path / "c.yaml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k != "MLP_DEBUG"}
    return subprocess.Popen(
        [sys.executable, "-m", "mlpcli", "sweep", "c.yaml", "--out", "s", "--jobs", "2", *GRID, *args],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: killpg reaches it and its workers, as Ctrl-C does
    )


def rows(sweep: Path) -> dict:
    try:
        with open(sweep / "results.csv", newline="") as f:
            return {r["trial"]: r for r in csv.DictReader(f)}
    except FileNotFoundError:
        return {}


def workers(pid: int) -> list[int]:
    """The sweep's worker processes: its children started by multiprocessing's spawn
    (not its resource tracker)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    found = []
    for child in map(int, children):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"--multiprocessing-fork" in cmdline and b"resource_tracker" not in cmdline:
            found.append(child)
    return found


def assert_gone(pids):
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and b"Z" not in _state(pid) for pid in pids):
        assert time.monotonic() < deadline, f"worker processes left running: {pids}"
        time.sleep(0.05)


def _state(pid) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1][:3]
    except OSError:
        return b"Z"


def finish(proc, limit=30):
    """The process's exit within ``limit`` seconds (a hang fails the test, and is killed)."""
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"mlp sweep did not exit within {limit} s")
    return out, err


def completed(run: Path) -> bool:
    try:
        return json.loads((run / "metrics.json").read_text())["status"] == "completed"
    except (OSError, ValueError, KeyError):
        return False


def test_one_sigint_records_finished_trials_starts_no_other_and_rerun_resumes(tmp_path):
    proc = start_sweep(tmp_path)
    sweep = tmp_path / "s"
    wait_for(proc, lambda: len(rows(sweep)) >= 1 and len(workers(proc.pid)) == 2, "a finished trial")
    pids = workers(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = finish(proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("Error: interrupted: ") and "results.csv" in err and "run the same sweep again" in err
    assert_gone(pids)
    recorded = rows(sweep)
    started = [name for name in TRIALS if (sweep / name).exists()]
    finished = [name for name in started if completed(sweep / name)]
    # Trials go out in order, one to each free worker (--jobs 2), so what started is among the
    # first len(finished) + 2; the queued ones never started. (Not a prefix: a worker still
    # starting up may be handed the next trial and stop before it starts it, "not run".)
    assert set(started) <= set(TRIALS[: len(finished) + 2]) and len(started) < len(TRIALS), started
    for name in started:
        if completed(sweep / name):  # every finished trial is in results.csv, with its figures
            assert recorded[name]["status"] == "completed" and recorded[name]["test.accuracy"], name
        else:  # stopped at a step, with the checkpoint to resume from
            assert recorded[name]["status"] == "interrupted", name
            status = json.loads((sweep / name / "metrics.json").read_text())
            assert status["status"] == "interrupted" and status["signal"] == "SIGINT"
            assert (sweep / name / "checkpoint.npz").exists()
    assert set(recorded) == set(started)
    jsonl = [json.loads(line)["trial"] for line in (sweep / "results.jsonl").read_text().splitlines()]
    assert sorted(jsonl) == sorted(started)
    assert not [p for p in sweep.rglob("*.tmp")]

    # The same sweep again: finished trials are skipped, interrupted ones resumed, the rest run.
    rerun = subprocess.run(
        [sys.executable, "-m", "mlpcli", "sweep", "c.yaml", "--out", "s", "--jobs", "2", "--json", *GRID],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["completed"], summary["skipped"]) == (6, sum(completed_before for completed_before in
                                                                  [r["status"] == "completed" for r in recorded.values()]))
    assert all(epochs_done(sweep / name) == EPOCHS for name in TRIALS)  # each epoch's line once, resumed or not
    assert {r["status"] for r in rows(sweep).values()} == {"completed"}


def test_a_second_sigint_exits_at_once_without_a_traceback(tmp_path):
    proc = start_sweep(tmp_path)
    sweep = tmp_path / "s"
    wait_for(proc, lambda: sum(epochs_done(sweep / name) > 0 for name in TRIALS) >= 2, "two trials training")
    pids = workers(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.3)  # the second press while the first is being handled: workers stopping, files being written
    os.killpg(proc.pid, signal.SIGINT)
    out, err = finish(proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("Error: interrupted"), err
    assert_gone(pids)
    for name, row in rows(sweep).items():  # whatever was recorded is whole
        assert row["status"] in ("completed", "interrupted"), row


def holder(run: Path) -> int | None:
    """The pid holding a run folder's lock (the process training it), from /proc/locks."""
    from mlpcli.run_folder import lock_holder

    try:
        found = lock_holder(os.stat(run))
    except FileNotFoundError:
        return None
    return int(found.split()[1].rstrip(":")) if found else None


def test_a_worker_killed_with_sigkill_fails_only_its_trial_and_the_sweep_goes_on(tmp_path):
    proc = start_sweep(tmp_path)
    sweep = tmp_path / "s"

    def mid_trial():
        """A trial some worker is training (epochs logged, not all, not recorded), with that worker's pid."""
        for name in TRIALS:
            if 0 < epochs_done(sweep / name) < EPOCHS and name not in rows(sweep):
                pid = holder(sweep / name)
                if pid and pid != proc.pid:
                    return name, pid
        return None

    while True:  # the worker stopped first, so its trial cannot finish between the look and the kill
        wait_for(proc, lambda: mid_trial() is not None, "a worker's trial training")
        found = mid_trial()
        if found is None:
            continue
        name, victim = found
        os.kill(victim, signal.SIGSTOP)
        if holder(sweep / name) == victim and name not in rows(sweep):
            break
        os.kill(victim, signal.SIGCONT)
    os.kill(victim, signal.SIGKILL)
    out, err = finish(proc, limit=300)
    assert proc.returncode == 2, err  # some trials failed
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert err.startswith("Error: 1 of 6 trials failed"), err
    recorded = rows(sweep)
    assert set(recorded) == set(TRIALS)
    failed = [n for n, row in recorded.items() if row["status"] == "failed"]
    assert failed == [name] and "worker process died (killed by SIGKILL)" in recorded[name]["error"]
    assert all(recorded[t]["status"] == "completed" for t in TRIALS if t != name)
    assert all(epochs_done(sweep / t) == EPOCHS for t in TRIALS if t != name)
    assert_gone([victim])
