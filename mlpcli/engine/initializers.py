"""Weight initialisers: fill a (fan_in, fan_out) array from a Generator.

Biases start at zero, except under ``pytorch``, which reproduces PyTorch's
nn.Linear default (weights and biases uniform in +-1/sqrt(fan_in)).
"""
from __future__ import annotations

import math

from .registry import lookup


def he_normal(rng, shape, dtype):
    return rng.normal(0.0, math.sqrt(2 / shape[0]), size=shape).astype(dtype)


def he_uniform(rng, shape, dtype):
    limit = math.sqrt(6 / shape[0])
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def glorot_normal(rng, shape, dtype):
    return rng.normal(0.0, math.sqrt(2 / (shape[0] + shape[1])), size=shape).astype(dtype)


def glorot_uniform(rng, shape, dtype):
    limit = math.sqrt(6 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def pytorch(rng, shape, dtype):
    """PyTorch's nn.Linear default (Kaiming uniform with a = sqrt(5)): +-1/sqrt(fan_in)."""
    limit = 1 / math.sqrt(shape[0])
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


INITIALIZERS = {
    fn.__name__: fn for fn in (he_normal, he_uniform, glorot_normal, glorot_uniform, pytorch)
}

# Initialisers that also draw the biases: name -> fill(rng, fan_in, n_out, dtype).
BIAS_INITIALIZERS = {
    "pytorch": lambda rng, fan_in, n_out, dtype: pytorch(rng, (fan_in, n_out), dtype)[0],
}

# 'auto': He for the rectifier family (their variance halves through the
# activation), Glorot for the symmetric and linear ones.
AUTO_INITIALIZER = {
    "relu": "he_normal",
    "leaky_relu": "he_normal",
    "gelu": "he_normal",
    "tanh": "glorot_uniform",
    "sigmoid": "glorot_uniform",
    "identity": "glorot_uniform",
}


def resolve(name: str, activation: str) -> str:
    """The initialiser 'auto' stands for, for a layer with this activation."""
    if name == "auto":
        return AUTO_INITIALIZER.get(activation, "glorot_uniform")
    lookup("initializer", INITIALIZERS, name, extra=["auto"])
    return name

