"""Optimizers over one flat parameter buffer.

``step(params, grads)`` updates ``params`` in place from ``grads`` (both 1-D
arrays of the same dtype); state is created on the first step and updated in
place, so a step is a few vectorised passes with no per-layer Python loop.
"""
from __future__ import annotations

import abc
import math

import numpy as np

from .registry import lookup


class Optimizer(abc.ABC):
    def __init__(self, lr: float):
        if not 0 < lr < math.inf:
            raise ValueError(f"learning rate must be a finite number > 0, got {lr}")
        self.lr = float(lr)
        self.t = 0

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        self.t += 1
        self._step(params, grads)

    @abc.abstractmethod
    def _step(self, params, grads):
        """Update params in place; self.t is the 1-based step number."""

    def state_dict(self) -> dict:
        """Arrays and counters needed to continue exactly where this left off."""
        return {"t": self.t}


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

    def _step(self, params, grads):
        if self.momentum == 0:
            params -= self.lr * grads
            return
        if self.velocity is None:
            self.velocity = np.zeros_like(params)
        v = self.velocity
        v *= self.momentum
        v += grads
        update = grads + self.momentum * v if self.nesterov else v
        params -= self.lr * update

    def state_dict(self):
        return {"t": self.t, "velocity": self.velocity}


class Adam(Optimizer):
    """Adam (Kingma & Ba), bias-corrected, with PyTorch's placement of eps."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        for key, value in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= value < 1:
                raise ValueError(f"{key} must be in [0, 1), got {value}")
        if not 0 <= eps < math.inf:
            raise ValueError(f"eps must be a finite number >= 0, got {eps}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m = self.v = self.buf = None

    def _step(self, params, grads):
        if self.m is None:
            self.m, self.v, self.buf = (np.zeros_like(params) for _ in range(3))
        m, v, buf = self.m, self.v, self.buf
        b1, b2 = self.beta1, self.beta2
        m *= b1
        m += (1 - b1) * grads
        v *= b2
        np.multiply(grads, grads, out=buf)
        buf *= 1 - b2
        v += buf
        bias1 = 1 - b1**self.t
        bias2 = 1 - b2**self.t
        # p -= lr / bias1 * m / (sqrt(v / bias2) + eps), with one scratch buffer.
        np.sqrt(v, out=buf)
        buf *= 1 / math.sqrt(bias2)
        buf += self.eps
        np.divide(m, buf, out=buf)
        buf *= self.lr / bias1
        params -= buf

    def state_dict(self):
        return {"t": self.t, "m": self.m, "v": self.v}


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def get_optimizer(name: str, **options) -> Optimizer:
    """Build an optimizer by name; an unknown name lists the valid ones."""
    return lookup("optimizer", OPTIMIZERS, name)(**options)
