"""Output functions fused with their losses.

Each head turns the last Dense layer's output z into predictions
(``output``), and gives the mean loss over a batch (``forward``) and its
gradient with respect to z (``backward``):
softmax + cross-entropy and sigmoid + binary cross-entropy both reduce to
(p - y) / n, computed from z without overflow.

Targets: class indices of shape (n,) for the classification heads; values of
shape (n, k) for regression.
"""
from __future__ import annotations

import math

import numpy as np

from .activations import sigmoid
from .scratch import Scratch


def _rows(n: int) -> np.ndarray:
    """0, 1, ..., n-1 for picking each row's target class, cached."""
    global _ROWS
    if len(_ROWS) < n:
        _ROWS = np.arange(max(n, 2 * len(_ROWS)))
    return _ROWS[:n]


_ROWS = np.arange(0)


class SoftmaxCrossEntropy:
    """Multi-class: k outputs, softmax probabilities."""

    name, activation = "cross_entropy", "softmax"

    def __init__(self):
        self.scratch = Scratch()
        self._shape = None

    def output(self, z):
        """Class probabilities (n, k)."""
        e = np.exp(z - z.max(axis=1, keepdims=True))
        e /= e.sum(axis=1, keepdims=True)
        return e

    def forward(self, z, y) -> float:
        n = len(y)
        if z.shape != self._shape or z.dtype != self._p.dtype:
            self._bind(z.shape, z.dtype)
        # -log softmax(z)[y] = log(sum(exp(z - max))) - (z[y] - max), without overflow.
        shifted = np.subtract(z, np.maximum.reduce(z, axis=1, keepdims=True, out=self._max), out=self._p)
        # Flat positions of each row's target class (one fancy index, not two).
        self.targets = np.add(self._row_starts, y)
        target = shifted.ravel()[self.targets]
        p = np.exp(shifted, out=shifted)
        total = np.add.reduce(p, axis=1, keepdims=True, out=self._total)
        p /= total
        self.p = p
        per_sample = np.log(total[:, 0])
        per_sample -= target
        return math.fsum(per_sample.tolist()) / max(n, 1)

    def _bind(self, shape, dtype) -> None:
        """Arrays for batches of this shape (the same ones every step)."""
        n, k = shape
        get = self.scratch.get
        self._max, self._total = get("max", (n, 1), dtype), get("total", (n, 1), dtype)
        self._p = get("p", shape, dtype)
        self._row_starts = np.multiply(_rows(n), k, out=get("row_starts", (n,), np.intp))
        self._shape = shape

    def backward(self):
        """(p - onehot(y)) / n, in place of p."""
        grad = self.p
        grad.ravel()[self.targets] -= 1  # p is contiguous (scratch rows): ravel is a view
        grad *= grad.dtype.type(1 / len(grad))
        return grad


class SigmoidBinaryCrossEntropy:
    """Two classes: one output, the probability of the second class."""

    name, activation = "binary_cross_entropy", "sigmoid"

    def output(self, z):
        """Class probabilities (n, 2): [1 - p, p]."""
        p = sigmoid(z[:, 0])
        return np.stack([1 - p, p], axis=1)

    def forward(self, z, y) -> float:
        z = z[:, 0]
        t = y.astype(z.dtype)
        self.t, self.z = t, z
        # log(1 + exp(-|z|)) + max(z, 0) - z * t is -log-likelihood without overflow.
        per_sample = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        return float(per_sample.mean(dtype=np.float64))

    def backward(self):
        grad = sigmoid(self.z) - self.t
        grad /= len(self.t)
        return grad[:, None]


class MeanSquaredError:
    """Regression, one or several targets: identity output, mean over all values."""

    name, activation = "mse", "identity"

    def output(self, z):
        return z

    def forward(self, z, y) -> float:
        self.diff = z - y
        return float(np.mean(self.diff * self.diff, dtype=np.float64))

    def backward(self):
        return self.diff * (2 / self.diff.size)


LOSSES = {
    cls.name: cls for cls in (SoftmaxCrossEntropy, SigmoidBinaryCrossEntropy, MeanSquaredError)
}
