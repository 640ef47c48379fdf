"""Atomic writes (issue 5, promise 4): `mlp train` killed with SIGKILL at any
moment leaves a run folder whose every file loads whole; a finished run
leaves no temporary files.

Ten real `mlp train` subprocesses run at once, each killed at its own moment:
at start-up, as config.yaml appears, after a share of the epochs, while a
temporary file is being written, as weights.npz and metrics.json appear; one
runs to the end. The moments are events seen in the folder, not fixed
delays, so a slow machine shifts them but does not skip them.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

import mlpcli

EPOCHS = 100
CONFIG = f"""\
seed: 0
data: {{dataset: digits, val_size: 0.1}}
model:
  layers:
    - {{units: 64, activation: relu, dropout: 0.1}}
train: {{epochs: {EPOCHS}, batch_size: 32}}
"""
TEMPORARY = re.compile(r"^\..+\.tmp$")  # artifacts.atomic_write's names: .<file>.<random>.tmp


def _lines(run: Path) -> int:
    try:
        return (run / "metrics.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _has_temporary(run: Path) -> bool:
    try:
        return any(TEMPORARY.match(name) for name in os.listdir(run))
    except FileNotFoundError:
        return False


# name -> when to kill: (seconds since start, or None) and a test of the run folder.
MOMENTS = {
    "start-up": (0.05, None),
    "imports": (0.4, None),
    "config-written": (None, lambda run: (run / "config.yaml").exists()),
    "first-epoch": (None, lambda run: _lines(run) >= 1),
    "a-third": (None, lambda run: _lines(run) >= EPOCHS // 3),
    "two-thirds": (None, lambda run: _lines(run) >= 2 * EPOCHS // 3),
    "mid-write": (None, lambda run: _lines(run) >= 2 and _has_temporary(run)),
    "weights-written": (None, lambda run: (run / "weights.npz").exists()),
    "metrics-written": (None, lambda run: (run / "metrics.json").exists()),
    "complete": (None, lambda run: False),
}


def load_every_file(run: Path) -> list[str]:
    """Load each file of a run folder whole; returns the names checked.
    Temporary files are skipped: a killed writer cannot remove its own."""
    checked = []
    for path in sorted(run.iterdir()) if run.exists() else []:
        name = path.name
        if TEMPORARY.match(name):
            continue
        if name == "config.yaml":
            assert isinstance(yaml.safe_load(path.read_text()), dict), name
        elif name == "metrics.jsonl":
            text = path.read_text()
            assert text == "" or text.endswith("\n"), f"{name}: a partial last line"
            for line in text.splitlines():
                assert isinstance(json.loads(line), dict), name
        elif name.endswith(".json"):
            assert isinstance(json.loads(path.read_text()), dict), name
        elif name == "weights.npz":
            model = mlpcli.load(path)
            assert model.n_features == 64
        elif name.endswith(".npz"):  # checkpoints: every member readable, no pickles
            with np.load(path, allow_pickle=False) as archive:
                assert archive.files, name
                for member in archive.files:
                    archive[member]
        elif name.endswith(".png"):
            from matplotlib.image import imread

            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
            assert imread(path).ndim == 3, name
        else:
            raise AssertionError(f"{name}: a file this test does not know how to load; add it here")
        checked.append(name)
    return checked


def test_sigkill_at_any_moment_leaves_only_whole_files(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k != "MLP_DEBUG"}
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"  # ten processes share the cores
    logs = {name: (tmp_path / f"{name}.err").open("wb") for name in MOMENTS}
    started = time.monotonic()
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", "mlpcli", "train", "config.yaml", "--out", name, "--quiet"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=logs[name],
        )
        for name in MOMENTS
    }
    killed = set()
    try:
        while any(p.poll() is None for p in processes.values()):
            assert time.monotonic() - started < 120, "mlp train runs did not finish"
            elapsed = time.monotonic() - started
            for name, process in processes.items():
                delay, event = MOMENTS[name]
                if name in killed or process.poll() is not None:
                    continue
                if (delay is not None and elapsed >= delay) or (event is not None and event(tmp_path / name)):
                    process.kill()  # SIGKILL
                    killed.add(name)
            time.sleep(0.002)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
        for log in logs.values():
            log.close()

    for name, process in processes.items():
        if name in killed:
            assert process.returncode in (-9, 0), (name, process.returncode)
        else:
            assert process.returncode == 0, (name, (tmp_path / f"{name}.err").read_text())
        load_every_file(tmp_path / name)

    assert "complete" not in killed
    run = tmp_path / "complete"
    files = load_every_file(run)
    assert {"config.yaml", "run.json", "metrics.jsonl", "metrics.json", "weights.npz"} <= set(files)
    assert not [p.name for p in run.iterdir() if TEMPORARY.match(p.name) or p.name.endswith(".tmp")]
    assert _lines(run) == EPOCHS
    # The kills really landed at different moments: from an absent folder to a finished one.
    assert processes["start-up"].returncode == -9 and not (tmp_path / "start-up").exists()
    assert len({_lines(tmp_path / name) for name in MOMENTS}) >= 3  # 0, EPOCHS, and some epoch between
