"""A tune's Optuna study: the storage (refused at once if it cannot be
opened), the seeded sampler, the pruner, and the bookkeeping that lets
several processes and machines share it: which trials count as finished,
and a trial whose process died, marked failed and run again once."""
from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import numpy as np

from ..errors import MLPError

INSTALL = "mlp tune needs Optuna; install it with pip install 'mlpcli[tune]'"
SAMPLERS = ("tpe", "random", "cmaes")
PRUNERS = ("hyperband", "halving", "median", "none")
RUNG_PRUNERS = ("hyperband", "halving")  # the ones judging at rungs (min_epochs * reduction_factor**k)
# A trial's process writes a heartbeat this often; one silent for GRACE_SECONDS
# (its machine died) is failed and retried by whichever process looks next.
HEARTBEAT_SECONDS, GRACE_SECONDS = 10, 60
# Trial user attributes: where it ran, a retry's link to the trial it repeats, and a
# trial asked for beyond --trials (by a process that raced another for the last one), never run.
HOST, PID, RETRY_OF, CRASH_RETRY, ERROR, SURPLUS = "machine", "pid", "retry_of", "crash_retry", "error", "surplus"
PROCESS_SPACE = "process_space"  # where PID means something: this boot of this kernel, this PID namespace


def optuna():
    """The optuna module, or an MLPError (exit 2) saying what to install."""
    try:
        import optuna as module
    except ImportError:
        raise MLPError(INSTALL) from None
    module.logging.set_verbosity(module.logging.ERROR)  # the trial lines are ours (render.tune_trial_line)
    warnings.filterwarnings("ignore", category=module.exceptions.ExperimentalWarning)
    return module


def hostname() -> str:
    return socket.gethostname()


def process_space() -> str:
    """This machine's boot and PID namespace: two containers may share a host
    name, never both (a trial's pid is only checked where it is meaningful)."""
    parts = []
    for path, read in (("/proc/sys/kernel/random/boot_id", lambda p: Path(p).read_text().strip()),
                       ("/proc/self/ns/pid", lambda p: str(os.stat(p).st_ino))):
        try:
            parts.append(read(path))
        except OSError:
            parts.append("?")
    return f"{hostname()}:{':'.join(parts)}"


def default_storage(tune_dir) -> str:
    return f"sqlite:///{default_storage_file(tune_dir)}"


def default_storage_file(tune_dir) -> Path:
    return Path(tune_dir) / "study.db"


def open_storage(url: str, named: str = "--storage"):
    """An RDBStorage for ``url`` (tables created if new), with heartbeats; an
    unknown scheme, a missing driver or a server that does not answer is an
    MLPError naming where the URL came from (``named``) and the URL (the password left out)."""
    optuna()
    from optuna.storages import RDBStorage

    kwargs = {}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 60}}  # several processes on one file wait for its lock
    elif url.startswith(("postgresql", "mysql")):
        kwargs = {"connect_args": {"connect_timeout": 10}}  # a server that does not answer: refused soon
    try:
        storage = RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_SECONDS,
                             grace_period=GRACE_SECONDS, heartbeat_stale_trial_callback=retry_died)
        if url.startswith("sqlite"):
            _write_ahead(storage.engine)
    except Exception as exc:  # sqlalchemy's errors (bad URL, no driver, refused), an ImportError
        detail = " ".join(str(exc).split("\n")[0].split()) or type(exc).__name__
        raise MLPError(f"{named} {_shown(url)}: cannot open the study storage ({detail[:300]})") from None
    return storage


def _write_ahead(engine) -> None:
    """SQLite in write-ahead-log mode, synced at checkpoints rather than at every
    commit: a trial commits a few dozen times (each epoch's report), which
    costs ~10 ms each synced. A killed process loses nothing committed; a power
    cut may lose the last commits, never the file. (Keep SQLite on a local
    disk; machines share a study through a server's URL.)"""
    from sqlalchemy import event

    def pragmas(connection, record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # the connection that made the tables reconnects with them


def _shown(url: str) -> str:
    """The URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def trial_seed(seed: int, number: int) -> int:
    """Trial ``number``'s sampler seed: the same command draws the same trials,
    and two processes on one study draw different ones."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def make_sampler(name: str, seed: int):
    """The named sampler, seeded afresh for each trial from (seed, trial number)."""
    op = optuna()

    def make(s):
        if name == "random":
            return op.samplers.RandomSampler(seed=s)
        tpe = op.samplers.TPESampler(seed=s, constant_liar=True)
        if name == "tpe":
            return tpe
        try:
            return op.samplers.CmaEsSampler(seed=s, independent_sampler=tpe, warn_independent_sampling=False)
        except ImportError:
            raise MLPError("--sampler cmaes: needs the cmaes package; install it with pip install 'mlpcli[tune]'") from None

    make(seed)  # refuses a missing cmaes before anything is written
    return _seeded_by_trial(op, make, seed)


def _seeded_by_trial(op, make, seed):
    class TrialSeeded(op.samplers.BaseSampler):
        """Delegates each trial to a sampler seeded from (seed, trial number).
        Optuna's samplers keep their history in the study, not in themselves,
        so a fresh one per trial samples as one kept across trials would."""

        def __init__(self):
            self.number, self.inner = None, None

        def _for(self, trial):
            if trial.number != self.number:
                self.number, self.inner = trial.number, make(trial_seed(seed, trial.number))
            return self.inner

        def infer_relative_search_space(self, study, trial):
            return self._for(trial).infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._for(trial).sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

        def before_trial(self, study, trial):
            self._for(trial).before_trial(study, trial)

        def after_trial(self, study, trial, state, values):
            self._for(trial).after_trial(study, trial, state, values)

    return TrialSeeded()


REDUCTION_FACTOR = 4  # Hyperband's and successive halving's default (as Ray Tune's ASHA)
FIRST_RUNG = 20  # their first rung, at train.epochs // FIRST_RUNG (at least 1)


def pruner_options(name: str, epochs: int, min_epochs: int | None = None, reduction_factor: int | None = None,
                   seed: int | None = None) -> dict:
    """The pruner's settings as tune.json records them: ``min_epochs``, the
    epochs every trial trains before it can be stopped (Hyperband's and
    halving's first rung, the median pruner's warm-up), ``reduction_factor``
    (a trial goes on past a rung only when among the best 1/factor there)
    and, for Hyperband, ``max_epochs``, its budget (``epochs``: the most a
    trial trains), which sets its brackets, and ``bracket_seed`` (the
    config's ``seed``), which with a trial's number picks its bracket
    (Optuna's own choice hashes the study's name: a tune in another folder
    would put its trials in other brackets); None where the pruner has no such
    setting. The rung pruners' defaults, a twentieth of the epochs and 4,
    come from bench_tune.py on digits over 8 seeds (benchmarks/README.md,
    runs 7 and 8): against a tenth and 3, Hyperband kept the sweep's best
    validation accuracy on 7 seeds instead of 6 in 0.70-0.75 of the sweep's
    time instead of 0.93-0.96, halving on 5 of 8 either way in 0.50-0.54
    instead of 0.65-0.67; with the brackets drawn from the seed, over 16
    seeds, Hyperband kept it on 11 against 9 with factor 5 or a first rung
    at 3 epochs. (Hyperband's first rung at epoch 1 of 40, with factor 3,
    stopped 80% of the trials within 5-7 epochs, keeping fast starters over
    the settings that end best.)"""
    if name in RUNG_PRUNERS:
        hyperband = name == "hyperband"
        return {"min_epochs": min_epochs or max(1, epochs // FIRST_RUNG),
                "reduction_factor": reduction_factor or REDUCTION_FACTOR,
                "max_epochs": epochs if hyperband else None, "bracket_seed": seed if hyperband else None}
    return {"min_epochs": (min_epochs or 1) if name == "median" else None, "reduction_factor": None,
            "max_epochs": None, "bracket_seed": None}


PRUNING = "mlpcli_pruning"  # the study's user attribute: the pruner and options its trials are judged with


def legacy_pruner_options(name: str, base_epochs: int, options: dict | None = None) -> dict:
    """What a tune.json written before its study recorded the pruning ran
    with: its ``pruner_options`` if it has them, else the defaults of then (a
    first rung at a tenth of the epochs, factor 3); Hyperband's budget was
    then the base config's ``train.epochs``, and its brackets came from the
    study's name (bracket_seed None)."""
    if options is None:
        options = {"min_epochs": max(1, base_epochs // 10), "reduction_factor": 3} \
            if name in RUNG_PRUNERS else pruner_options(name, base_epochs)
    return {"min_epochs": options.get("min_epochs"), "reduction_factor": options.get("reduction_factor"),
            "max_epochs": (options.get("max_epochs") or base_epochs) if name == "hyperband" else None,
            "bracket_seed": None}


def settle_pruning(study, typed: dict, proposed: dict, fallback: dict | None) -> dict:
    """The pruning this process judges ``study``'s trials with ({"pruner",
    "min_epochs", "reduction_factor", "max_epochs", "bracket_seed"}): the one the study
    records (set by whichever process began it), else, for a study with
    trials begun before studies recorded it, ``fallback`` (this folder's
    tune.json) or what is ``typed`` in full, else ``proposed`` (this
    command's, defaults filled in); the study then records it. A value
    ``typed`` on the command line (None: not given) that differs from the
    study's is refused: Optuna ranks a trial's value at its k-th rung against
    the others' at theirs, so a study's rungs cannot change."""
    recorded = study.user_attrs.get(PRUNING)
    if recorded is None and study.get_trials(deepcopy=False):
        recorded = fallback
        if recorded is None:  # an older study begun elsewhere: only the command line can say how
            needed = {"pruner", *(k for k in ("min_epochs", "reduction_factor") if proposed[k] is not None)}
            if any(typed[k] is None for k in needed):
                raise MLPError(f"study {study.study_name!r}: its trials were judged before studies recorded how; "
                               "give its --pruner (and --min-epochs, --reduction-factor) as the tune.json of the "
                               "folder that began it says, or run from that folder")
            recorded = {**proposed, "bracket_seed": None}  # (its brackets came from its name)
    if recorded is not None:  # recorded before bracket_seed was: its brackets came from the study's name
        recorded = {"bracket_seed": None, **recorded}
    recorded = {**proposed, **(recorded or {})}
    for key, value in typed.items():
        if value is not None and value != recorded[key]:
            option = f"--{key.replace('_', '-')}"
            raise MLPError(f"{option} {value}: study {study.study_name!r} judges its trials with "
                           f"{describe_pruning(recorded)}, which a study cannot change; leave {option} out, "
                           "or start a new study (another --out or --study-name)")
    if recorded["pruner"] != "hyperband":
        recorded["max_epochs"] = recorded["bracket_seed"] = None
    if study.user_attrs.get(PRUNING) != recorded:
        study.set_user_attr(PRUNING, recorded)
    return dict(recorded)


def describe_pruning(pruning: dict) -> str:
    """--pruner halving --min-epochs 2 --reduction-factor 4 (the options the pruner has)."""
    parts = [f"--pruner {pruning['pruner']}"]
    for key in ("min_epochs", "reduction_factor"):
        if pruning.get(key) is not None:
            parts.append(f"--{key.replace('_', '-')} {pruning[key]}")
    return " ".join(parts)


def make_pruner(name: str, epochs: int, min_epochs: int | None = None, reduction_factor: int | None = None,
                bracket_seed: int | None = None):
    """The named pruner with the settings of pruner_options; ``may_prune``
    says at which epochs it can stop a trial."""
    op = optuna()
    options = pruner_options(name, epochs, min_epochs, reduction_factor)
    first, factor = options["min_epochs"], options["reduction_factor"]
    if name == "hyperband":
        base = op.pruners.HyperbandPruner
        if bracket_seed is not None:
            base = _seeded_brackets(base, bracket_seed)
        return _with_rungs(base, first, factor, max_resource=max(epochs, first))
    if name == "halving":
        return _with_rungs(op.pruners.SuccessiveHalvingPruner, first, factor)
    if name == "median":
        return _from_epoch(op.pruners.MedianPruner, first, n_startup_trials=5, n_warmup_steps=first)
    return op.pruners.NopPruner()


def _with_rungs(base, first: int, factor: int, **options):
    class Rungs(base):
        """Optuna's Hyperband or successive halving (a subclass: Optuna's
        checks for its own Hyperband see one), which knows its rungs:
        successive halving judges a trial at ``first * factor**k`` epochs,
        and each of Hyperband's brackets b runs it from ``first * factor**b``,
        so every rung is among them. A trial is only ever judged at the first
        epoch it reports at or past its next rung; at any other, ``prune``
        would return False having only read the study (~2-5 ms an epoch)."""

        def rung_between(self, after: int, epoch: int) -> bool:
            """Whether a rung lies in (after, epoch]."""
            rung = first
            while rung <= epoch:
                if rung > after:
                    return True
                rung *= factor
            return False

    Rungs.__name__ = Rungs.__qualname__ = f"Rung{base.__name__}"
    return Rungs(min_resource=first, reduction_factor=factor, **options)


def _seeded_brackets(base, seed: int):
    """Optuna's Hyperband with each trial's bracket picked from (seed, trial
    number) instead of (study name, trial number): the same command gives the
    same trials whatever folder or study name it writes to, and every process
    on one study agrees (the study records the seed). The brackets' shares
    are Optuna's (its allocation budgets)."""
    import binascii

    class SeededHyperband(base):
        def _get_bracket_id(self, study, trial) -> int:
            budgets = self._trial_allocation_budgets
            if not budgets:  # before its brackets are set up (Optuna's answer too)
                return 0
            n = binascii.crc32(f"{seed}_{trial.number}".encode()) % sum(budgets)
            for bracket, budget in enumerate(budgets):
                n -= budget
                if n < 0:
                    return bracket
            raise AssertionError("unreachable")

    return SeededHyperband


def _from_epoch(base, first: int, **options):
    class FromEpoch(base):
        """Optuna's median pruner, which judges a trial at every epoch from ``first`` on."""

        def rung_between(self, after: int, epoch: int) -> bool:
            return epoch >= first and epoch > after

    FromEpoch.__name__ = FromEpoch.__qualname__ = f"FromEpoch{base.__name__}"
    return FromEpoch(**options)


def may_prune(pruner, after: int, epoch: int) -> bool:
    """Whether ``pruner`` (from make_pruner) can stop a trial at ``epoch``
    when it last judged it at epoch ``after`` (0: never): Hyperband and
    successive halving only when a rung lies in between (see _with_rungs),
    the median pruner at every epoch from its min_epochs on, none never.
    Asking only then gives the same decisions as asking at every epoch."""
    rung_between = getattr(pruner, "rung_between", None)
    return rung_between is not None and rung_between(after, epoch)


def has_trials(storage, name: str) -> bool:
    """Whether ``storage`` holds a study ``name`` with trials (without creating one)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return bool(storage.get_all_trials(study_id, deepcopy=False))


def open_study(storage, name: str, direction: str, sampler=None, pruner=None, create: bool = True):
    """The study ``name`` in ``storage`` (created if ``create`` and new); one
    made with the other direction is refused."""
    op = optuna()
    try:
        if create:
            study = op.create_study(storage=storage, study_name=name, direction=direction, sampler=sampler,
                                    pruner=pruner, load_if_exists=True)
        else:
            study = op.load_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner)
    except KeyError:
        raise MLPError(f"study {name!r}: not in the storage") from None
    if study.direction.name.lower() != direction:
        raise MLPError(f"study {name!r}: exists in the storage with direction {study.direction.name.lower()}, "
                       f"this tune would {direction}; choose another --study-name")
    return study


def retried(trials) -> set[int]:
    """Numbers of the failed trials a later trial repeats."""
    return {t.user_attrs[RETRY_OF] for t in trials if RETRY_OF in t.user_attrs}


def trials(study, states=None) -> list:
    """The study's trials, without the surplus ones (asked for, never run)."""
    return [t for t in study.get_trials(deepcopy=False, states=states) if SURPLUS not in t.user_attrs]


def _fresh(t) -> bool:
    """A trial of its own (a slot of --trials), not a retry of another nor a surplus one."""
    return RETRY_OF not in t.user_attrs and SURPLUS not in t.user_attrs


def counts(study) -> dict:
    """Trials by state; "finished" counts toward --trials: complete, pruned,
    and failed ones not being run again. "slots": the trials of --trials
    taken so far, finished or not (a retry runs in its trial's slot)."""
    from optuna.trial import TrialState

    found = trials(study)
    again = retried(found)
    by = {s: sum(t.state == s for t in found) for s in TrialState}
    failed = sum(t.state == TrialState.FAIL and t.number not in again for t in found)
    return {"complete": by[TrialState.COMPLETE], "pruned": by[TrialState.PRUNED], "failed": failed,
            "running": by[TrialState.RUNNING], "waiting": by[TrialState.WAITING],
            "finished": by[TrialState.COMPLETE] + by[TrialState.PRUNED] + failed,
            "slots": sum(map(_fresh, found))}


def done(study, budget: int, c: dict | None = None) -> bool:
    """Every one of ``budget`` slots taken and no retry waiting: nothing more
    to ask for (``c``: the study's counts, if the caller has them)."""
    c = c or counts(study)
    return c["slots"] >= budget and not c["waiting"]


def surplus(study, trial, budget: int) -> bool:
    """Whether ``trial``, just asked for, is beyond the budget: ``budget`` trials
    of their own have lower numbers. Processes count before they ask, but two
    can ask for the last slot at once; the storage numbers trials atomically,
    so this rule picks the same first ``budget`` trials whichever process
    looks (a retry is never surplus: it runs in its trial's slot)."""
    if RETRY_OF in trial.user_attrs or trial.number < budget:  # fewer than its number have lower numbers
        return False
    before = sum(_fresh(t) and t.number < trial.number for t in study.get_trials(deepcopy=False))
    return before >= budget


def retry(study, frozen, reason: str) -> None:
    """Enqueue a trial with ``frozen``'s parameters, which will continue its
    run folder's checkpoint if it has one."""
    attrs = {RETRY_OF: frozen.number}
    if reason == "died":
        attrs[CRASH_RETRY] = True
    study.enqueue_trial(dict(frozen.params), user_attrs=attrs)


def retry_died(study, frozen) -> None:
    """A trial whose process died (no heartbeat, or its process is gone) runs
    again once: a retry that dies too is not repeated."""
    if not frozen.user_attrs.get(CRASH_RETRY):
        retry(study, frozen, "died")


def reclaim(study) -> list[int]:
    """Fail the running trials whose process is gone (on this machine: its pid
    is dead; elsewhere: no heartbeat for GRACE_SECONDS) and retry each once.
    Returns their numbers. Two processes doing this at once fail a trial once:
    the storage refuses to finish a finished trial."""
    op = optuna()
    from optuna.trial import TrialState

    here, dead = process_space(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get(PROCESS_SPACE) != here or _alive(t.user_attrs.get(PID)):
            continue
        try:
            study.tell(t.number, state=TrialState.FAIL)
        except (RuntimeError, ValueError, op.exceptions.UpdateFinishedTrialError):
            continue  # another process got there first
        retry_died(study, t)
        dead.append(t.number)
    op.storages.fail_stale_trials(study)  # other machines' (calls retry_died for each)
    return dead


def _alive(pid) -> bool:
    if not isinstance(pid, int):
        return True  # not started far enough to say: leave it to the heartbeat
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
