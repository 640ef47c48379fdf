"""scikit-learn's bundled data sets, read from its files without importing it
(data.bundled), are exactly what its loaders return; a run on one, or on a
file, never imports scikit-learn (its ~0.8 s import was most of a short run)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import sklearn.datasets
import yaml

from mlpcli import data
from mlpcli.data import bundled

NAMES = sorted(data.LOADERS)


def test_every_loader_has_a_reader():
    assert sorted(bundled.READERS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_bundled_set_is_its_loaders_value_for_value(name):
    X, y = bundled.read_bundled(name)
    expected_X, expected_y = getattr(sklearn.datasets, data.LOADERS[name])(return_X_y=True)
    for got, want in ((X, expected_X), (y, expected_y)):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_options_or_missing_files_go_through_scikit_learns_loader(monkeypatch):
    X, y = data.load_dataset("digits", {"n_class": 3}, random_state=0)
    assert set(np.unique(y)) == {0, 1, 2}
    monkeypatch.setattr(bundled, "data_folder", lambda: None)
    assert bundled.read_bundled("iris") is None
    X, y = data.load_dataset("iris", {}, random_state=0)
    np.testing.assert_array_equal(X, sklearn.datasets.load_iris().data)


def test_a_damaged_file_falls_back_instead_of_giving_other_data(tmp_path, monkeypatch):
    (tmp_path / "iris.csv").write_text("150,4,a,b,c\n5.1,3.5,1.4,0.2,0\n")  # a header promising 150 rows
    monkeypatch.setattr(bundled, "data_folder", lambda: tmp_path)
    assert bundled.read_bundled("iris") is None


PROBE = """
import sys
from mlpcli.cli import main
for args in [a.split("|") for a in sys.argv[1:]]:
    try:
        main(args)
    except SystemExit as exit:
        assert not exit.code, (args, exit.code)
print(" ".join(sorted(m for m in ("sklearn", "scipy") if m in sys.modules)))
"""


def test_runs_on_bundled_sets_and_files_never_import_scikit_learn(tmp_path):
    """validate, train, eval, predict, info and cv on iris and on a CSV file."""
    config = {"seed": 0, "data": {"dataset": "iris"}, "model": {"layers": [{"units": 8}]},
              "train": {"epochs": 3}, "output": {"plots": False}}
    (tmp_path / "iris.yaml").write_text(yaml.safe_dump(config))
    X, y = sklearn.datasets.load_iris(return_X_y=True)
    rows = ["a,b,c,d,species"] + [",".join(map(str, [*x, ["s", "v", "g"][t]])) for x, t in zip(X, y)]
    (tmp_path / "flowers.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "new.csv").write_text("\n".join(row.rsplit(",", 1)[0] for row in rows[:6]) + "\n")
    (tmp_path / "file.yaml").write_text(yaml.safe_dump({**config, "data": {"dataset": "flowers.csv"}}))
    commands = [
        "validate|iris.yaml", "train|iris.yaml|--out|a|--quiet", "eval|a/weights.npz",
        "train|file.yaml|--out|b|--quiet", "eval|b/weights.npz|--data|flowers.csv",
        "predict|b/weights.npz|new.csv|--output|p.csv", "info|a/weights.npz", "cv|iris.yaml|--folds|3",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("MLP_DEBUG", "MPLBACKEND")}
    done = subprocess.run([sys.executable, "-c", PROBE, *commands], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == ""
