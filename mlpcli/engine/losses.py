"""Output functions fused with their losses.

Each head turns the last Dense layer's output z into predictions
(``output``), and gives the mean loss over a batch (``forward``) and its
gradient with respect to z (``backward``):
softmax + cross-entropy and sigmoid + binary cross-entropy both reduce to
(p - y) / n, computed from z without overflow.

Targets: class indices of shape (n,) for softmax cross-entropy and for a
single sigmoid output (binary classification); 0/1 values of shape (n, k) for
k sigmoid outputs (multi-label); values of shape (n, k) for regression.

Options (off by default, and then not looked at per step):

- ``class_weight`` (k,) for the classification heads: sample i counts
  w[y_i] times, and the batch loss is divided by the sum of the weights
  rather than by n (PyTorch's CrossEntropyLoss with ``weight``), so it stays
  a weighted mean on the unweighted loss's scale.
- ``label_smoothing`` e in [0, 1): softmax targets become (1 - e) onehot + e / k
  (PyTorch's CrossEntropyLoss, including how it combines with weights);
  sigmoid targets become y (1 - e) + e / 2 (Keras's binary_crossentropy).
- ``delta`` for huber (PyTorch's HuberLoss: quadratic within delta of the
  target, linear beyond).
"""
from __future__ import annotations

import math

import numpy as np

from .activations import sigmoid


def _class_weight(class_weight) -> np.ndarray | None:
    if class_weight is None:
        return None
    w = np.asarray(class_weight, np.float64)
    if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError(f"class_weight must be a 1-D array of finite weights >= 0, not all 0; got {class_weight}")
    return w


class _ClassHead:
    class_weight: np.ndarray | None = None

    def weight_sum(self, y) -> float:
        """The batch loss's denominator: n, or the sum of the samples' class weights."""
        return len(y) if self.class_weight is None else float(self.class_weight[y].sum())


def _smoothing(label_smoothing) -> float:
    e = float(label_smoothing)
    if not 0 <= e < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return e


class SoftmaxCrossEntropy(_ClassHead):
    """Multi-class: k outputs, softmax probabilities."""

    name, activation = "cross_entropy", "softmax"

    def __init__(self, class_weight=None, label_smoothing=0.0):
        self.class_weight = _class_weight(class_weight)
        self.label_smoothing = _smoothing(label_smoothing)
        self.plain = self.class_weight is None and self.label_smoothing == 0

    def output(self, z):
        """Class probabilities (n, k)."""
        e = np.exp(z - z.max(axis=1, keepdims=True))
        e /= e.sum(axis=1, keepdims=True)
        return e

    def forward(self, z, y) -> float:
        n = len(y)
        self.rows, self.y = np.arange(n), y
        # -log softmax(z)[y] = log(sum(exp(z - max))) - (z[y] - max), without overflow.
        shifted = z - z.max(axis=1, keepdims=True)
        if not self.plain:
            return self._forward_weighted(shifted, y)
        p = np.exp(shifted)
        total = p.sum(axis=1)
        p /= total[:, None]
        self.p = p
        per_sample = np.log(total) - shifted[self.rows, y]
        return math.fsum(per_sample.tolist()) / max(n, 1)

    def _forward_weighted(self, shifted, y) -> float:
        """PyTorch's weighted, smoothed cross-entropy: sample i's loss is
        -sum_c a_ic log p_ic with a_i = (1 - e) w[y_i] onehot(y_i) + (e / k) w,
        and the batch loss is divided by sum_i w[y_i]."""
        k, e = shifted.shape[1], self.label_smoothing
        w = np.ones(k) if self.class_weight is None else self.class_weight
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        a = np.empty_like(shifted)
        a[...] = (e / k) * w
        a[self.rows, y] += (1 - e) * w[y]
        self.denominator = float(w[y].sum()) or 1.0
        self.a = a
        self.p = np.exp(log_p)
        return -math.fsum((a * log_p).ravel().tolist()) / self.denominator

    def backward(self):
        """(p - onehot(y)) / n; with options, (p sum_c a_c - a) / sum w[y]."""
        grad = self.p
        if not self.plain:
            grad = (grad * self.a.sum(axis=1, keepdims=True) - self.a) * grad.dtype.type(1 / self.denominator)
            return grad
        grad[self.rows, self.y] -= 1  # p is this step's own array
        grad *= grad.dtype.type(1 / len(grad))
        return grad


class SigmoidBinaryCrossEntropy(_ClassHead):
    """Sigmoid outputs with binary cross-entropy, averaged over every output.

    One output: two classes, the probability of the second (targets: class
    indices (n,)). k outputs: k independent labels (multi-label; targets: 0/1
    values (n, k)); the loss is the mean over samples and labels, as PyTorch's
    BCEWithLogitsLoss and Keras's binary_crossentropy."""

    name, activation = "binary_cross_entropy", "sigmoid"

    def __init__(self, class_weight=None, label_smoothing=0.0):
        self.class_weight = _class_weight(class_weight)
        self.label_smoothing = _smoothing(label_smoothing)

    def output(self, z):
        """One output: class probabilities (n, 2), [1 - p, p]. k outputs: (n, k) label probabilities."""
        if z.shape[1] > 1:
            return sigmoid(z)
        p = sigmoid(z[:, 0])
        return np.stack([1 - p, p], axis=1)

    def forward(self, z, y) -> float:
        t = y.reshape(len(y), -1).astype(z.dtype)
        if self.label_smoothing:
            t *= 1 - self.label_smoothing
            t += self.label_smoothing / 2
        self.t, self.z = t, z
        # log(1 + exp(-|z|)) + max(z, 0) - z * t is -log-likelihood without overflow.
        per_value = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        if self.class_weight is None:
            self.scale = 1 / max(per_value.size, 1)
            return float(per_value.mean(dtype=np.float64)) if per_value.size else 0.0
        # Binary classification only: y holds class indices 0 / 1.
        w = self.class_weight[y]
        total = float(w.sum()) or 1.0
        self.scale = (w / total).astype(z.dtype)[:, None]
        return float(np.dot(w, per_value[:, 0]) / total)

    def backward(self):
        grad = sigmoid(self.z)
        grad -= self.t
        grad *= self.scale
        return grad


class _Regression:
    """Identity output: the predicted values (n, k)."""

    activation = "identity"

    def __init__(self):
        self.diff = None

    def output(self, z):
        return z

    def weight_sum(self, y) -> float:
        return len(y)


class MeanSquaredError(_Regression):
    """Mean over all values of (z - y)^2 (one or several targets)."""

    name = "mse"

    def forward(self, z, y) -> float:
        self.diff = z - y
        return float(np.mean(self.diff * self.diff, dtype=np.float64))

    def backward(self):
        return self.diff * (2 / self.diff.size)


class MeanAbsoluteError(_Regression):
    """Mean over all values of |z - y| (PyTorch's L1Loss; gradient 0 at z = y)."""

    name = "mae"

    def forward(self, z, y) -> float:
        self.diff = z - y
        return float(np.mean(np.abs(self.diff), dtype=np.float64))

    def backward(self):
        return np.sign(self.diff) * (1 / self.diff.size)


class Huber(_Regression):
    """PyTorch's HuberLoss: 0.5 d^2 where |d| <= delta, delta (|d| - delta / 2)
    beyond, for d = z - y; mean over all values."""

    name = "huber"

    def __init__(self, delta: float = 1.0):
        super().__init__()
        if not delta > 0:
            raise ValueError(f"huber delta must be > 0, got {delta}")
        self.delta = float(delta)

    def forward(self, z, y) -> float:
        self.diff = z - y
        size = np.abs(self.diff)
        quadratic = np.minimum(size, self.delta)
        per_value = 0.5 * quadratic * quadratic + self.delta * (size - quadratic)
        return float(np.mean(per_value, dtype=np.float64))

    def backward(self):
        return np.clip(self.diff, -self.delta, self.delta) * (1 / self.diff.size)


LOSSES = {
    cls.name: cls
    for cls in (SoftmaxCrossEntropy, SigmoidBinaryCrossEntropy, MeanSquaredError, MeanAbsoluteError, Huber)
}
