#!/usr/bin/env python
"""Where an epoch's time goes: matrix products, activations, dropout masks,
the loss head, the optimizer update, batching and logging.

    python benchmarks/profile_epoch.py                 # both workloads
    python benchmarks/profile_epoch.py --workload small --epochs 20

It trains the benchmark's two models (bench_train.py: "large" on random data of
the large workload's shape, "small" on scikit-learn's digits) with mlpcli's own
fit loop, and times every call of every layer's forward and backward, the head,
the optimizer step and the per-epoch logging callback by wrapping them with a
clock. "batching and loop" is what is left of the epoch: shuffling, gathering
rows, the per-step checks and the Python loop itself. The wrappers cost about
a microsecond per call, which shows in the small workload's figures.

It uses only the engine's public classes, so it also runs against older
versions of mlpcli (put their checkout first on PYTHONPATH) for a before/after.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from mlpcli.engine import MLP, LayerSpec, get_optimizer
from mlpcli.training import Callback, FitOptions, fit

CATEGORIES = {
    "Dense": "matrix products (+ bias)",
    "Dropout": "dropout masks",
}


class Clock:
    def __init__(self):
        self.seconds = defaultdict(float)

    def wrap(self, obj, method: str, category: str) -> None:
        inner = getattr(obj, method)
        seconds, clock = self.seconds, time.perf_counter

        def timed(*args, **kwargs):
            start = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[category] += clock() - start

        setattr(obj, method, timed)


class Logging(Callback):
    """Stands in for the CLI's per-epoch metrics.jsonl line."""

    def __init__(self, path):
        self.file = open(path, "a")

    def on_epoch_end(self, epoch, logs):
        import json

        self.file.write(json.dumps(logs) + "\n")
        self.file.flush()


def workload(name: str):
    if name == "large":
        rng = np.random.default_rng(0)
        X = rng.standard_normal((60000, 784), dtype=np.float32)
        y = rng.integers(0, 10, 60000)
        return X, y, (512, 256), 128
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = ((X - X.mean(0)) / (X.std(0) + 1e-9)).astype(np.float32)[:1347]
    return X, y[:1347], (128, 64), 32


def profile(name: str, epochs: int) -> None:
    X, y, hidden, batch_size = workload(name)
    network = MLP(X.shape[1], [LayerSpec(units, "relu", 0.2) for units in hidden], 10, "cross_entropy",
                  rng=np.random.default_rng(1))
    network.init_params(np.random.default_rng(2))
    optimizer = get_optimizer("adam", lr=1e-3)
    fit(network, optimizer, X, y, FitOptions(epochs=1, task="classification", batch_size=batch_size),
        rng=np.random.default_rng(3))  # warm-up: first-touch of every array

    clock = Clock()
    for layer in network.layers:
        category = CATEGORIES.get(type(layer).__name__, "activations")
        clock.wrap(layer, "forward", category)
        clock.wrap(layer, "backward", category)
    clock.wrap(network.head, "forward", "loss head")
    clock.wrap(network.head, "backward", "loss head")
    clock.wrap(optimizer, "step", "optimizer update")
    logging = Logging("/dev/null")
    clock.wrap(logging, "on_epoch_end", "logging")
    start = time.perf_counter()
    fit(network, optimizer, X, y, FitOptions(epochs=epochs, task="classification", batch_size=batch_size),
        rng=np.random.default_rng(4), callbacks=[logging])
    total = (time.perf_counter() - start) / epochs
    per_epoch = {k: v / epochs for k, v in clock.seconds.items()}
    per_epoch["batching and loop"] = total - sum(per_epoch.values())
    steps = -(-len(X) // batch_size)
    print(f"\n{name}: {len(X)} rows, batch {batch_size}, {steps} steps per epoch; {total:.4f} s per epoch "
          f"({total / steps * 1e6:.0f} us per step)")
    print(f"{'part':28} {'s/epoch':>9} {'share':>7}")
    for part, seconds in sorted(per_epoch.items(), key=lambda kv: -kv[1]):
        print(f"{part:28} {seconds:9.4f} {seconds / total:7.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=["large", "small", "all"], default="all")
    parser.add_argument("--epochs", type=int, help="timed epochs (default: 2 large, 30 small)")
    args = parser.parse_args()
    for name in ("large", "small") if args.workload == "all" else (args.workload,):
        profile(name, args.epochs or (2 if name == "large" else 30))


if __name__ == "__main__":
    main()
