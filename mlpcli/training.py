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
from dataclasses import dataclass, field

import numpy as np

from . import metrics
from .errors import TrainingDiverged
from .threads import update_threads


class Callback:
    """Hooks into fit; set ``stop_training`` to end after the current epoch
    (a subclass may name why in ``stop_reason``, History.stopped's value).
    ``run_status`` is what it adds to a finished run's status in metrics.json
    and the weights file (a tune trial's pruning), written once with them."""

    stop_training = False

    def run_status(self) -> dict:
        return {}

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

    def state_dict(self) -> dict:
        """Counters and the best epoch's parameters (None until one improved), for a checkpoint."""
        return {
            "best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "stop_training": self.stop_training,
            "best_params": self.best_params, "best_buffer": None if self.best_params is None else self.best_buffer,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best, self.wait = float(state["best"]), int(state["wait"])
        self.best_epoch = None if state["best_epoch"] is None else int(state["best_epoch"])
        self.stop_training = bool(state["stop_training"])
        self.best_params = None if state["best_params"] is None else np.array(state["best_params"])
        if self.best_params is not None:
            self.best_buffer = np.array(state["best_buffer"])

    def on_train_end(self, history):
        if self.restore_best and self.best_params is not None:
            self.network.params[...] = self.best_params
            if self.best_buffer.size:
                self.network.buffer[...] = self.best_buffer


@dataclass(frozen=True)
class FitOptions:
    """What a resolved config asks of the fit loop (and of L-BFGS), built once
    by ``from_config``; the network, data, Generators and callbacks are fit's
    arguments. ``weight_decay`` is coupled L2 (wd * w added to the weights'
    gradient after clipping; for L-BFGS a term of the objective); AdamW's
    decoupled decay lives in the optimizer instead, so it is 0 here.
    ``train_loss`` includes the l1 / l2 penalty, as Keras's loss does."""

    epochs: int
    task: str
    batch_size: int = 32
    shuffle: bool = True
    weight_decay: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    clip_norm: float | None = None
    clip_value: float | None = None
    max_norm: float | None = None
    max_seconds: float | None = None
    history_size: int = 10  # L-BFGS: scipy's maxcor, gtol and maxfun
    gtol: float = 1e-5
    max_fun: int = 15000

    @classmethod
    def from_config(cls, config: dict) -> FitOptions:
        """From a resolved config whose model.task is known (not 'auto')."""
        train = config["train"]
        optimizer = train["optimizer"]
        lbfgs = {k: optimizer[k] for k in ("history_size", "gtol", "max_fun") if k in optimizer}
        return cls(
            epochs=train["epochs"],
            task=config["model"]["task"],
            batch_size=train["batch_size"],
            shuffle=train["shuffle"],
            weight_decay=0.0 if optimizer["name"] == "adamw" else train["weight_decay"],
            l1=train["l1"],
            l2=train["l2"],
            clip_norm=train["clip_norm"],
            clip_value=train["clip_value"],
            max_norm=train["max_norm"],
            max_seconds=train["max_seconds"],
            **lbfgs,
        )


class History(list):
    """One dict of logs per epoch, and why training stopped: ``stopped`` is
    "epochs" (all were run), "early_stopping", "max_seconds", "callback"
    (another callback asked), or for L-BFGS "converged" / "max_fun" /
    "line_search_failed" (scipy's own ends)."""

    stopped: str = "epochs"


@dataclass
class Position:
    """Where training stands, for a checkpoint: ``batch`` batches of epoch
    ``epoch`` (1-based) are done (0 at an epoch's start), ``step`` steps in all;
    ``total`` is that epoch's loss sum so far; ``history`` the finished epochs'
    logs; ``elapsed`` the seconds trained; ``stopped`` why training ended, or
    None while it goes on. The shuffle Generator's state at the epoch's start
    (from which its order is drawn again) is the checkpoint's to keep."""

    epoch: int = 1
    batch: int = 0
    step: int = 0
    total: float = 0.0
    elapsed: float = 0.0
    history: list = field(default_factory=list)
    stopped: str | None = None


class Interrupted(Exception):
    """fit stopped at a step boundary because ``interrupt.signum`` was set; the
    checkpoint (if any) holds that position."""

    def __init__(self, signum: int, epoch: int, step: int, epochs_run: int):
        self.signum, self.epoch, self.step, self.epochs_run = signum, epoch, step, epochs_run
        super().__init__(f"interrupted at epoch {epoch}, step {step}")


class _NoInterrupt:
    signum = 0
    armed = False


def watched(callbacks) -> str | None:
    """The value early stopping watches (fit_state's "monitor": a progress bar shows it first), or None."""
    return next((cb.monitor for cb in callbacks if isinstance(cb, EarlyStopping)), None)


def stop_reason(callbacks, started: float, max_seconds: float | None) -> str | None:
    """Why to stop after this epoch, or None to go on."""
    for cb in callbacks:
        if cb.stop_training:
            return "early_stopping" if isinstance(cb, EarlyStopping) else getattr(cb, "stop_reason", "callback")
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
    options: FitOptions,
    *,
    rng: np.random.Generator,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: list[Callback] = (),
    schedule=None,
    checkpoint=None,
    start: Position | None = None,
    interrupt=None,
) -> History:
    """Train ``network`` in place as ``options`` say; returns one dict of logs
    per epoch (a History).

    X (n, d) already scaled, in the network's dtype; y class indices (n,) or
    values (n, k). ``rng`` shuffles the samples each epoch. ``schedule``
    (engine.schedules) sets ``optimizer.lr`` at the start of each epoch.

    ``checkpoint.save(position)`` (mlpcli.checkpoint) runs, once the parameters
    are known to be finite, after a step when ``checkpoint.due()`` says its time
    budget is out, at the end of an epoch when ``checkpoint.due(epoch)`` says so,
    at the end of the last epoch and at an interruption.
    ``start`` continues from a checkpoint's position (the network, optimizer,
    schedule, callbacks and ``rng`` already restored to it; ``rng`` as at the
    start of that epoch, so its order is drawn again). ``interrupt.signum``
    (set by a signal handler while ``interrupt.armed``) is checked after every
    step: fit checkpoints that step's position and raises Interrupted.
    """
    # As locals: the step loop tests them on every step.
    epochs, batch_size = options.epochs, options.batch_size
    weight_decay, l1, l2, max_norm = options.weight_decay, options.l1, options.l2, options.max_norm
    clip_norm, clip_value = options.clip_norm, options.clip_value
    start = start or Position()
    interrupt = interrupt or _NoInterrupt()
    started = time.perf_counter() - start.elapsed
    n = len(X)
    n_batches = math.ceil(n / batch_size)
    # BatchNorm cannot normalise one row (PyTorch raises): a last batch of one
    # row joins the batch before it, so every row still trains every epoch.
    fold = int(n > batch_size and n % batch_size == 1 and getattr(network, "has_batch_norm", False))
    n_batches -= fold
    history = History(start.history)
    step = start.step
    # Rows of several batches are gathered at once into one reused block (about
    # 8 MB), so a batch is a slice of it: no per-batch gather or allocation, and
    # never a shuffled copy of the whole data set.
    batches_per_block = max(1, min(n_batches, (8 << 20) // max(1, batch_size * X.shape[1] * X.itemsize)))
    x_block = np.empty((min(batches_per_block * batch_size + fold, n), X.shape[1]), X.dtype)
    weights, weight_grads = network.params[: network.n_weights], network.grads[: network.n_weights]
    decay_buffer = np.empty_like(weights) if weight_decay or l1 or l2 else None
    penalised, clipped = bool(l1 or l2), clip_norm is not None or clip_value is not None
    batch_hooks = [cb.on_batch_end for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
    optimizer.threads = update_threads(network.params.size)
    for cb in callbacks:
        cb.on_train_begin({"epochs": epochs, "batches_per_epoch": n_batches, "monitor": watched(callbacks)})
    history.stopped = start.stopped or "epochs"
    first_epoch = epochs + 1 if start.stopped else start.epoch
    interrupt.armed = True
    try:
        for epoch in range(first_epoch, epochs + 1):
            epoch_start = time.perf_counter()
            if schedule is not None:
                optimizer.lr = schedule.lr(epoch)
            if checkpoint is not None:
                checkpoint.epoch_started(rng)
            order = rng.permutation(n) if options.shuffle else np.arange(n)
            first_batch, total = (start.batch, start.total) if epoch == start.epoch else (0, 0.0)
            for b in range(first_batch, n_batches):
                offset = (b % batches_per_block) * batch_size
                if offset == 0 or b == first_batch:
                    block = b - b % batches_per_block
                    rows = order[block * batch_size : (block + batches_per_block) * batch_size + fold]
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
                if interrupt.signum or (checkpoint is not None and b + 1 < n_batches and checkpoint.due()):
                    if not np.isfinite(network.params).all():
                        raise TrainingDiverged(epoch, step, optimizer.lr)
                    if checkpoint is not None:
                        checkpoint.save(Position(epoch, b + 1, step, total, time.perf_counter() - started, list(history)))
                    if interrupt.signum:
                        raise Interrupted(interrupt.signum, epoch, step, len(history))
            train_loss = total / n
            if not np.isfinite(network.params).all():
                raise TrainingDiverged(epoch, step, optimizer.lr)
            logs = epoch_logs(network, epoch, train_loss, validation, options.task, optimizer.lr, epoch_start)
            history.append(logs)
            if schedule is not None:
                schedule.epoch_end(logs)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            reason = stop_reason(callbacks, started, options.max_seconds)
            if reason:
                history.stopped = reason
            if checkpoint is not None:
                checkpoint.epoch_started(rng)  # the next epoch's order comes from here
                if reason or epoch == epochs or interrupt.signum or checkpoint.due(epoch):
                    checkpoint.save(Position(epoch + 1, 0, step, 0.0, time.perf_counter() - started, list(history), reason))
            if interrupt.signum:  # during the epoch's last step or its validation: the checkpoint above holds it
                raise Interrupted(interrupt.signum, epoch, step, len(history))
            if reason:
                break
    finally:
        interrupt.armed = False
    for cb in callbacks:
        cb.on_train_end(history)
    return history

