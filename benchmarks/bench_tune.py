"""`mlp tune` (TPE + Hyperband pruning) against `mlp sweep --random` on one budget.

digits (configs/digits.yaml: two hidden layers, 40 epochs), 40 trials over the
same three ranges for both commands:

  train.optimizer.lr           1e-4 .. 1e-1, log-uniform
  model.layers[*].dropout      0 .. 0.5, every hidden layer alike
  model.layers[*].units        32 .. 256, an integer, every hidden layer alike (the width)

Each command runs once per round as a real process (`--jobs 1`, 2 BLAS
threads), the order alternating between rounds; round n sets the config's
seed to FIRST_SEED + n for both (the data split, the initialisation and the
draws of both searches: one seed is one draw of luck, for either). The
table shows, per command,
the best validation accuracy among its completed trials (the val split's
accuracy in results.jsonl, the figure `mlp tune` maximises), that trial's test
accuracy, the trials completed / pruned, the epochs trained in all, the
seconds the trials spent in their training loops (metrics.json's
train_seconds, summed: an epoch of a wide layer costs more than one of a
narrow one, so epochs alone understate what tune's choices cost), and the
wall time. The goal of issue 16: tune's best validation accuracy >= the
sweep's, in <= 0.5 x its wall time (medians over the rounds). "other load" is
the CPU other processes used meanwhile (cores): above ~0.1 the wall times are
skewed.

    python benchmarks/bench_tune.py [--rounds 1] [--first-seed 0] [--trials 40] [--wait-idle 60]
                                    [--pruner hyperband|halving|median|none] [--min-epochs N] [--reduction-factor N]
    python benchmarks/bench_tune.py --quick     # smoke run: 6 trials of 5 epochs
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from train_harness import IDLE, check_child, log, mlp_command, run_child

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "digits.yaml"
RANGES = ["--range", "train.optimizer.lr=1e-4:1e-1:log",
          "--range", "model.layers[*].dropout=0:0.5",
          "--range", "model.layers[*].units=32:256"]
GOAL_TIME_RATIO = 0.5


PRUNER = {"name": "hyperband", "options": []}  # --pruner, --min-epochs, --reduction-factor


def commands(out: Path, trials: int, extra: list[str]) -> dict[str, list]:
    mlp = mlp_command()
    return {
        "tune": [*mlp, "tune", CONFIG, *RANGES, *extra, "--trials", trials, "--sampler", "tpe",
                 "--pruner", PRUNER["name"], *PRUNER["options"], "--jobs", 1, "--out", out / "tune", "--json", "--quiet"],
        "sweep": [*mlp, "sweep", CONFIG, "--random", trials, *RANGES, *extra, "--jobs", 1,
                  "--out", out / "sweep", "--json", "--quiet"],
    }


def read_rows(folder: Path) -> list[dict]:
    rows = []
    for line in (folder / "results.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def summarise(name: str, folder: Path, child: dict) -> dict:
    """The best completed trial by validation accuracy, and the counts."""
    rows = read_rows(folder)
    done = [r for r in rows if r.get("state", r.get("status")) in ("complete", "completed")
            and (r.get("val") or {}).get("accuracy") is not None]
    if not done:
        raise SystemExit(f"{name}: no completed trial with a validation accuracy in {folder / 'results.jsonl'}")
    best = max(done, key=lambda r: r["val"]["accuracy"])
    return {
        "command": name,
        "best_val_accuracy": best["val"]["accuracy"],
        "best_test_accuracy": (best.get("test") or {}).get("accuracy"),
        "best_trial": best["trial"],
        "best_params": best.get("params"),
        "completed": len(done),
        "pruned": sum(r.get("state") == "pruned" for r in rows),
        "failed": sum(r.get("state", r.get("status")) in ("failed", "fail") for r in rows),
        "epochs": sum(r.get("epochs_run") or 0 for r in rows),
        "train_seconds": train_seconds(folder),
        "wall_seconds": child["wall_seconds"],
        "other_load": (child["other_cpu_seconds"] / child["wall_seconds"]
                       if child["other_cpu_seconds"] is not None else None),
    }


def train_seconds(folder: Path) -> float:
    """The trials' time in their training loops (each run folder's metrics.json)."""
    total = 0.0
    for path in folder.glob("*/metrics.json"):
        try:
            total += float(json.loads(path.read_text()).get("train_seconds") or 0.0)
        except (OSError, ValueError, TypeError):
            continue
    return total


def run_round(n: int, seed: int, trials: int, extra: list[str]) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        cmds = commands(Path(tmp), trials, [*extra, "--set", f"seed={seed}"])
        order = ["tune", "sweep"] if n % 2 == 0 else ["sweep", "tune"]
        results = []
        for name in order:
            log(f"round {n + 1} (seed {seed}): mlp {name} ...")
            child = check_child(run_child(cmds[name]))
            results.append({"seed": seed, **summarise(name, Path(tmp) / name, child)})
            log(f"  {results[-1]['wall_seconds']:.1f} s, best val accuracy {results[-1]['best_val_accuracy']:.4f}")
        return sorted(results, key=lambda r: r["command"] != "tune")


def table(rounds: list[list[dict]]) -> str:
    lines = [("| seed | command | best val accuracy | its test accuracy | completed | pruned | epochs trained "
              "| in training | wall time | other load |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for results in rounds:
        for r in results:
            load = "n/a" if r["other_load"] is None else f"{r['other_load']:.2f}"
            test = "n/a" if r["best_test_accuracy"] is None else f"{r['best_test_accuracy']:.4f}"
            lines.append(f"| {r['seed']} | mlp {r['command']} | {r['best_val_accuracy']:.4f} | {test} | {r['completed']} "
                         f"| {r['pruned']} | {r['epochs']} | {r['train_seconds']:.1f} s | {r['wall_seconds']:.1f} s | {load} |")
    return "\n".join(lines)


def verdict(rounds: list[list[dict]]) -> tuple[str, bool]:
    def median(command, key):
        return statistics.median(r[key] for results in rounds for r in results if r["command"] == command)

    tune_acc, sweep_acc = median("tune", "best_val_accuracy"), median("sweep", "best_val_accuracy")
    ratio = median("tune", "wall_seconds") / median("sweep", "wall_seconds")
    ok = tune_acc >= sweep_acc and ratio <= GOAL_TIME_RATIO
    pairs = [{r["command"]: r["best_val_accuracy"] for r in results} for results in rounds]
    kept = sum(p["tune"] >= p["sweep"] for p in pairs)
    text = (f"tune / sweep wall time {ratio:.2f} (goal <= {GOAL_TIME_RATIO}); best val accuracy tune "
            f"{tune_acc:.4f} vs sweep {sweep_acc:.4f} (goal: tune >= sweep; medians): {'PASS' if ok else 'FAIL'}; "
            f"tune's at least the sweep's on {kept} of {len(pairs)} seeds")
    return text, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=40, help="the budget of each command (default 40)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, the order alternating (default 1)")
    parser.add_argument("--first-seed", type=int, default=0, help="the seed of the first round (default 0)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 trials of 5 epochs, one round")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to this long for an idle machine before each command")
    parser.add_argument("--pruner", choices=["hyperband", "halving", "median", "none"], default="hyperband",
                        help="mlp tune's pruner (default hyperband, as mlp tune's own default)")
    parser.add_argument("--min-epochs", type=int, help="mlp tune's --min-epochs (default: its own)")
    parser.add_argument("--reduction-factor", type=int, help="mlp tune's --reduction-factor (default: its own)")
    parser.add_argument("--json", metavar="PATH", help="also write the measurements here")
    args = parser.parse_args()
    PRUNER["name"] = args.pruner
    for option, value in (("--min-epochs", args.min_epochs), ("--reduction-factor", args.reduction_factor)):
        if value is not None:
            PRUNER["options"] += [option, value]
    IDLE["max_wait"] = args.wait_idle
    trials, rounds, extra = args.trials, args.rounds, []
    if args.quick:
        trials, rounds, extra = 6, 1, ["--set", "train.epochs=5"]
    log(f"digits, {trials} trials each, {rounds} round(s); load average before: "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = [run_round(n, args.first_seed + n, trials, extra) for n in range(rounds)]
    text, ok = verdict(results)
    print(f"mlp tune: --sampler tpe --pruner {' '.join(map(str, [PRUNER['name'], *PRUNER['options']]))}")
    print(table(results))
    print()
    print(text)
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps({"trials": trials, "rounds": results, "pass": ok}, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
