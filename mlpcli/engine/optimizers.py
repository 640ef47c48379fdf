"""Optimizers over one flat parameter buffer.

``step(params, grads)`` updates ``params`` in place from ``grads`` (both 1-D
arrays of the same dtype); state is created on the first step and updated in
place, so a step is a few vectorised passes with no per-layer Python loop.
Every pass writes into the state or into one work buffer (``buf``) instead of
a fresh temporary the size of the model: for Adam, against plain NumPy
expressions, that saves 60% of a training step on profile_epoch.py's large
workload, where each temporary costs a trip through main memory (2% on the
small one; A/B, one BLAS thread, 2026-12).

Each optimizer's passes (``_update``) work on any slice [lo, hi) of the
buffers: with ``threads = 2`` (training.fit sets it, see
``mlpcli.threads.update_threads``) a step runs them on two halves at once
(engine.halves), with the same result.
"""
from __future__ import annotations

import abc
import math

import numpy as np

from .halves import run_halves
from .registry import lookup


class Optimizer(abc.ABC):
    threads = 1  # 2: a step's passes run on two halves of the buffer at once

    def __init__(self, lr: float):
        if not 0 < lr < math.inf:
            raise ValueError(f"learning rate must be a finite number > 0, got {lr}")
        self.lr = float(lr)
        self.t = 0
        self.buf = None

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        self.t += 1
        if self.buf is None:  # the first step: the state starts here (see each _create)
            self.buf = np.empty_like(params)
            self._create(params)
        if self.threads > 1:
            run_halves(lambda lo, hi: self._update(params, grads, lo, hi), len(params))
        else:
            self._update(params, grads, 0, len(params))

    def _create(self, params) -> None:
        """Allocate the state arrays for ``params`` (none by default)."""

    @abc.abstractmethod
    def _update(self, params, grads, lo: int, hi: int) -> None:
        """Update params[lo:hi] in place from grads[lo:hi] (and the state's same
        slice); self.t is the 1-based step number."""

    def state_names(self) -> tuple[str, ...]:
        """The state arrays this optimizer keeps once it has stepped (each the size of the parameters)."""
        return ()

    def state_dict(self) -> dict:
        """What it takes to continue exactly where this left off: the step count
        ``t``, the current ``lr`` (a schedule moves it) and the state arrays
        (None before the first step). The arrays are the optimizer's own, not copies."""
        return {"t": self.t, "lr": self.lr, **{name: getattr(self, name) for name in self.state_names()}}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()``'s output (copies its arrays). Before the
        first step (t = 0) the arrays must be None; after it, all present."""
        t = int(state["t"])
        arrays = {name: state.get(name) for name in self.state_names()}
        present = [name for name, a in arrays.items() if a is not None]
        if t < 0 or (t > 0 or present) and len(present) != len(arrays):
            raise ValueError(f"optimizer state: step {t} needs arrays {sorted(arrays) if t else []}, got {sorted(present)}")
        self.t, self.lr = t, float(state["lr"])
        for name, a in arrays.items():
            setattr(self, name, None if a is None else np.array(a, copy=True))
        # buf is scratch; allocating it marks the state as created (see step).
        self.buf = np.empty_like(arrays[present[0]]) if present else None


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, PyTorch's form:
    v = momentum * v + g;  p -= lr * (g + momentum * v if nesterov else v)."""

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False):
        super().__init__(lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.velocity = None

    def _create(self, params):
        self.velocity = np.zeros_like(params) if self.momentum else None

    def _update(self, params, grads, lo, hi):
        params, grads, buf = params[lo:hi], grads[lo:hi], self.buf[lo:hi]
        update = grads
        if self.velocity is not None:
            v = self.velocity[lo:hi]
            v *= self.momentum
            v += grads
            update = v
            if self.nesterov:
                update = np.multiply(v, self.momentum, out=buf)
                update += grads
        params -= np.multiply(update, self.lr, out=buf)

    def state_names(self):
        return ("velocity",) if self.momentum else ()


class Adam(Optimizer):
    """Adam (Kingma & Ba), bias-corrected, with PyTorch's placement of eps:
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        for key, value in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= value < 1:
                raise ValueError(f"{key} must be in [0, 1), got {value}")
        if not 0 <= eps < math.inf:
            raise ValueError(f"eps must be a finite number >= 0, got {eps}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m = self.v = None

    def _create(self, params):
        self.m, self.v = np.zeros_like(params), np.zeros_like(params)

    def _update(self, params, grads, lo, hi):
        params, grads, m, v, buf = params[lo:hi], grads[lo:hi], self.m[lo:hi], self.v[lo:hi], self.buf[lo:hi]
        b1, b2 = self.beta1, self.beta2
        m *= b1
        m += np.multiply(grads, 1 - b1, out=buf)
        v *= b2
        squared = np.square(grads, out=buf)
        squared *= 1 - b2
        v += squared
        denominator = np.sqrt(v, out=buf)
        denominator /= math.sqrt(1 - b2**self.t)
        denominator += self.eps
        update = np.divide(m, denominator, out=buf)
        update *= self.lr / (1 - b1**self.t)
        params -= update

    def state_names(self):
        return ("m", "v")


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's AdamW:
    p *= 1 - lr * weight_decay, then the Adam step. The decay is not part of
    the gradient, so Adam's scaling never weakens it. ``decay_size`` is how
    many leading entries of the buffer decay (the model's weights, not its
    biases); None decays all of them, as PyTorch does for the params it is given.
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, decay_size=None):
        super().__init__(lr, beta1, beta2, eps)
        if not 0 <= weight_decay < math.inf:
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
        if decay_size is not None and decay_size < 0:
            raise ValueError(f"decay_size must be None or >= 0, got {decay_size}")
        self.weight_decay, self.decay_size = float(weight_decay), decay_size

    def _update(self, params, grads, lo, hi):
        decay_end = hi if self.decay_size is None else min(self.decay_size, hi)
        if self.weight_decay and decay_end > lo:
            params[lo:decay_end] *= 1 - self.lr * self.weight_decay
        super()._update(params, grads, lo, hi)


class RMSprop(Optimizer):
    """RMSprop, PyTorch's form (eps outside the square root):
    s = alpha s + (1 - alpha) g^2;  centered: a = alpha a + (1 - alpha) g, d = sqrt(max(s - a^2, 0)) + eps,
    else d = sqrt(s) + eps;  momentum: b = momentum b + g / d, p -= lr b;  else p -= lr g / d.

    Under a near-constant gradient the variance s - a^2 shrinks to the rounding
    error of s, and can come out negative (in float32, after ~1,200 steps at
    alpha 0.99): it is clamped at 0, where PyTorch's sqrt gives NaN."""

    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):
        super().__init__(lr)
        for key, value in (("alpha", alpha), ("momentum", momentum)):
            if not 0 <= value < 1:
                raise ValueError(f"{key} must be in [0, 1), got {value}")
        if not 0 <= eps < math.inf:
            raise ValueError(f"eps must be a finite number >= 0, got {eps}")
        self.alpha, self.eps, self.momentum, self.centered = float(alpha), float(eps), float(momentum), bool(centered)
        self.square_avg = self.grad_avg = self.momentum_buffer = None

    def _create(self, params):
        self.square_avg = np.zeros_like(params)
        self.grad_avg = np.zeros_like(params) if self.centered else None
        self.momentum_buffer = np.zeros_like(params) if self.momentum else None

    def _update(self, params, grads, lo, hi):
        params, grads, buf = params[lo:hi], grads[lo:hi], self.buf[lo:hi]
        s, a = self.square_avg[lo:hi], self.alpha
        s *= a
        squared = np.square(grads, out=buf)
        squared *= 1 - a
        s += squared
        if self.centered:
            g_avg = self.grad_avg[lo:hi]
            g_avg *= a
            g_avg += np.multiply(grads, 1 - a, out=buf)
            denominator = np.square(g_avg, out=buf)
            np.subtract(s, denominator, out=denominator)
            np.maximum(denominator, 0, out=denominator)
            np.sqrt(denominator, out=denominator)
        else:
            denominator = np.sqrt(s, out=buf)
        denominator += self.eps
        update = np.divide(grads, denominator, out=buf)
        if self.momentum_buffer is not None:
            b = self.momentum_buffer[lo:hi]
            b *= self.momentum
            b += update
            update = np.multiply(b, self.lr, out=buf)
        else:
            update *= self.lr
        params -= update

    def state_names(self):
        return ("square_avg",) + ("grad_avg",) * self.centered + ("momentum_buffer",) * bool(self.momentum)


class Adagrad(Optimizer):
    """Adagrad, PyTorch's form: s += g^2;  p -= lr g / (sqrt(s) + eps), with s
    starting at ``initial_accumulator_value``."""

    def __init__(self, lr=0.01, eps=1e-10, initial_accumulator_value=0.0):
        super().__init__(lr)
        if not 0 <= eps < math.inf:
            raise ValueError(f"eps must be a finite number >= 0, got {eps}")
        if not 0 <= initial_accumulator_value < math.inf:
            raise ValueError(f"initial_accumulator_value must be a finite number >= 0, got {initial_accumulator_value}")
        self.eps, self.initial_accumulator_value = float(eps), float(initial_accumulator_value)
        self.sum = None

    def _create(self, params):
        self.sum = np.full_like(params, self.initial_accumulator_value)

    def _update(self, params, grads, lo, hi):
        params, grads, buf, s = params[lo:hi], grads[lo:hi], self.buf[lo:hi], self.sum[lo:hi]
        s += np.square(grads, out=buf)
        denominator = np.sqrt(s, out=buf)
        denominator += self.eps
        update = np.divide(grads, denominator, out=buf)
        update *= self.lr
        params -= update

    def state_names(self):
        return ("sum",)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get_optimizer(name: str, **options) -> Optimizer:
    """Build an optimizer by name; an unknown name lists the valid ones."""
    return lookup("optimizer", OPTIMIZERS, name)(**options)
