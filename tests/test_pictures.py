"""What the pictures show (issue 14), asserted on the figures' structure:
panels, the best-epoch marker, tick labels (text, and bounding boxes from the
Agg renderer: inside the figure, not over each other), legend names, and the
confusion matrix's class labels in the PNG and in `mlp eval`'s text."""
import json
import math

import numpy as np
import pytest

from mlpcli import runner
from mlpcli.plots.runs import (
    BEST_EPOCH_GID,
    confusion_matrix_figure,
    distinct_names,
    learning_curves_figure,
    overlay_figure,
)
from mlpcli.plots.sweeps import setting_label, sweep_figure

from .conftest import run_mlp

pytestmark = pytest.mark.plots


def history(n=20, lr=lambda epoch: 0.01, hi=0.9, lo=0.02):
    return [
        {"epoch": e, "train_loss": hi * (lo / hi) ** ((e - 1) / (n - 1)), "val_loss": 1.1 * hi * (lo / hi) ** ((e - 1) / n),
         "val_accuracy": 1 - math.exp(-e / 5), "lr": lr(e)}
        for e in range(1, n + 1)
    ]


def drawn_labels(fig, ax, axis="y") -> list:
    """(text, window extent) of each tick label the axes shows: visible, non-empty, within its view."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    low, high = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    ticks = ax.yaxis.get_major_ticks() + ax.yaxis.get_minor_ticks() if axis == "y" else ax.xaxis.get_major_ticks()
    out = []
    for tick in ticks:
        label = tick.label1
        if label.get_visible() and label.get_text() and low <= tick.get_loc() <= high:
            out.append((label.get_text(), label.get_window_extent(renderer)))
    return out


def assert_apart_and_inside(fig, labels):
    width, height = fig.canvas.get_width_height()
    for text, box in labels:
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, (text, box)
    for i, (a, box_a) in enumerate(labels):
        for b, box_b in labels[i + 1:]:
            assert not box_a.overlaps(box_b), (a, b)


# --------------------------------------------------------------------------- learning curves


def test_a_constant_learning_rate_takes_no_panel_but_is_named():
    fig = learning_curves_figure(history(), "classification")
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title() == "loss (constant learning rate 0.01)"
    assert fig.axes[1].get_title() == "validation accuracy"


def test_a_changing_learning_rate_gets_its_panel():
    fig = learning_curves_figure(history(lr=lambda e: 0.01 * 0.5 ** (e // 5)), "classification")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "validation accuracy", "learning rate"]
    assert len(fig.axes[2].lines[0].get_ydata()) == 20


def test_lbfgs_without_a_learning_rate_draws_two_panels():
    hist = [{k: v for k, v in h.items() if k != "lr"} for h in history()]
    fig = learning_curves_figure(hist, "classification")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "validation accuracy"]


@pytest.mark.parametrize("hi, lo", [(0.9, 0.02), (2.5, 0.07), (0.12, 0.0035), (30.0, 0.001), (1e4, 3.0)])
def test_a_log_loss_axis_has_few_plain_labels_apart_and_inside_the_figure(hi, lo):
    from matplotlib.ticker import NullFormatter

    fig = learning_curves_figure(history(hi=hi, lo=lo), "classification", title="run")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert isinstance(ax.yaxis.get_minor_formatter(), NullFormatter)  # minor ticks unlabelled
    labels = drawn_labels(fig, ax)
    assert 2 <= len(labels) <= 8, [t for t, _ in labels]
    assert all(len(text) <= 6 and "$" not in text for text, _ in labels), [t for t, _ in labels]
    assert_apart_and_inside(fig, labels)


def test_the_best_epoch_is_marked_and_named():
    fig = learning_curves_figure(history(), "classification", best=(12, "val_loss"))
    for ax in fig.axes:
        marks = [line for line in ax.lines if line.get_gid() == BEST_EPOCH_GID]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [12, 12]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["train", "validation", "best val_loss: epoch 12"]
    plain = learning_curves_figure(history(), "classification")
    assert not [line for ax in plain.axes for line in ax.lines if line.get_gid() == BEST_EPOCH_GID]


def test_a_run_with_early_stopping_marks_its_best_epoch(tmp_path, monkeypatch):
    from mlpcli.plots import runs

    seen = {}
    real = runs.learning_curves

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "learning_curves", spy)
    config = {
        "seed": 0, "data": {"dataset": "iris", "val_size": 0.2}, "model": {"layers": [{"units": 8}]},
        "train": {"epochs": 200, "optimizer": {"lr": 0.05}, "early_stopping": {"monitor": "val_loss", "patience": 3}},
    }
    result = runner.train(config, tmp_path / "run")
    assert result.metrics["epochs_run"] < 200
    assert seen["best"] == (result.metrics["best_epoch"], "val_loss")
    assert (tmp_path / "run" / "learning_curves.png").is_file()
    runner.train({**config, "train": {"epochs": 3}}, tmp_path / "plain")
    assert seen["best"] is None  # no early stopping: nothing to mark


# --------------------------------------------------------------------------- sweeps over settings


LAYERS = [
    [{"units": 64}],
    [{"units": 64, "dropout": 0.2}, {"units": 32, "dropout": 0.2}],
    [{"units": 128, "activation": "tanh"}, {"units": 64, "activation": "tanh"}, {"units": 32, "activation": "tanh"}],
    [{"units": 256, "dropout": 0.5}, {"units": 128, "dropout": 0.0}],
    [{"units": 16, "batch_norm": True}],
]


def test_setting_labels_are_short_and_never_a_python_repr():
    assert [setting_label(v) for v in LAYERS] == ["64", "64-32 d0.2", "128-64-32 tanh", "256-128 d0.5/d0", "16 bn"]
    assert setting_label({"name": "sgd", "momentum": 0.9}) == "{name: sgd, momentum: 0.9}"
    assert setting_label([64, 32]) == "[64, 32]"
    assert setting_label(0.001) == "0.001" and setting_label("relu") == "relu"


def make_sweep(root, values, key="model.layers"):
    rows = [
        {"trial": f"t{i}-{seed}", "params": {key: value, "seed": seed}, "status": "completed",
         "test": {"accuracy": 0.9 + 0.01 * i + 0.002 * seed}}
        for i, value in enumerate(values) for seed in (0, 1)
    ]
    root.mkdir()
    (root / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_a_sweep_over_layers_has_readable_tick_labels_apart(tmp_path):
    fig = sweep_figure(make_sweep(tmp_path / "s", LAYERS), "model.layers")
    ax = fig.axes[0]
    labels = drawn_labels(fig, ax, "x")
    texts = [text.replace("\n", " ") for text, _ in labels]
    assert texts == [setting_label(v) for v in LAYERS]  # in the order the sweep gave them
    assert_apart_and_inside(fig, labels)
    points = ax.containers[0].lines[0].get_xydata()  # the errorbar's line: one point per setting, seeds averaged
    assert len(points) == len(LAYERS)


def test_many_long_settings_turn_upright_and_stay_apart(tmp_path):
    values = [[{"units": 2 ** (i % 6 + 3), "dropout": 0.1 * (i % 5), "activation": "leaky_relu"}] * 3 for i in range(12)]
    fig = sweep_figure(make_sweep(tmp_path / "s", values), "model.layers")
    labels = drawn_labels(fig, fig.axes[0], "x")
    assert len(labels) == 12 and all(label.get_rotation() == 90 for label in fig.axes[0].get_xticklabels())
    assert_apart_and_inside(fig, labels)


# --------------------------------------------------------------------------- legends


def test_runs_sharing_a_folder_name_get_distinct_legend_names(tmp_path):
    paths = [tmp_path / "lr0.1" / "run", tmp_path / "lr0.01" / "run", tmp_path / "x" / "other"]
    assert distinct_names(paths) == ["lr0.1/run", "lr0.01/run", "other"]
    deep = [tmp_path / "a" / "s" / "run", tmp_path / "b" / "s" / "run"]
    assert distinct_names(deep) == ["a/s/run", "b/s/run"]
    assert distinct_names([tmp_path / "one", tmp_path / "one"]) == ["one", "one"]  # the same folder twice


def test_mlp_plot_legend_tells_same_named_runs_apart(tmp_path):
    from mlpcli.compare import read_run

    config = {"data": {"dataset": "iris"}, "model": {"layers": [{"units": 4}]},
              "train": {"epochs": 2}, "output": {"plots": False}}
    for lr in ("0.1", "0.01"):
        runner.train(config, tmp_path / f"lr{lr}" / "run", overrides=[f"train.optimizer.lr={lr}"])
    runs = [read_run(tmp_path / f"lr{lr}" / "run", history=True) for lr in ("0.1", "0.01")]
    fig = overlay_figure(runs)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["lr0.1/run", "lr0.01/run"]


# --------------------------------------------------------------------------- confusion matrix


NAMES = ["setosa", "versicolor", "virginica"]


def test_the_confusion_matrix_picture_labels_rows_and_columns_with_class_names():
    fig = confusion_matrix_figure([[10, 0, 0], [0, 9, 1], [0, 2, 8]], NAMES)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert_apart_and_inside(fig, drawn_labels(fig, ax, "x"))
    assert_apart_and_inside(fig, drawn_labels(fig, ax, "y"))


def test_mlp_eval_labels_the_confusion_matrix_with_class_names(tmp_path):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    np.savez(tmp_path / "iris.npz", X=X, y=np.array(NAMES)[y])
    config = {"data": {"dataset": str(tmp_path / "iris.npz")}, "model": {"layers": [{"units": 8}]},
              "train": {"epochs": 30, "optimizer": {"lr": 0.05}}, "output": {"plots": False}}
    runner.train(config, tmp_path / "run")
    weights = tmp_path / "run" / "weights.npz"
    text = run_mlp("eval", weights)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "true \\ predicted" in line)
    assert lines[header].split()[-3:] == NAMES
    rows = lines[header + 1 : header + 4]
    assert [row.split()[0] for row in rows] == NAMES
    assert sum(int(n) for row in rows for n in row.split()[1:]) == 30  # the test split's 30 flowers
    as_json = json.loads(run_mlp("eval", weights, "--json").stdout)  # as metrics.json records the test split
    assert "classes" not in as_json and len(as_json["confusion_matrix"]) == 3
