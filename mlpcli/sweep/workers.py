"""Where a sweep's trials run besides this process: local worker processes
(spawned, each limited to its share of the cores' BLAS threads, a dead one
replaced) and a Dask distributed cluster; and the SIGINT / SIGTERM handling
that stops them (the first at a step, checkpointed; a second at once)."""
from __future__ import annotations

import hashlib
import os
import signal
import time

from ..errors import MLPError
from ..plots.worker import trial_pictures
from .trial import failed_row, run_trial

def _init_worker(blas_threads: int) -> None:
    """A local worker: import the trainer once; BLAS limited to its share of the cores."""
    from threadpoolctl import threadpool_limits

    from .. import runner  # noqa: F401  (imports NumPy, the engine and the data loaders once)

    threadpool_limits(blas_threads)


class Stop:
    """The interrupt a trial's fit loop reads (see training.fit): ``signum``
    once a SIGINT / SIGTERM asked the sweep to stop."""

    signum = 0
    armed = False


_WORKER_STOP = Stop()


def _on_worker_signal(signum, frame):
    # A worker never stops by itself at a signal: its trial stops at the next
    # step, checkpointed, and reports; a second signal changes nothing here
    # (the parent kills its workers when it stops at once).
    _WORKER_STOP.signum = _WORKER_STOP.signum or signum


def _worker(conn, blas_threads: int, jobs: int) -> None:
    """A local worker process (one of ``jobs``): run each trial the parent sends,
    send back its row; None or a closed pipe ends it, once its trials'
    pictures are drawn. SIGINT / SIGTERM only set the stop flag."""
    signal.signal(signal.SIGINT, _on_worker_signal)
    signal.signal(signal.SIGTERM, _on_worker_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # the parent started it with them blocked
    _init_worker(blas_threads)
    with trial_pictures(jobs) as pictures:
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):  # the parent is gone
                return
            if task is None:
                return
            row = run_trial(task, _WORKER_STOP, pictures)
            try:
                conn.send(row)
            except OSError:
                return


SIGNALS = {signal.SIGINT, signal.SIGTERM}

class signals_handled:
    """While a sweep runs here: the first SIGINT / SIGTERM sets ``stop`` (no
    trial starts; running ones stop at a step) and is passed on to the
    workers; a second kills the workers and goes to the handler that was
    there before (the CLI's: exit 130 / 143 at once). Only in the main thread."""

    def __init__(self, stop: Stop):
        self.stop, self.pool, self.previous = stop, None, {}  # pool: the local workers, once started

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._on_signal) for s in SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def _on_signal(self, signum, frame):
        if not self.stop.signum:
            self.stop.signum = signum
            if self.pool is not None:
                self.pool.signal(signum)
            return
        if self.pool is not None:
            self.pool.kill()
        for s in SIGNALS:  # on the way out: a third signal must not interrupt the exit
            signal.signal(s, signal.SIG_IGN)
        previous = self.previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt


def send_signal(processes, signum: int) -> None:
    """``signum`` to each process still there (one that ended, or never got a pid, is skipped)."""
    for process in processes:
        try:
            os.kill(process.pid, signum)
        except (OSError, TypeError):
            pass


class Pool:
    """Local worker processes (spawned), one trial each at a time. A worker that
    dies fails only the trial it held and is replaced; after ``stop`` no trial
    starts, and the running ones report as they stop."""

    def __init__(self, workers: int, stop: Stop):
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.stop, self.workers, self.jobs = stop, [], workers
        try:
            for _ in range(workers):
                self.workers.append(self._start())
        except BaseException:  # a second signal while they start: none is left behind
            self.kill()
            self.close()
            raise

    def _start(self):
        parent, child = self.context.Pipe()
        # Blocked while it starts, so a signal during its imports cannot print a traceback;
        # the worker unblocks them once its own handler is set (a pending one arrives then).
        old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            process = self.context.Process(target=_worker, args=(child, self.threads, self.jobs), name="mlp-sweep-worker")
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
            child.close()
        return process, parent

    def run(self, tasks: list[dict], record) -> None:
        from multiprocessing.connection import wait

        queue, busy, stopping = list(tasks), {}, False  # busy: worker index -> task
        try:
            while True:
                for i in range(len(self.workers)):
                    while i not in busy and queue and not (stopping or self.stop.signum):
                        if self._send(i, queue[0]):
                            busy[i] = queue.pop(0)
                if not busy:
                    return
                waiting = {}
                for i in busy:
                    process, conn = self.workers[i]
                    waiting[conn] = waiting[process.sentinel] = i
                for i in sorted({waiting[r] for r in wait(list(waiting))}):
                    row = self._receive(i, busy.pop(i))
                    stopping = record(row) or stopping
        finally:
            self.close()

    def _send(self, i: int, task: dict) -> bool:
        """Give worker i a trial; a worker found dead (killed while idle) is replaced."""
        process, conn = self.workers[i]
        try:
            conn.send(task)
            return True
        except OSError:
            self._replace(i)
            return False

    def _receive(self, i: int, task: dict) -> dict:
        process, conn = self.workers[i]
        try:
            if conn.poll():
                return conn.recv()
        except (EOFError, OSError):
            pass
        except Exception as exc:  # a row torn as the worker died
            return failed_row(task, f"the worker process sent an unreadable result ({type(exc).__name__})")
        process.join(5)
        code = process.exitcode
        how = (f"killed by {signal.Signals(-code).name}" if code and code < 0 and -code in signal.valid_signals()
               else f"exit code {code}")
        self._replace(i)
        return failed_row(task, f"the worker process died ({how}) while running this trial")

    def _replace(self, i: int) -> None:
        process, conn = self.workers[i]
        conn.close()
        process.join(1)
        if process.is_alive():
            process.kill()
            process.join()
        self.workers[i] = self._start()

    def signal(self, signum: int) -> None:
        """Pass a signal on (a worker may not share the terminal's process group)."""
        send_signal([process for process, _ in self.workers], signum)

    def kill(self) -> None:
        send_signal([process for process, _ in self.workers], signal.SIGKILL)

    def close(self) -> None:
        """Ask every worker to end, wait for them (a minute at most), kill any left (nothing is orphaned)."""
        for process, conn in self.workers:
            try:
                conn.send(None)
            except OSError:
                pass
        # a worker ends once its last trials' pictures are drawn (at most PictureQueue.MAX_QUEUED runs'),
        # well within this; a second signal kills the workers at once instead (kill)
        deadline = time.monotonic() + 60
        for process, conn in self.workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()


CONNECT_TIMEOUT = "10s"  # a scheduler still starting gets this long to answer


def dask_client(address: str):
    """A client of the Dask scheduler at ``address``: refused (exit 2) if Dask is
    missing or the scheduler does not answer, before the sweep writes anything."""
    try:
        from distributed import Client
    except ImportError:
        raise MLPError(
            f"--scheduler {address}: needs Dask's distributed scheduler; install it with pip install 'mlpcli[dask]'"
        ) from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise MLPError(f"--scheduler {address}: cannot connect to a Dask scheduler there ({exc})") from None


def run_dask(client, tasks: list[dict], record) -> None:
    from distributed import as_completed

    token = hashlib.sha1(os.urandom(8)).hexdigest()[:8]
    futures = {client.submit(run_trial, task, key=f"mlp-trial-{task['trial']}-{token}", pure=False): task for task in tasks}
    for future in as_completed(list(futures)):
        if future.cancelled():
            continue
        try:
            row = future.result()
        except Exception as exc:  # the worker died, or mlpcli is missing there
            row = failed_row(futures[future], f"the Dask task failed ({type(exc).__name__}: {exc})")
        if record(row):
            client.cancel([f for f in futures if not f.done()])
