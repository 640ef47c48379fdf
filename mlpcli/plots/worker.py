"""Pictures drawn by a helper process: one run's, with matplotlib imported
while the run loads its data and trains (PlotWorker), and a sweep's or tune's
trials', drawn while the next trial trains (PictureQueue).

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
from contextlib import nullcontext
from pathlib import Path

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
_CHILD = (
    "import sys; sys.path.insert(0, {parent!r}); "
    "from mlpcli.plots.worker import {serve}; sys.exit({serve}())"
)


def wanted(resolved: dict) -> bool:
    """Whether a helper is worth starting: pictures are on, matplotlib is not
    loaded here already (a second run in one process draws in place), and
    stderr is this process's own (so the helper's warnings land where ours do)."""
    return bool(resolved["output"]["plots"]) and _own_process()


def _own_process() -> bool:
    return "matplotlib" not in sys.modules and _own_stderr()


def _own_stderr() -> bool:
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


def _helper(serve_function: str, acknowledge: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(parent=_PACKAGE_PARENT, serve=serve_function)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE if acknowledge else subprocess.DEVNULL, close_fds=True,
        # its own session: a Ctrl-C in the terminal reaches the run only (which then closes our stdin),
        # never a helper still starting up, whose KeyboardInterrupt would print a traceback
        start_new_session=True,
    )


def _job(run_dir, history, task, test, classes, best) -> dict:
    return {
        "run_dir": str(Path(run_dir).resolve()), "history": list(history), "task": task, "test": test,
        "classes": None if classes is None else [c.item() if hasattr(c, "item") else c for c in classes],
        "best": list(best) if best else None,
    }


def _draw_job(job: dict) -> None:
    from .runs import write_run_plots

    best = tuple(job["best"]) if job["best"] else None
    write_run_plots(Path(job["run_dir"]), job["history"], job["task"], job["test"], job["classes"], best)


class PlotWorker:
    """The helper process; ``draw`` hands it a finished run, ``close`` ends it."""

    def __init__(self):
        self.process = _helper("serve")

    @staticmethod
    def training(network, batch_size):
        """The context the run trains in: unchanged (its helper only warms up meanwhile)."""
        return nullcontext()

    @classmethod
    def start(cls) -> PlotWorker | None:
        try:
            return cls()
        except OSError:  # no process to spare: draw in place later
            return None

    def draw(self, run_dir, history, task, test, classes, best=None) -> bool:
        """Send the finished run and wait until its PNGs are written; False if
        the helper could not take it (the caller then draws in place)."""
        job = _job(run_dir, history, task, test, classes, best)
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


class PictureQueue:
    """A sweep's or tune's trial pictures, drawn by one helper process while
    this process trains the next trial (on a two-core machine a digits trial's
    two pictures cost about a third of its time in line). ``draw`` hands the
    helper a finished run and returns at once, unless MAX_QUEUED runs are
    still undrawn: then it waits for the oldest (the helper acknowledges each
    run on its stdout once its PNGs are written), so when trials end faster
    than their pictures are drawn, training waits instead of a backlog
    growing. ``finish`` waits for the rest (at most MAX_QUEUED runs' drawing)
    and draws here whatever a helper that died left undrawn, so a sweep that
    returns has all its pictures, as before. Between the two a finished
    trial's results are on disk and its PNGs are not yet: each PNG appears
    whole (written atomically) or not at all.

    Worth it only with a core to spare for each trial process (``worth_it``):
    with a trial on every core, the helper would take its CPU time from them.
    """

    MAX_QUEUED = 2

    def __init__(self):
        self.process, self.queued, self.failed = None, [], False  # queued: sent, not yet acknowledged

    @staticmethod
    def worth_it(jobs: int) -> bool:
        return 2 * jobs <= (os.cpu_count() or 1) and _own_stderr()

    @staticmethod
    def training(network, batch_size):
        """The context a trial trains in: a small step leaves the helper a core (threads.py)."""
        from ..threads import leave_a_core

        return leave_a_core(network, batch_size)

    def draw(self, run_dir, history, task, test, classes, best=None) -> bool:
        """Queue a finished run's pictures; False if there is no helper to take
        them (the caller draws in place)."""
        if self.failed:
            return False
        job = _job(run_dir, history, task, test, classes, best)
        try:
            if self.process is None:
                self.process = _helper("serve_many", acknowledge=True)
            while len(self.queued) >= self.MAX_QUEUED:
                self._acknowledged()
            self.process.stdin.write(json.dumps(job).encode() + b"\n")
            self.process.stdin.flush()
        except (OSError, ValueError, TypeError, _HelperGone):  # it died: what it left undrawn is drawn here
            self._give_up()
            return False
        self.queued.append(job)
        return True

    def _acknowledged(self) -> None:
        """Wait until the helper has drawn the oldest queued run."""
        if not self.process.stdout.readline():
            raise _HelperGone
        self.queued.pop(0)

    def _give_up(self) -> None:
        """The helper is gone (or never started): draw its undrawn runs here, and every later one in line."""
        self.failed = True
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self._close_pipes()
        queued, self.process, self.queued = self.queued, None, []
        for job in queued:
            _draw_job(job)

    def finish(self) -> None:
        """Wait for every queued picture; what the helper could not draw is drawn here."""
        if self.process is None:
            return
        try:
            self.process.stdin.close()
            while self.queued:
                self._acknowledged()
        except (OSError, ValueError, _HelperGone):
            self._give_up()
            return
        self.process.wait()
        self.process.stdout.close()
        self.process = None

    def abandon(self) -> None:
        """Stop waiting (a second signal): the helper draws the few runs it
        holds (each PNG atomic) and exits by itself; nothing new is queued."""
        if self.process is not None:
            self._close_pipes()
        self.process, self.queued, self.failed = None, [], True

    def _close_pipes(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:  # unsent bytes to a process that is gone
                pass

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is None:
            self.finish()
        else:
            self.abandon()


class _HelperGone(Exception):
    """The helper's stdout closed before it acknowledged a run: it died."""


def trial_pictures(jobs: int):
    """A context for a process that runs trials, ``jobs`` such processes at
    once: a PictureQueue (finished on leaving) where each has a core to spare
    for it, else None (each trial draws its own)."""
    return PictureQueue() if PictureQueue.worth_it(jobs) else nullcontext()


def _warm_up() -> None:
    try:
        from .canvas import figure, png

        fig = figure((60, 40))
        fig.text(0.5, 0.5, "0")
        png(fig)
    except Exception:  # noqa: BLE001 - the real drawing reports the problem, as in process
        pass


def serve() -> int:
    """The helper's side: warm up, read one job from stdin, draw it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a signal for the run is the run's: it closes our stdin
    _warm_up()
    data = sys.stdin.buffer.read()
    if not data:
        return 0
    _draw_job(json.loads(data))
    sys.stderr.flush()
    os._exit(0)  # nothing of ours to clean up; skip interpreter teardown


def serve_many() -> int:
    """PictureQueue's helper: warm up, then draw each job (one JSON line) as it
    comes, acknowledging each with a line on stdout, until stdin closes (a
    line cut short by its sender's death is skipped)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(19)
    _warm_up()
    for line in sys.stdin.buffer:
        try:
            job = json.loads(line)
        except ValueError:
            continue
        _draw_job(job)
        try:
            sys.stdout.write("\n")
            sys.stdout.flush()
        except OSError:  # nobody waits for it any more (abandoned): draw the rest all the same
            pass
    sys.stderr.flush()
    os._exit(0)
