import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SHIPPED = sorted(p.stem for p in CONFIGS.glob("*.yaml"))


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


@pytest.fixture
def mlp():
    return run_mlp
