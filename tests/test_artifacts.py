"""Atomic writes and the run folder."""
import os

import pytest

from mlpcli import artifacts, run_folder
from mlpcli.errors import MLPError, RunFolderError


def test_atomic_write_replaces_whole_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "metrics.json"
    artifacts.atomic_write(target, "old")
    artifacts.atomic_write(target, "new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_written_files_get_the_usual_mode(tmp_path):
    mask = os.umask(0o022)
    try:
        path = artifacts.atomic_write(tmp_path / "config.yaml", "seed: 0\n")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by others, like any file the user writes


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "weights.npz"
    artifacts.atomic_write(target, b"old")

    def boom(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(MLPError, match="weights.npz: cannot write .No space left on device"):
        artifacts.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["weights.npz"]


def test_run_folder_defaults_to_a_fresh_timestamped_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with run_folder.new_run_dir(None, None, "my config", overwrite=False) as first:
        with run_folder.new_run_dir(None, None, "my config", overwrite=False) as second:
            a, b = first.path, second.path
    assert a.parent.name == "runs" and a.name.startswith("my_config-")
    assert a != b and a.is_dir() and b.is_dir()


def test_run_folder_with_results_is_never_reused_silently(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    with pytest.raises(RunFolderError, match="already holds results"):
        run_folder.new_run_dir(str(out), None, "x", overwrite=False)
    with run_folder.new_run_dir(str(out), None, "x", overwrite=True) as folder:
        assert folder.path == out
    empty = tmp_path / "empty"
    empty.mkdir()
    with run_folder.new_run_dir(str(empty), None, "x", overwrite=False) as folder:
        assert folder.path == empty
    (tmp_path / "file").write_text("")
    with pytest.raises(RunFolderError, match="not a folder"):
        run_folder.new_run_dir(str(tmp_path / "file"), None, "x", overwrite=False)


STALE = [".checkpoint.npz.k3v_9xq2.tmp", ".metrics.json.abcdefgh.tmp"]  # atomic_write's names, left by a SIGKILL
KEPT = [".checkpoint.npz.tmp", "notes.tmp", ".x.abcdefgh.tmp.bak", ".x.ABCDEFGH.tmp", "checkpoint.npz.abcdefgh.tmp"]


def _litter(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in STALE + KEPT:
        (folder / name).write_bytes(b"partial")
    (folder / ".dir.abcdefgh.tmp").mkdir(exist_ok=True)  # not a file: not ours


def test_stale_temporaries_of_our_naming_alone_are_removed(tmp_path):
    _litter(tmp_path)
    assert sorted(artifacts.remove_stale_temporaries(tmp_path)) == sorted(STALE)
    assert sorted(os.listdir(tmp_path)) == sorted(KEPT + [".dir.abcdefgh.tmp"])
    assert artifacts.remove_stale_temporaries(tmp_path / "absent") == []


def test_a_reused_run_folder_loses_its_stale_temporaries(tmp_path):
    from mlpcli import runner

    from .test_resume import interrupted_run

    config = {"data": {"dataset": "iris", "val_size": 0.2}, "model": {"layers": [{"units": 4}]},
              "train": {"epochs": 3, "batch_size": 16}}
    _litter(tmp_path / "run")  # a folder a killed run left: `mlp train` reuses it (no results in it yet)
    runner.train(config, tmp_path / "run")
    assert not set(STALE) & set(os.listdir(tmp_path / "run")) and set(KEPT) <= set(os.listdir(tmp_path / "run"))
    _litter(tmp_path / "run")
    runner.train(config, tmp_path / "run", overwrite=True)  # --overwrite
    assert not set(STALE) & set(os.listdir(tmp_path / "run"))
    interrupted_run(config, tmp_path / "cut", step=3)
    _litter(tmp_path / "cut")
    runner.resume(tmp_path / "cut")  # mlp resume
    assert not set(STALE) & set(os.listdir(tmp_path / "cut")) and set(KEPT) <= set(os.listdir(tmp_path / "cut"))
