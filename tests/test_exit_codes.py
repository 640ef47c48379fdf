"""Exit codes as DESIGN.md gives them (issue 5, promises 3 and 10), through the
real entry point (in this process; 0 and 1 also as a subprocess's exit status):
0 success; 1 an internal error, one line with a hint to rerun with --debug;
2 bad usage (Click's errors too), config or input data, checked before anything
is written. (3, divergence: test_cli_errors;
130 / 143, signals: their own tests.) --debug and MLP_DEBUG=1 add the traceback.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from .conftest import CONFIGS, assert_refused, run_mlp, run_mlp_process, snapshot

TINY = "model:\n  layers: [{units: 2}]\ntrain: {epochs: 1}\n"

# mlp's entry point (what the `mlp` script and `python -m mlpcli` call), with one
# function replaced by one that raises, as a bug would.
FAULTY = """\
import sys
import mlpcli.{module} as module

def broken(*args, **kwargs):
    raise {error}

module.{function} = broken
sys.argv[0] = "mlp"
from mlpcli.cli import main
main()
"""


def run_faulty_process(*args, module, function, error, cwd):
    code = FAULTY.format(module=module, function=function, error=repr(error))
    env = {k: v for k, v in os.environ.items() if k != "MLP_DEBUG"}
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


def run_faulty(*args, module, function, error, cwd, env=None):
    """run_faulty_process's bug, in this process."""

    def broken(*args, **kwargs):
        raise type(error)(*error.args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(f"mlpcli.{module}.{function}", broken)
        return run_mlp(*args, cwd=cwd, env=env)


# --------------------------------------------------------------------------- 0


def test_success_exits_0_with_the_result_on_stdout_only(tmp_path):
    result = run_mlp_process("train", CONFIGS / "iris.yaml", "--out", "run", "--set", "train.epochs=2", "--quiet",
                             cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("run: test accuracy") and result.stdout.count("\n") == 1


# --------------------------------------------------------------------------- 1: a bug

INTERNAL = [
    # before the run folder exists, while the folder is being written, in another command
    pytest.param("runner", "prepare_data", RuntimeError("boom"), ["train", "config.yaml", "--out", "run"],
                 "RuntimeError: boom", id="train-before-the-folder"),
    pytest.param("weights_file", "write", ZeroDivisionError("division by zero"),
                 ["train", "config.yaml", "--out", "run"], "ZeroDivisionError: division by zero", id="train-at-the-end"),
    pytest.param("runner", "info", KeyError(), ["info", "weights.npz"], "KeyError", id="info-empty-message"),
    pytest.param("runner", "prepare_data", ValueError("two\nlines"), ["train", "config.yaml", "--out", "run"],
                 "ValueError: two lines", id="multi-line-message"),
]


@pytest.mark.parametrize("module, function, error, args, what", INTERNAL)
def test_internal_error_is_one_line_exit_1(tmp_path, module, function, error, args, what):
    (tmp_path / "config.yaml").write_text(TINY)
    result = run_faulty(*args, module=module, function=function, error=error, cwd=tmp_path)
    line = assert_refused(result, code=1)
    assert line == f"Error: internal error: {what} (rerun with --debug for the traceback)"


def test_internal_error_before_training_writes_nothing(tmp_path):
    (tmp_path / "config.yaml").write_text(TINY)
    before = snapshot(tmp_path)
    # A real process: exit status 1 from the entry point `python -m mlpcli` runs.
    result = run_faulty_process("train", "config.yaml", "--out", "run", module="runner", function="prepare_data",
                                error=RuntimeError("boom"), cwd=tmp_path)
    assert result.returncode == 1
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "before, after, env",
    [(["--debug"], [], {}), ([], ["--debug"], {}), ([], [], {"MLP_DEBUG": "1"})],
    ids=["mlp---debug-train", "train-...---debug", "MLP_DEBUG=1"],
)
def test_debug_shows_the_traceback_of_an_internal_error(tmp_path, before, after, env):
    (tmp_path / "config.yaml").write_text(TINY)
    result = run_faulty(*before, "train", "config.yaml", *after, module="runner", function="prepare_data",
                        error=RuntimeError("boom"), cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "in broken" in result.stderr and "RuntimeError: boom" in result.stderr
    assert lines[-1] == "Error: internal error: RuntimeError: boom"  # no --debug hint: it is on
    assert sum(line.startswith("Error:") for line in lines) == 1


# --------------------------------------------------------------------------- 2: usage (Click)

USAGE = [
    pytest.param(["train"], ["Missing argument 'CONFIG'", "mlp train --help"], id="missing-argument"),
    pytest.param(["predict", "w.npz"], ["Missing argument 'INPUT'"], id="missing-second-argument"),
    pytest.param(["train", "x.yaml", "--bogus"], ["No such option", "--bogus"], id="unknown-option"),
    pytest.param(["--bogus"], ["No such option", "--bogus", "mlp --help"], id="unknown-global-option"),
    pytest.param(["train", "x.yaml", "--out"], ["--out", "requires an argument"], id="option-without-value"),
    pytest.param(["eval", "w.npz", "--split", "tset"], ["--split", "tset"], id="bad-choice"),
    pytest.param(["cv", "x.yaml", "--folds", "five"], ["--folds", "five"], id="not-an-integer"),
    pytest.param(["info", "a.npz", "b.npz"], ["unexpected extra argument", "b.npz"], id="extra-argument"),
    pytest.param(["trian"], ["No such command", "trian"], id="unknown-command"),
]


@pytest.mark.parametrize("args, names", USAGE)
def test_usage_errors_exit_2_on_stderr(tmp_path, args, names):
    before = snapshot(tmp_path)
    result = run_mlp(*args, cwd=tmp_path)
    assert_refused(result, *names)  # one Error: line on stderr, stdout empty
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- 2: input data, checked before training


def _xy(n=40, d=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)), np.arange(n) % 2


def _npz_nan(path):
    X, y = _xy()
    X[5, 1] = np.nan
    np.savez(path, X=X, y=y)


def _npz_inf_target(path):
    X, _ = _xy()
    y = np.linspace(0.0, 1.0, len(X))
    y[3] = np.inf
    np.savez(path, X=X, y=y)


def _npz_empty(path):
    np.savez(path, X=np.zeros((0, 3)), y=np.zeros(0, dtype=int))


def _npz_one_class(path):
    X, _ = _xy()
    np.savez(path, X=X, y=np.zeros(len(X), dtype=int))


def _csv(path, X, y, cell=None):
    rows = ["a,b,c,label"] + [",".join([*map(str, x), str(t)]) for x, t in zip(X, y)]
    if cell:
        (row, col), value = cell
        fields = rows[row + 1].split(",")
        fields[col] = value
        rows[row + 1] = ",".join(fields)
    path.write_text("\n".join(rows) + "\n")


def _csv_inf(path):
    _csv(path, *_xy(), cell=((4, 1), "inf"))


def _csv_header_only(path):
    _csv(path, np.zeros((0, 3)), [])


def _csv_one_class(path):
    X, _ = _xy()
    _csv(path, X, ["cat"] * len(X))


BAD_DATA = [
    pytest.param("nan.npz", _npz_nan, "", ["nan.npz", "NaN or infinite"], id="nan-feature"),
    pytest.param("inf.csv", _csv_inf, "", ["inf.csv", "NaN or infinite"], id="inf-feature-csv"),
    pytest.param("y.npz", _npz_inf_target, "", ["y.npz", "y holds NaN or infinite"], id="inf-target"),
    pytest.param("empty.npz", _npz_empty, "", ["empty.npz", "no samples"], id="empty-npz"),
    pytest.param("empty.csv", _csv_header_only, "", ["empty.csv", "no data rows"], id="header-only-csv"),
    pytest.param("one.npz", _npz_one_class, "", ["one.npz", "at least 2 classes, found 1"], id="single-class"),
    pytest.param("one.csv", _csv_one_class, "", ["one.csv", "at least 2 classes, found 1"], id="single-class-csv"),
    pytest.param("t.csv", lambda p: _csv(p, *_xy()), "  target: lable\n", ["t.csv", "no target column 'lable'",
                 "did you mean 'label'"], id="missing-target-column"),
]


@pytest.mark.parametrize("name, make, extra, names", BAD_DATA)
def test_bad_training_data_exits_2_before_writing(tmp_path, name, make, extra, names):
    make(tmp_path / name)
    (tmp_path / "config.yaml").write_text(f"data:\n  dataset: {name}\n  val_size: 0\n{extra}" + TINY)
    before = snapshot(tmp_path)
    result = run_mlp("train", "config.yaml", "--out", "run", cwd=tmp_path)
    assert_refused(result, *names)
    assert snapshot(tmp_path) == before  # no run folder, nothing half-written


@pytest.fixture(scope="module")
def iris_weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("iris")
    result = run_mlp("train", CONFIGS / "iris.yaml", "--out", "run", "--set", "train.epochs=1", "--quiet", cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "run" / "weights.npz"


@pytest.mark.parametrize("command", ["eval", "predict"])
@pytest.mark.parametrize("bad", ["nan", "inf", "columns"])
def test_bad_rows_at_eval_and_predict_exit_2(tmp_path, iris_weights, command, bad):
    X = np.tile([5.1, 3.5, 1.4, 0.2], (6, 1))
    if bad == "columns":
        X = X[:, :3]  # iris has 4 features
    else:
        X[2, 1] = float(bad)
    np.savez(tmp_path / "rows.npz", X=X, y=np.array(["setosa"] * 6))
    args = ["eval", iris_weights, "--data", "rows.npz"] if command == "eval" else ["predict", iris_weights, "rows.npz"]
    before = snapshot(tmp_path)
    line = assert_refused(run_mlp(*args, cwd=tmp_path), "rows.npz")
    if bad == "columns":
        assert re.search(r"\b3\b", line) and re.search(r"\b4\b", line), line
    else:
        assert "NaN or infinite" in line, line
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- 2: a folder with results is never overwritten


def test_output_dir_of_the_config_with_results_is_refused(tmp_path):
    (tmp_path / "config.yaml").write_text(TINY + "output: {dir: old}\n")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "metrics.json").write_text('{"status": "completed"}\n')
    before = snapshot(tmp_path)
    assert_refused(run_mlp("train", "config.yaml", cwd=tmp_path), "old", "metrics.json", "--overwrite")
    assert snapshot(tmp_path) == before


def test_cv_refuses_before_training_any_fold(tmp_path):
    (tmp_path / "config.yaml").write_text(TINY)
    (tmp_path / "cv" / "fold-2").mkdir(parents=True)
    (tmp_path / "cv" / "fold-2" / "weights.npz").write_bytes(b"old results")
    before = snapshot(tmp_path)
    result = run_mlp("cv", "config.yaml", "--folds", "2", "--out", "cv", cwd=tmp_path)
    assert_refused(result, "fold-2", "weights.npz", "--overwrite")
    assert snapshot(tmp_path) == before  # not even fold-1 was written


def test_a_network_too_large_for_memory_is_refused_before_anything_is_written(tmp_path):
    # units: 1e12 (a typo) used to end in MemoryError inside NumPy: exit 1.
    result = run_mlp("train", CONFIGS / "iris.yaml", "--out", "run", "--set", "model.layers=[{units: 1000000000000}]",
                     cwd=tmp_path)
    assert_refused(result, "model.layers", "GiB")
    assert not (tmp_path / "run").exists()
