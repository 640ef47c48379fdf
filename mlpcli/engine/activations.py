"""Elementwise activations as layers: each forward sits beside its backward.

Definitions and defaults follow PyTorch (leaky_relu slope 0.01, gelu in its
exact erf form). A layer caches only what its backward needs, and works in
place on the pre-activation it is given (the Dense layer below it keeps its
input, not its output, so nothing else holds that array) and on the gradient
it is given (the layer above made it for this backward alone).

``keeps_output`` says whether backward reads the forward's output array: a
dropout layer above may then not scale that array in place. ReLU keeps its
output only for its sign, which scaling by a dropout mask (>= 0) preserves.
"""
from __future__ import annotations

import math

import numpy as np

from .registry import lookup
from .scratch import Scratch, zeros_row


class Activation:
    """Base class: no parameters, forward(x, training) -> a, backward(da) -> dx."""

    name = ""
    keeps_output = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Identity(Activation):
    name = "identity"

    def forward(self, x, training=False):
        return x

    def backward(self, grad):
        return grad


class ReLU(Activation):
    name = "relu"

    def __init__(self):
        self.scratch = Scratch()
        self._positive = None

    def forward(self, x, training=False):
        self.a = np.maximum(x, zeros_row(x.shape[-1], x.dtype), out=x)
        return self.a

    def backward(self, grad):
        positive = self._positive
        if positive is None or positive.shape != grad.shape:
            positive = self._positive = self.scratch.get("positive", grad.shape, bool)
        np.greater(self.a, 0, out=positive)
        return np.multiply(grad, positive, out=grad)


class LeakyReLU(Activation):
    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = float(negative_slope)

    def forward(self, x, training=False):
        self.positive = x > 0
        return np.where(self.positive, x, x * np.asarray(self.negative_slope, x.dtype))

    def backward(self, grad):
        return np.where(self.positive, grad, grad * np.asarray(self.negative_slope, grad.dtype))


class Tanh(Activation):
    name = "tanh"
    keeps_output = True

    def __init__(self):
        self.scratch = Scratch()

    def forward(self, x, training=False):
        self.a = np.tanh(x, out=x)
        return self.a

    def backward(self, grad):
        slope = np.multiply(self.a, self.a, out=self.scratch.get("slope", grad.shape, grad.dtype))
        np.subtract(1, slope, out=slope)
        return np.multiply(grad, slope, out=grad)


class Sigmoid(Activation):
    name = "sigmoid"
    keeps_output = True

    def __init__(self):
        self.scratch = Scratch()

    def forward(self, x, training=False):
        # 0.5 * (1 + tanh(x / 2)) is the logistic function without overflow in exp.
        self.a = sigmoid(x, out=x)
        return self.a

    def backward(self, grad):
        slope = np.subtract(1, self.a, out=self.scratch.get("slope", grad.shape, grad.dtype))
        slope *= self.a
        return np.multiply(grad, slope, out=grad)


class GELU(Activation):
    """x * Phi(x); approximate='tanh' gives PyTorch's tanh form."""

    name = "gelu"

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x, training=False):
        self.x = x
        if self.approximate == "tanh":
            self.t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            return 0.5 * x * (1 + self.t)
        self.cdf = 0.5 * (1 + _erf(x * (1 / math.sqrt(2))))
        return x * self.cdf

    def backward(self, grad):
        x = self.x
        if self.approximate == "tanh":
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return grad * (0.5 * (1 + self.t) + 0.5 * x * (1 - self.t * self.t) * du)
        pdf = np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return grad * (self.cdf + x * pdf)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_erf_object = np.frompyfunc(math.erf, 1, 1)


def _erf(x):
    """The error function, elementwise, exact to the platform's libm (NumPy has none)."""
    return _erf_object(x).astype(x.dtype)


def sigmoid(x, out=None):
    """Numerically stable logistic function."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (ReLU, LeakyReLU, Tanh, Sigmoid, GELU, Identity)
}

# Parameters an activation accepts, with their PyTorch defaults.
ACTIVATION_OPTIONS: dict[str, dict] = {
    "leaky_relu": {"negative_slope": 0.01},
    "gelu": {"approximate": "none"},
}


def get_activation(name: str, **options) -> Activation:
    """Look an activation up by name; an unknown name lists the valid ones."""
    return lookup("activation", ACTIVATIONS, name)(**options)
