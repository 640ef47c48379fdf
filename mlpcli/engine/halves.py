"""An element-wise update run on two cores: this thread takes the first half
of a flat buffer, one helper thread the second.

NumPy releases the GIL inside each pass, so the halves run at once. On
bench_train.py's large model (535,818 parameters) Adam's step alone takes
~0.7 of its one-thread time this way (benchmarks/update_threads.py); below
``mlpcli.threads.SPLIT_UPDATE_SIZE`` parameters the hand-over (~70-90 us on
this machine) costs more than it saves.

Every element goes through the same passes as on one thread, so the result
is bit-for-bit the same.
"""
from __future__ import annotations

import os
import threading

import numpy as np

# Where the second half starts is a multiple of this many elements (64 bytes
# of float32): the two threads never write to one cache line.
ALIGN = 16


class _Helper:
    """One daemon thread that runs a job handed over with two locks (cheaper than
    a thread pool's futures, whose hand-over took ~30 us more here)."""

    def __init__(self):
        self.go, self.done, self.busy = threading.Lock(), threading.Lock(), threading.Lock()
        self.go.acquire()
        self.done.acquire()
        self.job = self.error = None
        threading.Thread(target=self._loop, name="mlpcli-update-half", daemon=True).start()

    def _loop(self):
        while True:
            self.go.acquire()
            try:
                job, errors, call = self.job
                # NumPy's error state is per thread: the caller's applies, its callback too.
                with np.errstate(**errors, call=call):
                    job()
            except BaseException as exc:  # re-raised in the calling thread
                self.error = exc
            self.done.release()

    def start(self, job) -> None:
        self.job, self.error = (job, np.geterr(), np.geterrcall()), None
        self.go.release()

    def wait(self) -> None:
        """Until the helper's half is done, even through an interrupt (a signal
        handler raising in this thread): returning earlier would leave it writing
        the buffer and the next job's hand-over out of step. The interrupt is
        raised once it is done, before the helper's own error."""
        interrupt = None
        while True:
            try:
                self.done.acquire()
                break
            except BaseException as exc:
                interrupt = interrupt or exc
        self.job, error, self.error = None, self.error, None
        if interrupt is not None:
            raise interrupt
        if error is not None:
            raise error


_helper: _Helper | None = None
_lock = threading.Lock()


def _forget_helper() -> None:
    """In a forked child: the parent's helper thread is not there (and its locks
    may have been held at the fork); the child starts its own when it needs one."""
    global _helper, _lock
    _helper, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helper)


def _get_helper() -> _Helper:
    global _helper
    with _lock:
        if _helper is None:
            _helper = _Helper()
        return _helper


def run_halves(update, n: int) -> None:
    """``update(lo, hi)`` over [0, n) as two halves, the second on the helper
    thread; returns once both are done (the helper's half finishes even when
    this thread's raises, so no part of the buffer is left half-updated).
    While another thread of the process uses the helper, the whole of it runs here."""
    half = n // 2 // ALIGN * ALIGN
    helper = _get_helper()
    if not helper.busy.acquire(blocking=False):
        update(0, n)
        return
    try:
        helper.start(lambda: update(half, n))
        try:
            update(0, half)
        except BaseException:
            try:
                helper.wait()
            except BaseException:
                pass  # this half's error comes first, as on one thread
            raise
        helper.wait()
    finally:
        helper.busy.release()
