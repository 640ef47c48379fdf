"""Regenerate the README's pictures in docs/ with the real commands:

    python docs/make_pictures.py

Trains two small digits runs (learning rates 0.001 and 0.01) and a small
sweep (three learning rates x two dropout rates x two seeds) in a temporary
folder, then copies a run's learning_curves.png and confusion_matrix.png and
the outputs of `mlp plot` (runs overlaid; the sweep against the learning rate).
Half a minute on two cores.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
CONFIG = DOCS.parent / "configs" / "digits.yaml"
SMALL = ["--set", "model.layers=[{units: 64, dropout: 0.2}]", "--set", "train.epochs=20",
         "--set", "train.early_stopping=null"]


def mlp(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "mlpcli", *map(str, args)], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mlp-pictures-") as tmp:
        tmp = Path(tmp)
        for lr in ("0.001", "0.01"):
            mlp("train", CONFIG, "--quiet", "--out", f"digits-lr{lr}", *SMALL, "--set", f"train.optimizer.lr={lr}", cwd=tmp)
        shutil.copy(tmp / "digits-lr0.001" / "learning_curves.png", DOCS / "learning_curves.png")
        shutil.copy(tmp / "digits-lr0.001" / "confusion_matrix.png", DOCS / "confusion_matrix.png")
        mlp("plot", "digits-lr0.001", "digits-lr0.01", "-o", DOCS / "plot_runs.png", cwd=tmp)
        mlp("sweep", CONFIG, "--quiet", "--out", "sweep", *SMALL, "--grid", "train.optimizer.lr=0.0003,0.003,0.03",
            "--grid", "model.layers.0.dropout=0.0,0.5", "--seeds", "2", "--jobs", "2", cwd=tmp)
        mlp("plot", "sweep", "--x", "train.optimizer.lr", "-o", DOCS / "plot_sweep.png", cwd=tmp)
    for name in ("learning_curves", "confusion_matrix", "plot_runs", "plot_sweep"):
        print(DOCS / f"{name}.png")


if __name__ == "__main__":
    main()
