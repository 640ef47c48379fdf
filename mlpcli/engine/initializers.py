"""Weight initialisers: fill a (fan_in, fan_out) array from a Generator."""
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


INITIALIZERS = {
    fn.__name__: fn for fn in (he_normal, he_uniform, glorot_normal, glorot_uniform)
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


def initializer_for(name: str, activation: str):
    """Resolve 'auto' by activation, then look the initialiser up."""
    if name == "auto":
        name = AUTO_INITIALIZER.get(activation, "glorot_uniform")
    return lookup("initializer", INITIALIZERS, name, extra=["auto"])
