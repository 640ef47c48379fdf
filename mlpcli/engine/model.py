"""The multi-layer perceptron: a stack of layers over one flat parameter buffer.

All parameters live in ``params`` (1-D), weights first and then biases, and
every layer holds named views into it (``dense.0.weight`` ...); ``grads``
mirrors it. An optimizer updates the whole model with a few array operations,
and weight decay touches the contiguous weight block alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .activations import get_activation
from .initializers import BIAS_INITIALIZERS, INITIALIZERS, resolve
from .layers import Dense, Dropout
from .losses import LOSSES


@dataclass
class LayerSpec:
    """One hidden layer: Dense(units) -> activation -> Dropout(dropout)."""

    units: int
    activation: str = "relu"
    dropout: float = 0.0
    activation_options: dict = field(default_factory=dict)


class MLP:
    """Dense layers with activations and dropout, ending in a fused output/loss head.

    n_inputs features -> hidden layers -> n_outputs, with ``loss`` one of
    LOSSES ('cross_entropy', 'binary_cross_entropy', 'mse').
    """

    def __init__(
        self,
        n_inputs: int,
        hidden: list[LayerSpec],
        n_outputs: int,
        loss: str,
        dtype="float32",
        rng: np.random.Generator | None = None,
    ):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.n_inputs, self.n_outputs, self.hidden = n_inputs, n_outputs, list(hidden)
        self.head = LOSSES[loss]()
        if (loss == "binary_cross_entropy") != (n_outputs == 1) and loss != "mse":
            raise ValueError(
                f"{loss} needs {'one output' if loss == 'binary_cross_entropy' else 'two or more outputs'}, "
                f"got n_outputs={n_outputs}"
            )
        self.layers: list = []
        self.dense: list[Dense] = []
        width = n_inputs
        for i, spec in enumerate([*self.hidden, LayerSpec(n_outputs, "identity")]):
            dense = Dense(width, spec.units, f"dense.{i}", input_grad=i > 0)
            self.dense.append(dense)
            self.layers.append(dense)
            if i < len(self.hidden):
                activation = get_activation(spec.activation, **spec.activation_options)
                self.layers.append(activation)
                if spec.dropout > 0:
                    # In place unless the activation's backward reads its own output.
                    self.layers.append(Dropout(spec.dropout, rng, inplace=not activation.keeps_output))
            width = spec.units
        self._allocate()

    def _allocate(self):
        shapes = {}
        for dense in self.dense:
            shapes.update(dense.shapes)
        order = [n for n in shapes if n.endswith(".weight")] + [
            n for n in shapes if n.endswith(".bias")
        ]
        sizes = [int(np.prod(shapes[n])) for n in order]
        self.params = np.zeros(sum(sizes), self.dtype)
        self.grads = np.zeros_like(self.params)
        self.n_weights = sum(s for n, s in zip(order, sizes) if n.endswith(".weight"))
        self.parameters: dict[str, np.ndarray] = {}
        self.gradients: dict[str, np.ndarray] = {}
        offset = 0
        for name, size in zip(order, sizes):
            self.parameters[name] = self.params[offset : offset + size].reshape(shapes[name])
            self.gradients[name] = self.grads[offset : offset + size].reshape(shapes[name])
            offset += size
        for dense in self.dense:
            dense.bind(self.parameters, self.gradients)

    @property
    def head_width(self) -> int:
        """Columns of the head's output: 2 probabilities for a single sigmoid output."""
        return 2 if self.head.name == "binary_cross_entropy" else self.n_outputs

    @property
    def n_params(self) -> int:
        return self.params.size

    def init_params(self, rng: np.random.Generator, init: str = "pytorch") -> None:
        """Weights from the initialiser (chosen by each layer's activation under
        'auto'; Glorot for the output layer); biases zero unless the initialiser
        draws them too (``pytorch``)."""
        activations = [s.activation for s in self.hidden] + ["identity"]
        for dense, activation in zip(self.dense, activations):
            name = resolve(init, activation)
            dense.W[...] = INITIALIZERS[name](rng, dense.W.shape, self.dtype)
            fill_bias = BIAS_INITIALIZERS.get(name)
            dense.b[...] = fill_bias(rng, dense.n_in, dense.n_out, self.dtype) if fill_bias else 0

    def set_dropout_rng(self, rng: np.random.Generator) -> None:
        for layer in self.layers:
            if isinstance(layer, Dropout):
                layer.set_rng(rng)

    def forward(self, x, training=False):
        """x (n, n_inputs) -> z (n, n_outputs), the output layer before its activation.

        In training mode z (like every intermediate array) lives in memory the
        layers reuse, valid until the next training-mode pass."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def train_step(self, x, y) -> float:
        """Forward in training mode, backward into ``grads``; returns the batch loss."""
        loss = self.head.forward(self.forward(x, training=True), y)
        grad = self.head.backward()
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return loss

    def predict(self, x, batch_size: int = 4096):
        """Head output for x in evaluation mode: probabilities (n, k) or values (n, k)."""
        return self._run(x, None, batch_size)[1]

    def evaluate(self, x, y, batch_size: int = 4096):
        """(mean loss exactly as trained, head output) for x in evaluation mode.

        The loss comes from the logits, as in training, so a confidently wrong
        prediction counts in full rather than at a clipped probability.
        """
        return self._run(x, y, batch_size)

    def _run(self, x, y, batch_size):
        """Evaluation-mode passes over x in chunks: (mean loss if y is given, head output)."""
        x = np.asarray(x, dtype=self.dtype)
        total, out = 0.0, None
        for i in range(0, max(len(x), 1), batch_size):
            z = self.forward(x[i : i + batch_size])
            if y is not None and len(z):
                total += self.head.forward(z, y[i : i + batch_size]) * len(z)
            chunk = self.head.output(z)
            if out is None:
                out = np.empty((len(x), chunk.shape[1]), chunk.dtype)
            out[i : i + len(chunk)] = chunk
        return total / max(len(x), 1), out

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"MLP([{inner}], head={self.head.name})"
