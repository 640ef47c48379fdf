#!/usr/bin/env python
"""An optimizer update on two threads against one, and what it does to an
epoch: where mlpcli.threads' SLEEPING_TIMEOUT and SPLIT_UPDATE_SIZE come
from, and why OpenBLAS's thread timeout is left to the user.

    python benchmarks/update_threads.py [--rounds 8] [--rows 20000] [--skip-steps]
    python benchmarks/update_threads.py --skip-steps --model 784,256,128 --batch 64 --timeouts 18

1. Adam's step alone, by parameter count, on one thread and on two halves
   (engine.halves), interleaved, in a process where OpenBLAS's threads sleep
   soon after a product (OPENBLAS_THREAD_TIMEOUT=18).
2. Whole epochs of bench_train.py's large model (784-512-256-10, ReLU,
   dropout 0.2, batches of 128, Adam; ``--model`` and ``--batch`` another) on random rows, each variant in its own
   process (OpenBLAS reads its timeout once, as it starts), in rotating
   order for ``--rounds`` rounds:
   - "spinning BLAS, 1-thread update": OpenBLAS's default (its threads spin
     ~0.1 s after each product), the update on one thread: mlpcli before;
   - "timeout T, 1-thread update", for each timeout T: the threads sleep
     after 2**T clock ticks, the update still on one thread;
   - "timeout T, 2-thread update": as mlpcli trains a model of SPLIT_UPDATE_SIZE
     parameters or more with OPENBLAS_THREAD_TIMEOUT=T (T <= 18) set.
   Each process prints its median epoch and a checksum of the trained
   parameters: every variant must train the same numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from mlpcli.threads import BLAS_TIMEOUT_VARIABLE, SLEEPING_TIMEOUT

TIMEOUTS = (15, 18, 20)
SIZES = (1 << 14, 1 << 16, 136_554, 235_146, 535_818, 1 << 21)  # the 3rd-5th: the models of benchmarks/README's epoch table


def child_steps(rounds: int) -> dict:
    import numpy as np

    from mlpcli.engine import get_optimizer

    rng = np.random.default_rng(0)
    out = {}
    for n in SIZES:
        params, grads = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
        optimizer = get_optimizer("adam", lr=1e-4)
        steps = max(20, (1 << 23) // n)
        times = {1: [], 2: []}
        for _ in range(rounds):
            for threads in (1, 2):
                optimizer.threads = threads
                optimizer.step(params, grads)  # warm
                start = time.perf_counter()
                for _ in range(steps):
                    optimizer.step(params, grads)
                times[threads].append((time.perf_counter() - start) / steps)
        out[n] = {k: statistics.median(v) for k, v in times.items()}
    return out


def child_epochs(rows: int, epochs: int, threads: int | None, sizes: list[int], batch: int) -> dict:
    import numpy as np

    import mlpcli.training
    from mlpcli.engine import MLP, LayerSpec, get_optimizer
    from mlpcli.training import FitOptions, fit

    if threads is not None:  # force the update's threads (else fit chooses, as under mlp)
        mlpcli.training.update_threads = lambda n_params: threads
    n_in, *hidden = sizes
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, n_in), dtype=np.float32)
    y = rng.integers(0, 10, rows)
    network = MLP(n_in, [LayerSpec(units, "relu", 0.2) for units in hidden], 10, "cross_entropy",
                  rng=np.random.default_rng(1))
    network.init_params(np.random.default_rng(2))
    optimizer = get_optimizer("adam", lr=1e-3)
    options = FitOptions(epochs=1, task="classification", batch_size=batch)
    fit(network, optimizer, X[: rows // 4], y[: rows // 4], options, rng=np.random.default_rng(3))  # warm-up
    seconds = []
    for epoch in range(epochs):
        start = time.perf_counter()
        fit(network, optimizer, X, y, options, rng=np.random.default_rng(4 + epoch))
        seconds.append(time.perf_counter() - start)
    return {"epoch": statistics.median(seconds), "threads": optimizer.threads, "params": network.n_params,
            "checksum": float(np.float64(network.params).sum())}


def run_child(args: list[str], timeout: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != BLAS_TIMEOUT_VARIABLE}
    if timeout is not None:
        env[BLAS_TIMEOUT_VARIABLE] = str(timeout)
    out = subprocess.run([sys.executable, __file__, "--child", *args], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--rows", type=int, default=20_000, help="rows an epoch (default 20000)")
    parser.add_argument("--model", default="784,512,256", help="input and hidden widths (default 784,512,256: the large model)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs in each process")
    parser.add_argument("--skip-steps", action="store_true", help="only the epochs")
    parser.add_argument("--timeouts", type=int, nargs="+", default=TIMEOUTS, help=f"OpenBLAS timeouts (default {TIMEOUTS})")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = child_steps(int(rest[0])) if kind == "steps" else child_epochs(
            int(rest[0]), int(rest[1]), None if rest[2] == "auto" else int(rest[2]),
            [int(v) for v in rest[3].split(",")], int(rest[4]))
        print(json.dumps(result))
        return

    if not args.skip_steps:
        steps = run_child(["steps", str(args.rounds)], SLEEPING_TIMEOUT)
        print(f"Adam's step ({BLAS_TIMEOUT_VARIABLE}={SLEEPING_TIMEOUT}), median of {args.rounds} interleaved rounds\n")
        print("| parameters | 1 thread (us) | 2 threads (us) | 2 / 1 |\n|---|---|---|---|")
        for n, t in steps.items():
            print(f"| {int(n):,} | {t['1'] * 1e6:.1f} | {t['2'] * 1e6:.1f} | {t['2'] / t['1']:.2f} |")
        print(flush=True)

    variants = [("spinning BLAS, 1-thread update", None, "1")]
    for timeout in args.timeouts:
        variants.append((f"timeout {timeout}, 1-thread update", timeout, "1"))
        variants.append((f"timeout {timeout}, 2-thread update", timeout, "2"))
    times = {name: [] for name, _, _ in variants}
    checksums = set()
    for r in range(args.rounds):
        order = variants[r % len(variants):] + variants[: r % len(variants)]
        for name, timeout, threads in order:
            result = run_child(["epochs", str(args.rows), str(args.epochs), threads, args.model, str(args.batch)], timeout)
            times[name].append(result["epoch"])
            checksums.add(result["checksum"])
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    base = times[variants[0][0]]
    print(f"Epochs of a {args.model.replace(',', '-')}-10 model ({result['params']:,} parameters, batch {args.batch}) "
          f"on {args.rows:,} random rows (median of {args.epochs} epochs a process, {args.rounds} processes a variant, "
          "rotating order)\n")
    print("| variant | s/epoch (median) | of spinning BLAS, 1 thread | median of per-round ratios |\n|---|---|---|---|")
    for name, _, _ in variants:
        ratios = [a / b for a, b in zip(times[name], base)]
        print(f"| {name} | {statistics.median(times[name]):.3f} | {statistics.median(times[name]) / statistics.median(base):.3f} "
              f"| {statistics.median(ratios):.3f} |")
    print(f"\nsame trained parameters in every process: {'yes' if len(checksums) == 1 else 'NO: ' + repr(checksums)}")


if __name__ == "__main__":
    main()
