#!/usr/bin/env python
"""What its trials' pictures cost a sweep of small models.

    python benchmarks/sweep_pictures.py [--rounds 5] [--trials 12] [--baseline DIR]

`mlp sweep configs/digits.yaml --random N --jobs 1` over the learning rate and
the width of both layers (32-256 units), timed as a whole process in
interleaved rounds: with its pictures (learning curves and confusion matrix
of every trial, the default), without them (`--set output.plots=false`),
and, with ``--baseline DIR``, with pictures under the mlpcli checked out in
DIR (an older commit: ``git worktree add DIR REV``), on PYTHONPATH. Each row
gives the median wall time, the median of the trials' summed
``train_seconds`` (their training loops) and the wall time against the
sweep without pictures.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "digits.yaml"
RANGES = ["--range", "train.optimizer.lr=1e-4:1e-1:log", "--range", "model.layers[*].units=32:256"]


def sweep(out: Path, trials: int, plots: bool, path: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(path)}
    command = [sys.executable, "-m", "mlpcli", "sweep", str(CONFIG), "--random", str(trials), *RANGES,
               "--set", f"output.plots={str(plots).lower()}", "--jobs", "1", "--out", str(out), "--quiet"]
    out.parent.mkdir(parents=True, exist_ok=True)
    # run beside the output: `python -m` puts the working directory first on sys.path, before PYTHONPATH
    which = subprocess.run([sys.executable, "-c", "import mlpcli; print(mlpcli.__file__)"], env=env, cwd=out.parent,
                           capture_output=True, text=True, check=True).stdout
    assert which.startswith(str(path)), (which, path)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, cwd=out.parent)
    wall = time.perf_counter() - start
    pictures = len(glob.glob(str(out / "*" / "*.png")))
    assert pictures == (2 * trials if plots else 0), (out, pictures)
    return wall, sum(json.loads(Path(f).read_text())["train_seconds"] for f in glob.glob(str(out / "*" / "metrics.json")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--baseline", type=Path, help="another mlpcli checkout, timed with pictures too")
    args = parser.parse_args()
    variants = {"with pictures": (True, ROOT), "without pictures": (False, ROOT)}
    if args.baseline:
        variants[f"with pictures, {args.baseline}"] = (True, args.baseline.resolve())
    times = {name: ([], []) for name in variants}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            names = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in names:
                plots, path = variants[name]
                wall, training = sweep(Path(tmp) / f"{r}-{len(times[name][0])}-{plots}-{path.name}", args.trials, plots, path)
                times[name][0].append(wall)
                times[name][1].append(training)
    base = statistics.median(times["without pictures"][0])
    print(f"{os.cpu_count()} cores; {args.trials}-trial digits sweep, --jobs 1; medians of {args.rounds} interleaved "
          f"rounds; load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    print("| sweep | wall time (s) | in training (s) | / without pictures |")
    print("|---|---|---|---|")
    for name, (walls, trainings) in times.items():
        wall = statistics.median(walls)
        print(f"| {name} | {wall:.2f} | {statistics.median(trainings):.2f} | {wall / base:.2f} |")


if __name__ == "__main__":
    main()
