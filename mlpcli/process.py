"""What the ``mlp`` process does around a command: signals and standard output.

The first SIGINT / SIGTERM while a fit loop runs only asks it to stop after
its step (``STOP``); a second one, or one outside the loop, stops at once
(``Signalled``). stdout is flushed while an error can still be reported, and
every failure becomes one ``Error:`` line (``fail``).
"""
from __future__ import annotations

import io
import os
import sys

import click

from .errors import MLPError


class StdoutError(MLPError):
    """The result could not be written to stdout (a full device, a closed file)."""

    def __init__(self, exc: OSError, note: str = ""):
        super().__init__(f"cannot write the result to standard output ({exc.strerror or exc}){note}")


def flush_stdout() -> None:
    """Write out what is buffered for stdout now, while an error can still be
    reported; then point fd 1 at /dev/null so the interpreter's own flush at
    exit finds nothing left to fail on."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        discard_stdout()
        raise StdoutError(exc) from None


def discard_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):  # not a real file (a test's buffer)
        pass


class Signalled(BaseException):
    """SIGINT or SIGTERM, raised in the main thread so cleanup runs.

    Not a KeyboardInterrupt: Click would print a blank line for that."""

    def __init__(self, signum):
        self.signum = signum


class StopRequest:
    """The first SIGINT / SIGTERM while the fit loop runs (``armed``): the loop
    finishes its step, checkpoints and stops (training.fit reads ``signum``)."""

    signum = 0
    armed = False


STOP = StopRequest()


def on_signal(signum, frame):
    if STOP.armed and not STOP.signum:
        STOP.signum = signum
        return
    raise Signalled(signum)  # outside the fit loop, or a second signal: stop at once


def fail(message: str, code: int, debug: bool = False) -> int:
    progress = sys.modules.get("mlpcli.progress")  # loaded only when a bar was shown
    if progress is not None:  # a bar a failed fit left open: end its line before the error
        progress.close_bars()
    if debug:
        import traceback

        traceback.print_exc()
    click.echo("Error: " + " ".join(str(message).split()), err=True)
    return code


def echo_result(result, as_json: bool, text=None, nl: bool = True, note: str = "") -> None:
    """A command's result on stdout: one JSON object with --json, else ``text(result)``."""
    if as_json:
        from .artifacts import to_json

        write_out(to_json(result), note=note)
    else:
        write_out(text(result), nl=nl, note=note)


def write_out(text: str, nl: bool = True, note: str = "") -> None:
    """``text`` on stdout; a failed write (a full device) is an error naming
    the reason, and ``note`` (what is already done)."""
    try:
        click.echo(text, nl=nl)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise StdoutError(exc, note) from None
