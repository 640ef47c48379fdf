#!/usr/bin/env python
"""A training step on one BLAS thread against one on every core, by model size:
where a trial's choice of BLAS threads (mlpcli.threads) comes from.

    python benchmarks/blas_threads.py [--rounds 5] [--seconds 0.3]

For each shape (input width, two hidden ReLU layers w and w/2 with dropout
0.2, 10 classes, Adam, batch size b) it times the engine's own fit loop on
random rows, interleaved: one round trains ~``--seconds`` with one BLAS
thread, then the same number of steps with all cores' threads, and so on.
It prints the median time of a step each way and their ratio beside the
step's multiply-adds (forward and backward: 3 x batch x the weights), the
figure the engine's rule is written in.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from mlpcli.engine import MLP, LayerSpec, get_optimizer
from mlpcli.threads import step_macs
from mlpcli.training import FitOptions, fit

SHAPES = [  # (input width, first hidden width, batch size)
    (4, 16, 16), (30, 32, 32), (64, 64, 32), (64, 128, 32), (64, 256, 32), (64, 256, 64),
    (64, 512, 64), (64, 512, 128), (128, 512, 128), (784, 256, 64), (784, 512, 64), (784, 512, 128),
    (784, 1024, 128), (784, 1024, 256),
]


def steps_seconds(network, optimizer, X, y, batch, threads: int) -> float:
    with threadpool_limits(threads):
        start = time.perf_counter()
        fit(network, optimizer, X, y, FitOptions(epochs=1, task="classification", batch_size=batch),
            rng=np.random.default_rng(0))
        return time.perf_counter() - start


def measure(n_in: int, width: int, batch: int, rounds: int, seconds: float, cores: int) -> dict:
    rng = np.random.default_rng(0)
    layers = [LayerSpec(width, "relu", 0.2), LayerSpec(max(1, width // 2), "relu", 0.2)]
    network = MLP(n_in, layers, 10, "cross_entropy", rng=np.random.default_rng(1))
    network.init_params(np.random.default_rng(2))
    optimizer = get_optimizer("adam", lr=1e-3)
    probe = rng.standard_normal((batch * 20, n_in), dtype=np.float32)
    labels = rng.integers(0, 10, len(probe))
    per_step = steps_seconds(network, optimizer, probe, labels, batch, cores) / 20  # warm-up and sizing
    steps = max(20, int(seconds / max(per_step, 1e-6)))
    X = rng.standard_normal((batch * steps, n_in), dtype=np.float32)
    y = rng.integers(0, 10, len(X))
    one, many = [], []
    for _ in range(rounds):
        one.append(steps_seconds(network, optimizer, X, y, batch, 1) / steps)
        many.append(steps_seconds(network, optimizer, X, y, batch, cores) / steps)
    return {"macs": step_macs(n_in, [width, max(1, width // 2)], 10, batch),
            "one": statistics.median(one), "many": statistics.median(many)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.3, help="training time of one round, each way")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{cores} cores; medians of {args.rounds} interleaved rounds")
    print(f"| input | hidden | batch | multiply-adds a step | 1 thread (us/step) | {cores} threads (us/step) | {cores} / 1 |")
    print("|---|---|---|---|---|---|---|")
    for n_in, width, batch in SHAPES:
        m = measure(n_in, width, batch, args.rounds, args.seconds, cores)
        print(f"| {n_in} | {width}-{width // 2} | {batch} | {m['macs'] / 1e6:.2f} M | {m['one'] * 1e6:.0f} | "
              f"{m['many'] * 1e6:.0f} | {m['many'] / m['one']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
