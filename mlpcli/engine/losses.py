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

import numpy as np

from .activations import sigmoid


def _log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class SoftmaxCrossEntropy:
    """Multi-class: k outputs, softmax probabilities."""

    name, activation = "cross_entropy", "softmax"

    def output(self, z):
        """Class probabilities (n, k)."""
        e = np.exp(z - z.max(axis=1, keepdims=True))
        e /= e.sum(axis=1, keepdims=True)
        return e

    def forward(self, z, y) -> float:
        logp = _log_softmax(z)
        self.y, self.p = y, np.exp(logp)
        return float(-logp[np.arange(len(y)), y].mean(dtype=np.float64))

    def backward(self):
        grad = self.p
        grad[np.arange(len(self.y)), self.y] -= 1
        grad /= len(self.y)
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
