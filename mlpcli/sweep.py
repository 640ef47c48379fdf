"""`mlp sweep`: many variants of one config, run, recorded and ranked.

A sweep expands a config into trials (a grid product, random draws from
ranges, each with K seeds), trains each as `mlp train` would into a run folder
under the sweep folder, appends one row per finished trial to results.csv and
results.jsonl, and ranks the trials (mean and std over seeds). Semantics follow
Hydra's multirun (one job per point of the product of the swept values; a job
is a normal run) and DVC's metrics files (one flat row per run).

Trials run in this process (--jobs 1), in N spawned local worker processes
each limited to cores / N BLAS threads, or on a Dask distributed cluster.
A trial's own failure never raises here: it is a row with status "failed";
so is a local worker's death (killed, out of memory), and the worker is
replaced. The first SIGINT / SIGTERM starts no more trials and stops the
running ones at a step, checkpointed (a re-run resumes them); a second one
stops at once.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import artifacts
from .checkpoint import checkpoint_paths
from .errors import CheckpointError, ConfigError, MLPError, RunFolderError, TrainingInterrupted
from .render import MAIN_METRICS

SWEEP_FILE, RESULTS_CSV, RESULTS_JSONL = "sweep.json", "results.csv", "results.jsonl"
# The random draws' stream: one past prepare.STREAMS, so it never repeats a training stream.
_RANDOM_STREAM = 5
_NAME_LIMIT = 120


class SweepFailed(MLPError):
    """Some trials failed (each recorded in results.csv): exit 2 after the leaderboard."""


class SweepInterrupted(MLPError):
    """SIGINT / SIGTERM stopped the sweep, every finished trial recorded: exit 128 + the signal."""

    def __init__(self, message: str, signum: int):
        self.signum, self.exit_code = signum, 128 + signum
        super().__init__(message)


@dataclass(frozen=True)
class Trial:
    name: str  # the trial's folder under the sweep folder
    params: dict  # swept key (dotted) -> value (parsed YAML), seed included with --seeds
    overrides: tuple[str, ...]  # the sweep's --set, then this trial's KEY=VALUE
    seed: int = 0  # the trial's resolved seed
    group: str = ""  # the name without the seed: trials that differ only in seed


@dataclass
class Plan:
    config: Path | str  # absolute, or "-": read from standard input (then ``raw`` holds it)
    sweep_dir: Path
    trials: list[Trial]
    base_sha256: str  # the resolved base config (with --set): a re-run must match it
    metric: str  # the figure that ranks trials ("main": the task's main metric)
    split: str  # "val" or "test": where that figure comes from
    swept: list[str] = field(default_factory=list)  # dotted keys, in the order given
    raw: dict | None = None  # a config read from standard input, as parsed: read once, given to every trial


# --------------------------------------------------------------------------- expansion


def _key(text: str, option: str) -> str:
    key = re.sub(r"\[(\d+)\]", r".\1", text).strip()
    if not re.fullmatch(r"[A-Za-z_]\w*(\.\w+)*", key):
        raise ConfigError(f"{option}: {text!r} is not a key path like train.optimizer.lr or model.layers.0.units")
    return key


def split_values(text: str) -> list[str]:
    """``0.1,0.01`` -> ['0.1', '0.01']; commas inside [], {} or quotes stay
    (``[64, 32],[128]`` is two values)."""
    values, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append(text[start:i].strip())
            start = i + 1
    values.append(text[start:].strip())
    return values


def _yaml_value(text: str, option: str):
    """A value as --set reads it (the config's YAML loader: 1e-3 is a float)."""
    from .config import parse_yaml

    return parse_yaml(text, f"{option}: the value {text!r}")[0]


def parse_grid(items) -> list[tuple[str, list[str]]]:
    """--grid KEY=V1,V2 ... -> [(key, [text, ...])], values checked as YAML."""
    grid = []
    for item in items:
        key, sep, text = item.partition("=")
        option = f"--grid {item}"
        if not sep:
            raise ConfigError(f"{option}: expected KEY=V1,V2,..., e.g. --grid train.optimizer.lr=0.01,0.001")
        values = split_values(text)
        if any(v == "" for v in values):
            raise ConfigError(f"{option}: an empty value; separate the values with single commas")
        for v in values:
            _yaml_value(v, option)
        if len(set(values)) != len(values):
            raise ConfigError(f"{option}: a value is listed twice")
        grid.append((_key(key, option), values))
    return grid


def parse_ranges(items) -> list[tuple[str, float, float, bool]]:
    """--range KEY=LOW:HIGH[:log] -> [(key, low, high, log)]; integers when LOW and HIGH both are."""
    ranges = []
    for item in items:
        key, sep, text = item.partition("=")
        option = f"--range {item}"
        parts = text.split(":")
        if not sep or len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise ConfigError(f"{option}: expected KEY=LOW:HIGH or KEY=LOW:HIGH:log, e.g. train.optimizer.lr=1e-4:1e-1:log")
        bounds = [_yaml_value(p, option) for p in parts[:2]]
        if not all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in bounds):
            raise ConfigError(f"{option}: LOW and HIGH must be numbers")
        low, high = bounds
        log = len(parts) == 3
        if not low < high:
            raise ConfigError(f"{option}: LOW must be below HIGH, got {low} and {high}")
        if log and low <= 0:
            raise ConfigError(f"{option}: a log range needs LOW > 0, got {low}")
        ranges.append((_key(key, option), low, high, log))
    return ranges


def draw(ranges, n: int, seed: int) -> list[list[str]]:
    """``n`` points, one value text per range: uniform in [LOW, HIGH], or
    log-uniform with ``log``; integers (HIGH included) when both bounds are
    integers. Reproducible from ``seed``; floats kept to 6 significant digits."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_RANDOM_STREAM,)))
    points = []
    for _ in range(n):
        point = []
        for _, low, high, log in ranges:
            integer = isinstance(low, int) and isinstance(high, int)
            top = high + 1 if integer else high  # an integer range includes HIGH
            u = rng.uniform(math.log(low), math.log(top)) if log else rng.uniform(low, top)
            value = math.exp(u) if log else u
            point.append(str(min(int(math.floor(value)), high)) if integer else f"{value:.6g}")
        points.append(point)
    return points


def _short_keys(keys: list[str]) -> dict[str, str]:
    """The shortest dotted suffix that tells each swept key apart: lr, 0.dropout."""
    short = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            suffix = ".".join(parts[-n:])
            if not any(other != key and (other == suffix or other.endswith("." + suffix)) for other in keys):
                break
        short[key] = suffix
    return short


def _safe(value: str) -> str:
    """A value as a file name can hold it: [{units: 8}] -> _units_8_."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", value)


def expand(grid, ranges, n_random: int, seeds: int | None, base_seed: int, sets=()) -> list[Trial]:
    """The trials: every grid point x every random point (draws shared by the
    grid points) x seeds base_seed, base_seed + 1, ... (``seeds`` K; None:
    the config's own seed). Names are ``key=value,...`` with the shortest
    distinguishing key suffix, filesystem-safe, stable across runs."""
    keys = [k for k, _ in grid] + [k for k, *_ in ranges]
    if seeds is not None:
        keys.append("seed")
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        what = "seed is swept by --seeds" if "seed" in duplicated else "swept twice"
        raise ConfigError(f"{duplicated[0]}: {what}; give each key once")
    short = _short_keys(keys)
    grid_points = [[]]
    for _, values in grid:
        grid_points = [p + [v] for p in grid_points for v in values]
    random_points = draw(ranges, n_random, base_seed) if ranges else [[]]
    seed_values = [[str(base_seed + i)] for i in range(seeds)] if seeds is not None else [[]]
    trials, names = [], {}
    for g in grid_points:
        for r in random_points:
            for s in seed_values:
                texts = dict(zip(keys, g + r + s))
                parts = [f"{short[k]}={_safe(v)}" for k, v in texts.items()]
                group_parts = [f"{short[k]}={_safe(v)}" for k, v in texts.items() if k != "seed"]
                name, group = _name(parts), _name(group_parts)
                overrides = (*sets, *(f"{k}={v}" for k, v in texts.items()))
                params = {k: _yaml_value(v, "--grid") for k, v in texts.items()}
                if name in names and names[name] != overrides:  # two values alike once made safe
                    name = _name(parts, force_hash=True)
                names[name] = overrides
                trials.append(Trial(name, params, overrides, group=group))
    return trials


def _name(parts: list[str], force_hash: bool = False) -> str:
    name = ",".join(parts) or "base"
    if force_hash or len(name) > _NAME_LIMIT:
        digest = hashlib.sha1("\0".join(parts).encode()).hexdigest()[:8]
        name = f"{name[:_NAME_LIMIT - 9]}-{digest}"
    return name


def plan(config_path, *, grid=(), ranges=(), n_random: int = 0, seeds: int | None = None, sets=(),
         out=None) -> Plan:
    """Parse and check everything a sweep needs, writing nothing: the base
    config with --set, every trial's config (an unknown key or bad value is a
    ConfigError naming the trial), the ranking metric and the sweep folder."""
    from .config import STDIN

    raw = _read_stdin() if str(config_path) == STDIN else None
    source = raw if raw is not None else config_path
    grid, ranges = parse_grid(grid), parse_ranges(ranges)
    if ranges and n_random < 1:
        raise ConfigError("--range: give the number of random draws with --random N")
    if n_random and not ranges:
        raise ConfigError(f"--random {n_random}: give the ranges to draw from with --range KEY=LOW:HIGH[:log]")
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds {seeds}: must be 1 or more")
    base, stem = _resolve(source, sets)
    resolved = base.to_dict()
    trials = expand(grid, ranges, n_random, seeds, resolved["seed"], sets)
    checked = []
    for trial in trials:
        try:
            cfg, _ = _resolve(source, trial.overrides)
        except ConfigError as exc:
            raise ConfigError(f"trial {trial.name}: {exc}") from None
        checked.append(Trial(trial.name, trial.params, trial.overrides, cfg.seed, trial.group))
    metric, split = _ranking(resolved)
    sweep_dir = Path(out) if out else Path("sweeps") / stem
    return Plan(
        STDIN if raw is not None else Path(config_path).resolve(), sweep_dir.resolve(), checked,
        artifacts.config_hash(resolved), metric, split,
        [k for k, _ in grid] + [k for k, *_ in ranges] + (["seed"] if seeds is not None else []), raw,
    )


def _read_stdin() -> dict:
    """The config on standard input, read once (each trial gets the parsed data)."""
    from .config import parse_yaml

    raw = parse_yaml(sys.stdin.read(), "<stdin>")[0]
    return {} if raw is None else raw


def _resolve(source, overrides):
    """A config path or (stdin) parsed data with overrides -> (Config, name), as runner.resolve_config;
    an error in stdin's data names <stdin>."""
    from .runner import resolve_config

    if not isinstance(source, dict):
        return resolve_config(source, overrides)
    try:
        cfg, _ = resolve_config(source, overrides)
    except ConfigError as exc:
        message = str(exc)  # parse_config names data "config"
        raise ConfigError("<stdin>" + message[len("config"):] if message.startswith("config") else message) from None
    return cfg, "stdin"


def _ranking(resolved: dict) -> tuple[str, str]:
    """(metric, split) that ranks the trials: early stopping's monitor when it
    watches a validation figure (val_accuracy -> accuracy on the validation
    split), else the task's main metric ("main": accuracy, subset_accuracy or
    r2, known once a trial has run), on the validation split if there is one."""
    stopping = resolved["train"]["early_stopping"]
    if stopping and stopping["monitor"].startswith("val_"):
        return stopping["monitor"].removeprefix("val_"), "val"
    return "main", "val" if resolved["data"]["val_size"] > 0 else "test"


def commands(p: Plan, program: str = "mlp") -> list[str]:
    """One shell-quoted `mlp train` line per trial (for GNU parallel or a Slurm array)."""
    if p.raw is not None:
        raise ConfigError("--print-commands: needs a config file, not - (standard input): each command reads its config")
    lines = []
    for t in p.trials:
        args = [program, "train", str(p.config), "--out", str(p.sweep_dir / t.name), "--quiet"]
        for item in t.overrides:
            args += ["--set", item]
        lines.append(" ".join(shlex.quote(a) for a in args))
    return lines


# --------------------------------------------------------------------------- one trial


def run_trial(task: dict, interrupt=None) -> dict:
    """Train one trial (``task``: trial, params, seed, overrides, config, run_dir)
    and return its results row. A trial's own failure is a row with status
    "failed" and the one-line error. With ``interrupt`` (see training.fit) set,
    a trial not yet started is a row with status "not run", and one stopped at
    a step is "interrupted" (checkpointed: the next run of the sweep resumes it)."""
    from . import runner

    start = time.perf_counter()
    row = {"trial": task["trial"], "params": task["params"], "overrides": list(task["overrides"]),
           "seed": task["seed"], "status": "completed", "error": None}
    if interrupt is not None and interrupt.signum:
        return {**row, "status": "not run", "seconds": None}
    try:
        result = None
        if _interrupted(Path(task["run_dir"])):
            try:
                result = runner.resume(task["run_dir"], interrupt=interrupt)
            except (RunFolderError, CheckpointError):  # no usable checkpoint: train it afresh
                result = None
        if result is None:
            result = runner.train(task["config"], task["run_dir"], overrides=task["overrides"], overwrite=True,
                                  interrupt=interrupt)
        row.update(_figures(result.metrics))
    except TrainingInterrupted as exc:
        row.update(status="interrupted", error=" ".join(str(exc).split()))
    except MLPError as exc:
        row.update(status="failed", error=" ".join(str(exc).split()))
    except Exception as exc:  # a bug in a trial: recorded, the sweep goes on
        row.update(status="failed", error=f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")
    row["seconds"] = time.perf_counter() - start
    return row


def _interrupted(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a run stopped by a signal, with a checkpoint to resume from."""
    try:
        status = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(status, dict) and status.get("status") == "interrupted"
            and any(path.exists() for path in checkpoint_paths(run_dir)))


def _figures(metrics: dict) -> dict:
    def scalars(d):
        return {k: v for k, v in (d or {}).items() if v is None or isinstance(v, (int, float)) and not isinstance(v, bool)}

    return {"test": scalars(metrics.get("test")), "val": scalars(metrics.get("val")),
            "epochs_run": metrics.get("epochs_run")}


def _init_worker(blas_threads: int) -> None:
    """A local worker: import the trainer once; BLAS limited to its share of the cores."""
    from threadpoolctl import threadpool_limits

    from . import runner  # noqa: F401  (imports NumPy, the engine and the data loaders once)

    threadpool_limits(blas_threads)


class _Stop:
    """The interrupt a trial's fit loop reads (see training.fit): ``signum``
    once a SIGINT / SIGTERM asked the sweep to stop."""

    signum = 0
    armed = False


_WORKER_STOP = _Stop()


def _on_worker_signal(signum, frame):
    # A worker never stops by itself at a signal: its trial stops at the next
    # step, checkpointed, and reports; a second signal changes nothing here
    # (the parent kills its workers when it stops at once).
    _WORKER_STOP.signum = _WORKER_STOP.signum or signum


def _worker(conn, blas_threads: int) -> None:
    """A local worker process: run each trial the parent sends, send back its row;
    None or a closed pipe ends it. SIGINT / SIGTERM only set the stop flag."""
    signal.signal(signal.SIGINT, _on_worker_signal)
    signal.signal(signal.SIGTERM, _on_worker_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)  # the parent started it with them blocked
    _init_worker(blas_threads)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if task is None:
            return
        row = run_trial(task, _WORKER_STOP)
        try:
            conn.send(row)
        except OSError:
            return


_SIGNALS = {signal.SIGINT, signal.SIGTERM}


# --------------------------------------------------------------------------- the sweep


def run(p: Plan, *, jobs: int = 1, scheduler: str | None = None, fail_fast: bool = False, on_trial=None) -> dict:
    """Run the plan's trials that are not finished yet and return the summary
    (see ``summarise``). ``on_trial(done, total, row)`` is called as each ends.
    Nothing is written before the Dask scheduler (if any) answers. A signal
    raises SweepInterrupted once the running trials have stopped, every
    finished one recorded; a second signal stops at once."""
    started = time.perf_counter()
    if jobs < 1:
        raise MLPError(f"--jobs {jobs}: must be 1 or more")
    client = _dask_client(scheduler) if scheduler else None
    try:
        return _run(p, jobs, client, fail_fast, on_trial, started)
    finally:
        if client is not None:
            client.close()


def _run(p: Plan, jobs: int, client, fail_fast: bool, on_trial, started: float) -> dict:
    _claim(p)
    previous = _read_rows(p.sweep_dir / RESULTS_JSONL)
    rows, todo = {}, []
    for t in p.trials:
        done = _finished(p.sweep_dir / t.name)
        if done is None:
            todo.append(t)
        else:
            old = previous.get(t.name, {})
            rows[t.name] = {**_row_of(t), "overrides": list(t.overrides), "status": "completed", "error": None,
                            **_figures(done), "seconds": old.get("seconds", done.get("train_seconds"))}
    skipped = len(rows)
    # results.jsonl as of now: the finished trials' rows (a failed one is run again), then one line per trial as it ends
    artifacts.atomic_write(p.sweep_dir / RESULTS_JSONL, "".join(artifacts.to_json(rows[t.name]) + "\n" for t in p.trials if t.name in rows))
    _write_csv(p, rows)
    config = p.raw if p.raw is not None else str(p.config)
    tasks = [{**_row_of(t), "overrides": list(t.overrides), "config": config, "run_dir": str(p.sweep_dir / t.name)} for t in todo]
    stop = _Stop()
    with artifacts.JsonLines(p.sweep_dir / RESULTS_JSONL, truncate=False) as lines:
        def record(row):
            if row["status"] == "not run":  # stopped before it started: nothing to record
                return False
            rows[row["trial"]] = row
            lines.append(row)
            _write_csv(p, rows)
            if on_trial:
                on_trial(len(rows) - skipped, len(todo), row)
            return fail_fast and row["status"] != "completed"

        if client is not None:
            _run_dask(client, tasks, record)
        else:
            with _signals_handled(stop) as handling:
                if min(jobs, len(tasks)) > 1:
                    handling.pool = _Pool(min(jobs, len(tasks)), stop)
                    handling.pool.run(tasks, record)
                else:
                    for task in tasks:
                        if stop.signum or record(run_trial(task, stop)):
                            break
    if stop.signum:
        raise _interruption(p, rows, skipped, stop.signum)
    ran = list(rows)[skipped:]  # rows holds the skipped trials first, then each as it ended
    return summarise(p, rows, skipped, time.perf_counter() - started, ran)


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


class _signals_handled:
    """While a sweep runs here: the first SIGINT / SIGTERM sets ``stop`` (no
    trial starts; running ones stop at a step) and is passed on to the
    workers; a second kills the workers and goes to the handler that was
    there before (the CLI's: exit 130 / 143 at once). Only in the main thread."""

    def __init__(self, stop: _Stop):
        self.stop, self.pool, self.previous = stop, None, {}  # pool: the local workers, once started

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._on_signal) for s in _SIGNALS}
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
        for s in _SIGNALS:  # on the way out: a third signal must not interrupt the exit
            signal.signal(s, signal.SIG_IGN)
        previous = self.previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt


class _Pool:
    """Local worker processes (spawned), one trial each at a time. A worker that
    dies fails only the trial it held and is replaced; after ``stop`` no trial
    starts, and the running ones report as they stop."""

    def __init__(self, workers: int, stop: _Stop):
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.stop, self.workers = stop, []
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
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            process = self.context.Process(target=_worker, args=(child, self.threads), name="mlp-sweep-worker")
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
            return _failed(task, f"the worker process sent an unreadable result ({type(exc).__name__})")
        process.join(5)
        code = process.exitcode
        how = (f"killed by {signal.Signals(-code).name}" if code and code < 0 and -code in signal.valid_signals()
               else f"exit code {code}")
        self._replace(i)
        return _failed(task, f"the worker process died ({how}) while running this trial")

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
        for process, _ in self.workers:
            try:
                os.kill(process.pid, signum)
            except (OSError, TypeError):
                pass

    def kill(self) -> None:
        for process, _ in self.workers:
            try:
                os.kill(process.pid, signal.SIGKILL)
            except (OSError, TypeError):
                pass

    def close(self) -> None:
        """Ask every worker to end, wait a moment, kill any left (nothing is orphaned)."""
        for process, conn in self.workers:
            try:
                conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 5
        for process, conn in self.workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()


def _dask_client(address: str):
    """A client of the Dask scheduler at ``address``: refused (exit 2) if Dask is
    missing or the scheduler does not answer, before the sweep writes anything."""
    try:
        from distributed import Client
    except ImportError:
        raise MLPError(
            f"--scheduler {address}: needs Dask's distributed scheduler; install it with pip install 'mlpcli[dask]'"
        ) from None
    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise MLPError(f"--scheduler {address}: cannot connect to a Dask scheduler there ({exc})") from None


def _run_dask(client, tasks: list[dict], record) -> None:
    from distributed import as_completed

    token = hashlib.sha1(os.urandom(8)).hexdigest()[:8]
    futures = {client.submit(run_trial, task, key=f"mlp-trial-{task['trial']}-{token}", pure=False): task for task in tasks}
    for future in as_completed(list(futures)):
        if future.cancelled():
            continue
        try:
            row = future.result()
        except Exception as exc:  # the worker died, or mlpcli is missing there
            row = _failed(futures[future], f"the Dask task failed ({type(exc).__name__}: {exc})")
        if record(row):
            client.cancel([f for f in futures if not f.done()])


def _row_of(t: Trial | dict) -> dict:
    if isinstance(t, dict):
        return {k: t[k] for k in ("trial", "params", "seed")}
    return {"trial": t.name, "params": t.params, "seed": t.seed}


def _failed(task: dict, error: str) -> dict:
    return {**_row_of(task), "overrides": task["overrides"], "status": "failed", "error": " ".join(error.split()), "seconds": None}


def _finished(run_dir: Path) -> dict | None:
    """metrics.json of a completed run in ``run_dir``, else None."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(metrics, dict) and metrics.get("status") == "completed" and (run_dir / "weights.npz").is_file()
    return metrics if ok else None


def _read_rows(path: Path) -> dict:
    rows = {}
    try:
        text = path.read_text()
    except OSError:
        return rows
    for line in text.splitlines():
        try:
            row = json.loads(line)
            rows[row["trial"]] = row
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line of a killed sweep
    return rows


def _claim(p: Plan) -> None:
    """Create the sweep folder, or check that it holds this sweep (the same
    base config and --set) so its finished trials can be reused (and clear
    the temporary files a killed sweep left there)."""
    path = p.sweep_dir
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"{path}: exists and is not a folder")
    if (path / "metrics.json").exists() or (path / "config.yaml").exists():
        raise RunFolderError(f"{path}: is a run folder, not a sweep folder; choose another --out")
    record = {"config": str(p.config), "config_sha256": p.base_sha256, "swept": p.swept,
              "trials": [{"name": t.name, "overrides": list(t.overrides)} for t in p.trials]}
    try:
        old = json.loads((path / SWEEP_FILE).read_text())
    except (OSError, ValueError):
        old = None
    if isinstance(old, dict) and old.get("config_sha256") != p.base_sha256:
        raise RunFolderError(
            f"{path}: holds a sweep of another config (the config file or --set changed since); "
            "choose another --out to keep both, or delete the folder"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot create the sweep folder ({exc.strerror})") from None
    artifacts.remove_stale_temporaries(path)
    artifacts.write_json(path / SWEEP_FILE, record)


def _write_csv(p: Plan, rows: dict) -> None:
    """results.csv, rewritten whole (atomically) as each trial ends, in trial order."""
    metric_cols = []
    for split in ("test", "val"):
        for row in rows.values():
            for name in row.get(split) or {}:
                if f"{split}.{name}" not in metric_cols:
                    metric_cols.append(f"{split}.{name}")
    params = [k for k in p.swept if k != "seed"]
    columns = ["trial", "status", "seed", *params, *metric_cols, "epochs_run", "seconds", "error"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for t in p.trials:
        row = rows.get(t.name)
        if row is None:
            continue
        flat = {**{k: row["params"].get(k) for k in params}, **{c: _get(row, c) for c in metric_cols}}
        flat.update({k: row.get(k) for k in ("trial", "status", "seed", "epochs_run", "seconds", "error")})
        writer.writerow(["" if flat.get(c) is None else flat[c] for c in columns])
    artifacts.atomic_write(p.sweep_dir / RESULTS_CSV, text.getvalue())


def _get(row: dict, column: str):
    split, _, name = column.partition(".")
    return (row.get(split) or {}).get(name)


def summarise(p: Plan, rows: dict, skipped: int, seconds: float, ran: list[str] = ()) -> dict:
    """The sweep's summary: counts, the ranking metric, and a leaderboard of
    the trial groups (the same values, every seed) by the mean of that metric
    over the group's completed trials (std as NumPy's, ddof 0, as `mlp cv`)."""
    from .config import MAXIMISED

    metric = p.metric
    if metric == "main":
        figures = next((r[p.split] for r in rows.values() if r.get(p.split)), {})
        metric = next((m for m in MAIN_METRICS if m in figures), "loss")
    mode = "max" if metric in MAXIMISED else "min"
    groups: dict[str, list[Trial]] = {}
    for t in p.trials:
        groups.setdefault(t.group, []).append(t)
    board = []
    for name, trials in groups.items():
        done = [rows[t.name] for t in trials if rows.get(t.name, {}).get("status") == "completed"]
        entry = {"group": name, "params": {k: v for k, v in trials[0].params.items() if k != "seed"},
                 "trials": [t.name for t in trials], "completed": len(done),
                 "failed": sum(rows.get(t.name, {}).get("status") == "failed" for t in trials)}
        for key, split, m in (("mean", p.split, metric), ("test", "test", _test_main(done, metric))):
            values = [(r.get(split) or {}).get(m) for r in done]
            defined = bool(values) and all(v is not None for v in values)
            stats = {"mean": float(np.mean(values)) if defined else None, "std": float(np.std(values)) if defined else None}
            if key == "mean":
                entry.update(stats, values=values)
            else:
                entry["test"] = {"metric": m, **stats}
        board.append(entry)
    sign = -1 if mode == "max" else 1
    board.sort(key=lambda e: (e["mean"] is None, sign * e["mean"] if e["mean"] is not None else 0))
    failed = [r for r in rows.values() if r["status"] != "completed"]
    return {
        "sweep_dir": str(p.sweep_dir),
        "trials": len(p.trials),
        "completed": sum(r["status"] == "completed" for r in rows.values()),
        "failed": len(failed),
        "not_run": len(p.trials) - len(rows),
        "skipped": skipped,
        "metric": metric,
        "split": p.split,
        "mode": mode,
        "leaderboard": board,
        "failures": [{"trial": r["trial"], "error": r["error"]} for r in failed],
        "seconds": seconds,
        # the trials run this time, each from its start to its end in the worker
        "trial_seconds": sum(rows[name].get("seconds") or 0.0 for name in ran),
    }


def _test_main(done: list[dict], metric: str) -> str:
    test = done[0].get("test", {}) if done else {}
    return next((m for m in MAIN_METRICS if m in test), metric)
