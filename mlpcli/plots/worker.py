"""A run's pictures drawn by a helper process that imports matplotlib while
the run loads its data and trains.

matplotlib's import (about 0.4 s) is most of what pictures cost a short
`mlp train`; on a second core it overlaps the run's own imports and training.
The helper starts before the data is loaded, imports the figure machinery and
draws one throw-away figure (fonts loaded), then waits on its stdin for the
finished run's history and test figures, writes the PNGs (atomically, as
``write_run_plots`` does in process) and exits. The run waits for it before
returning, so a finished `mlp train` has its pictures on disk, as before; a
run that fails or is interrupted kills the helper, which has written
nothing yet. Any problem starting or talking to the helper falls back to
drawing in this process.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
_CHILD = (
    "import sys; sys.path.insert(0, {parent!r}); "
    "from mlpcli.plots.worker import serve; sys.exit(serve())"
)


def wanted(resolved: dict) -> bool:
    """Whether a helper is worth starting: pictures are on, matplotlib is not
    loaded here already (a second run in one process draws in place), and
    stderr is this process's own (so the helper's warnings land where ours do)."""
    return bool(resolved["output"]["plots"]) and _own_process()


def _own_process() -> bool:
    if "matplotlib" in sys.modules:
        return False
    try:
        return sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a captured stream (CliRunner, pytest's capsys)
        return False


_TEXT_READ = 1 << 16  # a config longer than this is not looked at early: the run starts its helper itself


def start_early(config: str, overrides=()) -> PlotWorker | None:
    """The helper, started before the run's own imports (about 0.3 s earlier
    than the run could, which is about what a short run then waits for it),
    when pictures are on by default: the config file and the --set overrides
    never mention ``plots`` (a key spelt with YAML escapes still turns them
    off, and the run then closes the helper). Otherwise None, and the run
    starts its helper once its config is resolved, as before; a run that turns
    out to draw nothing closes an early helper, which has written nothing."""
    if config == "-" or any("plots" in o for o in overrides) or not _own_process():
        return None
    try:
        if not stat.S_ISREG(os.stat(config).st_mode):  # a pipe's text is the run's to read, once
            return None
        with open(config, "rb") as f:
            text = f.read(_TEXT_READ + 1)
    except OSError:
        return None
    if len(text) > _TEXT_READ or b"plots" in text:
        return None
    return PlotWorker.start()


class PlotWorker:
    """The helper process; ``draw`` hands it a finished run, ``close`` ends it."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD.format(parent=_PACKAGE_PARENT)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, close_fds=True,
            # its own session: a Ctrl-C in the terminal reaches the run only (which then closes our stdin),
            # never a helper still starting up, whose KeyboardInterrupt would print a traceback
            start_new_session=True,
        )

    @classmethod
    def start(cls) -> PlotWorker | None:
        try:
            return cls()
        except OSError:  # no process to spare: draw in place later
            return None

    def draw(self, run_dir, history, task, test, classes, best=None) -> bool:
        """Send the finished run and wait until its PNGs are written; False if
        the helper could not take it (the caller then draws in place)."""
        job = {
            "run_dir": str(Path(run_dir).resolve()), "history": list(history), "task": task, "test": test,
            "classes": None if classes is None else [c.item() if hasattr(c, "item") else c for c in classes],
            "best": list(best) if best else None,
        }
        try:
            self.process.stdin.write(json.dumps(job).encode())
            self.process.stdin.close()
        except (OSError, ValueError, TypeError):
            self.close()
            return False
        return self.process.wait() == 0

    def close(self) -> None:
        """End the helper without a picture, at once: it has written nothing
        before it reads a job (draw), so nothing can be left half done, and a
        run refused before training does not wait for its warm-up (~0.5 s)."""
        self.process.kill()
        try:
            self.process.stdin.close()
        except OSError:
            pass
        self.process.wait()


def serve() -> int:
    """The helper's side: warm up, read one job from stdin, draw it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a signal for the run is the run's: it closes our stdin
    try:
        from .canvas import figure, png

        fig = figure((60, 40))
        fig.text(0.5, 0.5, "0")
        png(fig)
    except Exception:  # noqa: BLE001 - the real drawing reports the problem, as in process
        pass
    data = sys.stdin.buffer.read()
    if not data:
        return 0
    job = json.loads(data)
    from .runs import write_run_plots

    best = tuple(job["best"]) if job["best"] else None
    write_run_plots(Path(job["run_dir"]), job["history"], job["task"], job["test"], job["classes"], best)
    sys.stderr.flush()
    os._exit(0)  # nothing of ours to clean up; skip interpreter teardown
