"""Running a sweep's plan: the trials not finished yet, in this process, in
local workers or on Dask, each recorded as it ends; the summary."""
from __future__ import annotations

import signal
import time

from .. import artifacts
from ..errors import MLPError
from ..plots.runs import redraw_missing
from ..plots.worker import trial_pictures
from .planning import Plan
from .results import RESULTS_CSV, RESULTS_JSONL, claim, finished_metrics, read_rows, summarise, write_csv
from .trial import figures, row_of, run_trial
from .workers import Pool, Stop, dask_client, run_dask, signals_handled


class SweepFailed(MLPError):
    """Some trials failed (each recorded in results.csv): exit 2 after the leaderboard."""


class SweepInterrupted(MLPError):
    """SIGINT / SIGTERM stopped the sweep, every finished trial recorded: exit 128 + the signal."""

    def __init__(self, message: str, signum: int):
        self.signum, self.exit_code = signum, 128 + signum
        super().__init__(message)


def run(p: Plan, *, jobs: int = 1, scheduler: str | None = None, fail_fast: bool = False, on_trial=None) -> dict:
    """Run the plan's trials that are not finished yet and return the summary
    (see ``summarise``). ``on_trial(done, total, row)`` is called as each ends.
    Nothing is written before the Dask scheduler (if any) answers. A signal
    raises SweepInterrupted once the running trials have stopped, every
    finished one recorded; a second signal stops at once."""
    started = time.perf_counter()
    if jobs < 1:
        raise MLPError(f"--jobs {jobs}: must be 1 or more")
    client = dask_client(scheduler) if scheduler else None
    try:
        return _run(p, jobs, client, fail_fast, on_trial, started)
    finally:
        if client is not None:
            client.close()


def _run(p: Plan, jobs: int, client, fail_fast: bool, on_trial, started: float) -> dict:
    claim(p)
    previous = read_rows(p.sweep_dir / RESULTS_JSONL)
    rows, todo = {}, []
    for t in p.trials:
        done = finished_metrics(p.sweep_dir / t.name)
        if done is None:
            todo.append(t)
        else:
            redraw_missing(p.sweep_dir / t.name)  # its pictures queued for a helper when the sweep was killed
            old = previous.get(t.name, {})
            rows[t.name] = {**row_of(t), "overrides": list(t.overrides), "status": "completed", "error": None,
                            **figures(done), "seconds": old.get("seconds", done.get("train_seconds"))}
    skipped = len(rows)
    # results.jsonl as of now: the finished trials' rows (a failed one is run again), then one line per trial as it ends
    artifacts.atomic_write(p.sweep_dir / RESULTS_JSONL, "".join(artifacts.to_json(rows[t.name]) + "\n" for t in p.trials if t.name in rows))
    write_csv(p, rows)
    config = p.raw if p.raw is not None else str(p.config)
    tasks = [{**row_of(t), "overrides": list(t.overrides), "config": config, "run_dir": str(p.sweep_dir / t.name)} for t in todo]
    stop = Stop()
    with artifacts.JsonLines(p.sweep_dir / RESULTS_JSONL, truncate=False) as lines:
        def record(row):
            if row["status"] == "not run":  # stopped before it started: nothing to record
                return False
            rows[row["trial"]] = row
            lines.append(row)
            write_csv(p, rows)
            if on_trial:
                on_trial(len(rows) - skipped, len(todo), row)
            return fail_fast and row["status"] != "completed"

        if client is not None:
            run_dask(client, tasks, record)
        else:
            with signals_handled(stop) as handling:
                if min(jobs, len(tasks)) > 1:
                    handling.pool = Pool(min(jobs, len(tasks)), stop)
                    handling.pool.run(tasks, record)
                else:
                    with trial_pictures(1) as pictures:
                        for task in tasks:
                            if stop.signum or record(run_trial(task, stop, pictures)):
                                break
    if stop.signum and _cut_short(p, rows):
        raise _interruption(p, rows, skipped, stop.signum)
    ran = list(rows)[skipped:]  # rows holds the skipped trials first, then each as it ended
    return summarise(p, rows, skipped, time.perf_counter() - started, ran)


def _cut_short(p: Plan, rows: dict) -> bool:
    """Whether a signal left a trial stopped at its checkpoint or not started
    (one after the last trial ended, as its pictures were drawn, cut nothing)."""
    return len(rows) < len(p.trials) or any(r["status"] == "interrupted" for r in rows.values())


def _interruption(p: Plan, rows: dict, skipped: int, signum: int) -> SweepInterrupted:
    statuses = [r["status"] for r in list(rows.values())[skipped:]]
    finished = sum(s in ("completed", "failed") for s in statuses)
    cut = statuses.count("interrupted")
    verb = "interrupted" if signum == signal.SIGINT else "terminated"
    return SweepInterrupted(
        f"{verb}: {finished} trial{'s' * (finished != 1)} finished this run ({skipped} before), recorded in "
        f"{p.sweep_dir / RESULTS_CSV}; {cut} stopped at a checkpoint, {len(p.trials) - len(rows)} not started; "
        "run the same sweep again to go on", signum,
    )

