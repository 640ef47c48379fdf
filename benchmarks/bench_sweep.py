"""`mlp sweep --jobs 2` against the same trials as `mlp train` commands one after another.

The grid of issue 6: digits (configs/digits.yaml), 3 learning rates x 2
dropout rates (both hidden layers) x 2 seeds, 20 epochs: 12 trials. Each
round times, in alternating order,

  sequential  the 12 `mlp train` commands `mlp sweep --print-commands` prints,
              run one after another as subprocesses (what a shell loop does)
  sweep       `mlp sweep --jobs 2` (one subprocess, two spawned workers)

and then `mlp sweep --jobs 1` once, for the bookkeeping overhead:

  ratio       sweep wall time / sequential wall time (goal < 0.65)
  overhead    (sweep --jobs 1 wall time inside the sweep - the sum of the
              trials' own times) / that sum: expansion, checks, results
              files, leaderboard (goal < 5%). Inside the sweep: the
              JSON's "seconds" (from the sweep's start, after Python's and
              mlpcli's imports) minus "trial_seconds" (each trial timed
              around runner.train).
  overhead (jobs 2)  (2 x sweep seconds - trial seconds) / trial seconds: also
              counts the workers' start-up and the idle worker at the end.

    python benchmarks/bench_sweep.py [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "digits.yaml"
GRID = [
    "--grid", "train.optimizer.lr=0.0003,0.001,0.003",
    "--grid", "model.layers=[{units: 256, activation: relu, dropout: 0.0}, {units: 128, activation: relu, dropout: 0.0}],"
              "[{units: 256, activation: relu, dropout: 0.3}, {units: 128, activation: relu, dropout: 0.3}]",
    "--seeds", "2", "--set", "train.epochs=20",
]
MLP = [sys.executable, "-m", "mlpcli"]


def sweep(out: Path, jobs: int) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run([*MLP, "sweep", str(CONFIG), *GRID, "--out", str(out), "--jobs", str(jobs), "--json"],
                          check=True, capture_output=True, text=True)
    return time.perf_counter() - start, json.loads(done.stdout)


def sequential(out: Path) -> float:
    lines = subprocess.run([*MLP, "sweep", str(CONFIG), *GRID, "--out", str(out), "--print-commands"],
                           check=True, capture_output=True, text=True).stdout.splitlines()
    assert len(lines) == 12, lines
    start = time.perf_counter()
    for line in lines:
        subprocess.run([*MLP, *shlex.split(line)[1:]], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    seq, par, summaries = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = ("sequential", "sweep") if r % 2 == 0 else ("sweep", "sequential")
            for what in order:
                out = Path(tmp) / f"{what}-{r}"
                if what == "sequential":
                    seq.append(sequential(out))
                else:
                    wall, summary = sweep(out, 2)
                    par.append(wall)
                    summaries.append(summary)
        wall1, one = sweep(Path(tmp) / "jobs1", 1)
    best_seq, best_par = min(seq), min(par)
    s2 = min(summaries, key=lambda s: s["seconds"])
    print(f"{'':<34} {'seconds':>9}")
    print(f"{'12 x mlp train, one after another':<34} {best_seq:>9.2f}   (rounds: {', '.join(f'{v:.2f}' for v in seq)})")
    print(f"{'mlp sweep --jobs 2':<34} {best_par:>9.2f}   (rounds: {', '.join(f'{v:.2f}' for v in par)})")
    print(f"{'ratio (goal < 0.65)':<34} {best_par / best_seq:>9.3f}")
    print(f"{'mlp sweep --jobs 1':<34} {wall1:>9.2f}   (inside the sweep {one['seconds']:.2f}, trials {one['trial_seconds']:.2f})")
    overhead = (one["seconds"] - one["trial_seconds"]) / one["trial_seconds"]
    print(f"{'bookkeeping overhead, jobs 1 (goal < 5%)':<34} {100 * overhead:>8.2f}%")
    overhead2 = (2 * s2["seconds"] - s2["trial_seconds"]) / s2["trial_seconds"]
    print(f"{'overhead incl. worker start, jobs 2':<34} {100 * overhead2:>8.2f}%")
    best = one["leaderboard"][0]
    print(f"best: {best['params']} val {one['metric']} {best['mean']:.4f} ± {best['std']:.4f}, "
          f"test {best['test']['metric']} {best['test']['mean']:.4f}")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
