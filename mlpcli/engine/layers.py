"""Dense and Dropout layers (the reference article's FullyConnectedLayer and
DropoutLayer), each with its backward beside its forward.

A layer with parameters declares their shapes in ``shapes``; the model hands it
views into one flat parameter buffer and one flat gradient buffer (``bind``).
"""
from __future__ import annotations

import numpy as np


class Dense:
    """y = x @ W + b with W of shape (in, out) and b of shape (out,).

    x: (batch, in) -> y: (batch, out). ``input_grad=False`` on the first layer
    skips the product that would only give the gradient of the data.
    """

    def __init__(self, n_in: int, n_out: int, name: str, input_grad: bool = True):
        self.n_in, self.n_out, self.name = n_in, n_out, name
        self.input_grad = input_grad
        self.shapes = {f"{name}.weight": (n_in, n_out), f"{name}.bias": (n_out,)}

    def bind(self, params: dict, grads: dict) -> None:
        self.W, self.b = params[f"{self.name}.weight"], params[f"{self.name}.bias"]
        self.dW, self.db = grads[f"{self.name}.weight"], grads[f"{self.name}.bias"]

    def forward(self, x, training=False):
        self.x = x
        y = x @ self.W
        y += self.b
        return y

    def backward(self, grad):
        np.matmul(self.x.T, grad, out=self.dW)
        np.sum(grad, axis=0, out=self.db)
        return grad @ self.W.T if self.input_grad else None

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out})"


class Dropout:
    """Inverted dropout: while training, zero each unit with probability ``rate``
    and scale the survivors by 1 / (1 - rate), so the expected activation is
    unchanged; at evaluation, the identity. The mask comes from ``rng``.
    """

    def __init__(self, rate: float, rng: np.random.Generator | None = None):
        if not 0 <= rate < 1:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.rng = rng
        self.mask = None

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.mask = None
            return x
        if self.rng is None:
            raise RuntimeError("Dropout needs a Generator to train (pass rng)")
        keep = self.rng.random(x.shape, dtype=x.dtype) >= self.rate
        self.mask = np.multiply(keep, x.dtype.type(1 / (1 - self.rate)), dtype=x.dtype)
        # Not in place: the activation below keeps its output for its backward.
        return x * self.mask

    def backward(self, grad):
        if self.mask is not None:
            grad *= self.mask
        return grad

    def __repr__(self):
        return f"Dropout({self.rate})"
