"""`mlp tune` (Optuna) with its embedded SQLite storage: the same command
draws the same trials; pruned trials really stop early and are marked so;
a rerun continues to --trials; a SIGINT or SIGKILL of the tune process loses
nothing (the trial it ran is failed and retried from its checkpoint); two
processes on one study run disjoint trials; bad options, keys and storages
are refused with one line and nothing written; results.csv and best.yaml;
`mlp train best.yaml`."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlpcli import weights_file
from tests.conftest import assert_refused, epochs_done, run_mlp, wait_for

optuna = pytest.importorskip("optuna")

EPOCHS = 9
CONFIG = f"""\
seed: 0
data: {{dataset: iris, val_size: 0.3}}
model: {{layers: [{{units: 8, activation: relu}}]}}
train: {{epochs: {EPOCHS}, batch_size: 16, optimizer: {{name: adam, lr: 0.01}}, early_stopping: null}}
output: {{plots: false}}
"""
SEARCH = ["--range", "train.optimizer.lr=1e-4:0.3:log", "--choice", "model.layers[0].units=4,8,16"]
# The signal tests' config: each trial trains for a few seconds.
SLOW_EPOCHS = 40
SLOW = CONFIG.replace(f"epochs: {EPOCHS}", f"epochs: {SLOW_EPOCHS}").replace("batch_size: 16", "batch_size: 4")


def tune(tmp_path, *args, config=CONFIG):
    (tmp_path / "c.yaml").write_text(config)
    return run_mlp("tune", "c.yaml", *SEARCH, "--quiet", *args, cwd=tmp_path)


def rows(tune_dir: Path) -> list[dict]:
    with open(tune_dir / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def study_of(tune_dir: Path):
    from mlpcli.tune import load_study

    return load_study(tune_dir)


def test_same_command_same_trials_and_the_seed_decides(tmp_path):
    """In another folder (so another study name) too: Hyperband's brackets
    come from the seed, not from the study's name as in Optuna."""
    a = tune(tmp_path, "--trials", "10", "--out", "a")
    b = tune(tmp_path, "--trials", "10", "--out", "b")
    c = tune(tmp_path, "--trials", "10", "--out", "c", "--set", "seed=1")
    assert a.returncode == b.returncode == c.returncode == 0, (a.stderr, b.stderr, c.stderr)
    drawn = {d: [(r["train.optimizer.lr"], r["model.layers[0].units"], r["state"], r["stopped_epoch"], r["value"])
                 for r in rows(tmp_path / d)] for d in "abc"}
    assert len(drawn["a"]) == 10 and "pruned" in {x[2] for x in drawn["a"]}
    assert drawn["a"] == drawn["b"]
    assert [x[:2] for x in drawn["a"]] != [x[:2] for x in drawn["c"]]


def test_hyperband_brackets_come_from_the_seed_and_the_trial_number():
    """Optuna's shares of trials per bracket, each trial's bracket a function
    of (seed, number) alone: the same in any study name, another with another seed."""
    from types import SimpleNamespace

    from mlpcli.tune import study as studies

    def brackets(seed, name):
        pruner = studies.make_pruner("hyperband", 40, 2, 3, bracket_seed=seed)  # rungs 2, 6, 18: three brackets
        pruner._try_initialization(None)
        study = SimpleNamespace(study_name=name)
        return [pruner._get_bracket_id(study, SimpleNamespace(number=n)) for n in range(400)]

    first = brackets(0, "a")
    assert first == brackets(0, "b") != brackets(1, "a")
    shares = [first.count(b) / len(first) for b in range(3)]
    assert shares[0] > shares[1] > shares[2] > 0  # the most aggressive bracket gets the most trials, as in Optuna
    unseeded = studies.make_pruner("hyperband", 40, 2, 3)  # a study from before: Optuna's (the name's) brackets
    unseeded._try_initialization(None)
    assert [unseeded._get_bracket_id(SimpleNamespace(study_name="a"), SimpleNamespace(number=n))
            for n in range(400)] != [unseeded._get_bracket_id(SimpleNamespace(study_name="b"), SimpleNamespace(number=n))
                                     for n in range(400)]


@pytest.mark.parametrize("pruner", ["hyperband", "halving"])
def test_pruned_trials_stop_early_and_say_so(tmp_path, pruner):
    result = tune(tmp_path, "--trials", "12", "--out", "t", "--json", "--pruner", pruner)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    table = rows(tmp_path / "t")
    pruned = [r for r in table if r["state"] == "pruned"]
    assert pruned and summary["pruned"] == len(pruned)
    for r in pruned:
        run = tmp_path / "t" / r["trial"]
        epochs = int(r["stopped_epoch"])
        assert epochs < EPOCHS and r["status"] == "pruned"
        assert (run / "metrics.jsonl").read_text().count("\n") == epochs  # it really stopped there
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["status"] == "pruned" and metrics["pruned_epoch"] == epochs and metrics["stopped"] == "pruned"
        assert json.loads((run / "run.json").read_text())["status"] == "pruned"
        meta = weights_file.read(run / "weights.npz")[1]  # the weights file says so too (mlp info, mlp eval)
        assert meta["metrics"]["status"] == "pruned" and meta["metrics"]["pruned_epoch"] == epochs
    for r in table:
        if r["state"] == "complete":
            assert int(r["stopped_epoch"]) == EPOCHS
    kept = {t.number: t.user_attrs["figures"]["status"] for t in study_of(tmp_path / "t").get_trials()}
    assert {kept[int(r["trial"][-4:])] for r in pruned} == {"pruned"}  # as the study holds them for every machine


def _asked_epochs(monkeypatch) -> dict:
    """Records, by trial number, the epochs at which the pruner is asked (Trial.should_prune)."""
    last, asked = {}, {}
    report, should_prune = optuna.trial.Trial.report, optuna.trial.Trial.should_prune

    def reporting(self, value, step):
        last[self.number] = step
        return report(self, value, step)

    def asking(self):
        asked.setdefault(self.number, []).append(last[self.number])
        return should_prune(self)

    monkeypatch.setattr(optuna.trial.Trial, "report", reporting)
    monkeypatch.setattr(optuna.trial.Trial, "should_prune", asking)
    return asked


@pytest.mark.parametrize("pruner", ["hyperband", "halving"])
def test_a_rung_pruner_is_asked_only_at_its_rungs_and_decides_as_if_asked_every_epoch(tmp_path, monkeypatch, pruner):
    """Each question to the pruner reads the study; Hyperband and successive
    halving can only prune at their rungs (1, 4, 16 for 20 epochs), so they are
    asked there only, and every trial ends as it would if it were asked after every epoch."""
    from mlpcli.tune import study as studies

    asked = _asked_epochs(monkeypatch)
    args = ["--trials", "14", "--set", "train.epochs=20", "--study-name", "s", "--pruner", pruner]
    assert tune(tmp_path, *args, "--out", "rungs").returncode == 0
    assert asked and set().union(*asked.values()) <= {1, 4, 16}
    # the study is written to only there too (the whole curves are in metrics.jsonl)
    assert set().union(*(t.intermediate_values for t in study_of(tmp_path / "rungs").get_trials())) <= {1, 4, 16}
    monkeypatch.setattr(studies, "may_prune", lambda pruner, after, epoch: True)  # asked after every epoch
    asked.clear()
    assert tune(tmp_path, *args, "--out", "every").returncode == 0
    assert set().union(*asked.values()) - {1, 4, 16}  # (the check above would see it)
    ends = {d: [(r["trial"], r["state"], r["stopped_epoch"], r["value"]) for r in rows(tmp_path / d)] for d in ("rungs", "every")}
    assert ends["rungs"] == ends["every"] and {"pruned", "complete"} <= {e[1] for e in ends["rungs"]}


def test_a_resumed_or_late_report_is_judged_at_the_first_epoch_past_a_rung():
    from mlpcli.tune import study as studies

    for name in ("hyperband", "halving"):
        pruner = studies.make_pruner(name, 20)  # rungs at 1, 4, 16
        assert [e for e in range(1, 21) if studies.may_prune(pruner, e - 1, e)] == [1, 4, 16], name
        assert studies.may_prune(pruner, 0, 5)  # a retry resumed at epoch 5: rung 4 is behind it, not judged yet
        assert not studies.may_prune(pruner, 4, 15) and studies.may_prune(pruner, 4, 17)  # epoch 16 had no value
    median, none = studies.make_pruner("median", 20), studies.make_pruner("none", 20)
    assert all(studies.may_prune(median, e - 1, e) for e in range(1, 21))
    assert not any(studies.may_prune(none, 0, e) for e in range(1, 21))
    for name in ("hyperband", "halving"):  # --min-epochs 3 --reduction-factor 2
        pruner = studies.make_pruner(name, 20, min_epochs=3, reduction_factor=2)
        assert [e for e in range(1, 21) if studies.may_prune(pruner, e - 1, e)] == [3, 6, 12], name
    late = studies.make_pruner("median", 20, min_epochs=5)
    assert [e for e in range(1, 21) if studies.may_prune(late, e - 1, e)] == list(range(5, 21))


@pytest.mark.parametrize("pruner, options, rungs, first_rungs", [
    ("halving", ["--min-epochs", "3", "--reduction-factor", "2"], {3, 6, 12}, {3, 6}),  # 6: factor 2, not the default 4
    ("median", ["--min-epochs", "5"], set(range(5, 20)), {5}),
])
def test_min_epochs_and_reduction_factor_decide_where_trials_can_stop(tmp_path, monkeypatch, pruner, options, rungs,
                                                                      first_rungs):
    asked = _asked_epochs(monkeypatch)
    result = tune(tmp_path, "--trials", "12", "--set", "train.epochs=20", "--pruner", pruner, *options, "--out", "t",
                  "--json")
    assert result.returncode == 0, result.stderr
    judged = set().union(*asked.values())
    assert first_rungs <= judged <= rungs  # never judged before --min-epochs, only at the rungs
    stops = {int(r["stopped_epoch"]) for r in rows(tmp_path / "t") if r["state"] == "pruned"}
    assert stops and stops <= rungs
    recorded = json.loads((tmp_path / "t" / "tune.json").read_text())["pruner_options"]
    expected = {"min_epochs": int(options[1]), "reduction_factor": int(options[3]) if len(options) > 2 else None,
                "max_epochs": None, "bracket_seed": None}  # (Hyperband's budget and brackets)
    assert recorded == expected == json.loads(result.stdout)["pruner_options"]


def test_min_epochs_is_checked_against_the_longest_trial(tmp_path):
    """With train.epochs searched, --min-epochs may pass the base config's epochs (9) if a trial trains longer."""
    result = tune(tmp_path, "--range", "train.epochs=9:20", "--min-epochs", "12", "--trials", "2", "--out", "t")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "t" / "tune.json").read_text())["pruner_options"]["min_epochs"] == 12


def test_a_rerun_judges_its_trials_as_the_study_did(tmp_path):
    """The study records how its trials are judged: a rerun without pruning
    options keeps them, one that asks for others is refused (Optuna compares
    trials rung by rung, so the rungs cannot move), and a study begun before
    studies recorded it is judged as its tune.json says (the defaults of then)."""
    from mlpcli.tune import study as studies

    first = ["--pruner", "halving", "--min-epochs", "2", "--reduction-factor", "3", "--out", "t"]
    assert tune(tmp_path, "--trials", "4", *first).returncode == 0
    record = json.loads((tmp_path / "t" / "tune.json").read_text())
    assert (record["pruner"], record["pruner_options"]) == ("halving", {"min_epochs": 2, "reduction_factor": 3,
                                                                       "max_epochs": None, "bracket_seed": None})
    assert tune(tmp_path, "--trials", "5", "--out", "t").returncode == 0  # no options: the study's
    assert json.loads((tmp_path / "t" / "tune.json").read_text()) == record
    assert tune(tmp_path, "--trials", "6", *first).returncode == 0  # the same ones, given again
    for changed in (["--min-epochs", "1"], ["--reduction-factor", "4"], ["--pruner", "median"]):
        assert_refused(tune(tmp_path, "--trials", "7", *changed, "--out", "t"), changed[0], "cannot change",
                       "--pruner halving --min-epochs 2 --reduction-factor 3")
        assert json.loads((tmp_path / "t" / "tune.json").read_text()) == record
    assert len(study_of(tmp_path / "t").get_trials()) == 6
    # a study from before: no record in the study, none in tune.json (then: a tenth of 9 epochs, factor 3)
    study = study_of(tmp_path / "t")
    study._storage.set_study_user_attr(study._study_id, studies.PRUNING, None)
    del record["pruner_options"]
    (tmp_path / "t" / "tune.json").write_text(json.dumps(record))
    assert tune(tmp_path, "--trials", "7", "--out", "t").returncode == 0
    legacy = {"min_epochs": 1, "reduction_factor": 3, "max_epochs": None, "bracket_seed": None}
    assert json.loads((tmp_path / "t" / "tune.json").read_text())["pruner_options"] == legacy
    assert study_of(tmp_path / "t").user_attrs[studies.PRUNING] == {"pruner": "halving", **legacy}


def test_a_study_shared_by_folders_keeps_its_pruning_and_hyperbands_budget(tmp_path):
    """Hyperband's budget (the longest trial's epochs, which sets its brackets)
    is the study's: a folder joining with other epochs judges with it. An
    older study with trials but no record, joined from a new folder, needs
    its pruning typed in full (only the folder that began it knows it)."""
    from mlpcli.tune import study as studies

    shared = ["--storage", f"sqlite:///{tmp_path / 'shared.db'}", "--study-name", "s"]
    assert tune(tmp_path, "--range", "train.epochs=9:30", "--trials", "3", *shared, "--out", "a").returncode == 0
    began = json.loads((tmp_path / "a" / "tune.json").read_text())["pruner_options"]
    # a twentieth of the longest trial's epochs; brackets from the seed of the config that began the study
    assert began == {"min_epochs": 1, "reduction_factor": 4, "max_epochs": 30, "bracket_seed": 0}
    assert tune(tmp_path, "--range", "train.epochs=9:30", "--trials", "4", *shared, "--set", "train.epochs=5",
                "--set", "seed=3", "--out", "b").returncode == 0
    assert json.loads((tmp_path / "b" / "tune.json").read_text())["pruner_options"] == began  # seed 3: the same brackets
    study = study_of(tmp_path / "a")
    # recorded before the brackets had a seed: Optuna's (from the study's name) go on
    old = {k: v for k, v in study.user_attrs[studies.PRUNING].items() if k != "bracket_seed"}
    study._storage.set_study_user_attr(study._study_id, studies.PRUNING, old)
    assert tune(tmp_path, "--range", "train.epochs=9:30", "--trials", "5", *shared, "--out", "a").returncode == 0
    assert json.loads((tmp_path / "a" / "tune.json").read_text())["pruner_options"] == {**began, "bracket_seed": None}
    assert study_of(tmp_path / "a").user_attrs[studies.PRUNING] == {**old, "bracket_seed": None}
    began = {**began, "bracket_seed": None}
    study._storage.set_study_user_attr(study._study_id, studies.PRUNING, None)  # as a study from before
    refused = tune(tmp_path, "--range", "train.epochs=9:30", "--trials", "5", *shared, "--out", "c")
    assert_refused(refused, "study 's'", "--pruner")
    assert not (tmp_path / "c").exists()
    typed = ["--pruner", "hyperband", "--min-epochs", "1", "--reduction-factor", "4"]
    assert tune(tmp_path, "--range", "train.epochs=9:30", "--trials", "5", *shared, *typed, "--out", "c").returncode == 0
    assert study_of(tmp_path / "a").user_attrs[studies.PRUNING] == {"pruner": "hyperband", **began}


def test_a_process_joining_a_study_judges_in_the_brackets_of_the_studys_seed(tmp_path, monkeypatch):
    """A folder joining with another seed draws its own trials but puts each
    in the bracket the seed of the config that began the study gives, as
    every other process on the study does (tune.json shows both seeds)."""
    from types import SimpleNamespace

    from mlpcli.tune import study as studies

    shared = ["--storage", f"sqlite:///{tmp_path / 'shared.db'}", "--study-name", "s"]
    assert tune(tmp_path, "--trials", "3", *shared, "--out", "a").returncode == 0
    judged, prune = {}, optuna.pruners.HyperbandPruner.prune

    def judging(self, study, trial):
        judged[trial.number] = self._get_bracket_id(study, trial)
        return prune(self, study, trial)

    monkeypatch.setattr(optuna.pruners.HyperbandPruner, "prune", judging)
    assert tune(tmp_path, "--trials", "14", *shared, "--set", "seed=3", "--out", "b").returncode == 0
    record = json.loads((tmp_path / "b" / "tune.json").read_text())
    assert (record["seed"], record["pruner_options"]["bracket_seed"]) == (3, 0)

    def brackets(seed):
        pruner = studies.make_pruner("hyperband", EPOCHS, bracket_seed=seed)
        pruner._try_initialization(None)
        return {n: pruner._get_bracket_id(None, SimpleNamespace(number=n)) for n in judged}

    assert len(judged) >= 8 and judged == brackets(0) != brackets(3)


def test_the_median_pruner_is_asked_every_epoch_and_none_never(tmp_path, monkeypatch):
    asked = _asked_epochs(monkeypatch)
    assert tune(tmp_path, "--trials", "8", "--pruner", "median", "--out", "m").returncode == 0
    for r in rows(tmp_path / "m"):
        stopped = int(r["stopped_epoch"])
        assert asked[int(r["trial"][-4:])] == list(range(1, min(stopped, EPOCHS - 1) + 1))  # never at the last epoch
    asked.clear()
    assert tune(tmp_path, "--trials", "3", "--pruner", "none", "--out", "n").returncode == 0
    assert asked == {}


def test_results_best_yaml_and_train_it(tmp_path):
    result = tune(tmp_path, "--trials", "5", "--out", "t", "--pruner", "none", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    table = rows(tmp_path / "t")
    assert [r["trial"] for r in table] == [f"trial-{i:04d}" for i in range(5)]
    for column in ("trial", "status", "seed", "train.optimizer.lr", "model.layers[0].units", "val.accuracy",
                   "test.accuracy", "epochs_run", "seconds", "error", "state", "stopped_epoch", "machine", "value"):
        assert column in table[0]
    assert {r["machine"] for r in table} == {os.uname().nodename}
    assert all(float(r["value"]) == float(r["val.accuracy"]) for r in table)
    best = max(table, key=lambda r: (float(r["value"]), -int(r["trial"][-4:])))
    assert summary["best"]["trial"] == best["trial"]
    record = json.loads((tmp_path / "t" / "tune.json").read_text())
    assert record["metric"] == "val_accuracy" and record["direction"] == "maximize" and record["study_name"] == "t"
    assert record["storage"] == f"sqlite:///{tmp_path / 't'}/study.db"
    assert [s["key"] for s in record["search"]] == ["train.optimizer.lr", "model.layers[0].units"]
    config = yaml.safe_load((tmp_path / "t" / "best.yaml").read_text())
    trial_config = yaml.safe_load((tmp_path / "t" / best["trial"] / "config.yaml").read_text())
    assert config["train"]["optimizer"]["lr"] == float(best["train.optimizer.lr"])
    assert {**config, "output": None} == {**trial_config, "output": None}
    trained = run_mlp("train", "t/best.yaml", "--out", "again", "--json", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["val"]["accuracy"] == float(best["value"])  # the same run, again
    jsonl = [json.loads(line) for line in (tmp_path / "t" / "results.jsonl").read_text().splitlines()]
    assert [r["number"] for r in jsonl] == list(range(5)) and jsonl[0]["params"]["model.layers[0].units"] in (4, 8, 16)


def test_a_rerun_continues_the_study_to_trials(tmp_path):
    assert tune(tmp_path, "--trials", "3", "--out", "t").returncode == 0
    again = tune(tmp_path, "--trials", "5", "--out", "t", "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["finished"] == 5 and summary["ran"] == 2
    assert len(rows(tmp_path / "t")) == 5
    done = tune(tmp_path, "--trials", "5", "--out", "t", "--json")
    assert json.loads(done.stdout)["ran"] == 0


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the other process's trial, asked for here
def test_a_process_that_loses_the_race_for_the_last_trial_runs_nothing(tmp_path, monkeypatch):
    """Two processes both see one slot of --trials left and both ask the study
    for a trial: the later-numbered one is surplus, runs nothing and is in no
    record, and it takes no slot from a later, bigger --trials."""
    from mlpcli.tune import study as studies

    assert tune(tmp_path, "--trials", "2", "--out", "t").returncode == 0
    study = study_of(tmp_path / "t")
    other = study.ask()  # the other process's trial (it is alive: this one's pid), the last of --trials 3
    other.set_user_attr("pid", os.getpid())
    other.set_user_attr("process_space", studies.process_space())
    looks = []  # this process's first look was just before the other asked: a slot free
    done = studies.done
    monkeypatch.setattr(studies, "done", lambda *args: bool(looks.append(1) or len(looks) > 1) and done(*args))
    raced = tune(tmp_path, "--trials", "3", "--out", "t", "--json")
    assert raced.returncode == 0, raced.stderr
    summary = json.loads(raced.stdout)
    assert summary["ran"] == 0 and summary["running"] == 1 and summary["finished"] == 2
    assert not (tmp_path / "t" / "trial-0003").exists()
    assert [r["trial"] for r in rows(tmp_path / "t")] == ["trial-0000", "trial-0001"]
    marked = [t.number for t in study.get_trials() if t.user_attrs.get("surplus")]
    assert marked == [3]

    study.tell(other, 0.5)
    bigger = tune(tmp_path, "--trials", "4", "--out", "t", "--json")
    assert json.loads(bigger.stdout)["ran"] == 1  # the surplus trial took no slot
    assert [r["trial"] for r in rows(tmp_path / "t")] == ["trial-0000", "trial-0001", "trial-0002", "trial-0004"]


def test_the_surplus_rule_takes_the_first_trials_by_number_and_never_a_retry(tmp_path):
    from mlpcli.tune import study as studies

    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/s.db")
    asked = [study.ask() for _ in range(4)]  # four processes asked at once for a budget of 2
    assert [studies.surplus(study, t, 2) for t in reversed(asked)] == [True, True, False, False]  # in any order
    asked[3].set_user_attr("surplus", True)
    assert not studies.surplus(study, asked[2], 3)  # a marked one takes no slot
    studies.retry(study, asked[0], "died")
    assert not studies.surplus(study, study.ask(), 2)  # the retry runs in its trial's slot


def test_timeout_bounds_the_study(tmp_path):
    result = tune(tmp_path, "--trials", "500", "--timeout", "5", "--out", "t", "--json")
    assert result.returncode == 0, result.stderr
    assert 1 <= json.loads(result.stdout)["ran"] < 500


@pytest.mark.parametrize("args, names", [
    (["--range", "train.optimizer.lr=0.1:0.01"], ["--range", "LOW must be below HIGH"]),
    (["--range", "train.optimizer.lr=a:b"], ["--range", "numbers"]),
    (["--range", "train.optimizer.lrr=0.001:0.1"], ["lrr"]),
    (["--choice", "model.layers[0].unitz=4,8"], ["unitz"]),
    (["--range", "model.layers[0].dropout=0:1.5"], ["model.layers[0].dropout"]),  # past the schema's range
    (["--storage", "sqlite:////nonexistent-folder/deeper/study.db"], ["--storage", "cannot open"]),
    (["--storage", "postgresql://nobody@127.0.0.1:9/nothing"], ["--storage", "cannot open"]),
    (["--storage", "nosuchdb://x"], ["--storage"]),
    (["--pruner", "median", "--reduction-factor", "4"], ["--reduction-factor 4", "hyperband and halving"]),
    (["--pruner", "none", "--min-epochs", "2"], ["--min-epochs 2", "none"]),
    (["--min-epochs", "9"], ["--min-epochs 9", "train.epochs (9,"]),
    (["--range", "train.epochs=4:12", "--min-epochs", "12"], ["--min-epochs 12", "train.epochs (12,"]),
    (["--reduction-factor", "1"], ["--reduction-factor"]),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, names):
    (tmp_path / "c.yaml").write_text(CONFIG)
    extra = [] if any(a in ("--range", "--choice") for a in args) else ["--range", "train.optimizer.lr=0.001:0.1"]
    result = run_mlp("tune", "c.yaml", *extra, *args, "--trials", "2", "--out", "t", cwd=tmp_path)
    assert_refused(result, *names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_without_optuna_it_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    (tmp_path / "c.yaml").write_text(CONFIG)
    result = run_mlp("tune", "c.yaml", "--range", "train.optimizer.lr=0.001:0.1", "--out", "t", cwd=tmp_path)
    assert_refused(result, "pip install 'mlpcli[tune]'")
    assert not (tmp_path / "t").exists()


def test_a_folder_of_another_tune_is_refused(tmp_path):
    assert tune(tmp_path, "--trials", "1", "--out", "t").returncode == 0
    before = (tmp_path / "t" / "results.csv").read_bytes()
    other = tune(tmp_path, "--trials", "2", "--out", "t", "--set", "train.batch_size=8")
    assert_refused(other, "another base config")
    assert (tmp_path / "t" / "results.csv").read_bytes() == before


def test_trial_folders_of_a_lost_study_are_not_overwritten(tmp_path):
    assert tune(tmp_path, "--trials", "1", "--out", "t").returncode == 0
    for db in (tmp_path / "t").glob("study.db*"):
        db.unlink()
    before = [(tmp_path / "t" / name).read_bytes() for name in ("trial-0000/metrics.jsonl", "tune.json")]
    assert_refused(tune(tmp_path, "--trials", "1", "--pruner", "median", "--out", "t"), "not in sqlite",
                   "choose another --out")
    assert [(tmp_path / "t" / name).read_bytes() for name in ("trial-0000/metrics.jsonl", "tune.json")] == before
    assert not list((tmp_path / "t").glob("study.db*"))  # no new, empty database either
    # a study deleted from a storage given with --storage: refused, and no empty study made in its place
    shared = ["--storage", f"sqlite:///{tmp_path / 'shared.db'}", "--study-name", "s", "--out", "u"]
    assert tune(tmp_path, "--trials", "1", *shared).returncode == 0
    optuna.delete_study(study_name="s", storage=f"sqlite:///{tmp_path / 'shared.db'}")
    assert_refused(tune(tmp_path, "--trials", "1", *shared), "not in sqlite", "choose another --out")
    assert optuna.get_all_study_names(f"sqlite:///{tmp_path / 'shared.db'}") == []


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # study.ask() here stands in for a process's trial
def test_a_dead_process_trial_is_failed_and_retried_once_only_where_its_pid_means_it(tmp_path):
    from mlpcli.tune import study as studies

    assert tune(tmp_path, "--trials", "1", "--out", "t").returncode == 0
    study = study_of(tmp_path / "t")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)  # a process that has ended
    elsewhere, here = study.ask(), study.ask()
    for trial, space in ((elsewhere, "another-container:boot:1"), (here, studies.process_space())):
        trial.set_user_attr("machine", studies.hostname())
        trial.set_user_attr("pid", dead_pid)
        trial.set_user_attr("process_space", space)
    assert studies.reclaim(study) == [here.number]  # the same host name elsewhere: left to its heartbeat
    states = {t.number: t for t in study.get_trials()}
    assert states[elsewhere.number].state.name == "RUNNING" and states[here.number].state.name == "FAIL"
    retry = next(t for t in states.values() if t.user_attrs.get("retry_of") == here.number)
    assert retry.state.name == "WAITING" and retry.user_attrs["crash_retry"]
    again = study.ask()  # the retry, taken and dying too: not retried a second time
    assert again.number == retry.number
    again.set_user_attr("pid", dead_pid)
    again.set_user_attr("process_space", studies.process_space())
    assert studies.reclaim(study) == [again.number]
    assert not [t for t in study.get_trials() if t.user_attrs.get("retry_of") == again.number]


# --------------------------------------------------------------------------- real processes


def start(tmp_path, *args, config=SLOW):
    (tmp_path / "c.yaml").write_text(config)
    env = {k: v for k, v in os.environ.items() if k != "MLP_DEBUG"}
    return subprocess.Popen(
        [sys.executable, "-m", "mlpcli", "tune", "c.yaml", *SEARCH, "--out", "t", "--quiet", "--pruner", "none", *args],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def finish(tmp_path, trials: str) -> dict:
    proc = start(tmp_path, "--trials", trials, "--json")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
def test_a_stopped_or_killed_tune_loses_nothing_and_a_rerun_continues(tmp_path, signum):
    proc = start(tmp_path, "--trials", "2")
    run = tmp_path / "t" / "trial-0001"
    wait_for(proc, lambda: epochs_done(run) >= 3, "trial-0001 training")
    os.killpg(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    if signum == signal.SIGINT:
        assert proc.returncode == 130, err
        assert len(err.splitlines()) == 1 and err.startswith("Error: interrupted:") and "run the same command" in err
        assert (tmp_path / "t" / "results.csv").is_file()  # what finished is recorded
    else:
        assert proc.returncode == -signal.SIGKILL
    trained = epochs_done(run)
    summary = finish(tmp_path, "2")
    assert summary["finished"] == 2 and summary["complete"] == 2 and summary["ran"] == 1
    trials = {t.number: t for t in study_of(tmp_path / "t").get_trials()}
    assert trials[1].state.name == "FAIL"
    retry = next(t for t in trials.values() if t.user_attrs.get("retry_of") == 1)
    assert retry.state.name == "COMPLETE" and retry.params == trials[1].params
    again = tmp_path / "t" / f"trial-{retry.number:04d}"
    old_lines = (run / "metrics.jsonl").read_text().splitlines()
    new_lines = (again / "metrics.jsonl").read_text().splitlines()
    assert len(new_lines) == SLOW_EPOCHS
    if signum == signal.SIGINT:  # checkpointed at the step it stopped: every epoch it trained is kept
        assert new_lines[:trained] == old_lines[:trained]
    table = {r["trial"]: r for r in rows(tmp_path / "t")}
    assert table["trial-0001"]["state"] == "failed"
    assert int(table["trial-0001"]["stopped_epoch"]) == trained  # as its metrics.jsonl tells, killed or not
    assert f"run again as trial-{retry.number:04d}" in table["trial-0001"]["error"]


def pause_between_writes(pid: int, db: Path) -> None:
    """SIGSTOP ``pid`` at a moment it holds no write lock on the SQLite study
    (stopped mid-commit, it would block every other process's writes until
    their 60 s timeout): stopped, then checked by taking the lock ourselves."""
    import sqlite3

    while True:
        os.kill(pid, signal.SIGSTOP)
        probe = sqlite3.connect(db, timeout=0.2, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:  # locked: let it finish the commit
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.05)
        finally:
            probe.close()


def test_two_processes_on_one_study_run_disjoint_trials(tmp_path):
    # The first process is held (SIGSTOP), as a rule in its first trial, while the second, itself
    # two workers, runs: no timing decides who takes what. On a loaded machine the first may have
    # finished a trial before the stop lands: the trials it holds then are counted from the study.
    from mlpcli.tune import study as studies

    config = SLOW.replace(f"epochs: {SLOW_EPOCHS}", "epochs: 10")
    first = start(tmp_path, "--trials", "3", "--json", config=config)
    wait_for(first, lambda: epochs_done(tmp_path / "t" / "trial-0000") >= 1, "the first process's first trial")
    pause_between_writes(first.pid, tmp_path / "t" / "study.db")
    try:
        held = len(studies.trials(study_of(tmp_path / "t")))  # asked for by the first, finished or running
        assert 1 <= held <= 3
        second = start(tmp_path, "--trials", "3", "--jobs", "2", "--json", config=config)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err
        assert json.loads(out)["ran"] == 3 - held  # the first's running trial counts toward --trials 3
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert json.loads(out)["ran"] == held

    study = study_of(tmp_path / "t")
    trials = studies.trials(study)  # (a worker that raced another for the last one asked for a surplus trial)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    for t in study.get_trials():
        if t not in trials:  # surplus: failed unrun, no folder
            assert t.state.name == "FAIL" and not (tmp_path / "t" / f"trial-{t.number:04d}").exists()
    assert [t.user_attrs["pid"] == first.pid for t in trials] == [True] * held + [False] * (3 - held)
    for t in trials:  # each trial trained once, by one process, into its own folder
        assert epochs_done(tmp_path / "t" / f"trial-{t.number:04d}") == 10
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 3
    assert [r["trial"] for r in rows(tmp_path / "t")] == ["trial-0000", "trial-0001", "trial-0002"]


def test_a_killed_worker_fails_only_its_trial_which_runs_again(tmp_path):
    # trials long enough (~2 s each on an idle machine) to be caught training between two looks at the study
    proc = start(tmp_path, "--trials", "3", "--jobs", "2", "--json",
                 config=SLOW.replace(f"epochs: {SLOW_EPOCHS}", "epochs: 150"))
    wait_for(proc, lambda: epochs_done(tmp_path / "t" / "trial-0000") >= 1, "trial-0000 training")
    study = study_of(tmp_path / "t")  # one storage for every look (opening one per look is ~10x slower)

    def a_worker_training():
        return next((t for t in study.get_trials() if t.state.name == "RUNNING" and t.user_attrs.get("pid")
                     and epochs_done(tmp_path / "t" / f"trial-{t.number:04d}") >= 1), None)

    while True:  # stopped first, so its trial cannot finish between the look and the kill
        wait_for(proc, lambda: a_worker_training() is not None, "a worker's trial training")
        candidate = a_worker_training()
        if candidate is None:
            continue
        os.kill(candidate.user_attrs["pid"], signal.SIGSTOP)
        victim = next(t for t in study.get_trials() if t.number == candidate.number)
        if victim.state.name == "RUNNING":
            break
        os.kill(candidate.user_attrs["pid"], signal.SIGCONT)
    assert victim.user_attrs["pid"] != proc.pid
    os.kill(victim.user_attrs["pid"], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["finished"] == 3 and summary["complete"] == 3
    trials = {t.number: t for t in study.get_trials()}
    assert trials[victim.number].state.name == "FAIL"
    assert any(t.user_attrs.get("retry_of") == victim.number for t in trials.values())
    table = {r["trial"]: r for r in rows(tmp_path / "t")}
    row = table[f"trial-{victim.number:04d}"]
    assert row["state"] == "failed" and "died" in row["error"]
    assert "test.confusion_matrix" not in row  # the figures are scalars, as every row's
