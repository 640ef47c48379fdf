"""``TrainedModel.to_numpy_fn()``: the model as a plain NumPy function.

The function is compiled from the source below in a namespace holding only
``np`` and ``math``, and closes over copies of the model's arrays and plain
Python values (strings, floats, tuples): it calls no mlpcli code, keeps no
reference to an mlpcli object, and goes on working after mlpcli is gone from
``sys.modules``. Its ``__source__`` attribute holds that source, to read or
to paste elsewhere.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from .errors import WeightsError

SOURCE = '''
def make(dtype, scaler, layers, output):
    """layers: (W, b, norm, activation, options) per dense layer, the output
    layer last; norm None, ("batch_norm", gamma, beta, mean, var) or
    ("layer_norm", gamma, beta); output "softmax", "sigmoid2" (one sigmoid
    unit: [1 - p, p]), "sigmoid" (one probability per label) or "identity"."""
    erf = np.vectorize(math.erf, otypes=[float])

    def sigmoid(z):
        # The engine's sigmoid (engine/activations.py): from exp(-|z|), exact in the lower tail.
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1, e) / (1 + e)

    def activate(h, name, o):
        if name == "relu":
            return np.maximum(h, 0)
        if name == "leaky_relu":
            return np.where(h > 0, h, h * o["negative_slope"])
        if name in ("elu", "selu"):
            alpha, scale = (o["alpha"], 1.0) if name == "elu" else (1.6732632423543772, 1.0507009873554805)
            return scale * np.where(h > 0, h, alpha * np.expm1(np.minimum(h, 0)))
        if name == "gelu":
            if o["approximate"] == "tanh":
                return 0.5 * h * (1 + np.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
            return (0.5 * h * (1 + erf(h / math.sqrt(2)))).astype(h.dtype)
        if name == "silu":
            return h * sigmoid(h)
        if name == "softplus":
            bh = h * o["beta"]
            return np.where(bh > o["threshold"], h, np.logaddexp(0, bh) / o["beta"])
        if name == "tanh":
            return np.tanh(h)
        if name == "sigmoid":
            return sigmoid(h)
        return h  # identity

    def predict(X):
        """Raw rows (n, n_features) -> class probabilities (n, k), or values (n, k)."""
        h = np.asarray(X, dtype=dtype)
        if h.ndim == 1:
            h = h.reshape(1, -1)
        if scaler is not None:
            h = (h - scaler[0]) / scaler[1]
        for W, b, norm, name, options in layers:
            h = h @ W + b
            if norm is not None and norm[0] == "batch_norm":
                h = (h - norm[3]) / np.sqrt(norm[4] + 1e-5) * norm[1] + norm[2]
            elif norm is not None:
                h = (h - h.mean(axis=1, keepdims=True)) / np.sqrt(h.var(axis=1, keepdims=True) + 1e-5)
                h = h * norm[1] + norm[2]
            h = activate(h, name, options)
        if output == "softmax":
            e = np.exp(h - h.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        if output == "sigmoid2":
            p = sigmoid(h[:, 0])
            return np.stack([1 - p, p], axis=1)
        if output == "sigmoid":
            return sigmoid(h)
        return h

    return predict
'''


def numpy_fn(model):
    """The pure-NumPy predict function of a TrainedModel (see the module docstring)."""
    if model.encoder is not None:
        raise WeightsError(
            "to_numpy_fn: a model of CSV data encodes named columns (meta.encoder); "
            "the NumPy function takes plain numeric arrays only"
        )
    net = model.network
    params, buffers = net.parameters, net.buffers
    head = net.head.name
    if model.task == "regression":
        output = "identity"
    elif head == "cross_entropy":
        output = "softmax"
    elif model.task == "multilabel":
        output = "sigmoid"
    else:
        output = "sigmoid2"
    config_layers = model.config["model"]["layers"]
    layers = []
    for i in range(len(net.dense)):
        norm, name, options = None, "identity", {}
        if i < len(config_layers):
            layer = config_layers[i]
            name = layer["activation"]
            options = {k: layer[k] for k in ("negative_slope", "alpha", "approximate", "beta", "threshold") if k in layer}
            if layer.get("batch_norm"):
                norm = ("batch_norm", *(np.array(a) for a in (
                    params[f"norm.{i}.weight"], params[f"norm.{i}.bias"],
                    buffers[f"norm.{i}.running_mean"], buffers[f"norm.{i}.running_var"])))
            elif layer.get("layer_norm"):
                norm = ("layer_norm", np.array(params[f"norm.{i}.weight"]), np.array(params[f"norm.{i}.bias"]))
        layers.append((np.array(params[f"dense.{i}.weight"]), np.array(params[f"dense.{i}.bias"]), norm, name, options))
    scaler = None
    if model.scaler is not None:
        scaler = tuple(np.array(a, dtype=net.dtype) for a in model.scaler)
    namespace = {"np": np, "math": math, "__builtins__": builtins}
    exec(compile(SOURCE, "<mlpcli numpy_fn>", "exec"), namespace)  # noqa: S102 - our own constant source
    fn = namespace["make"](np.dtype(net.dtype), scaler, tuple(layers), output)
    fn.__source__ = SOURCE
    return fn
