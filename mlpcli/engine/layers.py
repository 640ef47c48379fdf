"""Dense and Dropout layers (the reference article's FullyConnectedLayer and
DropoutLayer), each with its backward beside its forward.

A layer with parameters declares their shapes in ``shapes``; the model hands it
views into one flat parameter buffer and one flat gradient buffer (``bind``).
"""
from __future__ import annotations

import numpy as np

_ONES: dict = {}


def ones(n: int, dtype) -> np.ndarray:
    """A read-only vector of n ones: ones @ g sums the rows of g through BLAS.
    Against g.sum(axis=0) that saves 5% of a training step on profile_epoch.py's
    small workload (1% on the large one) in the Dense layers, and 13% / 19% of a
    small-workload step with batch / layer norm (A/B, one BLAS thread, 2026-12)."""
    vector = _ONES.get(dtype)
    if vector is None or len(vector) < n:
        vector = _ONES[dtype] = np.ones(max(n, 2 * len(vector) if vector is not None else n), dtype)
        vector.flags.writeable = False
    return vector[:n]


class Dense:
    """y = x @ W + b with W of shape (in, out) and b of shape (out,).

    x: (batch, in) -> y: (batch, out). ``input_grad=False`` on the first layer
    skips the product that would only give the gradient of the data (8% of a
    training step on profile_epoch.py's small workload, 26% on the large one).
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
        """Gradients of W and b into the gradient buffer; returns that of x (None on the first layer)."""
        np.matmul(self.x.T, grad, out=self.dW)
        np.matmul(ones(len(grad), grad.dtype), grad, out=self.db)
        return grad @ self.W.T if self.input_grad else None

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out})"


class Dropout:
    """Inverted dropout: while training, zero each unit with probability ``rate``
    and scale the survivors by 1 / (1 - rate), so the expected activation is
    unchanged; at evaluation, the identity. The mask comes from ``rng``.

    A unit is kept when a uniform 32-bit integer from the generator is at least
    rate * 2**32: one raw draw per unit, exact to 2**-32 in the rate. Masks are
    drawn ``POOL`` units at a time and handed out in order: against a draw per
    step that saves 13% of a training step on profile_epoch.py's small workload
    (1% on the large one; 2026-12). The sequence of masks is still a fixed
    function of the generator's seed.
    """

    POOL = 1 << 18

    def __init__(self, rate: float, rng: np.random.Generator | None = None):
        if not 0 <= rate < 1:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.rng = rng
        self.threshold = np.uint32(min(round(self.rate * 2**32), 2**32 - 1))
        self.mask = None
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
        return x * self.mask

    def backward(self, grad):
        return grad if self.mask is None else grad * self.mask

    def __repr__(self):
        return f"Dropout({self.rate})"
