"""Running a tune's plan: the storage opened (before the tune folder is
created), the study joined, trials run in this process or in --jobs worker
processes (each its own Optuna worker on the shared storage) until the study
has --trials finished ones or --timeout passes; SIGINT / SIGTERM handled as
in sweeps; the results rebuilt at the end."""
from __future__ import annotations

import os
import shutil
import signal
import time

import click

from ..errors import MLPError, TrainingInterrupted
from ..plots.runs import redraw_missing
from ..plots.worker import trial_pictures
from ..sweep.workers import SIGNALS, Stop, send_signal, signals_handled
from . import objective, results
from . import study as studies
from .planning import Plan, claim, write_record


class TuneInterrupted(MLPError):
    """SIGINT / SIGTERM stopped the tune, every finished trial recorded: exit 128 + the signal."""

    def __init__(self, message: str, signum: int):
        self.signum, self.exit_code = signum, 128 + signum
        super().__init__(message)


def run(p: Plan, *, trials: int, timeout: float | None = None, jobs: int = 1, progress: bool = False) -> dict:
    """Run trials until the study holds ``trials`` finished ones (complete,
    pruned, or failed and not retried) or ``timeout`` seconds pass, and return
    the summary (see results.summary). ``progress``: a line on stderr as each trial ends."""
    started = time.perf_counter()
    if trials < 1 or jobs < 1 or (timeout is not None and timeout <= 0):
        raise MLPError(f"--trials {trials} / --jobs {jobs} / --timeout {timeout}: must be above 0")
    url = p.record["storage"]
    storage = studies.open_storage(url) if p.custom_storage else None  # reachable before anything is written
    has_trial_folders = any(p.tune_dir.glob("trial-*"))
    if has_trial_folders and storage is None and not studies.default_storage_file(p.tune_dir).exists():
        _refuse_lost_study(p)  # before opening the default storage would create its file
    created = claim(p)
    try:
        storage = storage or studies.open_storage(url)
        if has_trial_folders and not studies.has_trials(storage, p.record["study_name"]):
            _refuse_lost_study(p)  # before a study is created in the storage
        study = _open(p, storage)
        _settle_pruning(p, study)
    except BaseException:
        if created:
            shutil.rmtree(p.tune_dir, ignore_errors=True)
        raise
    studies.reclaim(study)
    _redraw_missing(p, study)
    deadline = None if timeout is None else time.time() + timeout
    job = {"ctx": _context(p), "record": p.record, "epochs": p.epochs, "trials": trials, "deadline": deadline,
           "progress": progress, "jobs": jobs}
    stop, ran = Stop(), 0
    try:
        with signals_handled(stop) as handling:
            if jobs == 1:
                ran = work(job, stop, storage)
            else:
                handling.pool = Workers(jobs, job, stop)
                ran = handling.pool.wait(study)
    finally:
        table = results.rows(p.tune_dir, study, p.record)
        results.write(p.tune_dir, table, p.record)
        best = results.write_best(p.tune_dir, study, p.record)
    summary = results.summary(p.tune_dir, study, p.record, table, best, ran, time.perf_counter() - started)
    # a signal after the study was done (as the last trial's pictures were drawn) cut nothing short
    if stop.signum and (summary["finished"] < trials or summary["waiting"] or summary["running"]):
        verb = "interrupted" if stop.signum == signal.SIGINT else "terminated"
        raise TuneInterrupted(
            f"{verb}: the study has {summary['finished']} of {trials} trials finished ({ran} this run), recorded in "
            f"{p.tune_dir / results.RESULTS_CSV}; a trial that was running stopped at a checkpoint and is queued to continue; "
            "run the same command again to go on", stop.signum)
    if summary["complete"] == 0 and summary["finished"]:
        raise MLPError(f"no trial completed ({summary['failed']} failed, {summary['pruned']} pruned); "
                       f"see {p.tune_dir / results.RESULTS_CSV}")
    return summary


def _refuse_lost_study(p: Plan):
    raise MLPError(f"{p.tune_dir}: holds the trial folders of a study that is not in {p.record['storage']} "
                   f"(deleted?); its trials would overwrite them: choose another --out")


def _open(p: Plan, storage):
    seed = p.record["seed"]
    return studies.open_study(storage, p.record["study_name"], p.record["direction"],
                              studies.make_sampler(p.record["sampler"], seed), _pruner(p.record, p.epochs))


def _settle_pruning(p: Plan, study) -> None:
    """Judge the trials as the study's other trials were (studies.settle_pruning); tune.json says how."""
    proposed = {"pruner": p.record["pruner"], **p.record["pruner_options"]}
    settled = studies.settle_pruning(study, p.typed, proposed, p.fallback)
    if settled != proposed:
        p.record.update(pruner=settled.pop("pruner"), pruner_options=settled)
        study.pruner = _pruner(p.record, p.epochs)
    write_record(p)


def _pruner(record: dict, epochs: int):
    options = record["pruner_options"]
    return studies.make_pruner(record["pruner"], options.get("max_epochs") or epochs, options["min_epochs"],
                               options["reduction_factor"], options.get("bracket_seed"))


def _redraw_missing(p: Plan, study) -> None:
    """The pictures of this folder's finished trials that a killed tune's helper had not drawn yet."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        redraw_missing(objective.trial_dir(p.tune_dir, t.number))


def _context(p: Plan) -> objective.Context:
    return objective.Context(str(p.tune_dir), p.config if isinstance(p.config, dict) else str(p.config),
                             list(p.sets), list(p.params), p.record["metric"])


def work(job: dict, stop, storage=None) -> int:
    """One Optuna worker: trials one after another until the study has taken
    ``trials`` slots (counting the ones running elsewhere) and run every retry,
    the deadline, or ``stop``. A trial a signal stopped is failed in the study and queued again
    (its retry continues the checkpoint). Returns the trials run here."""
    record, trials = job["record"], job["trials"]
    storage = storage or studies.open_storage(record["storage"])
    study = studies.open_study(storage, record["study_name"], record["direction"],
                               studies.make_sampler(record["sampler"], record["seed"]),
                               _pruner(record, job["epochs"]), create=False)
    if stop.signum or studies.done(study, trials):
        return 0
    current, ran = [], [0]

    def objective_fn(trial):
        if studies.surplus(study, trial, trials):  # another process took the last slot as this one asked
            trial.set_user_attr(studies.SURPLUS, True)
            raise objective.Surplus
        current.append(trial.number)
        return objective.run(trial, job["ctx"], stop, pictures)

    def after(study, frozen):
        if studies.SURPLUS in frozen.user_attrs:
            study.stop()
            return
        ran[0] += 1
        c = studies.counts(study)
        if job["progress"]:
            click.echo(trial_line(c["finished"], trials, frozen, record["metric"]), err=True)
        if stop.signum or studies.done(study, trials, c):
            study.stop()

    timeout = None if job["deadline"] is None else max(0.0, job["deadline"] - time.time())
    with trial_pictures(job["jobs"]) as pictures:  # the finished trials' pictures on disk before this returns
        try:  # until after() stops the study: the slots all taken, the retries run
            study.optimize(objective_fn, timeout=timeout, catch=(objective.TrialFailed, objective.Surplus),
                           callbacks=[after])
        except (TrainingInterrupted, KeyboardInterrupt) as exc:
            frozen = next((t for t in study.get_trials(deepcopy=False) if current and t.number == current[-1]), None)
            if frozen is not None and frozen.state.name == "FAIL":
                studies.retry(study, frozen, "interrupted")
            if stop.signum and isinstance(exc, TrainingInterrupted):  # the first signal: a clean stop
                return ran[0]
            raise
    return ran[0]


def trial_line(done: int, total: int, frozen, metric: str) -> str:
    from ..render import tune_trial_line

    figures = frozen.user_attrs.get("figures") or {}
    return tune_trial_line(done, total, {
        "trial": objective.trial_dir("", frozen.number).name, "state": results.STATES.get(frozen.state.name, "?"),
        "value": frozen.value, "metric": metric, "epochs": figures.get("epochs_run"),
        "seconds": frozen.user_attrs.get("seconds"), "error": frozen.user_attrs.get(studies.ERROR),
    })


_WORKER_STOP = Stop()


def _on_worker_signal(signum, frame):
    # Only the flag: the trial stops at its next step, checkpointed (the parent kills at a second signal).
    _WORKER_STOP.signum = _WORKER_STOP.signum or signum


def _worker(conn, job: dict, blas_threads: int) -> None:
    """A worker process: Optuna trials until the study is done; sends back
    ("done", trials run) or ("error", message)."""
    signal.signal(signal.SIGINT, _on_worker_signal)
    signal.signal(signal.SIGTERM, _on_worker_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    from threadpoolctl import threadpool_limits

    threadpool_limits(blas_threads)
    try:
        message = ("done", work(job, _WORKER_STOP))
    except MLPError as exc:
        message = ("error", str(exc))
    except Exception as exc:  # a bug: one line, as the CLI would print it
        message = ("error", f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")
    try:
        conn.send(message)
    except OSError:
        pass


class Workers:
    """--jobs worker processes (spawned, each with its share of the cores' BLAS
    threads). One that dies leaves its trial running in the study: it is
    failed, retried once, and the worker replaced. ``signal`` / ``kill`` are
    what sweep.workers.signals_handled calls at a first / second signal."""

    def __init__(self, n: int, job: dict, stop):
        import multiprocessing

        self.context, self.job, self.stop = multiprocessing.get_context("spawn"), job, stop
        self.threads = max(1, (os.cpu_count() or 1) // n)
        self.procs = []
        try:
            for _ in range(n):
                self.procs.append(self._start())
        except BaseException:
            self.kill()
            raise

    def _start(self):
        parent, child = self.context.Pipe()
        old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)  # the worker unblocks once its handler is set
        try:
            process = self.context.Process(target=_worker, args=(child, self.job, self.threads), name="mlp-tune-worker")
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
            child.close()
        return process, parent

    def wait(self, study) -> int:
        """Until every worker has ended; the first worker error is raised (after the others end)."""
        from multiprocessing.connection import wait

        ran, error, live = 0, None, list(self.procs)
        while live:
            ready = wait([p.sentinel for p, _ in live])
            for process, conn in [w for w in live if w[0].sentinel in ready]:
                process.join()
                live.remove((process, conn))
                try:
                    message = conn.recv() if conn.poll() else None
                except (EOFError, OSError):  # died without a word
                    message = None
                conn.close()
                if message is None:  # died (killed, out of memory): its trial is failed and retried once
                    studies.reclaim(study)
                    if not self.stop.signum and not studies.done(study, self.job["trials"]):
                        live.append(self._start())
                        self.procs.append(live[-1])
                elif message[0] == "error":
                    error = error or message[1]
                else:
                    ran += message[1]
        if error:
            raise MLPError(error)
        return ran

    def signal(self, signum: int) -> None:
        send_signal([process for process, _ in self.procs], signum)

    def kill(self) -> None:
        send_signal([process for process, _ in self.procs], signal.SIGKILL)
