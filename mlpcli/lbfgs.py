"""L-BFGS on the whole training split, through scipy: scikit-learn's
``MLPClassifier(solver='lbfgs')`` for mlpcli's networks.

``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` works on a float64
copy of the flat parameter buffer; the objective loads it into the network,
runs one training-mode forward and backward pass over every training row and
returns the loss and the flat gradient. Each L-BFGS iteration is one "epoch":
it gets its line in metrics.jsonl (``lr`` null: the line search picks the
step), and callbacks, early stopping and ``max_seconds`` act on it as on an
epoch. The objective must be deterministic, so dropout is refused (config/schema.py).
BatchNorm's running statistics are not moved by the objective's evaluations
(line-search trial points among them): each iterate, and the result, gets
the full training split's statistics at its own parameters.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager

import numpy as np

from .engine.normalization import BatchNorm
from .errors import MLPError, TrainingDiverged
from .training import Callback, FitOptions, History, add_penalty, epoch_logs, stop_reason, watched


class LBFGSDiverged(TrainingDiverged):
    """The full-batch loss became non-finite (exit 3, like any divergence)."""

    def __init__(self, iteration: int, evaluation: int):
        self.epoch, self.step = iteration, evaluation
        MLPError.__init__(
            self,
            f"training diverged in L-BFGS iteration {iteration} (function evaluation {evaluation}): "
            "the loss is no longer finite; try data.scale: standard or train.l2 > 0",
        )


@contextmanager
def batch_norm_momentum(network, momentum: float):
    """Every BatchNorm layer of ``network`` with this momentum for the block:
    0 keeps the running statistics as they are, 1 replaces them by the batch's."""
    norms = [norm for norm in network.norms if isinstance(norm, BatchNorm)]
    saved = [norm.momentum for norm in norms]
    for norm in norms:
        norm.momentum = momentum
    try:
        yield
    finally:
        for norm, m in zip(norms, saved):
            norm.momentum = m


def set_batch_statistics(network, X: np.ndarray) -> None:
    """BatchNorm's running statistics := the mean and unbiased variance of its
    input over the whole of X at the current parameters (one training-mode pass,
    dropout being refused with lbfgs), so evaluation normalises as training did."""
    if not network.has_batch_norm:
        return
    network.buffer[...] = 0  # replaced, not averaged: (1 - 1) * old would keep a NaN
    with batch_norm_momentum(network, 1.0):
        network.forward(X, training=True)


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def fit_lbfgs(
    network,
    X: np.ndarray,
    y: np.ndarray,
    options: FitOptions,
    *,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: list[Callback] = (),
) -> History:
    """Minimise the mean training loss plus l1 * sum|w| + (l2 + weight_decay / 2) * sum w^2
    over the weights w; at most ``options.epochs`` iterations and ``max_fun`` evaluations.
    ``weight_decay`` enters as the penalty whose gradient is weight_decay * w
    (what it adds to the gradient for SGD), so the line search sees a consistent objective;
    ``train_loss`` includes the whole penalty. Returns the History; ``stopped``
    is "converged" (gtol or scipy's ftol), "epochs", "max_fun",
    "line_search_failed", "early_stopping" or "max_seconds".
    """
    from scipy.optimize import minimize

    epochs, l1 = options.epochs, options.l1
    started = time.perf_counter()
    history = History()
    params, grads = network.params, network.grads
    weights, weight_grads = params[: network.n_weights], grads[: network.n_weights]
    buffer = np.empty_like(weights)
    l2_total = options.l2 + options.weight_decay / 2
    evaluations = 0
    epoch_start = started
    batch_hooks = [cb.on_batch_end for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]

    def objective(x):
        nonlocal evaluations
        evaluations += 1
        params[...] = x
        loss = network.train_step(X, y)
        if not math.isfinite(loss):
            raise LBFGSDiverged(len(history) + 1, evaluations)
        if l1 or l2_total:
            loss += add_penalty(weights, weight_grads, buffer, l1, l2_total)
        return loss, grads.astype(np.float64)

    def callback(intermediate_result):  # scipy passes the iterate by this parameter name
        nonlocal epoch_start
        epoch = len(history) + 1
        params[...] = intermediate_result.x
        set_batch_statistics(network, X)  # validation (eval mode) and early stopping's snapshot see this iterate's
        logs = epoch_logs(network, epoch, float(intermediate_result.fun), validation, options.task, None, epoch_start)
        history.append(logs)
        for hook in batch_hooks:
            hook(0)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        epoch_start = time.perf_counter()
        reason = stop_reason(callbacks, started, options.max_seconds)
        if reason:
            history.stopped = reason
            raise StopIteration

    for cb in callbacks:
        cb.on_train_begin({"epochs": epochs, "batches_per_epoch": 1, "monitor": watched(callbacks)})
    # Function evaluations (line-search trial points among them) leave BatchNorm's
    # running statistics alone (momentum 0); each iterate, and the result, gets
    # the full batch's statistics at its own parameters instead.
    with batch_norm_momentum(network, 0.0):
        result = minimize(
            objective,
            params.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            callback=callback,
            options={"maxiter": epochs, "maxfun": options.max_fun, "maxcor": options.history_size, "gtol": options.gtol},
        )
    params[...] = result.x
    if not np.isfinite(params).all():
        raise LBFGSDiverged(len(history), evaluations)
    set_batch_statistics(network, X)
    if history.stopped == "epochs":  # scipy ended it, not a callback
        if result.status == 0:
            history.stopped = "converged"
        elif result.status == 1 and result.nit < epochs:
            history.stopped = "max_fun"
        elif result.status not in (0, 1):
            history.stopped = "line_search_failed"
    for cb in callbacks:
        cb.on_train_end(history)
    return history
