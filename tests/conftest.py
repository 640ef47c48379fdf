import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SHIPPED = sorted(p.stem for p in CONFIGS.glob("*.yaml"))

# CI (.ci/run sets CI=true) draws the same examples every run, so a red build is
# the code's doing and reproducible, and prints the blob that replays a failure.
# Loaded here, before the test modules build their settings objects from it.
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
if os.environ.get("CI", "").lower() not in ("", "0", "false"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _skip_drawing_unless_marked(request, monkeypatch):
    """A run's two pictures cost ~0.15 s of matplotlib per run, and the suite
    trains in its own process a few hundred times: runs there skip the drawing
    unless the test is marked `plots` (tests/test_plots.py, which checks the
    real default). Fixtures of module scope are set up before this one, so runs
    they make draw as `mlp` does; so does `mlp` in a real process (run_mlp_process)."""
    if request.node.get_closest_marker("plots") is None:
        monkeypatch.setattr("mlpcli.plots.write_run_plots", lambda *args, **kwargs: [])


@pytest.fixture(autouse=True)
def _fresh_prepare_cache():
    """Each test starts with no prepared data kept, as a fresh `mlp` process
    does: a run in one test never takes another test's data (or skips a
    fault injected into preparing it)."""
    from mlpcli import prepare_cache

    prepare_cache.clear()


def _warn_to_stderr(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def run_mlp(*args, cwd=None, env=None, input=None):
    """`mlp ARGS` in this process, as a shell would run it; returns a
    CompletedProcess (text) like run_mlp_process.

    mlpcli.cli.main (the `mlp` entry point) runs with sys.argv ["mlp", ARGS],
    its own stdin / stdout / stderr (Click's CliRunner isolation: not
    terminals), working directory and environment (MLP_DEBUG unset), and
    Python's default warning filters with warnings printed to its stderr, as
    a fresh interpreter prints them; its exit status is main's sys.exit code.
    A real process costs ~1-2 s more a call (it imports scikit-learn and
    matplotlib): use run_mlp_process where the process itself is under test.
    """
    from click.testing import CliRunner

    from mlpcli.cli import main

    argv = [str(a) for a in args]
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}  # main() sets its own
    here, old_argv, code = os.getcwd(), sys.argv, 0
    with CliRunner().isolation(input=input, env={"MLP_DEBUG": None, **(env or {})}) as (out, err, _mixed):
        with warnings.catch_warnings():
            warnings.resetwarnings()  # not pytest's filters: the interpreter's defaults
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", category)
            warnings.showwarning = _warn_to_stderr
            try:
                if cwd is not None:
                    os.chdir(cwd)
                sys.argv = ["mlp", *argv]
                main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            finally:
                sys.argv = old_argv
                os.chdir(here)
                for signum, handler in handlers.items():
                    signal.signal(signum, handler)
                sys.stdout.flush()
                sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode(errors="backslashreplace")
    return subprocess.CompletedProcess(["mlp", *argv], code, stdout, stderr)


def run_mlp_process(*args, cwd=None, env=None, timeout=300):
    """Run the real `mlp` command in a subprocess (`python -m mlpcli`); returns
    CompletedProcess (text). For what only a process shows: its exit status,
    its argv, a fresh interpreter's imports and defaults."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLP_DEBUG"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mlpcli", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_shipped_data(cwd: Path) -> None:
    """Write the data files shipped configs read from the working directory
    (configs/tabular.yaml: data/churn.csv, from scripts/make_tabular_csv.py)."""
    out = Path(cwd) / "data" / "churn.csv"
    if not out.exists():
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "make_tabular_csv.py"), "--out", str(out)],
            check=True, capture_output=True, timeout=120,
        )


def snapshot(root: Path) -> dict:
    """Every path under root, with each file's bytes."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def assert_refused(result, *names, code=2) -> str:
    """Exit ``code``; stderr is one line starting ``Error: `` that names each of
    ``names``; no traceback; stdout empty. Returns the error line."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("Error: "), line
    for name in names:
        assert name in line, f"{name!r} not in {line!r}"
    assert result.stdout == ""
    return line


def wait_for(proc, condition, what: str, limit: float = 120):
    """Poll ``condition`` until it holds; a process that ends first, or ``limit``
    seconds, fail the test with what the process printed."""
    deadline = time.monotonic() + limit
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"never saw {what}: {proc.communicate()}")
        time.sleep(0.01)


def epochs_done(run: Path) -> int:
    """Epochs a run folder has logged so far (whole lines of metrics.jsonl)."""
    try:
        return (run / "metrics.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
