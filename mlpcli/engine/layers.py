"""Dense and Dropout layers (the reference article's FullyConnectedLayer and
DropoutLayer), each with its backward beside its forward.

A layer with parameters declares their shapes in ``shapes``; the model hands it
views into one flat parameter buffer and one flat gradient buffer (``bind``).

While training, outputs and gradients go into arrays the layer reuses from
step to step (``Scratch``): an array a training-mode forward or a backward
returns is valid until the next training step. Nothing is allocated per
batch, so a step costs arithmetic, not allocator work. Evaluation-mode
outputs are new arrays.
"""
from __future__ import annotations

import numpy as np

from .scratch import Scratch, ones


class Dense:
    """y = x @ W + b with W of shape (in, out) and b of shape (out,).

    x: (batch, in) -> y: (batch, out). ``input_grad=False`` on the first layer
    skips the product that would only give the gradient of the data.
    """

    def __init__(self, n_in: int, n_out: int, name: str, input_grad: bool = True):
        self.n_in, self.n_out, self.name = n_in, n_out, name
        self.input_grad = input_grad
        self.shapes = {f"{name}.weight": (n_in, n_out), f"{name}.bias": (n_out,)}
        self.scratch = Scratch()
        self._rows = None  # batch size the output and input-gradient arrays are bound for

    def bind(self, params: dict, grads: dict) -> None:
        self.W, self.b = params[f"{self.name}.weight"], params[f"{self.name}.bias"]
        self.dW, self.db = grads[f"{self.name}.weight"], grads[f"{self.name}.bias"]

    def forward(self, x, training=False):
        self.x = x
        if training:
            if len(x) != self._rows:
                self._bind(len(x))
            y = np.matmul(x, self.W, out=self._y)
        else:
            y = x @ self.W
        y += self.b
        return y

    def _bind(self, rows: int) -> None:
        dtype = self.W.dtype
        self._y = self.scratch.get("y", (rows, self.n_out), dtype)
        self._dx = self.scratch.get("dx", (rows, self.n_in), dtype) if self.input_grad else None
        self._ones = ones(rows, dtype)
        self._rows = rows

    def backward(self, grad):
        """Gradients of W and b into the gradient buffer; returns that of x (training only)."""
        np.matmul(self.x.T, grad, out=self.dW)
        np.matmul(self._ones, grad, out=self.db)  # column sums, by BLAS
        return np.matmul(grad, self.W.T, out=self._dx) if self.input_grad else None

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out})"


class Dropout:
    """Inverted dropout: while training, zero each unit with probability ``rate``
    and scale the survivors by 1 / (1 - rate), so the expected activation is
    unchanged; at evaluation, the identity. The mask comes from ``rng``.

    A unit is kept when a uniform 32-bit integer from the generator is at least
    rate * 2**32: one raw draw per unit, exact to 2**-32 in the rate. Masks are
    drawn ``POOL`` units at a time and handed out in order, so a training step
    costs two multiplications instead of four array operations; the sequence
    of masks is still a fixed function of the generator's seed.
    ``inplace`` multiplies the input itself, for when no other layer keeps it
    (the model decides; see MLP).
    """

    POOL = 1 << 18

    def __init__(self, rate: float, rng: np.random.Generator | None = None, inplace: bool = False):
        if not 0 <= rate < 1:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.rng = rng
        self.inplace = inplace
        self.threshold = np.uint32(min(round(self.rate * 2**32), 2**32 - 1))
        self.mask = None
        self.scratch = Scratch()
        self._pool, self._used, self._pool_state = np.empty(0), 0, None

    def set_rng(self, rng: np.random.Generator) -> None:
        """Draw masks from ``rng`` from now on (drops masks drawn from the old one)."""
        self.rng, self._pool, self._used, self._pool_state = rng, np.empty(0), 0, None

    def _fill(self, bit_generator, n: int, dtype) -> None:
        self._pool_state = bit_generator.state  # to draw this pool again (state_dict)
        bits = bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
        self._pool = np.multiply(bits >= self.threshold, dtype.type(1 / (1 - self.rate)), dtype=dtype)
        self._used = 0

    def _next_mask(self, shape, size, dtype) -> np.ndarray:
        if self._used + size > len(self._pool) or self._pool.dtype != dtype:
            if self.rng is None:
                raise RuntimeError("Dropout needs a Generator to train (pass rng)")
            self._fill(self.rng.bit_generator, max(self.POOL, size), dtype)
        mask = self._pool[self._used : self._used + size].reshape(shape)
        self._used += size
        return mask

    def state_dict(self) -> dict:
        """Where the mask sequence stands, as plain JSON-able data: the bit
        generator's state before the current pool was drawn, its size and dtype,
        and how much of it is used (the shared generator's own state is the caller's)."""
        if not len(self._pool):
            return {"pool": 0}
        return {"pool": len(self._pool), "dtype": self._pool.dtype.str, "used": self._used, "state": self._pool_state}

    def load_state_dict(self, state: dict) -> None:
        """Draw the pool of ``state_dict()`` again (from a copy of the bit
        generator; ``self.rng`` is not moved) and continue from its offset."""
        if not state["pool"]:
            self._pool, self._used, self._pool_state = np.empty(0), 0, None
            return
        bit_generator = type(self.rng.bit_generator)()
        bit_generator.state = state["state"]
        self._fill(bit_generator, int(state["pool"]), np.dtype(state["dtype"]))
        if not 0 <= int(state["used"]) <= len(self._pool):
            raise ValueError(f"dropout state: used {state['used']} is outside the pool of {len(self._pool)}")
        self._used = int(state["used"])

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.mask = None
            return x
        self.mask = self._next_mask(x.shape, x.size, x.dtype)
        out = x if self.inplace else self.scratch.get("out", x.shape, x.dtype)
        return np.multiply(x, self.mask, out=out)

    def backward(self, grad):
        if self.mask is not None:
            grad *= self.mask
        return grad

    def __repr__(self):
        return f"Dropout({self.rate})"
