import os
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SHIPPED = sorted(p.stem for p in CONFIGS.glob("*.yaml"))


@pytest.fixture(autouse=True)
def _skip_drawing_unless_marked(request, monkeypatch):
    """A run's two pictures cost ~0.15 s of matplotlib per run, and the suite
    trains in its own process a few hundred times: runs there skip the drawing
    unless the test is marked `plots` (tests/test_plots.py, which checks the
    real default). `mlp` in a subprocess (run_mlp) always draws them."""
    if request.node.get_closest_marker("plots") is None:
        monkeypatch.setattr("mlpcli.plots.write_run_plots", lambda *args, **kwargs: [])


def run_mlp(*args, cwd=None, env=None, timeout=300):
    """Run the real `mlp` command in a subprocess; returns CompletedProcess (text)."""
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
