"""The multi-layer perceptron: a stack of layers over one flat parameter buffer.

All parameters live in ``params`` (1-D): the dense weights first
(``params[:n_weights]``), then the dense biases, then the normalisation
layers' gamma and beta; every layer holds named views into it
(``dense.0.weight``, ``norm.0.weight`` ...), and ``grads`` mirrors it. An
optimizer updates the whole model with a few array operations, and weight
decay touches the contiguous dense-weight block alone (not biases, not
gamma / beta, as Keras and scikit-learn regularise). BatchNorm's running
statistics are not parameters: they live in ``buffer`` (named views in
``buffers``), which no optimizer touches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .activations import get_activation
from .initializers import BIAS_INITIALIZERS, INITIALIZERS, resolve
from .layers import Dense, Dropout
from .losses import LOSSES
from .normalization import NORMALIZATIONS, BatchNorm


@dataclass
class LayerSpec:
    """One hidden layer: Dense(units) -> norm -> activation -> Dropout(dropout),
    with ``norm`` None, 'batch_norm' or 'layer_norm'."""

    units: int
    activation: str = "relu"
    dropout: float = 0.0
    activation_options: dict = field(default_factory=dict)
    norm: str | None = None


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
        loss_options: dict | None = None,
    ):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.n_inputs, self.n_outputs, self.hidden = n_inputs, n_outputs, list(hidden)
        # loss_options: the head's class_weight, label_smoothing or delta (engine/losses.py).
        self.head = LOSSES[loss](**(loss_options or {}))
        if loss == "cross_entropy" and n_outputs < 2:
            raise ValueError(f"cross_entropy needs two or more outputs, got n_outputs={n_outputs}")
        # Columns of the head's output, as the head gives them (a single sigmoid unit gives 2 probabilities).
        self.head_width = self.head.output(np.zeros((0, n_outputs), self.dtype)).shape[1]
        self.layers: list = []
        self.dense: list[Dense] = []
        self.norms: list = []
        width = n_inputs
        for i, spec in enumerate([*self.hidden, LayerSpec(n_outputs, "identity")]):
            dense = Dense(width, spec.units, f"dense.{i}", input_grad=i > 0)
            self.dense.append(dense)
            self.layers.append(dense)
            if i < len(self.hidden):
                if spec.norm is not None:
                    norm = NORMALIZATIONS[spec.norm](spec.units, f"norm.{i}")
                    self.norms.append(norm)
                    self.layers.append(norm)
                activation = get_activation(spec.activation, **spec.activation_options)
                self.layers.append(activation)
                if spec.dropout > 0:
                    self.layers.append(Dropout(spec.dropout, rng))
            width = spec.units
        self._allocate()

    def _allocate(self):
        shapes = {}
        for dense in self.dense:
            shapes.update(dense.shapes)
        order = [n for n in shapes if n.endswith(".weight")] + [
            n for n in shapes if n.endswith(".bias")
        ]
        self.n_weights = sum(int(np.prod(shapes[n])) for n in order if n.endswith(".weight"))
        for norm in self.norms:
            shapes.update(norm.shapes)
            order += list(norm.shapes)
        sizes = [int(np.prod(shapes[n])) for n in order]
        self.params = np.zeros(sum(sizes), self.dtype)
        self.grads = np.zeros_like(self.params)
        self.parameters: dict[str, np.ndarray] = {}
        self.gradients: dict[str, np.ndarray] = {}
        offset = 0
        for name, size in zip(order, sizes):
            self.parameters[name] = self.params[offset : offset + size].reshape(shapes[name])
            self.gradients[name] = self.grads[offset : offset + size].reshape(shapes[name])
            offset += size
        for dense in self.dense:
            dense.bind(self.parameters, self.gradients)
        buffer_shapes = {name: shape for norm in self.norms for name, shape in norm.buffer_shapes.items()}
        self.buffer = np.zeros(sum(int(np.prod(s)) for s in buffer_shapes.values()), self.dtype)
        self.buffers: dict[str, np.ndarray] = {}
        offset = 0
        for name, shape in buffer_shapes.items():
            size = int(np.prod(shape))
            self.buffers[name] = self.buffer[offset : offset + size].reshape(shape)
            offset += size
        for norm in self.norms:
            norm.bind(self.parameters, self.gradients)
            norm.bind_buffers(self.buffers)
            norm.reset()

    @property
    def has_batch_norm(self) -> bool:
        """Whether a training batch needs two or more rows (batch statistics)."""
        return any(isinstance(norm, BatchNorm) for norm in self.norms)

    @property
    def n_params(self) -> int:
        return self.params.size

    def init_params(self, rng: np.random.Generator, init: str = "auto") -> None:
        """Weights from the initialiser (chosen by each layer's activation under
        'auto'; Glorot for the output layer); biases zero unless the initialiser
        draws them too (``pytorch``)."""
        activations = [s.activation for s in self.hidden] + ["identity"]
        for dense, activation in zip(self.dense, activations):
            name = resolve(init, activation)
            dense.W[...] = INITIALIZERS[name](rng, dense.W.shape, self.dtype)
            fill_bias = BIAS_INITIALIZERS.get(name)
            dense.b[...] = fill_bias(rng, dense.n_in, dense.n_out, self.dtype) if fill_bias else 0
        for norm in self.norms:
            norm.reset()  # gamma 1, beta 0, running mean 0 and variance 1, as PyTorch starts

    def set_dropout_rng(self, rng: np.random.Generator) -> None:
        for layer in self.layers:
            if isinstance(layer, Dropout):
                layer.set_rng(rng)

    def forward(self, x, training=False):
        """x (n, n_inputs) -> z (n, n_outputs), the output layer before its activation."""
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
        total, weight, out = 0.0, 0.0, None
        for i in range(0, max(len(x), 1), batch_size):
            z = self.forward(x[i : i + batch_size])
            if y is not None and len(z):
                # Chunk means combined by the head's denominator (n, or the sum of class weights).
                chunk_weight = self.head.weight_sum(y[i : i + batch_size])
                total += self.head.forward(z, y[i : i + batch_size]) * chunk_weight
                weight += chunk_weight
            chunk = self.head.output(z)
            if out is None:
                out = np.empty((len(x), chunk.shape[1]), chunk.dtype)
            out[i : i + len(chunk)] = chunk
        return total / (weight or 1.0), out

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"MLP([{inner}], head={self.head.name})"
