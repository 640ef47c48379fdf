"""bench_train.py's harness: child processes with their wall time, peak RSS and
the CPU other processes used meanwhile; the float32 GEMM peak; the machine the
run is on."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

THREADS = 2
# Every child process gets these; the benchmark process limits its own BLAS with threadpoolctl.
THREAD_ENV = {var: str(THREADS) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MB = 1e6  # bytes; every "MB" in the report is 10^6 bytes


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def child_env() -> dict:
    return {**os.environ, **THREAD_ENV}


# Runs one command and reports its rusage. A child started straight from the
# benchmark would not do: Linux starts a child's ru_maxrss at the RSS high-water
# mark of the process that spawned it (exec records the old address space's
# peak, and subprocess uses vfork), so every trial would report at least the
# benchmark's own peak (the data generation, GBs). This launcher is a bare
# Python (about 12 MB), so the trial's ru_maxrss is its own. It also times the
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


def other_load(trials) -> float | None:
    """CPU other processes used during these trials, in cores (0.5 = half a core busy)."""
    if any(t.get("other_cpu_seconds") is None for t in trials):
        return None
    return sum(t["other_cpu_seconds"] for t in trials) / sum(t["wall_seconds"] for t in trials)


# --wait-idle: before each trial and GEMM point, wait up to this long for the
# machine to be idle (other processes below IDLE_THRESHOLD cores over a second).
IDLE = {"max_wait": 0.0}
IDLE_THRESHOLD = 0.1


def wait_idle() -> float | None:
    """Wait (up to --wait-idle seconds) until other processes leave the CPU; the
    other load of the last one-second window, or None when not waiting."""
    if IDLE["max_wait"] <= 0:
        return None
    deadline = time.monotonic() + IDLE["max_wait"]
    while True:
        before = cpu_counters()
        time.sleep(1.0)
        load = other_cpu_seconds(before, cpu_counters())  # CPU seconds over one second: cores
        if load is None or load < IDLE_THRESHOLD:
            return load
        if time.monotonic() > deadline:
            log(f"  (machine still busy after {IDLE['max_wait']:.0f} s: other load {load:.2f}; going ahead)")
            return load


def run_child(cmd: list, cwd: Path | None = None, idle: bool = True) -> dict:
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
    """torch's version if it imports (checked in a child: torch stays out of the benchmark process)."""
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
        "threadpools": threadpoolctl.threadpool_info(),  # the benchmark process: numpy, scipy, sklearn's OpenMP
        "loadavg_start": os.getloadavg(),
    }
