"""`mlp tune --storage postgresql://...` against a real PostgreSQL server
(tests/pg_server.py starts one from the pgserver wheel): two `mlp tune`
processes, each with its own tune folder as on two machines, join one study,
take disjoint trials and together reach --trials."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import CONFIGS
from tests.pg_server import in_ci, postgres_url  # noqa: F401 - the fixture

if not in_ci():  # CI installs the tune extra (the README's test command): there a missing optuna fails the test
    pytest.importorskip("optuna", reason="mlp tune needs optuna: pip install -e '.[tune]'")

TRIALS = 8
STUDY = "pg-digits"


def tune_process(out, url):
    """A real `mlp tune` process on the shared study (random sampler, no
    pruning: every trial runs its 6 epochs and completes)."""
    env = {k: v for k, v in os.environ.items() if k != "MLP_DEBUG"}
    return subprocess.Popen(
        [sys.executable, "-m", "mlpcli", "tune", str(CONFIGS / "digits.yaml"),
         "--range", "train.optimizer.lr=1e-4:1e-1:log", "--choice", "model.layers[0].units=32,64",
         "--set", "train.epochs=6", "--trials", str(TRIALS), "--sampler", "random", "--pruner", "none",
         "--storage", url, "--study-name", STUDY, "--out", str(out), "--json", "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def trial_numbers(tune_dir) -> set[int]:
    return {int(p.name.removeprefix("trial-")) for p in tune_dir.glob("trial-*") if p.is_dir()}


def wait_for_first_trial(tune_dir, process, timeout=120.0) -> None:
    """Until ``process`` has a trial folder (it joined the study and took a trial)."""
    deadline = time.monotonic() + timeout
    while not trial_numbers(tune_dir):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"mlp tune --out {tune_dir} took no trial (exit {process.returncode}): {err[-2000:]}")
        time.sleep(0.1)


def test_two_processes_share_one_postgres_study(tmp_path, postgres_url):  # noqa: F811 - the fixture
    machine_a, machine_b = tmp_path / "machine-a", tmp_path / "machine-b"
    processes = [tune_process(machine_a, postgres_url)]
    try:
        # Both take trials whatever the machine's load: the first is paused (SIGSTOP, well within
        # its heartbeat's grace period) from its first trial until the second has taken one.
        wait_for_first_trial(machine_a, processes[0])
        processes[0].send_signal(signal.SIGSTOP)
        try:
            processes.append(tune_process(machine_b, postgres_url))
            wait_for_first_trial(machine_b, processes[1])
        finally:
            processes[0].send_signal(signal.SIGCONT)
        ran = []
        for process in processes:
            out, err = process.communicate(timeout=600)
            assert process.returncode == 0, err
            assert "Traceback" not in err, err
            ran.append(json.loads(out)["ran"])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()

    ran_a, ran_b = trial_numbers(machine_a), trial_numbers(machine_b)
    # each trial ran once, in one of the two folders; each process ran some; together the budget
    assert ran_a and ran_b, (ran_a, ran_b)
    assert not ran_a & ran_b, (ran_a, ran_b)
    assert ran_a | ran_b == set(range(TRIALS))
    assert ran == [len(ran_a), len(ran_b)]  # what each process says it ran is what its folder holds
    for tune_dir in (machine_a, machine_b):
        spec = json.loads((tune_dir / "tune.json").read_text())
        assert spec["storage"] == postgres_url and spec["study_name"] == STUDY
        for number in trial_numbers(tune_dir):
            metrics = json.loads((tune_dir / f"trial-{number:04d}" / "metrics.json").read_text())
            assert metrics["status"] == "completed"

    # The study, seen from either folder, holds all the trials, complete.
    from mlpcli.tune import load_study, read_results
    from mlpcli.tune import study as studies

    for tune_dir in (machine_a, machine_b):
        study = load_study(tune_dir)
        trials = studies.trials(study)  # (a process that lost the race for the last slot asked for a surplus trial)
        assert sorted(t.number for t in trials) == list(range(TRIALS))
        assert {t.state.name for t in trials} == {"COMPLETE"}
        for t in study.get_trials(deepcopy=False):
            if t.number >= TRIALS:  # surplus: failed unrun, in no machine's folder
                assert t.user_attrs.get("surplus") and t.state.name == "FAIL", t
                assert not any((m / f"trial-{t.number:04d}").exists() for m in (machine_a, machine_b))
    # The process that finished last wrote every machine's trials in its results, each naming its machine.
    rows = {row["number"]: row for tune_dir in (machine_a, machine_b) for row in read_results(tune_dir)}
    assert sorted(rows) == list(range(TRIALS))
    assert {row["machine"] for row in rows.values()} == {socket.gethostname()}
    assert {row["state"] for row in rows.values()} == {"complete"}
    assert all(row["stopped_epoch"] == 6 for row in rows.values())
