#!/usr/bin/env python
"""Benchmark mlpcli's training and inference against PyTorch (CPU) and
scikit-learn's MLPClassifier, on identical work.

Run it from anywhere, with the Python that has mlpcli installed:

    python benchmarks/bench_train.py                    # the full benchmark (several minutes)
    python benchmarks/bench_train.py --quick            # smoke test: same output, tiny settings
    python benchmarks/bench_train.py --workload small --repeats 3 --json /tmp/bench.json
    python benchmarks/bench_train.py --wait-idle 300     # on a shared machine: start each trial when idle

It prints a plain-text report on stdout (progress goes to stderr) and writes
every measurement as JSON to --json (default benchmarks/results/bench_train.json).

What is measured
----------------
Two training workloads, float32, 2 threads everywhere (OMP/OPENBLAS/MKL_NUM_THREADS=2
in every child process, torch.set_num_threads(2), threadpoolctl's limit of 2 in this one):

* large: make_classification(70000 x 784, 10 classes, random_state=0), 10,000
  rows held out; MLP 784-512-256-10, ReLU, dropout 0.2, Adam 1e-3, batch 128, 2 epochs.
* small: scikit-learn's digits, 25% held out; MLP 64-128-64-10, same settings,
  batch 32, 30 epochs.

All three frameworks train on mlpcli's own split (taken from mlpcli.runner's
prepare_data, standardised with a StandardScaler fitted on the training rows,
as mlpcli's `scale: standard` does). Data, configs and split arrays are written
to benchmarks/.cache/.

Every trial is its own process, so peak RSS (ru_maxrss from os.wait4, taken by
a bare-Python launcher: see LAUNCHER in train_harness.py) is per framework and
thread pools never share a process:

* mlpcli: the real CLI, `mlp train CONFIG --out RUN --quiet`; epoch times are
  mlpcli's own `epoch_seconds` (metrics.jsonl), test accuracy from metrics.json.
* torch: `train_workers.py torch`; a plain loop (randperm, index, zero_grad,
  cross_entropy, backward, step), no DataLoader.
* sklearn: `train_workers.py sklearn`; MLPClassifier with alpha=0, one
  partial_fit call per epoch. It has no dropout.

Each framework gets one shorter, untimed warm-up trial per workload; then R
repeats rotate the framework order. The table reports medians over all timed
epochs of all repeats. Training GFLOP/s counts 3 x the forward FLOPs per
sample (forward = 2 * sum(fan_in * fan_out) over the dense layers), as a
fraction of the machine's float32 GEMM peak: the median GFLOP/s of np.matmul on
4096 x 4096 float32, measured in this process at the start, between the
workloads and at the end (the best of those medians is "peak").

Also measured: inference (mlpcli.load(...).predict_proba on 100,000 rows, in
a subprocess, median of 5 after a warm-up; plus the wall time of `mlp predict`),
scaling of mlpcli's epoch time from 15,000 to 60,000 training rows, and CLI
start-up (`mlp --help`, `mlp info WEIGHTS`). The report ends with the goals of
the performance issue as a PASS/FAIL checklist. No figure is estimated: each
comes from a measurement of this run.

This file is the command line and the order of the run; the rest lives beside it:
train_harness.py (child processes, CPU load, GEMM peak, machine), train_workloads.py
(data, configs, splits, FLOPs), train_trials.py (the trials and their medians),
train_workers.py (the code run inside a torch, sklearn or predict trial) and
train_report.py (goals and the plain-text report).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from train_harness import (
    HERE, IDLE, IDLE_THRESHOLD, REPO, THREADS, cpu_counters, log, machine_info, measure_gemm, mlpcli_source_hash,
    other_cpu_seconds,
)
from train_report import check_goals, report
from train_trials import run_inference, run_scaling, run_startup, run_workload, summarise_workload
from train_workloads import FRAMEWORKS, WORKLOADS, prepare_all

DEFAULT_JSON = HERE / "results" / "bench_train.json"


def settings_from(args) -> dict:
    workload = args.workload or ("small" if args.quick else "all")
    workloads = ["large", "small"] if workload == "all" else [workload]
    if args.quick:
        return {
            "quick": True, "workloads": workloads, "wait_idle": args.wait_idle,
            "epochs": {"large": 1, "small": 2},
            "repeats": {w: args.repeats or 1 for w in WORKLOADS},
            "warmup_epochs": {w: 1 for w in WORKLOADS},
            "gemm_n": 2048, "gemm_reps": 3,
            "scaling_epochs": 1, "scaling_trials": 1,
            "predict_timings": 2, "cli_predict_runs": 1, "startup_runs": 2,
        }
    return {
        "quick": False, "workloads": workloads, "wait_idle": args.wait_idle,
        "epochs": {w: WORKLOADS[w]["epochs"] for w in WORKLOADS},
        "repeats": {w: args.repeats or WORKLOADS[w]["repeats"] for w in WORKLOADS},
        "warmup_epochs": {w: WORKLOADS[w]["warmup_epochs"] for w in WORKLOADS},
        "gemm_n": 4096, "gemm_reps": 5,
        "scaling_epochs": WORKLOADS["large"]["epochs"], "scaling_trials": 3,
        "predict_timings": 5, "cli_predict_runs": 3, "startup_runs": 5,
    }


def benchmark(settings: dict) -> dict:
    started, counters = time.perf_counter(), cpu_counters()
    res = {"started": datetime.now().isoformat(timespec="seconds"), "settings": settings}
    res["machine"] = machine_info()
    if res["machine"]["loadavg_start"][0] > 0.5:
        load = res["machine"]["loadavg_start"][0]
        log(f"warning: the machine is busy (load average {load:.2f}); timings will be noisy")
    frameworks = [fw for fw in FRAMEWORKS if fw != "torch" or res["machine"]["torch"]]
    if not res["machine"]["torch"]:
        log("torch is not importable: its column is skipped (`pip install torch==2.13.0` installs the CPU build)")
    log("preparing data, configs and mlpcli's splits in benchmarks/.cache/")
    prepared = prepare_all(settings["workloads"])
    res["prepared"] = prepared

    gemm = [measure_gemm("start", settings["gemm_n"], settings["gemm_reps"])]
    res["workloads"] = {}
    for workload in settings["workloads"]:
        res["workloads"][workload] = run_workload(workload, settings, prepared, frameworks)
        gemm.append(measure_gemm(f"after {workload}", settings["gemm_n"], settings["gemm_reps"]))

    res["scaling"] = run_scaling(settings, prepared)
    large_trials = res["workloads"].get("large", {}).get("trials", {}).get("mlpcli")
    weights = Path(large_trials[-1]["weights"] if large_trials else res["scaling"]["weights_60k"])
    res["startup"] = run_startup(weights, settings["startup_runs"])
    inference = run_inference(weights, settings)
    gemm.append(measure_gemm("end", settings["gemm_n"], settings["gemm_reps"]))

    res["gemm"] = gemm
    res["peak_gflops"] = peak = max(g["median_gflops"] for g in gemm)
    inference["fraction_of_peak"] = inference["gflops"] / peak
    res["inference"] = inference
    res["summary"] = {w: summarise_workload(w, run, prepared, peak) for w, run in res["workloads"].items()}
    res["worker_threadpools"] = {}
    for run in res["workloads"].values():
        for fw in ("torch", "sklearn"):
            if run["trials"].get(fw):
                res["worker_threadpools"][fw] = run["trials"][fw][0]["threadpools"]
    res["loadavg_end"] = os.getloadavg()
    res["mlpcli_source_end"] = mlpcli_source_hash()
    res["mlpcli_sources_measured"] = sorted(
        {res["machine"]["mlpcli_source_start"], res["mlpcli_source_end"]}
        | {t["mlpcli_source"] for run in res["workloads"].values() for t in run["trials"]["mlpcli"]}
        | set(res["scaling"]["mlpcli_sources"])
    )
    res["total_seconds"] = time.perf_counter() - started
    other = other_cpu_seconds(counters, cpu_counters())
    res["other_load"] = None if other is None else other / res["total_seconds"]
    res["goals"] = check_goals(res)
    return res


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", choices=["large", "small", "all"],
                        help="training workload(s) to compare (default: all; small with --quick). "
                             "Scaling, inference and start-up always run on the large model.")
    parser.add_argument("--repeats", type=int,
                        help="timed repeats per workload (default: 3 large, 5 small; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny settings for a smoke test; same output format")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each trial, wait up to SECONDS for other processes to leave the CPU "
                             f"(below {IDLE_THRESHOLD} cores over 1 s); default 0: no waiting")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON,
                        help=f"write all results here (default: {DEFAULT_JSON.relative_to(REPO)})")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be >= 1")

    from threadpoolctl import threadpool_limits

    IDLE["max_wait"] = args.wait_idle
    with threadpool_limits(limits=THREADS):  # this process's GEMM and data preparation
        res = benchmark(settings_from(args))
    text = report(res)
    print(text, flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**res, "report": text}, indent=2, default=str) + "\n")
    log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
