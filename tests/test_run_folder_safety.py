"""A run folder is one run's: held by a lock for the whole run, its old
results kept until new ones replace them, no file written through a link,
no resume on other data, metrics.jsonl whole lines on a full disk, and stdout
or path failures reported as one Error line."""
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

from mlpcli import artifacts, run_folder
from mlpcli.errors import RunFolderError

from .conftest import assert_refused, run_mlp, snapshot
from .test_resume import interrupted_run

IRIS = """\
seed: 0
data: {dataset: iris, val_size: 0.2}
model: {layers: [{units: 8}]}
train: {epochs: 5, batch_size: 16, checkpoint_every: {epochs: 1}}
output: {plots: false}
"""


@pytest.fixture
def iris(tmp_path):
    (tmp_path / "iris.yaml").write_text(IRIS)
    return tmp_path


# --------------------------------------------------------------------------- 1. one run per folder

# Imports mlpcli once, then forks two real `mlp train` processes into one
# folder per round (a fresh interpreter per process would cost ~0.5 s each).
RACE = textwrap.dedent("""
    import json, os, sys
    from mlpcli import runner  # noqa: F401  (imported before the forks: an iris run imports nothing more)
    from mlpcli.cli import main

    rounds, flags, out = int(sys.argv[1]), sys.argv[2:], []
    for r in range(rounds):
        children = {}
        for k, (units, epochs) in enumerate([(4, 3), (5, 4)]):
            pid = os.fork()
            if pid == 0:
                err = os.open(f"err-{r}-{k}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(err, 2)
                os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
                code = 1
                try:
                    main(["train", "iris.yaml", "--out", f"run-{r}", "--quiet",
                          "--set", f"model.layers=[{{units: {units}}}]", "--set", f"train.epochs={epochs}", *flags])
                except SystemExit as exc:
                    code = exc.code
                finally:
                    os._exit(code)
            children[pid] = k
        for _ in children:
            pid, status = os.waitpid(-1, 0)
            out.append({"round": r, "k": children[pid], "pid": pid, "code": os.waitstatus_to_exitcode(status)})
    print(json.dumps(out))
""")


def _race(folder, rounds, *flags):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", RACE, str(rounds), *flags], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _assert_one_run(run):
    """Every result file in ``run`` is of one run: returns its (units, epochs)."""
    assert sorted(os.listdir(run)) == sorted(
        ["config.yaml", "run.json", "metrics.jsonl", "metrics.json", "weights.npz", "checkpoint.npz",
         "checkpoint.prev.npz"])
    config = yaml.safe_load((run / "config.yaml").read_text())
    units, epochs = config["model"]["layers"][0]["units"], config["train"]["epochs"]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == list(range(1, epochs + 1))
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == epochs
    assert json.loads((run / "run.json").read_text())["config_sha256"] == artifacts.config_hash(config)
    with np.load(run / "weights.npz") as weights:
        assert weights["dense.0.weight"].shape == (4, units)
        assert json.loads(str(weights["meta"]))["config"] == config
    return units, epochs


def test_two_runs_into_one_folder_one_wins_and_nothing_mixes(iris):
    rows = _race(iris, 20)
    for r in range(20):
        pair = [row for row in rows if row["round"] == r]
        winners = [row for row in pair if row["code"] == 0]
        losers = [row for row in pair if row["code"] != 0]
        assert len(winners) == 1 and len(losers) == 1, pair
        winner, loser = winners[0], losers[0]
        error = (iris / f"err-{r}-{loser['k']}").read_text()
        assert loser["code"] == 2 and error.count("\n") == 1 and error.startswith("Error: "), error
        # refused while the winner held the folder (naming it), or after it finished
        assert f"in use by another run (pid {winner['pid']}" in error or "already holds results" in error, error
        assert _assert_one_run(iris / f"run-{r}") == [(4, 3), (5, 4)][winner["k"]]


def test_two_overwriting_runs_into_one_folder_never_mix(iris):
    rows = _race(iris, 6, "--overwrite")
    for r in range(6):
        pair = [row for row in rows if row["round"] == r]
        winners = [row for row in pair if row["code"] == 0]
        assert winners and all(row["code"] in (0, 2) for row in pair), pair
        for loser in (row for row in pair if row["code"] == 2):  # a second --overwrite after the first ended wins too
            error = (iris / f"err-{r}-{loser['k']}").read_text()
            assert any(f"in use by another run (pid {w['pid']}" in error for w in winners), error
        assert _assert_one_run(iris / f"run-{r}") in [[(4, 3), (5, 4)][w["k"]] for w in winners]


def test_a_held_folder_is_refused_naming_the_holder_and_a_dead_holder_blocks_nothing(iris):
    (iris / "R").mkdir()
    (iris / "R" / "config.yaml").write_text(IRIS)  # so that mlp resume gets as far as the lock
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from mlpcli import run_folder; run_folder.lock_run_dir(__import__('pathlib').Path('R'));"
         "print('held', flush=True); time.sleep(120)"],
        cwd=iris, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        before = snapshot(iris)
        line = assert_refused(run_mlp("train", "iris.yaml", "--out", "R", cwd=iris), "R", "in use by another run")
        assert f"pid {holder.pid}" in line and "lock_run_dir" in line  # its command line
        assert snapshot(iris) == before  # the refused run wrote nothing
        # mlp resume of a held folder is refused the same way, before it reads anything
        assert_refused(run_mlp("resume", "R", cwd=iris), "R", f"pid {holder.pid}")
    finally:
        holder.send_signal(signal.SIGKILL)  # dies holding the lock: the kernel releases it
        holder.wait()
    result = run_mlp("train", "iris.yaml", "--out", "R", "--overwrite", "--quiet", cwd=iris)
    assert result.returncode == 0, result.stderr
    assert (iris / "R" / "weights.npz").is_file()


def test_default_folders_of_runs_started_together_are_distinct(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_folder.time, "strftime", lambda fmt: "20260101-000000")  # the same second
    (tmp_path / "runs" / "x-20260101-000000").mkdir(parents=True)  # made by another run just now
    with run_folder.new_run_dir(None, None, "x", overwrite=False) as folder:
        assert folder.path.name == "x-20260101-000000-2"


# --------------------------------------------------------------------------- 2. memory, and --overwrite keeps the old results


def _results(run):
    return {p.name: p.read_bytes() for p in sorted(run.iterdir())}


def test_batch_activations_too_big_for_memory_are_refused_before_old_results_go(iris):
    assert run_mlp("train", "iris.yaml", "--out", "R", "--quiet", cwd=iris).returncode == 0
    old = _results(iris / "R")
    result = run_mlp(
        "train", "iris.yaml", "--out", "R", "--overwrite", "--set", "model.layers=[{units: 2000000}]",
        "--set", "train.batch_size=20000", "--set", "data.dataset=classification",
        "--set", "data.options={n_samples: 20000}", cwd=iris,
    )
    assert_refused(result, "model.layers", "train.batch_size", "GiB")
    assert _results(iris / "R") == old


def test_overwrite_that_crashes_before_new_results_puts_the_old_ones_back(iris, monkeypatch):
    assert run_mlp("train", "iris.yaml", "--out", "R", "--quiet", cwd=iris).returncode == 0
    old = _results(iris / "R")

    def crash(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr("mlpcli.builder.Trainer.fit", crash)
    result = run_mlp("train", "iris.yaml", "--out", "R", "--overwrite", "--set", "train.epochs=2", cwd=iris)
    assert result.returncode == 1 and "MemoryError" in result.stderr
    assert _results(iris / "R") == old  # nothing of the new run's, no .overwritten left
    monkeypatch.undo()
    result = run_mlp("train", "iris.yaml", "--out", "R", "--overwrite", "--set", "train.epochs=2", "--quiet", cwd=iris)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load((iris / "R" / "config.yaml").read_text())["train"]["epochs"] == 2
    assert len((iris / "R" / "metrics.jsonl").read_text().splitlines()) == 2
    assert run_folder.OVERWRITTEN not in os.listdir(iris / "R")


def test_old_results_set_aside_by_a_killed_overwrite_come_back(iris):
    assert run_mlp("train", "iris.yaml", "--out", "R", "--quiet", cwd=iris).returncode == 0
    old = _results(iris / "R")
    # what `mlp train --overwrite` killed before its first epoch ended leaves
    aside = iris / "R" / run_folder.OVERWRITTEN
    aside.mkdir()
    for name in old:
        os.replace(iris / "R" / name, aside / name)
    (iris / "R" / "config.yaml").write_text("the killed run's\n")
    (iris / "R" / "metrics.jsonl").write_text("")
    assert_refused(run_mlp("train", "iris.yaml", "--out", "R", cwd=iris), "already holds results", "--overwrite")
    assert _results(iris / "R") == old


# --------------------------------------------------------------------------- 3. links in the run folder


def test_a_dangling_link_in_the_run_folder_is_never_written_through(iris):
    (iris / "R").mkdir()
    (iris / "R" / "metrics.jsonl").symlink_to("../outside.txt")
    assert_refused(run_mlp("train", "iris.yaml", "--out", "R", cwd=iris), "metrics.jsonl", "symbolic link")
    assert not (iris / "outside.txt").exists()
    assert_refused(run_mlp("train", "iris.yaml", "--out", "R", "--overwrite", cwd=iris), "symbolic link")
    assert not (iris / "outside.txt").exists()


def test_metrics_lines_refuse_a_link(tmp_path):
    (tmp_path / "m.jsonl").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(RunFolderError, match="m.jsonl: is a symbolic link"):
        with artifacts.JsonLines(tmp_path / "m.jsonl", truncate=False):
            pass
    assert not (tmp_path / "outside.txt").exists()


# --------------------------------------------------------------------------- 4. resume on other data


def test_resume_on_changed_data_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), np.arange(60) % 2
    csv = tmp_path / "d.csv"

    def write(X):
        csv.write_text("a,b,c,y\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(X, y)))

    write(X)
    config = {"data": {"dataset": str(csv), "target": "y", "val_size": 0.2}, "model": {"layers": [{"units": 4}]},
              "train": {"epochs": 3, "batch_size": 8}, "output": {"plots": False}}
    interrupted_run(config, tmp_path / "cut", step=3)
    write(X + 1.0)  # same shape, other numbers
    before = snapshot(tmp_path / "cut")
    line = assert_refused(run_mlp("resume", "cut", cwd=tmp_path), "cut", "data changed", "d.csv")
    assert "data_sha256" in line
    assert snapshot(tmp_path / "cut") == before
    write(X)  # the same data again: resumes
    result = run_mlp("resume", "cut", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- 5. a full disk while appending metrics lines


def _assert_whole_lines(path, n=None):
    text = path.read_text()
    assert text == "" or text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    if n is not None:
        assert len(lines) == n
    return lines


def test_a_file_size_limit_hit_by_lbfgs_metrics_lines_is_exit_2_and_whole_lines(iris):
    limit = textwrap.dedent("""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so write() fails with EFBIG rather than killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        from mlpcli.cli import main
        main(sys.argv[1:])
    """)
    result = subprocess.run(
        [sys.executable, "-c", limit, "train", "iris.yaml", "--out", "L", "--quiet",
         "--set", "train.optimizer.name=lbfgs", "--set", "train.epochs=300"],
        cwd=iris, capture_output=True, text=True, timeout=120,
    )
    assert_refused(result, "L/metrics.jsonl", "File too large")
    assert _assert_whole_lines(iris / "L" / "metrics.jsonl")
    assert not (iris / "L" / "weights.npz").exists()


def test_a_failed_append_is_cut_back_to_the_last_whole_line(tmp_path, monkeypatch):
    path = tmp_path / "m.jsonl"
    real_write = os.write
    with artifacts.JsonLines(path) as lines:
        lines.append({"epoch": 1})

        def half_then_full(fd, data):  # the disk fills up in the middle of the line
            if len(data) > 4:
                return real_write(fd, bytes(data[:4]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "write", half_then_full)
        with pytest.raises(RunFolderError, match=r"m.jsonl: cannot write \(No space left on device\)"):
            lines.append({"epoch": 2, "train_loss": 0.5})
        monkeypatch.setattr(os, "write", real_write)
    assert _assert_whole_lines(path, 1) == [{"epoch": 1}]


# --------------------------------------------------------------------------- 19. paths and stdout


def test_a_run_folder_name_too_long_is_exit_2_naming_it(iris):
    name = "x" * 300
    assert_refused(run_mlp("train", "iris.yaml", "--out", name, cwd=iris), name, "File name too long")


def test_a_full_stdout_is_one_error_line_and_the_results_are_kept(iris):
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "mlpcli", "train", "iris.yaml", "--out", "R", "--json"],
                                cwd=iris, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    assert "No space left on device" in result.stderr and "results are in R" in result.stderr
    assert json.loads((iris / "R" / "metrics.json").read_text())["status"] == "completed"
    with open("/dev/full", "w") as full:  # any command's result, e.g. mlp info
        result = subprocess.run([sys.executable, "-m", "mlpcli", "info", "R/weights.npz"],
                                cwd=iris, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.startswith("Error: cannot write"), result.stderr
    assert result.stderr.count("\n") == 1
