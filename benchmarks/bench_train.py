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
a bare-Python launcher: see run_child) is per framework and thread pools never
share a process:

* mlpcli: the real CLI, `mlp train CONFIG --out RUN --quiet`; epoch times are
  mlpcli's own `epoch_seconds` (metrics.jsonl), test accuracy from metrics.json.
* torch: this script with --worker torch; a plain loop (randperm, index,
  zero_grad, cross_entropy, backward, step), no DataLoader.
* sklearn: this script with --worker sklearn; MLPClassifier with alpha=0, one
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
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

THREADS = 2
# Every child process gets these; this process limits its own BLAS with threadpoolctl.
THREAD_ENV = {var: str(THREADS) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / ".cache"
DEFAULT_JSON = HERE / "results" / "bench_train.json"
MB = 1e6  # bytes; every "MB" in the report is 10^6 bytes

FRAMEWORKS = ("mlpcli", "torch", "sklearn")

# The large data set (and, with random_state=1, the rows for the inference test).
LARGE_DATA = dict(
    n_features=784, n_informative=60, n_redundant=100, n_classes=10,
    n_clusters_per_class=2, class_sep=1.5,
)
LARGE_ROWS, LARGE_TEST_ROWS = 70_000, 10_000
SCALING_ROWS, SCALING_TRAIN_ROWS = 17_500, 15_000  # same test_size 1/7 -> 15,000 training rows
PREDICT_ROWS = 100_000

WORKLOADS = {
    "large": dict(hidden=(512, 256), batch_size=128, epochs=2, repeats=3, warmup_epochs=1,
                  test_size=1 / 7, describe="make_classification 70000 x 784, 10 classes"),
    "small": dict(hidden=(128, 64), batch_size=32, epochs=30, repeats=5, warmup_epochs=5,
                  test_size=0.25, describe="scikit-learn digits 1797 x 64, 10 classes"),
}
DROPOUT, LR = 0.2, 1e-3

# Goals of the performance issue.
GOAL_LARGE_VS_TORCH = 0.60
GOAL_LARGE_PEAK = 0.50
GOAL_SMALL_VS_TORCH = 0.15
GOAL_SMALL_VS_SKLEARN = 0.5
GOAL_ACCURACY_SLACK = 0.01
GOAL_RSS_BYTES = 2 * LARGE_ROWS * 784 * 4 + 300 * MB
GOAL_PREDICT_PEAK = 0.70
GOAL_SCALING, GOAL_SCALING_TOL = 4.0, 0.15
GOAL_HELP_S, GOAL_INFO_S = 0.25, 0.5


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


def child_env() -> dict:
    return {**os.environ, **THREAD_ENV}


# Runs one command and reports its rusage. A child started straight from this
# process would not do: Linux starts a child's ru_maxrss at the RSS high-water
# mark of the process that spawned it (exec records the old address space's
# peak, and subprocess uses vfork), so every trial would report at least this
# process's own peak (the data generation, GBs). This launcher is a bare Python
# (about 12 MB), so the trial's ru_maxrss is its own. It also times the
# command, so the launcher's start-up is not in the wall time.
LAUNCHER = """
import json, os, subprocess, sys, time
result_path, cmd = sys.argv[1], json.loads(sys.argv[2])
start = time.perf_counter()
proc = subprocess.Popen(cmd)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
with open(result_path, "w") as f:
    json.dump({"returncode": proc.returncode, "wall_seconds": wall, "maxrss_kib": usage.ru_maxrss}, f)
"""


def cpu_counters() -> tuple[float, float] | None:
    """Busy CPU seconds of the whole machine (/proc/stat) and CPU seconds of this
    process and its finished children: the difference over a span is the CPU
    that other processes (not this benchmark) used meanwhile."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[:7])
    t = os.times()
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK"), (
        t.user + t.system + t.children_user + t.children_system
    )


def other_cpu_seconds(before, after) -> float | None:
    if before is None or after is None:
        return None
    return max(0.0, (after[0] - before[0]) - (after[1] - before[1]))


# --wait-idle: before each trial and GEMM point, wait up to this long for the
# machine to be idle (other processes below IDLE_THRESHOLD cores over a second).
IDLE = {"max_wait": 0.0}
IDLE_THRESHOLD = 0.1
NOISY_LOAD = 0.1  # other load (cores) above which a timing goal is marked unreliable


def wait_idle() -> float | None:
    """Wait (up to --wait-idle seconds) until other processes leave the CPU; the
    other load of the last one-second window, or None when not waiting."""
    if IDLE["max_wait"] <= 0:
        return None
    deadline, load = time.monotonic() + IDLE["max_wait"], None
    while True:
        before = cpu_counters()
        time.sleep(1.0)
        other = other_cpu_seconds(before, cpu_counters())
        load = None if other is None else other / 1.0
        if load is None or load < IDLE_THRESHOLD:
            return load
        if time.monotonic() > deadline:
            log(f"  (machine still busy after {IDLE['max_wait']:.0f} s: other load {load:.2f}; going ahead)")
            return load


def run_child(cmd: list[str], cwd: Path | None = None, idle: bool = True) -> dict:
    """Run a command to completion (through LAUNCHER): its output, exit code,
    wall time and peak RSS (ru_maxrss from os.wait4, KiB on Linux).

    stdout / stderr go to temporary files, not pipes, so the command can never
    block on a full pipe.
    """
    cmd = [str(c) for c in cmd]
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        result_path = Path(tmp) / "rusage.json"
        launcher = [sys.executable, "-I", "-c", LAUNCHER, str(result_path), json.dumps(cmd)]
        idle_load = wait_idle() if idle else None
        before = cpu_counters()
        code = subprocess.run(launcher, stdout=out, stderr=err, cwd=cwd, env=child_env(), check=False).returncode
        other = other_cpu_seconds(before, cpu_counters())
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if not result_path.exists():
            raise RuntimeError(f"the launcher failed (exit code {code}) for {' '.join(cmd)}:\n{stderr[-2000:]}")
        usage = json.loads(result_path.read_text())
    return {
        "cmd": cmd,
        "returncode": usage["returncode"],
        "stdout": stdout,
        "stderr": stderr,
        "wall_seconds": usage["wall_seconds"],
        "peak_rss_bytes": usage["maxrss_kib"] * 1024,
        "other_cpu_seconds": other,  # CPU other processes used while this ran (1.0 per second = one busy core)
        "idle_check_load": idle_load,
    }


def check_child(result: dict) -> dict:
    if result["returncode"] != 0:
        tail = "\n".join(result["stderr"].strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(map(str, result['cmd']))} exited with {result['returncode']}:\n{tail}")
    return result


def last_json_line(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.strip()][-1])


def mlp_command() -> list[str]:
    """The `mlp` script installed next to this Python, else `python -m mlpcli`."""
    script = Path(sys.executable).parent / "mlp"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlpcli"]


def worker_command(*args) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *map(str, args)]


# --------------------------------------------------------------- machine info


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_state() -> dict:
    def git(*args):
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "mlpcli_changes": git("status", "--porcelain", "--", "mlpcli"),  # the measured code, if not committed
    }


def torch_version() -> str | None:
    """torch's version if it imports (checked in a child: torch stays out of this process)."""
    done = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                          capture_output=True, text=True, env=child_env())
    return done.stdout.strip() if done.returncode == 0 else None


def mlpcli_source_hash() -> str:
    """A short hash of mlpcli's source files: differing hashes between trials
    mean the code changed during the run (say, edited or checked out meanwhile)."""
    import hashlib
    import importlib.util

    package = Path(importlib.util.find_spec("mlpcli").origin).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def machine_info() -> dict:
    import mlpcli
    import sklearn
    import threadpoolctl

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "torch": torch_version(),
        "mlpcli": mlpcli.__version__,
        "mlpcli_source_start": mlpcli_source_hash(),
        "git": git_state(),
        "threads": THREADS,
        "thread_env": THREAD_ENV,
        "threadpools": threadpoolctl.threadpool_info(),  # this process: numpy, scipy, sklearn's OpenMP
        "loadavg_start": os.getloadavg(),
    }


# ------------------------------------------------------------------------ data


def save_npz(path: Path, **arrays) -> None:
    """Written under a temporary name, then renamed: an interrupted run leaves no half file."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def make_large(n_samples: int, random_state: int):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n_samples, random_state=random_state, **LARGE_DATA)
    return X.astype(np.float32), y.astype(np.int64)


def ensure_data_files() -> dict[str, Path]:
    """The generated data files (reused from the cache when present)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    files = {"large": CACHE / "large.npz", "scaling": CACHE / "large_15k.npz", "predict": CACHE / "predict_X.npy"}
    if not files["large"].exists() or not files["scaling"].exists():
        log("generating the large data set (once; cached in benchmarks/.cache/)")
        X, y = make_large(LARGE_ROWS, random_state=0)
        save_npz(files["large"], X=X, y=y)
        # make_classification shuffles its rows, so the first rows are a random subset.
        save_npz(files["scaling"], X=X[:SCALING_ROWS], y=y[:SCALING_ROWS])
        del X, y
    if not files["predict"].exists():
        log(f"generating {PREDICT_ROWS} rows for the inference test (once)")
        X, _ = make_large(PREDICT_ROWS, random_state=1)
        tmp = files["predict"].with_name("predict_X.tmp.npy")
        np.save(tmp, X)
        tmp.replace(files["predict"])
    return files


def mlp_config(dataset: str, workload: str) -> dict:
    spec = WORKLOADS[workload]
    return {
        "seed": 0,
        "data": {"dataset": dataset, "test_size": spec["test_size"], "val_size": 0.0, "scale": "standard"},
        "model": {
            "layers": [{"units": u, "activation": "relu", "dropout": DROPOUT} for u in spec["hidden"]],
            "init": "pytorch",  # nn.Linear's default: the same starting point as the PyTorch column
        },
        "train": {
            "epochs": spec["epochs"],
            "batch_size": spec["batch_size"],
            "optimizer": {"name": "adam", "lr": LR},
            "weight_decay": 0.0,
            "early_stopping": None,
        },
    }


def yaml_text(mapping: dict, indent: int = 0) -> str:
    """Block-style YAML for a config (JSON scalars are valid YAML; layers as flow mappings)."""
    lines, pad = [], "  " * indent
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            lines += [f"{pad}{key}:", yaml_text(value, indent + 1)]
        elif isinstance(value, list) and value:
            lines.append(f"{pad}{key}:")
            for item in value:
                flow = ", ".join(f"{k}: {json.dumps(v)}" for k, v in item.items())
                lines.append(f"{pad}  - {{{flow}}}")
        else:
            lines.append(f"{pad}{key}: {json.dumps(value)}")
    return "\n".join(lines)


def write_config(name: str, config: dict) -> Path:
    path = CACHE / f"{name}.yaml"
    header = f"# Generated by benchmarks/bench_train.py: mlp train {path.name} --out RUN --quiet\n"
    path.write_text(header + yaml_text(config) + "\n")
    return path


def split_arrays(config_path: Path, name: str, expect_train: int | None, expect_test: int | None) -> dict:
    """mlpcli's own train / test split of a config's data, standardised on the
    training rows, saved for the torch and sklearn workers."""
    from mlpcli.runner import prepare_data, resolve_config
    from sklearn.preprocessing import StandardScaler

    cfg, _ = resolve_config(str(config_path))
    prepared = prepare_data(cfg.to_dict())
    train, test = prepared.splits["train"], prepared.splits["test"]
    sizes = {"train": len(train.X), "test": len(test.X)}
    for split, expected in (("train", expect_train), ("test", expect_test)):
        if expected is not None and sizes[split] != expected:
            raise RuntimeError(f"{name}: mlpcli's {split} split has {sizes[split]} rows, expected {expected}")
    scaler = StandardScaler().fit(train.X)
    path = CACHE / f"{name}_split.npz"
    save_npz(
        path,
        X_train=scaler.transform(train.X).astype(np.float32),
        y_train=train.target.astype(np.int64),
        X_test=scaler.transform(test.X).astype(np.float32),
        y_test=test.target.astype(np.int64),
    )
    return {
        "config": str(config_path),
        "split_file": str(path),
        "n_train": sizes["train"],
        "n_test": sizes["test"],
        "n_features": int(train.X.shape[1]),
        "n_classes": len(prepared.classes),
    }


def prepare_all(workloads: list[str]) -> dict:
    """Data files, mlpcli configs and split arrays for every part of the run."""
    files = ensure_data_files()
    large_cfg = mlp_config(str(files["large"]), "large")
    prepared = {
        "files": {k: str(v) for k, v in files.items()},
        "large": split_arrays(write_config("large", large_cfg), "large",
                              LARGE_ROWS - LARGE_TEST_ROWS, LARGE_TEST_ROWS),
    }
    scaling_path = write_config("large_15k", mlp_config(str(files["scaling"]), "large"))
    prepared["scaling"] = split_arrays(scaling_path, "large_15k", SCALING_TRAIN_ROWS, None)
    if "small" in workloads:
        prepared["small"] = split_arrays(write_config("small", mlp_config("digits", "small")), "small", None, None)
    return prepared


# ---------------------------------------------------------------------- FLOPs


def dense_shapes(n_features: int, hidden, n_classes: int) -> list[tuple[int, int]]:
    sizes = [n_features, *hidden, n_classes]
    return list(zip(sizes[:-1], sizes[1:]))


def forward_flops(shapes) -> int:
    """Multiply-adds of the dense layers, 2 FLOPs each, per sample."""
    return 2 * sum(fan_in * fan_out for fan_in, fan_out in shapes)


def weights_shapes(weights: Path) -> list[tuple[int, int]]:
    with np.load(weights, allow_pickle=False) as archive:
        n = sum(1 for k in archive.files if k.startswith("dense.") and k.endswith(".weight"))
        return [tuple(archive[f"dense.{i}.weight"].shape) for i in range(n)]


# ----------------------------------------------------------------------- GEMM


def measure_gemm(label: str, n: int, reps: int) -> dict:
    """Median GFLOP/s of np.matmul on float32 n x n (2 n^3 FLOPs), after one warm-up."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=c)
    wait_idle()
    seconds, before, begin = [], cpu_counters(), time.perf_counter()
    for _ in range(reps):
        start = time.perf_counter()
        np.matmul(a, b, out=c)
        seconds.append(time.perf_counter() - start)
    other = other_cpu_seconds(before, cpu_counters())
    gflops = [2 * n**3 / s / 1e9 for s in seconds]
    result = {"label": label, "n": n, "seconds": seconds, "gflops": gflops, "median_gflops": statistics.median(gflops),
              "other_load": None if other is None else other / (time.perf_counter() - begin)}
    log(f"GEMM {label}: {result['median_gflops']:.1f} GFLOP/s")
    return result


# --------------------------------------------------------------------- trials


def mlpcli_trial(config: Path, run_dir: Path, epochs: int | None = None) -> dict:
    """One `mlp train` run; epoch times from metrics.jsonl, test accuracy from metrics.json."""
    cmd = [*mlp_command(), "train", str(config), "--out", str(run_dir), "--quiet", "--overwrite"]
    if epochs is not None:
        cmd += ["--set", f"train.epochs={epochs}"]
    source = mlpcli_source_hash()
    child = check_child(run_child(cmd, cwd=CACHE))
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    epoch_seconds = [json.loads(line)["epoch_seconds"] for line in lines if line.strip()]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "framework": "mlpcli",
        "epoch_seconds": epoch_seconds,
        "test_accuracy": metrics["test"]["accuracy"],
        "peak_rss_bytes": child["peak_rss_bytes"],
        "wall_seconds": child["wall_seconds"],
        "other_cpu_seconds": child["other_cpu_seconds"],
        "mlpcli_source": source,
        "weights": str(run_dir / "weights.npz"),
    }


def worker_trial(framework: str, workload: str, data: str, epochs: int) -> dict:
    cmd = worker_command("--worker", framework, "--workload", workload, "--data", data, "--epochs", epochs)
    child = check_child(run_child(cmd))
    result = last_json_line(child["stdout"])
    return {**result, "framework": framework, "peak_rss_bytes": child["peak_rss_bytes"],
            "wall_seconds": child["wall_seconds"], "other_cpu_seconds": child["other_cpu_seconds"]}


def run_trial(framework: str, workload: str, prepared: dict, epochs: int | None, tag: str) -> dict:
    info = prepared[workload]
    if framework == "mlpcli":
        override = None if epochs == WORKLOADS[workload]["epochs"] else epochs
        return mlpcli_trial(Path(info["config"]), CACHE / "runs" / f"{workload}-{tag}-mlpcli", override)
    return worker_trial(framework, workload, info["split_file"], epochs or WORKLOADS[workload]["epochs"])


def run_workload(workload: str, settings: dict, prepared: dict, frameworks: list[str]) -> dict:
    """One untimed warm-up trial per framework, then R repeats in rotating order."""
    epochs, repeats = settings["epochs"][workload], settings["repeats"][workload]
    warmup = min(settings["warmup_epochs"][workload], epochs)
    for fw in frameworks:
        log(f"[{workload}] warm-up {fw} ({warmup} epoch{'s' * (warmup > 1)})")
        run_trial(fw, workload, prepared, warmup, "warmup")
    trials = {fw: [] for fw in frameworks}
    for r in range(repeats):
        order = frameworks[r % len(frameworks):] + frameworks[: r % len(frameworks)]
        for fw in order:
            t = run_trial(fw, workload, prepared, epochs, f"r{r}")
            if len(t["epoch_seconds"]) != epochs:
                raise RuntimeError(f"{workload}/{fw}: {len(t['epoch_seconds'])} epochs timed, expected {epochs}")
            t["repeat"], t["position"] = r, order.index(fw)
            trials[fw].append(t)
            log(f"[{workload}] repeat {r + 1}/{repeats} {fw:<7}: median {statistics.median(t['epoch_seconds']):.4g} "
                f"s/epoch, test accuracy {t['test_accuracy']:.4f}, peak RSS {t['peak_rss_bytes'] / MB:.0f} MB")
    return {"epochs": epochs, "repeats": repeats, "warmup_epochs": warmup, "trials": trials}


def other_load(trials) -> float | None:
    """CPU other processes used during these trials, in cores (0.5 = half a core busy)."""
    if any(t.get("other_cpu_seconds") is None for t in trials):
        return None
    return sum(t["other_cpu_seconds"] for t in trials) / sum(t["wall_seconds"] for t in trials)


def summarise_workload(workload: str, run: dict, prepared: dict, peak: float) -> dict:
    info = prepared[workload]
    shapes = dense_shapes(info["n_features"], WORKLOADS[workload]["hidden"], info["n_classes"])
    train_flops = 3 * forward_flops(shapes) * info["n_train"]  # per epoch
    rows = {}
    for fw, trials in run["trials"].items():
        epochs = [s for t in trials for s in t["epoch_seconds"]]
        median = statistics.median(epochs)
        rows[fw] = {
            "s_per_epoch": median,
            "samples_per_s": info["n_train"] / median,
            "gflops": train_flops / median / 1e9,
            "fraction_of_peak": train_flops / median / 1e9 / peak,
            "test_accuracy": statistics.median(t["test_accuracy"] for t in trials),
            "peak_rss_bytes": max(t["peak_rss_bytes"] for t in trials),
            "n_epochs_timed": len(epochs),
            "other_load": other_load(trials),
        }
    for fw in rows:
        rows[fw]["mlpcli_over_this"] = rows["mlpcli"]["s_per_epoch"] / rows[fw]["s_per_epoch"]
    ratios = {f"mlpcli/{fw}": rows[fw]["mlpcli_over_this"] for fw in rows if fw != "mlpcli"}
    return {"ratios": ratios, "n_train": info["n_train"], "n_test": info["n_test"], "layers": shapes,
            "forward_flops_per_sample": forward_flops(shapes), "train_flops_per_epoch": train_flops, "rows": rows}


def run_scaling(settings: dict, prepared: dict) -> dict:
    """mlpcli's large model on 15,000 vs 60,000 training rows (alternating order)."""
    epochs, trials = settings["scaling_epochs"], settings["scaling_trials"]
    sizes = {"15k": ("scaling", prepared["scaling"]), "60k": ("large", prepared["large"])}
    runs = {label: [] for label in sizes}
    for t in range(trials):
        labels = list(sizes) if t % 2 == 0 else list(reversed(sizes))
        for label in labels:
            override = None if epochs == WORKLOADS["large"]["epochs"] else epochs
            result = mlpcli_trial(Path(sizes[label][1]["config"]), CACHE / "runs" / f"scaling-{label}-t{t}", override)
            runs[label].append(result)
            log(f"[scaling] {label}: median {statistics.median(result['epoch_seconds']):.4g} s/epoch")
    medians = {label: statistics.median(s for r in rs for s in r["epoch_seconds"]) for label, rs in runs.items()}
    return {
        "n_train": {label: info["n_train"] for label, (_, info) in sizes.items()},
        "epochs": epochs,
        "trials": {label: [r["epoch_seconds"] for r in rs] for label, rs in runs.items()},
        "median_s_per_epoch": medians,
        "ratio": medians["60k"] / medians["15k"],
        "other_load": other_load([r for rs in runs.values() for r in rs]),
        "weights_60k": runs["60k"][-1]["weights"],
        "mlpcli_sources": sorted({r["mlpcli_source"] for rs in runs.values() for r in rs}),
    }


def run_inference(weights: Path, settings: dict, peak: float) -> dict:
    """predict_proba on 100,000 rows in a child process, then the `mlp predict` CLI."""
    data = CACHE / "predict_X.npy"
    child = check_child(run_child(worker_command("--worker", "predict", "--weights", weights, "--data", data,
                                                 "--timings", settings["predict_timings"])))
    result = last_json_line(child["stdout"])
    shapes = weights_shapes(weights)
    flops = forward_flops(shapes) * result["n_rows"]
    median = statistics.median(result["seconds"])
    log(f"[inference] predict_proba: {median:.3f} s")
    cli_cmd = [*mlp_command(), "predict", str(weights), str(data), "-o", str(CACHE / "predict_out.npy")]
    check_child(run_child(cli_cmd))  # warm-up
    cli = [check_child(run_child(cli_cmd)) for _ in range(settings["cli_predict_runs"])]
    cli_median = statistics.median(c["wall_seconds"] for c in cli)
    log(f"[inference] mlp predict: {cli_median:.3f} s wall")
    return {
        "weights": str(weights),
        "layers": shapes,
        "n_rows": result["n_rows"],
        "predict_proba_seconds": result["seconds"],
        "predict_proba_median_s": median,
        "gflops": flops / median / 1e9,
        "fraction_of_peak": flops / median / 1e9 / peak,
        "worker_peak_rss_bytes": child["peak_rss_bytes"],
        "other_load": other_load([child]),
        "cli_predict_cmd": cli_cmd,
        "cli_predict_wall_seconds": [c["wall_seconds"] for c in cli],
        "cli_predict_median_s": cli_median,
        "cli_predict_peak_rss_bytes": max(c["peak_rss_bytes"] for c in cli),
    }


def run_startup(weights: Path, runs: int) -> dict:
    """Median wall time of `mlp --help` and `mlp info WEIGHTS`, each after one warm-up."""
    out = {}
    for name, args in (("help", ["--help"]), ("info", ["info", str(weights)])):
        cmd = [*mlp_command(), *args]
        check_child(run_child(cmd))
        children = [check_child(run_child(cmd, idle=False)) for _ in range(runs)]
        walls = [c["wall_seconds"] for c in children]
        out[name] = {"cmd": cmd, "wall_seconds": walls, "median_s": statistics.median(walls),
                     "other_load": other_load(children)}
        log(f"[start-up] mlp {' '.join(args[:1])}: {out[name]['median_s']:.3f} s")
    return out


# -------------------------------------------------------------------- workers


def load_split(path: str):
    with np.load(path, allow_pickle=False) as f:
        return f["X_train"], f["y_train"], f["X_test"], f["y_test"]


def worker_torch(workload: str, data: str, epochs: int) -> dict:
    import threadpoolctl
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    spec = WORKLOADS[workload]
    Xtr, ytr, Xte, yte = load_split(data)
    X, y = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    h1, h2 = spec["hidden"]
    model = nn.Sequential(
        nn.Linear(X.shape[1], h1), nn.ReLU(), nn.Dropout(DROPOUT),
        nn.Linear(h1, h2), nn.ReLU(), nn.Dropout(DROPOUT),
        nn.Linear(h2, int(max(ytr.max(), yte.max())) + 1),
    )
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    n, bs = len(X), spec["batch_size"]
    model.train()
    epoch_seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(n)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            xb, yb = X[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        epoch_seconds.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(Xte)).argmax(dim=1) == torch.from_numpy(yte)).float().mean().item()
    return {"epoch_seconds": epoch_seconds, "test_accuracy": accuracy, "n_train": n,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "dtype": str(next(model.parameters()).dtype), "threadpools": threadpoolctl.threadpool_info()}


def worker_sklearn(workload: str, data: str, epochs: int) -> dict:
    import sklearn
    import threadpoolctl
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    spec = WORKLOADS[workload]
    Xtr, ytr, Xte, yte = load_split(data)
    classes = np.unique(np.concatenate([ytr, yte]))
    clf = MLPClassifier(hidden_layer_sizes=spec["hidden"], activation="relu", solver="adam",
                        learning_rate_init=LR, batch_size=spec["batch_size"], alpha=0.0,
                        shuffle=True, random_state=0)
    epoch_seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        clf.partial_fit(Xtr, ytr, classes=classes)  # one pass over the data (shuffled)
        epoch_seconds.append(time.perf_counter() - start)
    return {"epoch_seconds": epoch_seconds, "test_accuracy": float(clf.score(Xte, yte)), "n_train": len(Xtr),
            "sklearn": sklearn.__version__, "dtype": str(clf.coefs_[0].dtype),
            "threadpools": threadpoolctl.threadpool_info()}


def worker_predict(weights: str, data: str, timings: int) -> dict:
    import mlpcli

    model = mlpcli.load(weights)
    X = np.load(data, allow_pickle=False)
    model.predict_proba(X)  # warm-up
    seconds = []
    for _ in range(timings):
        start = time.perf_counter()
        model.predict_proba(X)
        seconds.append(time.perf_counter() - start)
    return {"n_rows": len(X), "seconds": seconds}


def worker_main(args) -> None:
    if args.worker == "torch":
        result = worker_torch(args.workload, args.data, args.epochs)
    elif args.worker == "sklearn":
        result = worker_sklearn(args.workload, args.data, args.epochs)
    else:
        result = worker_predict(args.weights, args.data, args.timings)
    print(json.dumps(result))


# -------------------------------------------------------------------- report


def table(headers: list[str], rows: list[list[str]]) -> str:
    """First column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def check_goals(res: dict) -> list[dict]:
    goals = []

    def add(goal, ok, measured):
        status = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
        goals.append({"goal": goal, "status": status, "measured": measured})

    summary = res["summary"]

    def row(workload, fw):
        return summary.get(workload, {}).get("rows", {}).get(fw)

    def noisy(*loads):
        worst = max((x for x in loads if x is not None), default=None)
        return f"; other load {worst:.2f}: unreliable" if worst is not None and worst > NOISY_LOAD else ""

    def vs(workload, other, limit):
        goal = f"{workload}: mlpcli s/epoch <= {limit:.2f} x {other}"
        m, o = row(workload, "mlpcli"), row(workload, other)
        if m is None or o is None:
            add(goal, None, "not measured" if m is None else f"{other} not available")
        else:
            ratio = m["s_per_epoch"] / o["s_per_epoch"]
            add(goal, ratio <= limit, f"{ratio:.3f} x ({m['s_per_epoch']:.4g} s vs {o['s_per_epoch']:.4g} s)"
                + noisy(m["other_load"], o["other_load"]))

    vs("large", "torch", GOAL_LARGE_VS_TORCH)
    m = row("large", "mlpcli")
    goal = f"large: mlpcli >= {GOAL_LARGE_PEAK:.0%} of GEMM peak"
    if m is None:
        add(goal, None, "not measured")
    else:
        add(goal, m["fraction_of_peak"] >= GOAL_LARGE_PEAK,
            f"{m['fraction_of_peak']:.2%} ({m['gflops']:.1f} GFLOP/s)" + noisy(m["other_load"]))
    vs("small", "torch", GOAL_SMALL_VS_TORCH)
    vs("small", "sklearn", GOAL_SMALL_VS_SKLEARN)
    for workload in ("large", "small"):
        goal = f"{workload}: test accuracy >= torch - {GOAL_ACCURACY_SLACK}"
        m, t = row(workload, "mlpcli"), row(workload, "torch")
        if m is None or t is None:
            add(goal, None, "not measured" if m is None else "torch not available")
        else:
            add(goal, m["test_accuracy"] >= t["test_accuracy"] - GOAL_ACCURACY_SLACK,
                f"{m['test_accuracy']:.4f} vs torch {t['test_accuracy']:.4f}")
    goal = f"large: peak RSS of mlp train <= {GOAL_RSS_BYTES / MB:.0f} MB (2 x data + 300 MB)"
    if m := row("large", "mlpcli"):
        add(goal, m["peak_rss_bytes"] <= GOAL_RSS_BYTES, f"{m['peak_rss_bytes'] / MB:.0f} MB")
    else:
        add(goal, None, "not measured")
    inf = res["inference"]
    add(f"predict_proba >= {GOAL_PREDICT_PEAK:.0%} of GEMM peak", inf["fraction_of_peak"] >= GOAL_PREDICT_PEAK,
        f"{inf['fraction_of_peak']:.2%} ({inf['gflops']:.1f} GFLOP/s)" + noisy(inf["other_load"]))
    sc = res["scaling"]
    lo, hi = GOAL_SCALING * (1 - GOAL_SCALING_TOL), GOAL_SCALING * (1 + GOAL_SCALING_TOL)
    add(f"epoch time 60k / 15k rows = {GOAL_SCALING:.1f} +- {GOAL_SCALING_TOL:.0%} ({lo:.2f}..{hi:.2f})",
        lo <= sc["ratio"] <= hi, f"{sc['ratio']:.2f}" + noisy(sc["other_load"]))
    st = res["startup"]
    add(f"mlp --help < {GOAL_HELP_S} s", st["help"]["median_s"] < GOAL_HELP_S,
        f"{st['help']['median_s']:.3f} s" + noisy(st["help"]["other_load"]))
    add(f"mlp info WEIGHTS < {GOAL_INFO_S} s", st["info"]["median_s"] < GOAL_INFO_S,
        f"{st['info']['median_s']:.3f} s" + noisy(st["info"]["other_load"]))
    return goals


def blas_summary(pools: list[dict]) -> str:
    parts = []
    for p in pools:
        details = [str(p[k]) for k in ("version", "architecture", "threading_layer") if p.get(k)]
        details.append(f"{p['num_threads']} threads")
        parts.append(f"{p['internal_api']} {Path(p.get('filepath', '')).name} ({', '.join(details)})")
    return "\n  ".join(parts)


def fmt_load(value) -> str:
    """Other processes' CPU use, in cores."""
    return "n/a" if value is None else f"{value:.2f}"


def report(res: dict) -> str:
    m, s, g = res["machine"], res["settings"], res["gemm"]
    changes = ", uncommitted changes in mlpcli/" if m["git"]["mlpcli_changes"] else ""
    out = [
        f"mlpcli training benchmark, {res['started']}{' (--quick)' if s['quick'] else ''}; "
        f"the run took {res['total_seconds']:.0f} s",
        "",
        f"machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); Python {m['python']}",
        f"versions: numpy {m['numpy']}, scikit-learn {m['sklearn']}, torch {m['torch'] or 'not installed'}, "
        f"mlpcli {m['mlpcli']} (git {m['git']['commit']}{changes})",
        f"threads: {THREADS} (children: OMP/OPENBLAS/MKL_NUM_THREADS={THREADS}, torch.set_num_threads({THREADS}); "
        f"this process: threadpoolctl limit {THREADS})",
        f"other processes' CPU during the run: {fmt_load(res['other_load'])} cores on average "
        f"(load average at start {m['loadavg_start'][0]:.2f}, at end {res['loadavg_end'][0]:.2f}); "
        + (f"each trial waited (up to {s['wait_idle']:.0f} s) for an idle machine" if s["wait_idle"]
           else "no waiting for an idle machine (--wait-idle)"),
        f"thread pools (threadpoolctl), benchmark process:\n  {blas_summary(m['threadpools'])}",
    ]
    for fw, pools in res["worker_threadpools"].items():
        out.append(f"thread pools, {fw} worker:\n  {blas_summary(pools)}")
    versions = res["mlpcli_sources_measured"]
    if len(versions) > 1:
        out.append(f"WARNING: mlpcli's source changed during the run ({len(versions)} versions: "
                   f"{', '.join(versions)}); its numbers mix code versions")

    points = ", ".join(
        f"{x['label']} {x['median_gflops']:.1f}"
        + (f" (other load {x['other_load']:.2f})" if (x["other_load"] or 0) > NOISY_LOAD else "")
        for x in g
    )
    out += ["", f"GEMM: np.matmul float32 {g[0]['n']}x{g[0]['n']}, median of {len(g[0]['seconds'])} timings at "
                f"each point: {points} GFLOP/s -> peak {res['peak_gflops']:.1f} GFLOP/s"]

    headers = ["framework", "s/epoch", "samples/s", "GFLOP/s", "% peak", "test acc", "peak RSS MB",
               "mlpcli/this", "other load"]
    for workload, sm in res["summary"].items():
        spec, run = WORKLOADS[workload], res["workloads"][workload]
        arch = "-".join(str(fan_in) for fan_in, _ in sm["layers"]) + f"-{sm['layers'][-1][1]}"
        out += [
            "",
            f"{workload}: {spec['describe']}; train {sm['n_train']} / test {sm['n_test']} rows (mlpcli's split)",
            f"  MLP {arch}, ReLU, dropout {DROPOUT}, Adam {LR:g}, batch {spec['batch_size']}; {run['epochs']} epochs "
            f"x {run['repeats']} repeats (+ one untimed {run['warmup_epochs']}-epoch warm-up per framework); "
            f"{3 * sm['forward_flops_per_sample'] / 1e6:.3g} MFLOP per training sample",
        ]
        rows = []
        for fw in FRAMEWORKS:
            r = sm["rows"].get(fw)
            if r is None:
                rows.append([fw] + ["n/a"] * (len(headers) - 1))
                continue
            rows.append([
                fw, f"{r['s_per_epoch']:.4g}", f"{r['samples_per_s']:,.0f}", f"{r['gflops']:.3g}",
                f"{r['fraction_of_peak']:.1%}", f"{r['test_accuracy']:.4f}", f"{r['peak_rss_bytes'] / MB:.0f}",
                f"{r['mlpcli_over_this']:.3f}", fmt_load(r["other_load"]),
            ])
        out.append(table(headers, rows))
    if res["summary"]:
        out += [
            "",
            "s/epoch: median over all timed epochs of all repeats (shuffle included). GFLOP/s: 3 x forward FLOPs x "
            "train rows / s; % peak: of the GEMM peak.",
            "test acc: median over repeats. peak RSS: max ru_maxrss of the trial processes (MB = 10^6 bytes). "
            "mlpcli/this: ratio of s/epoch.",
            "other load: CPU other processes used during the timed trials, in cores (/proc/stat); much above "
            "0.05 and the timings are skewed.",
            "sklearn's MLPClassifier has no dropout (alpha=0, one partial_fit per epoch); each framework uses its "
            "own default initialisation.",
        ]
    if not m["torch"]:
        out.append("note: torch is not importable, so its rows are n/a; `pip install torch==2.13.0` installs "
                   "the CPU build on this machine (not a plain `pip install torch`).")

    sc, inf, st = res["scaling"], res["inference"], res["startup"]
    med = sc["median_s_per_epoch"]
    out += [
        "",
        f"scaling (mlpcli, large model, {sc['epochs']} epoch(s) x {len(sc['trials']['15k'])} trial(s) each): "
        f"{sc['n_train']['15k']} rows {med['15k']:.4g} s/epoch, {sc['n_train']['60k']} rows {med['60k']:.4g} "
        f"s/epoch, ratio {sc['ratio']:.2f} (ideal 4.00); other load {fmt_load(sc['other_load'])}",
        f"inference: mlpcli.load(weights).predict_proba on {inf['n_rows']:,} rows x {inf['layers'][0][0]}: "
        f"{inf['predict_proba_median_s']:.4g} s (median of {len(inf['predict_proba_seconds'])} after a warm-up), "
        f"{inf['gflops']:.1f} GFLOP/s = {inf['fraction_of_peak']:.1%} of peak; peak RSS "
        f"{inf['worker_peak_rss_bytes'] / MB:.0f} MB; other load {fmt_load(inf['other_load'])}",
        f"  `mlp predict WEIGHTS rows.npy -o out.npy`: {inf['cli_predict_median_s']:.3f} s wall (median of "
        f"{len(inf['cli_predict_wall_seconds'])} after a warm-up; for information)",
        f"start-up (median of {len(st['help']['wall_seconds'])} after a warm-up): `mlp --help` "
        f"{st['help']['median_s']:.3f} s, `mlp info WEIGHTS` {st['info']['median_s']:.3f} s",
        "",
        "goals:",
    ]
    width = max(len(goal["goal"]) for goal in res["goals"])
    out += [f"  [{goal['status']}] {goal['goal'].ljust(width)}  {goal['measured']}" for goal in res["goals"]]
    return "\n".join(out)


# ----------------------------------------------------------------------- main


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
    # % of peak is filled in below, once the last GEMM point is in.
    inference = run_inference(weights, settings, peak=1.0)
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
    # Internal: one trial in this process (run by the benchmark itself).
    parser.add_argument("--worker", choices=["torch", "sklearn", "predict"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--timings", type=int, default=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
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
