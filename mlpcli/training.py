"""The fit loop: epochs of shuffled mini-batches, validation, early stopping.

``fit`` prints nothing and writes nothing: progress bars, metric logs and
files hang off callbacks, which the runner supplies.
"""
from __future__ import annotations

import math
import time

import numpy as np

from . import metrics
from .errors import TrainingDiverged


class Callback:
    """Hooks into fit; set ``stop_training`` to end after the current epoch."""

    stop_training = False

    def on_train_begin(self, fit_state: dict) -> None: ...

    def on_batch_end(self, batch: int) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict) -> None: ...

    def on_train_end(self, history: list[dict]) -> None: ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience``
    epochs; optionally put back the parameters of the best epoch."""

    def __init__(self, network, monitor="val_loss", mode="min", patience=10, min_delta=0.0, restore_best=True):
        self.network, self.monitor, self.mode = network, monitor, mode
        self.patience, self.min_delta, self.restore_best = patience, min_delta, restore_best
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch, self.best_params, self.wait = None, None, 0

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs):
        value = logs[self.monitor]
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_params = self.network.params.copy()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stop_training = True

    def on_train_end(self, history):
        if self.restore_best and self.best_params is not None:
            self.network.params[...] = self.best_params


# Overflow is not warned about: a non-finite loss (checked each step) or weight
# (checked each epoch) is reported as divergence instead.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def fit(
    network,
    optimizer,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    task: str,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    weight_decay: float = 0.0,
    shuffle: bool = True,
    callbacks: list[Callback] = (),
) -> list[dict]:
    """Train ``network`` in place; returns one dict of logs per epoch.

    X (n, d) already scaled, in the network's dtype; y class indices (n,) or
    values (n, k). ``rng`` shuffles the samples each epoch.
    """
    n = len(X)
    n_batches = math.ceil(n / batch_size)
    history: list[dict] = []
    step = 0
    # Rows of several batches are gathered at once into one reused block (about
    # 8 MB), so a batch is a slice of it: no per-batch gather or allocation, and
    # never a shuffled copy of the whole data set.
    batches_per_block = max(1, min(n_batches, (8 << 20) // max(1, batch_size * X.shape[1] * X.itemsize)))
    x_block = np.empty((min(batches_per_block * batch_size, n), X.shape[1]), X.dtype)
    weights, weight_grads = network.params[: network.n_weights], network.grads[: network.n_weights]
    decay_buffer = np.empty_like(weights) if weight_decay else None
    batch_hooks = [cb.on_batch_end for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
    for cb in callbacks:
        cb.on_train_begin({"epochs": epochs, "batches_per_epoch": n_batches})
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(n) if shuffle else np.arange(n)
        total = 0.0
        for b in range(n_batches):
            offset = (b % batches_per_block) * batch_size
            if offset == 0:
                rows = order[b * batch_size : (b + batches_per_block) * batch_size]
                # mode="clip": the default "raise" would gather into a temporary first.
                xs = np.take(X, rows, axis=0, out=x_block[: len(rows)], mode="clip")
                ys = y[rows]
            xb, yb = xs[offset : offset + batch_size], ys[offset : offset + batch_size]
            loss = network.train_step(xb, yb)
            if not math.isfinite(loss):
                raise TrainingDiverged(epoch, step + 1, optimizer.lr)
            if weight_decay:
                # L2 on the weights (not the biases): one pass over their contiguous block.
                weight_grads += np.multiply(weights, weight_decay, out=decay_buffer)
            optimizer.step(network.params, network.grads)
            total += loss * len(xb)
            step += 1
            for hook in batch_hooks:
                hook(b)
        train_loss = total / n
        if not np.isfinite(network.params).all():
            raise TrainingDiverged(epoch, step, optimizer.lr)
        logs = {"epoch": epoch, "train_loss": train_loss}
        if validation is not None:
            for name, value in metrics.score(network, *validation, task).items():
                logs[f"val_{name}"] = value
        logs["lr"] = optimizer.lr
        logs["epoch_seconds"] = time.perf_counter() - start
        history.append(logs)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if any(cb.stop_training for cb in callbacks):
            break
    for cb in callbacks:
        cb.on_train_end(history)
    return history
