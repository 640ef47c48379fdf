#!/usr/bin/env python
"""Start-up of a short run, whole process: `mlp train configs/iris.yaml`
(pictures on and off) against a plain scikit-learn MLPClassifier script on
the same data (sklearn_iris.py) and against `python -c "import sklearn"`.

    python benchmarks/bench_startup.py            # 9 interleaved rounds
    python benchmarks/bench_startup.py --runs 21 --wait-idle 60

Every command runs in its own process (wall time from a bare launcher, see
train_harness.run_child), once untimed, then N rounds in rotating order; the
table shows medians. The goal of the performance issue: `mlp train` with
pictures on takes no more than `import sklearn` + its own training time
(train_seconds in metrics.json, median) + 0.1 s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

from train_harness import IDLE, REPO, THREAD_ENV, cpu_model, log, mlp_command, other_load, run_child

HERE = Path(__file__).resolve().parent
CONFIG = REPO / "configs" / "iris.yaml"
GOAL_MARGIN = 0.1  # seconds over import sklearn + training


def commands(out: Path) -> dict[str, list[str]]:
    train = [*mlp_command(), "train", str(CONFIG), "--out", str(out), "--quiet", "--overwrite"]
    return {
        "import sklearn": [sys.executable, "-c", "import sklearn"],
        "sklearn script": [sys.executable, str(HERE / "sklearn_iris.py")],
        "mlp train": train,
        "mlp train, plots off": [*train, "--set", "output.plots=false"],
    }


def measure(runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmds = commands(out)
        names = list(cmds)
        walls = {name: [] for name in names}
        trainings, children = [], []
        for name in names:  # warm-up: disk caches, .pyc files, matplotlib's font cache
            run_child(cmds[name], idle=False)
        for r in range(runs):
            for name in names[r % len(names):] + names[: r % len(names)]:
                child = run_child(cmds[name])
                if child["returncode"] != 0:
                    raise RuntimeError(f"{name}: exit {child['returncode']}: {child['stderr'][-500:]}")
                walls[name].append(child["wall_seconds"])
                children.append(child)
                if name == "mlp train":
                    trainings.append(json.loads((out / "metrics.json").read_text())["train_seconds"])
            log(f"round {r + 1}/{runs}: " + ", ".join(f"{n} {walls[n][-1]:.3f} s" for n in names))
    medians = {name: statistics.median(w) for name, w in walls.items()}
    return {"runs": runs, "wall_seconds": walls, "median_s": medians, "train_seconds": trainings,
            "median_train_s": statistics.median(trainings), "other_load": other_load(children)}


def report(res: dict) -> str:
    med, train = res["median_s"], res["median_train_s"]
    budget = med["import sklearn"] + train + GOAL_MARGIN
    verdict = "PASS" if med["mlp train"] <= budget else "FAIL"
    m = res["machine"]
    load = "unknown" if res["other_load"] is None else f"{res['other_load']:.2f} cores"
    lines = [
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, NumPy {m['numpy']}, scikit-learn {m['sklearn']}, "
        f"matplotlib {m['matplotlib']}; mlpcli {m['mlpcli']}; other load {load}; median of {res['runs']} interleaved runs",
        "",
        "| measure | now | goal |",
        "|---|---|---|",
        f"| `mlp train configs/iris.yaml`, whole process | {med['mlp train']:.2f} s (training {train:.2f} s; "
        f"{med['mlp train, plots off']:.2f} s with plots off) | <= {budget:.2f} s with plots on: `import sklearn` "
        f"({med['import sklearn']:.2f} s) + training + {GOAL_MARGIN} s: {verdict} |",
        f"| a plain scikit-learn MLPClassifier script on iris, whole process | {med['sklearn script']:.2f} s | "
        "for comparison, in the same benchmark run |",
    ]
    return "\n".join(lines)


def machine() -> dict:
    import matplotlib
    import numpy
    import sklearn

    import mlpcli

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": numpy.__version__, "sklearn": sklearn.__version__, "matplotlib": matplotlib.__version__,
            "mlpcli": mlpcli.__version__, "thread_env": THREAD_ENV, "loadavg_start": os.getloadavg()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="timed rounds (default 9)")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each run, wait up to SECONDS for the machine to be idle")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    IDLE["max_wait"] = args.wait_idle
    res = {"machine": machine(), **measure(args.runs)}
    text = report(res)
    print(text, flush=True)
    if args.json:
        args.json.write_text(json.dumps({**res, "report": text}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
