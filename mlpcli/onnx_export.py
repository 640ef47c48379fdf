"""``mlp export``: a trained model as one ONNX graph, built with ``onnx.helper``.

The graph is the whole model, from raw features to the answer, in the
model's dtype (float32 or float64):

- input ``input``: (n, n_features) raw, unscaled rows;
- the input scaling ``(x - scaler.mean) / scaler.scale`` (Sub, Div);
- each hidden layer: MatMul + Add, the norm (BatchNormalization with the
  running statistics, inference mode; LayerNormalization over the units,
  eps 1e-5), the activation as ONNX ops (below); dropout is left out (the
  identity at inference);
- the output layer and the head. Classifiers give ``probabilities``
  (n, n_classes, in ``meta.classes`` order: softmax, or ``[1 - p, p]`` for a
  single sigmoid unit) and ``label`` (n,): the class with the highest
  probability, as ``mlp predict`` gives it, an int64 or string tensor (the
  labels' own kind; other label kinds are refused). Multilabel models give
  ``probabilities`` (n, n_labels) and ``label`` (n, n_labels) int64 0/1
  (probability >= 0.5). Regressors give ``values`` (n, n_targets).

Activations, with PyTorch's definitions as in training: relu (Relu),
leaky_relu (LeakyRelu, its slope), elu (Elu, its alpha), selu (Selu, PyTorch's
constants), gelu (exact: ``0.5 x (1 + Erf(x / sqrt 2))``; tanh form:
``0.5 x (1 + Tanh(sqrt(2 / pi) (x + 0.044715 x^3)))``: both from basic ops,
so opset 17 suffices), silu (``x * Sigmoid(x)``), softplus
(``Where(beta x > threshold, x, Softplus(beta x) / beta)``), tanh, sigmoid,
identity.

Refused, with one ``Error:`` line: a model of CSV data (``meta.encoder``:
imputation and one-hot encoding of named columns are not part of the graph;
export needs the network to take plain numbers).

``onnx`` is imported only here (``pip install 'mlpcli[onnx]'``).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import MLPError, WeightsError

OPSET = 17  # LayerNormalization (17); everything else is older

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _import_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise MLPError("mlp export needs the onnx package: pip install 'mlpcli[onnx]'") from None
    return onnx, helper, numpy_helper


class _Graph:
    """Nodes and initializers with fresh names."""

    def __init__(self, helper, numpy_helper, dtype):
        self.helper, self.numpy_helper, self.dtype = helper, numpy_helper, np.dtype(dtype)
        self.nodes, self.initializers, self._n = [], [], 0

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, value, stem: str = "c", dtype=None) -> str:
        array = np.asarray(value, dtype=dtype or self.dtype)
        name = self.name(stem)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, outputs: list[str] | None = None, **attrs) -> str:
        outs = outputs or [self.name(op_type.lower())]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs[0]


def _activation(g: _Graph, h: str, layer: dict) -> str:
    name = layer["activation"]
    if name == "identity":
        return h
    if name == "relu":
        return g.op("Relu", h)
    if name == "tanh":
        return g.op("Tanh", h)
    if name == "sigmoid":
        return g.op("Sigmoid", h)
    if name == "leaky_relu":
        return g.op("LeakyRelu", h, alpha=float(layer["negative_slope"]))
    if name == "elu":
        return g.op("Elu", h, alpha=float(layer["alpha"]))
    if name == "selu":
        return g.op("Selu", h, alpha=_SELU_ALPHA, gamma=_SELU_SCALE)
    if name == "silu":
        return g.op("Mul", h, g.op("Sigmoid", h))
    if name == "softplus":
        beta, threshold = float(layer["beta"]), float(layer["threshold"])
        bx = g.op("Mul", h, g.const(beta))
        soft = g.op("Div", g.op("Softplus", bx), g.const(beta))
        return g.op("Where", g.op("Greater", bx, g.const(threshold)), h, soft)
    if name == "gelu":
        if layer["approximate"] == "tanh":
            cube = g.op("Mul", g.op("Mul", h, h), h)
            inner = g.op("Add", h, g.op("Mul", cube, g.const(0.044715)))
            t = g.op("Tanh", g.op("Mul", inner, g.const(math.sqrt(2 / math.pi))))
        else:
            t = g.op("Erf", g.op("Mul", h, g.const(1 / math.sqrt(2))))
        return g.op("Mul", g.op("Mul", h, g.const(0.5)), g.op("Add", t, g.const(1.0)))
    raise MLPError(f"mlp export: activation {name!r} has no ONNX form here")


def build(model, source: str = "model"):
    """The onnx.ModelProto of a TrainedModel (checked with onnx.checker)."""
    onnx, helper, numpy_helper = _import_onnx()
    if model.encoder is not None:
        raise WeightsError(
            f"{source}: cannot export a model of CSV data (meta.encoder: its missing-value filling and one-hot "
            "encoding of named columns are not part of the ONNX graph); export supports models of numeric arrays"
        )
    net = model.network
    dtype = net.dtype
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    g = _Graph(helper, numpy_helper, dtype)
    params, buffers = net.parameters, net.buffers
    h = "input"
    if model.scaler is not None:
        offset, scale = model.scaler
        h = g.op("Div", g.op("Sub", h, g.const(offset, "scaler_mean")), g.const(scale, "scaler_scale"))
    layers = model.config["model"]["layers"]
    for i, layer in enumerate([*layers, None]):
        h = g.op("MatMul", h, g.const(params[f"dense.{i}.weight"], f"dense_{i}_weight"))
        h = g.op("Add", h, g.const(params[f"dense.{i}.bias"], f"dense_{i}_bias"))
        if layer is None:
            break
        if layer.get("batch_norm"):
            h = g.op(
                "BatchNormalization", h,
                g.const(params[f"norm.{i}.weight"], f"norm_{i}_weight"),
                g.const(params[f"norm.{i}.bias"], f"norm_{i}_bias"),
                g.const(buffers[f"norm.{i}.running_mean"], f"norm_{i}_running_mean"),
                g.const(buffers[f"norm.{i}.running_var"], f"norm_{i}_running_var"),
                epsilon=1e-5,
            )
        elif layer.get("layer_norm"):
            h = g.op(
                "LayerNormalization", h,
                g.const(params[f"norm.{i}.weight"], f"norm_{i}_weight"),
                g.const(params[f"norm.{i}.bias"], f"norm_{i}_bias"),
                axis=-1, epsilon=1e-5,
            )
        h = _activation(g, h, layer)

    head = net.head.name
    n_out = net.head_width
    outputs = []
    if model.task == "regression":
        if head not in ("mse", "mae", "huber"):
            raise MLPError(f"{source}: mlp export: regression head {head!r} has no ONNX form here")
        g.op("Identity", h, outputs=["values"])
        outputs.append(helper.make_tensor_value_info("values", elem, [None, n_out]))
    else:
        if head == "cross_entropy":
            g.op("Softmax", h, outputs=["probabilities"], axis=-1)
        elif head == "binary_cross_entropy" and model.task == "multilabel":
            g.op("Sigmoid", h, outputs=["probabilities"])
        elif head == "binary_cross_entropy":
            p = g.op("Sigmoid", h)
            g.op("Concat", g.op("Sub", g.const(np.ones((1, 1))), p), p, outputs=["probabilities"], axis=1)
        else:
            raise MLPError(f"{source}: mlp export: output head {head!r} has no ONNX form here")
        outputs.append(helper.make_tensor_value_info("probabilities", elem, [None, n_out]))
        if model.task == "multilabel":
            ge = g.op("GreaterOrEqual", "probabilities", g.const(0.5))
            g.op("Cast", ge, outputs=["label"], to=onnx.TensorProto.INT64)
            outputs.append(helper.make_tensor_value_info("label", onnx.TensorProto.INT64, [None, n_out]))
        else:
            classes = np.asarray(model.classes)
            if classes.dtype.kind in "iub":
                classes, label_type = classes.astype(np.int64), onnx.TensorProto.INT64
            elif classes.dtype.kind == "U":
                classes, label_type = classes.astype(object), onnx.TensorProto.STRING
            else:
                raise MLPError(
                    f"{source}: mlp export: labels of dtype {classes.dtype} have no ONNX label tensor "
                    "(int64 and string labels do)"
                )
            index = g.op("ArgMax", "probabilities", axis=1, keepdims=0)
            table = g.name("classes")
            g.initializers.append(numpy_helper.from_array(classes, table))
            g.op("Gather", table, index, outputs=["label"], axis=0)
            outputs.append(helper.make_tensor_value_info("label", label_type, [None]))

    graph = helper.make_graph(
        g.nodes, "mlpcli",
        [helper.make_tensor_value_info("input", elem, [None, model.n_features])],
        outputs, initializer=g.initializers,
    )
    from ._version import __version__

    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mlpcli", producer_version=__version__
    )
    onnx_model.ir_version = 8  # readable by onnxruntime >= 1.14
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def export(weights: str | Path, out: str | Path) -> dict:
    """Write WEIGHTS as an ONNX file at ``out`` (whole, or not at all);
    returns a summary: path, inputs, outputs, opset."""
    from .artifacts import atomic_write
    from .trained import load_weights

    if not str(out).lower().endswith(".onnx"):
        raise MLPError(f"-o {out}: use a .onnx file name")
    model = load_weights(weights)
    onnx_model = build(model, str(weights))
    atomic_write(out, onnx_model.SerializeToString())
    return {
        "path": str(out),
        "opset": OPSET,
        "inputs": [i.name for i in onnx_model.graph.input],
        "outputs": [o.name for o in onnx_model.graph.output],
    }
