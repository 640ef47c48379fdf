"""The fit loop: epochs of shuffled mini-batches, validation, early stopping.

``fit`` prints nothing and writes nothing: progress bars, metric logs and
files hang off callbacks, which the runner supplies.

One step, in PyTorch's order: the batch's loss gradient; plus the l1 / l2
penalty's (Keras's kernel_regularizer, on the weights only); clipped by
global norm or by value; plus coupled weight decay (PyTorch's SGD / Adam
``weight_decay``); the optimizer's update; then the max_norm constraint
(Keras's MaxNorm). Every option that is off costs one skipped ``if``.
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

    def improved(self, value) -> bool:
        if value is None or not math.isfinite(value):  # an undefined metric (r2 of one sample)
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs):
        value = logs.get(self.monitor)
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_params = self.network.params.copy()
                # BatchNorm's running statistics belong to those parameters.
                self.best_buffer = getattr(self.network, "buffer", np.empty(0)).copy()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stop_training = True

    def on_train_end(self, history):
        if self.restore_best and self.best_params is not None:
            self.network.params[...] = self.best_params
            if self.best_buffer.size:
                self.network.buffer[...] = self.best_buffer


class History(list):
    """One dict of logs per epoch, and why training stopped: ``stopped`` is
    "epochs" (all were run), "early_stopping", "max_seconds", "callback"
    (another callback asked), or for L-BFGS "converged" / "max_fun" /
    "line_search_failed" (scipy's own ends)."""

    stopped: str = "epochs"


def stop_reason(callbacks, started: float, max_seconds: float | None) -> str | None:
    """Why to stop after this epoch, or None to go on."""
    for cb in callbacks:
        if cb.stop_training:
            return "early_stopping" if isinstance(cb, EarlyStopping) else "callback"
    if max_seconds is not None and time.perf_counter() - started >= max_seconds:
        return "max_seconds"
    return None


def add_penalty(weights, weight_grads, buffer, l1: float, l2: float) -> float:
    """Add the gradient of l1 * sum|w| + l2 * sum w^2 to the weights' gradient
    (in place, using ``buffer`` of the weights' shape); returns the penalty."""
    penalty = 0.0
    if l1:
        sign = np.sign(weights, out=buffer)
        penalty += l1 * float(np.dot(sign, weights))  # sum |w|, in one pass without a temporary
        sign *= l1
        weight_grads += sign
    if l2:
        penalty += l2 * float(np.dot(weights, weights))
        weight_grads += np.multiply(weights, 2 * l2, out=buffer)
    return penalty


def clip_gradients(grads, clip_norm: float | None, clip_value: float | None) -> None:
    """In place: scale ``grads`` to global L2 norm <= clip_norm (torch's
    clip_grad_norm_, with its 1e-6) or clamp each to [-clip_value, clip_value]."""
    if clip_norm is not None:
        norm = math.sqrt(float(np.dot(grads, grads)))
        if norm > clip_norm:
            grads *= clip_norm / (norm + 1e-6)
    elif clip_value is not None:
        np.clip(grads, -clip_value, clip_value, out=grads)


def apply_max_norm(network, max_norm: float) -> None:
    """Keras's MaxNorm on every dense layer: each unit's incoming weights (a
    column of W, shape (in, out)) rescaled to L2 norm <= max_norm. Columns
    inside the ball are left exactly as they are (Keras shrinks them by a
    factor norm / (norm + 1e-7))."""
    for dense in network.dense:
        W = dense.W
        norms = np.sqrt(np.einsum("ij,ij->j", W, W))
        if norms.max(initial=0.0) > max_norm:
            W *= np.minimum(1.0, max_norm / np.maximum(norms, 1e-30)).astype(W.dtype)


def epoch_logs(network, epoch: int, train_loss: float, validation, task: str, lr, start: float) -> dict:
    logs = {"epoch": epoch, "train_loss": train_loss}
    if validation is not None:
        for name, value in metrics.score(network, *validation, task).items():
            logs[f"val_{name}"] = value
    logs["lr"] = lr
    logs["epoch_seconds"] = time.perf_counter() - start
    return logs


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
    schedule=None,
    l1: float = 0.0,
    l2: float = 0.0,
    clip_norm: float | None = None,
    clip_value: float | None = None,
    max_norm: float | None = None,
    max_seconds: float | None = None,
) -> History:
    """Train ``network`` in place; returns one dict of logs per epoch (a History).

    X (n, d) already scaled, in the network's dtype; y class indices (n,) or
    values (n, k). ``rng`` shuffles the samples each epoch. ``schedule``
    (engine.schedules) sets ``optimizer.lr`` at the start of each epoch.
    ``weight_decay`` is coupled L2 (wd * w added to the weights' gradient
    after clipping); AdamW's decoupled decay lives in the optimizer instead.
    ``train_loss`` includes the l1 / l2 penalty, as Keras's loss does.
    """
    started = time.perf_counter()
    n = len(X)
    n_batches = math.ceil(n / batch_size)
    # BatchNorm cannot normalise one row (PyTorch raises): a last batch of one
    # row joins the batch before it, so every row still trains every epoch.
    fold = int(n > batch_size and n % batch_size == 1 and getattr(network, "has_batch_norm", False))
    n_batches -= fold
    history = History()
    step = 0
    # Rows of several batches are gathered at once into one reused block (about
    # 8 MB), so a batch is a slice of it: no per-batch gather or allocation, and
    # never a shuffled copy of the whole data set.
    batches_per_block = max(1, min(n_batches, (8 << 20) // max(1, batch_size * X.shape[1] * X.itemsize)))
    x_block = np.empty((min(batches_per_block * batch_size + fold, n), X.shape[1]), X.dtype)
    weights, weight_grads = network.params[: network.n_weights], network.grads[: network.n_weights]
    decay_buffer = np.empty_like(weights) if weight_decay or l1 or l2 else None
    penalised, clipped = bool(l1 or l2), clip_norm is not None or clip_value is not None
    batch_hooks = [cb.on_batch_end for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
    for cb in callbacks:
        cb.on_train_begin({"epochs": epochs, "batches_per_epoch": n_batches})
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        if schedule is not None:
            optimizer.lr = schedule.lr(epoch)
        order = rng.permutation(n) if shuffle else np.arange(n)
        total = 0.0
        for b in range(n_batches):
            offset = (b % batches_per_block) * batch_size
            if offset == 0:
                rows = order[b * batch_size : (b + batches_per_block) * batch_size + fold]
                # mode="clip": the default "raise" would gather into a temporary first.
                xs = np.take(X, rows, axis=0, out=x_block[: len(rows)], mode="clip")
                ys = y[rows]
            end = offset + batch_size + (fold if b == n_batches - 1 else 0)
            xb, yb = xs[offset:end], ys[offset:end]
            loss = network.train_step(xb, yb)
            if not math.isfinite(loss):
                raise TrainingDiverged(epoch, step + 1, optimizer.lr)
            if penalised:
                loss += add_penalty(weights, weight_grads, decay_buffer, l1, l2)
            if clipped:
                clip_gradients(network.grads, clip_norm, clip_value)
            if weight_decay:
                # L2 on the weights (not the biases): one pass over their contiguous block.
                weight_grads += np.multiply(weights, weight_decay, out=decay_buffer)
            optimizer.step(network.params, network.grads)
            if max_norm is not None:
                apply_max_norm(network, max_norm)
            total += loss * len(xb)
            step += 1
            for hook in batch_hooks:
                hook(b)
        train_loss = total / n
        if not np.isfinite(network.params).all():
            raise TrainingDiverged(epoch, step, optimizer.lr)
        logs = epoch_logs(network, epoch, train_loss, validation, task, optimizer.lr, start)
        history.append(logs)
        if schedule is not None:
            schedule.epoch_end(logs)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        reason = stop_reason(callbacks, started, max_seconds)
        if reason:
            history.stopped = reason
            break
    for cb in callbacks:
        cb.on_train_end(history)
    return history
