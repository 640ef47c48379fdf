"""Pictures (issue 6): every run draws learning_curves.png and, for
classification, confusion_matrix.png, unless output.plots is false;
`mlp plot` overlays runs and plots a sweep's metric against a swept key."""
import json

import numpy as np
import pytest

from mlpcli import plots, runner
from mlpcli.errors import TrainingInterrupted

from .conftest import assert_refused, run_mlp, run_mlp_process
from .test_resume import StopAt, _Stop

pytestmark = pytest.mark.plots  # runs in this process draw their pictures (see conftest)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IRIS = {
    "seed": 1,
    "data": {"dataset": "iris", "val_size": 0.2},
    "model": {"layers": [{"units": 8}]},
    "train": {"epochs": 6, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.05}},
}
REGRESSION = {
    "data": {"dataset": "regression", "options": {"n_samples": 120, "n_features": 4}, "val_size": 0.2},
    "model": {"layers": [{"units": 8}]},
    "train": {"epochs": 4, "schedule": {"name": "step", "step_size": 2, "gamma": 0.5}},
}
# matplotlib's first colours ("C0", "C1", "C2"), as 0-255 RGB
BLUE, ORANGE, GREEN = (31, 119, 180), (255, 127, 14), (44, 160, 44)


def read_png(path, size):
    """The picture as (height, width, 4) floats in [0, 1], after checking it is
    a PNG of ``size`` (width, height) pixels with something drawn on it."""
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    image = imread(path)
    assert image.shape[:2] == (size[1], size[0]), image.shape
    colours = np.unique((image[..., :3] * 255).round().astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"{path}: only {len(colours)} colours, a blank picture?"
    assert image[..., :3].std() > 0.05
    return image


def has_colour(image, rgb, at_least=30) -> bool:
    """At least ``at_least`` pixels within 3 levels of the colour ``rgb``."""
    pixels = (image[..., :3] * 255).round()
    return int((np.abs(pixels - np.array(rgb)).max(axis=-1) <= 3).sum()) >= at_least


def test_a_classification_run_draws_its_learning_curves_and_confusion_matrix(tmp_path):
    result = runner.train(IRIS, tmp_path / "run")
    run = tmp_path / "run"
    curves = read_png(run / "learning_curves.png", plots.LEARNING_CURVES_SIZE)
    # train loss (C0) and validation loss (C1) on the first panel, validation accuracy (C1); a constant lr: no panel (C2)
    assert has_colour(curves, BLUE) and has_colour(curves, ORANGE) and not has_colour(curves, GREEN)
    matrix = read_png(run / "confusion_matrix.png", plots.CONFUSION_SIZE)
    # the darkest blue of the "Blues" map fills the diagonal's best cells
    assert has_colour(matrix, (8, 48, 107), 100)
    assert result.metrics["test"]["accuracy"] > 0.5
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"


def test_a_regression_run_draws_learning_curves_only(tmp_path):
    runner.train(REGRESSION, tmp_path / "run")
    curves = read_png(tmp_path / "run" / "learning_curves.png", plots.LEARNING_CURVES_SIZE)
    assert has_colour(curves, GREEN)  # the stepped learning rate
    assert not (tmp_path / "run" / "confusion_matrix.png").exists()


def test_output_plots_false_draws_nothing_and_is_recorded(tmp_path):
    runner.train(IRIS, tmp_path / "run", overrides=["output.plots=false"])
    assert not list((tmp_path / "run").glob("*.png"))
    assert "plots: false" in (tmp_path / "run" / "config.yaml").read_text()


def test_the_resolved_config_records_plots_true_by_default(tmp_path):
    runner.train(IRIS, tmp_path / "run")
    assert "plots: true" in (tmp_path / "run" / "config.yaml").read_text()


def test_overwrite_leaves_no_stale_picture(tmp_path):
    runner.train(IRIS, tmp_path / "run")
    runner.train(IRIS, tmp_path / "run", overwrite=True, overrides=["output.plots=false"])
    assert not list((tmp_path / "run").glob("*.png"))


def test_a_folder_holding_only_pictures_is_refused_without_overwrite(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "learning_curves.png").write_bytes(PNG_SIGNATURE)
    with pytest.raises(Exception, match="learning_curves.png"):
        runner.train(IRIS, tmp_path / "run")


def test_an_interrupted_run_draws_its_pictures_when_resumed(tmp_path):
    run = tmp_path / "run"
    stop = _Stop()
    with pytest.raises(TrainingInterrupted):
        runner.train(IRIS, run, interrupt=stop, callbacks=[StopAt(stop, 12)])
    assert not list(run.glob("*.png"))
    runner.resume(run)
    read_png(run / "learning_curves.png", plots.LEARNING_CURVES_SIZE)
    read_png(run / "confusion_matrix.png", plots.CONFUSION_SIZE)


def test_mlp_train_from_the_shell_draws_both_pictures(tmp_path):
    config = tmp_path / "iris.yaml"
    config.write_text(json.dumps(IRIS))  # JSON is YAML
    # A real process: a fresh interpreter picks matplotlib's backend, and no fixture is in the way.
    result = run_mlp_process("train", config, "--out", tmp_path / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    read_png(tmp_path / "run" / "learning_curves.png", plots.LEARNING_CURVES_SIZE)
    read_png(tmp_path / "run" / "confusion_matrix.png", plots.CONFUSION_SIZE)


def test_a_confusion_matrix_of_many_classes_is_drawn_without_counts():
    rng = np.random.default_rng(0)
    png = plots.confusion_matrix(rng.integers(0, 9, (60, 60)), [f"class {i}" for i in range(60)])
    assert png[:8] == PNG_SIGNATURE


# --------------------------------------------------------------------------- mlp plot


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for lr in (0.01, 0.1):
        runner.train(IRIS, root / f"lr{lr}", overrides=[f"train.optimizer.lr={lr}", "output.plots=false"])
    return root / "lr0.01", root / "lr0.1"


def test_mlp_plot_overlays_runs_one_colour_each(two_runs, tmp_path):
    out = tmp_path / "curves.png"
    result = run_mlp("plot", *two_runs, "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    image = read_png(out, plots.OVERLAY_SIZE)
    assert has_colour(image, BLUE, 200) and has_colour(image, ORANGE, 200)
    assert not has_colour(image, GREEN)  # two runs, two colours


def test_mlp_plot_one_metric(two_runs, tmp_path):
    out = tmp_path / "lr.png"
    png = plots.plot_runs(two_runs, "accuracy")  # accuracy: the per-epoch val_accuracy
    out.write_bytes(png)
    read_png(out, plots.OVERLAY_SIZE)
    result = run_mlp("plot", *two_runs, "--metric", "nonsense", "-o", tmp_path / "x.png")
    assert_refused(result, "--metric nonsense", "val_accuracy", "train_loss")
    assert not (tmp_path / "x.png").exists()


def test_mlp_plot_refuses_a_folder_that_is_not_a_run(two_runs, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_refused(run_mlp("plot", two_runs[0], tmp_path / "empty", "-o", tmp_path / "x.png"), "empty", "config.yaml")
    assert_refused(run_mlp("plot", two_runs[0], "-o", tmp_path / "x.pdf"), "-o", ".png")


def make_sweep(root, lrs=(0.001, 0.01, 0.1), dropouts=(0.0, 0.5), seeds=(0, 1)):
    """A sweep folder as `mlp sweep` writes it: results.jsonl, one object per
    trial (trial, params {dotted key: value}, overrides [KEY=VALUE...], seed,
    status, test and val metrics, seconds)."""
    root.mkdir()
    rows = []
    for lr in lrs:
        for dropout in dropouts:
            for seed in seeds:
                accuracy = 0.7 + 0.1 * np.log10(lr / 0.001) - 0.05 * dropout + 0.01 * seed
                params = {"train.optimizer.lr": lr, "model.layers.0.dropout": dropout, "seed": seed}
                rows.append({
                    "trial": f"lr={lr},dropout={dropout},seed={seed}", "params": params,
                    "overrides": [f"{k}={v}" for k, v in params.items()], "seed": seed, "status": "completed",
                    "error": None, "test": {"accuracy": accuracy, "loss": 1 - accuracy}, "val": {}, "seconds": 1.0,
                })
    rows.append({"trial": "lr=10.0,dropout=0.0,seed=0", "seed": 0, "status": "failed", "error": "diverged",
                 "overrides": ["train.optimizer.lr=10.0", "model.layers.0.dropout=0.0", "seed=0"]})
    (root / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_sweep_points_average_over_seeds_per_other_setting(tmp_path):
    rows = plots.read_sweep(make_sweep(tmp_path / "sweep"))
    series = plots.sweep_points(rows, "train.optimizer.lr", "accuracy")
    assert list(series) == ["model.layers.0.dropout=0.0", "model.layers.0.dropout=0.5"]
    x, mean, std, n = series["model.layers.0.dropout=0.0"][1]
    assert (x, n) == (0.01, 2)  # the failed trial (lr 10) is left out
    assert mean == pytest.approx(0.805) and std == pytest.approx(0.005)


def test_swept_values_from_params_or_override_strings():
    assert plots.swept_values({"params": {"train.epochs": 5}, "overrides": ["train.epochs=5"]}) == {"train.epochs": 5}
    assert plots.swept_values({"overrides": ["train.optimizer.lr=3e-4", "model.layers.0.units=16"]}) == {
        "train.optimizer.lr": 3e-4, "model.layers.0.units": 16,
    }


def test_mlp_plot_a_sweep_against_a_swept_key(tmp_path):
    sweep = make_sweep(tmp_path / "sweep")
    result = run_mlp("plot", sweep, "--x", "train.optimizer.lr")
    assert result.returncode == 0, result.stderr
    out = sweep / "train.optimizer.lr.png"
    assert result.stdout.strip() == str(out)
    image = read_png(out, plots.SWEEP_SIZE)
    assert has_colour(image, BLUE, 100) and has_colour(image, ORANGE, 100)  # one line per dropout rate
    refused = run_mlp("plot", sweep, "--x", "train.lr")
    assert_refused(refused, "--x train.lr", "train.optimizer.lr", "model.layers.0.dropout")
    assert_refused(run_mlp("plot", sweep, "--x", "train.optimizer.lr", "--metric", "r2"), "--metric r2")
    assert_refused(run_mlp("plot", sweep), "sweep folder", "--x")
