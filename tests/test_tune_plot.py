"""`mlp plot TUNE_DIR`: the optimisation history, parameter importances and
best trials' learning curves of a tune folder (mlpcli/plots/tune.py).

Most tests build the tune folder themselves, in the layout `mlp tune` writes
(tune.json, an SQLite study, trial-NNNN/metrics.jsonl), with trials whose
values and curves are known; the last runs the real `mlp tune` first."""
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, assert_refused, run_mlp

optuna = pytest.importorskip("optuna", reason="mlp tune needs optuna: pip install -e '.[tune]'")

from mlpcli.plots import tune as tune_plots  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# trial number -> (state, lr, units, val_accuracy per epoch); a failed trial has no value
TRIALS = {
    0: ("complete", 1e-3, 64, [0.50, 0.70, 0.80, 0.85]),
    1: ("pruned", 1e-1, 32, [0.20, 0.25]),
    2: ("complete", 3e-3, 128, [0.60, 0.80, 0.88, 0.90]),
    3: ("fail", 5e-2, 32, []),
    4: ("complete", 1e-4, 32, [0.30, 0.40, 0.50, 0.55]),
    5: ("pruned", 3e-2, 64, [0.40]),
    6: ("complete", 2e-3, 128, [0.62, 0.81, 0.86, 0.89]),
    7: ("complete", 5e-4, 64, [0.45, 0.60, 0.70, 0.75]),
}


def make_tune_dir(root: Path, trials=TRIALS, direction="maximize") -> Path:
    """A tune folder as the contract lays it out, its study in study.db."""
    tune_dir = root / "tune"
    tune_dir.mkdir()
    storage = f"sqlite:///{tune_dir.resolve()}/study.db"
    study = optuna.create_study(storage=storage, study_name="plot-test", direction=direction)
    distributions = {
        "train.optimizer.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
        "model.layers[0].units": optuna.distributions.CategoricalDistribution([32, 64, 128]),
    }
    rows = []
    for number, (state, lr, units, curve) in trials.items():
        trial = study.ask(fixed_distributions=distributions)
        assert trial.number == number
        folder = tune_dir / f"trial-{number:04d}"
        folder.mkdir()
        lines = [json.dumps({"epoch": e + 1, "train_loss": 1 - v, "val_loss": 1.1 - v, "val_accuracy": v})
                 for e, v in enumerate(curve)]
        (folder / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))
        for epoch, value in enumerate(curve, 1):
            trial.report(value, epoch)
        if state == "complete":
            study.tell(trial, curve[-1])
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED if state == "pruned" else optuna.trial.TrialState.FAIL)
        rows.append({"trial": folder.name, "state": state, "value": curve[-1] if curve else None,
                     "stopped_epoch": len(curve), "machine": "test"})
    (tune_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    search = [
        {"key": "train.optimizer.lr", "kind": "float", "low": 1e-4, "high": 1e-1, "log": True, "choices": None},
        {"key": "model.layers[0].units", "kind": "categorical", "low": None, "high": None, "log": False,
         "choices": [32, 64, 128]},
    ]
    spec = {"config": str(CONFIGS / "digits.yaml"), "search": search, "sampler": "tpe", "pruner": "hyperband",
            "storage": storage, "study_name": "plot-test", "direction": direction, "metric": "val_accuracy", "seed": 0}
    (tune_dir / "tune.json").write_text(json.dumps(spec))
    return tune_dir


@pytest.fixture(scope="module")
def tune_dir(tmp_path_factory):
    """Built once (an SQLite study costs a second or two): tests that change
    the folder work on a copy (its tune.json still names this study)."""
    return make_tune_dir(tmp_path_factory.mktemp("plot"))


def panels(fig):
    history, importance, curves = fig.axes
    return history, importance, curves


def scatter_points(ax, label) -> list[tuple[float, float]]:
    for collection, text in zip(ax.collections, [t.get_text() for t in ax.get_legend().get_texts()]):
        if text == label:
            return [tuple(p) for p in collection.get_offsets().tolist()]
    return []


def test_history_marks_complete_and_pruned_trials_and_the_best_so_far(tune_dir):
    history, _, _ = panels(tune_plots.tune_figure(tune_dir))
    assert history.get_title() == "optimisation history"
    assert scatter_points(history, "complete") == [(0, 0.85), (2, 0.90), (4, 0.55), (6, 0.89), (7, 0.75)]
    # a pruned trial at its last reported value; the failed trial 3 is not drawn
    assert scatter_points(history, "pruned (last value)") == [(1, 0.25), (5, 0.40)]
    (best,) = history.get_lines()
    assert list(best.get_xdata()) == [0, 2, 4, 6, 7]
    assert list(best.get_ydata()) == [0.85, 0.90, 0.90, 0.90, 0.90]


def test_best_so_far_follows_the_direction(tmp_path):
    losses = {n: ("complete", 1e-3, 32, [v]) for n, v in enumerate([0.5, 0.7, 0.3, 0.4])}
    history, _, _ = panels(tune_plots.tune_figure(make_tune_dir(tmp_path, losses, direction="minimize")))
    assert list(history.get_lines()[0].get_ydata()) == [0.5, 0.5, 0.3, 0.3]


def test_importances_have_one_bar_per_parameter(tune_dir):
    _, importance, _ = panels(tune_plots.tune_figure(tune_dir))
    assert importance.get_title() == "parameter importance (fANOVA)"
    bars = importance.patches
    assert len(bars) == 2
    assert sum(bar.get_width() for bar in bars) == pytest.approx(1.0)
    assert {t.get_text() for t in importance.get_yticklabels()} == {"train.optimizer.lr", "model.layers[0].units"}


def test_importances_need_two_complete_trials(tmp_path):
    one = {0: ("complete", 1e-3, 32, [0.5, 0.6]), 1: ("pruned", 1e-2, 64, [0.1])}
    _, importance, _ = panels(tune_plots.tune_figure(make_tune_dir(tmp_path, one)))
    assert not importance.patches
    assert [t.get_text() for t in importance.texts] == ["needs 2 complete trials (1 so far)"]


def test_curves_of_the_five_best_trials_pruned_ones_end_early(tune_dir):
    _, _, curves = panels(tune_plots.tune_figure(tune_dir))
    lines = {line.get_label(): line for line in curves.get_lines()}
    # by value, complete or pruned: 2 (0.90), 6 (0.89), 0 (0.85), 7 (0.75), 4 (0.55); then 5 (0.40) is left out
    assert list(lines) == ["trial 2", "trial 6", "trial 0", "trial 7", "trial 4"]
    assert curves.get_title() == "best 5 trials: val accuracy"
    assert list(lines["trial 2"].get_ydata()) == TRIALS[2][3]
    assert all(len(line.get_xdata()) == 4 and line.get_linestyle() == "-" for line in lines.values())


def test_a_pruned_trial_among_the_best_is_dashed_and_short(tmp_path):
    few = {0: ("complete", 1e-3, 32, [0.2, 0.3, 0.35]), 1: ("pruned", 1e-2, 64, [0.5]),
           2: ("complete", 1e-4, 128, [0.1, 0.2, 0.4])}
    _, _, curves = panels(tune_plots.tune_figure(make_tune_dir(tmp_path, few)))
    lines = {line.get_label(): line for line in curves.get_lines()}
    assert list(lines) == ["trial 1 (pruned)", "trial 2", "trial 0"]
    assert lines["trial 1 (pruned)"].get_linestyle() == "--"
    assert list(lines["trial 1 (pruned)"].get_xdata()) == [1]


def test_trials_run_on_another_machine_are_counted_not_drawn(tune_dir, tmp_path):
    tune_dir = Path(shutil.copytree(tune_dir, tmp_path / "copy"))
    shutil.rmtree(tune_dir / "trial-0006")
    _, _, curves = panels(tune_plots.tune_figure(tune_dir))
    assert [line.get_label() for line in curves.get_lines()] == ["trial 2", "trial 0", "trial 7", "trial 4"]
    assert curves.get_title() == "best 4 trials: val accuracy (1 ran elsewhere)"


def test_metric_option_picks_the_curves_figure(tune_dir):
    _, _, curves = panels(tune_plots.tune_figure(tune_dir, metric="loss"))
    assert curves.get_title() == "best 5 trials: val loss"
    assert list(curves.get_lines()[0].get_ydata()) == pytest.approx([1.1 - v for v in TRIALS[2][3]])


@pytest.mark.plots
def test_mlp_plot_writes_tune_png_in_the_folder(tune_dir, tmp_path):
    tune_dir = Path(shutil.copytree(tune_dir, tmp_path / "copy"))
    done = run_mlp("plot", tune_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tune_dir / "tune.png")
    assert (tune_dir / "tune.png").read_bytes().startswith(PNG_MAGIC)
    done = run_mlp("plot", tune_dir, "-o", tmp_path / "elsewhere.png")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "elsewhere.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("text, names", [
    ("", ["tune.json", "not valid JSON"]),
    ("[1, 2]", ["tune.json", "not a JSON object"]),
    ("{}", ["tune.json", "direction"]),
])
def test_a_broken_tune_json_is_refused(tmp_path, text, names):
    (tmp_path / "tune.json").write_text(text)
    assert_refused(run_mlp("plot", tmp_path), *names)
    assert not (tmp_path / "tune.png").exists()


def test_a_study_without_finished_trials_is_refused(tmp_path):
    tune_dir = make_tune_dir(tmp_path, {0: ("fail", 1e-3, 32, [])})
    assert_refused(run_mlp("plot", tune_dir), str(tune_dir), "no complete or pruned trial")
    assert not (tune_dir / "tune.png").exists()


def test_an_unknown_metric_is_refused(tune_dir):
    assert_refused(run_mlp("plot", tune_dir, "--metric", "nope"), "--metric nope", "val_accuracy")
    assert not (tune_dir / "tune.png").exists()


def test_an_unreachable_storage_names_tune_json_not_an_option(tune_dir, tmp_path):
    tune_dir = Path(shutil.copytree(tune_dir, tmp_path / "copy"))
    spec = json.loads((tune_dir / "tune.json").read_text())
    (tune_dir / "tune.json").write_text(json.dumps({**spec, "storage": "nosuchdb://nowhere/study"}))
    line = assert_refused(run_mlp("plot", tune_dir), str(tune_dir / "tune.json"), "nosuchdb://nowhere/study",
                          "cannot open the study storage")
    assert "--storage" not in line  # mlp plot has no such option
    assert not (tune_dir / "tune.png").exists()


def test_a_tune_folder_is_plotted_alone(tune_dir, tmp_path):
    assert_refused(run_mlp("plot", tune_dir, tmp_path), str(tune_dir), "plot it alone")


@pytest.mark.plots
def test_plot_of_a_real_tune(tmp_path):
    """`mlp tune` (TPE, Hyperband) then `mlp plot`: a point per finished
    trial, pruned ones marked, the best trials' curves from their folders."""
    out = tmp_path / "tune"
    done = run_mlp("tune", CONFIGS / "digits.yaml", "--range", "train.optimizer.lr=1e-4:1e-1:log",
                   "--choice", "model.layers[0].units=16,32", "--set", "train.epochs=4", "--trials", 6,
                   "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    from mlpcli.tune import read_results

    rows = read_results(out)
    states = [row["state"] for row in rows]
    fig = tune_plots.tune_figure(out)
    history, importance, curves = panels(fig)
    drawn = scatter_points(history, "complete") + scatter_points(history, "pruned (last value)")
    assert sorted(n for n, _ in drawn) == sorted(row["number"] for row in rows if row["state"] != "failed")
    assert len(scatter_points(history, "pruned (last value)")) == states.count("pruned")
    assert len(curves.get_lines()) == min(5, len(drawn))
    for line in curves.get_lines():
        number = int(line.get_label().split()[1])
        row = next(r for r in rows if r["number"] == number)
        assert len(line.get_xdata()) == row["stopped_epoch"]
    assert len(importance.patches) == (2 if states.count("complete") >= 2 else 0)
    done = run_mlp("plot", out)
    assert done.returncode == 0, done.stderr
    assert (out / "tune.png").read_bytes().startswith(PNG_MAGIC)


def test_a_value_too_large_to_draw_is_refused(tmp_path):
    huge = {0: ("complete", 1e-3, 32, [0.5]), 1: ("complete", 1e-2, 64, [1e200])}
    tune_dir = make_tune_dir(tmp_path, huge)
    assert_refused(run_mlp("plot", tune_dir), str(tune_dir), "trial 1", "too large to plot")
