"""Batch and layer normalisation, placed Dense -> norm -> activation -> dropout.

Both learn a per-unit scale ``gamma`` (``norm.{i}.weight``, starts at 1) and
shift ``beta`` (``norm.{i}.bias``, starts at 0), held like every parameter as
views into the model's flat buffer; ``i`` is the hidden layer's index.

BatchNorm follows PyTorch's nn.BatchNorm1d (momentum 0.1, eps 1e-5): in
training it normalises with the batch's mean and biased variance and moves
the running estimates ``norm.{i}.running_mean`` / ``norm.{i}.running_var``
towards the batch mean and the *unbiased* batch variance; at evaluation it
uses the running estimates alone. LayerNorm follows nn.LayerNorm over the
units (eps 1e-5): each row by its own mean and biased variance, the same in
training and evaluation. Sums over rows and units are products with a vector
of ones (``ones``: BLAS).
"""
from __future__ import annotations

import numpy as np

from .layers import ones


class _Norm:
    """Shared parameter plumbing: gamma / beta views and their gradients."""

    buffer_shapes: dict = {}

    def __init__(self, n: int, name: str, eps: float = 1e-5):
        self.n, self.name, self.eps = n, name, float(eps)
        self.shapes = {f"{name}.weight": (n,), f"{name}.bias": (n,)}

    def bind(self, params: dict, grads: dict) -> None:
        self.gamma, self.beta = params[f"{self.name}.weight"], params[f"{self.name}.bias"]
        self.dgamma, self.dbeta = grads[f"{self.name}.weight"], grads[f"{self.name}.bias"]

    def bind_buffers(self, buffers: dict) -> None:
        pass

    def reset(self) -> None:
        """Initial state: gamma 1, beta 0 (and fresh running statistics)."""
        self.gamma[...] = 1
        self.beta[...] = 0

    def _param_grads(self, grad):
        """d gamma = sum over rows of grad * xhat, d beta = sum of grad."""
        row_ones = ones(len(grad), grad.dtype)
        np.matmul(row_ones, grad, out=self.dbeta)
        np.matmul(row_ones, grad * self.xhat, out=self.dgamma)

    def __repr__(self):
        return f"{type(self).__name__}({self.n})"


class BatchNorm(_Norm):
    """x (batch, n) -> gamma * (x - mean) / sqrt(var + eps) + beta, per unit."""

    def __init__(self, n: int, name: str, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__(n, name, eps)
        self.momentum = float(momentum)
        self.buffer_shapes = {f"{name}.running_mean": (n,), f"{name}.running_var": (n,)}

    def bind_buffers(self, buffers: dict) -> None:
        self.running_mean = buffers[f"{self.name}.running_mean"]
        self.running_var = buffers[f"{self.name}.running_var"]

    def reset(self) -> None:
        super().reset()
        self.running_mean[...] = 0
        self.running_var[...] = 1

    def forward(self, x, training=False):
        if not training:
            return (x - self.running_mean) * (self.gamma / np.sqrt(self.running_var + self.eps)) + self.beta
        rows = len(x)
        if rows < 2:
            raise ValueError(f"batch norm needs at least 2 rows per training batch, got {rows}")
        row_ones = ones(rows, x.dtype)
        mean = np.matmul(row_ones, x) / rows
        xc = x - mean
        var = np.matmul(row_ones, xc * xc) / rows  # biased, as used to normalise
        self.inv_std = 1 / np.sqrt(var + self.eps)
        self.xhat = xc * self.inv_std
        m = self.momentum
        self.running_mean *= 1 - m
        self.running_mean += m * mean
        self.running_var *= 1 - m
        self.running_var += (m * rows / (rows - 1)) * var  # unbiased, as PyTorch keeps it
        return self.xhat * self.gamma + self.beta

    def backward(self, grad):
        """dx = gamma / (n sqrt(var + eps)) * (n g - sum g - xhat sum(g xhat))."""
        rows = len(grad)
        self._param_grads(grad)
        return (grad * rows - self.dbeta - self.xhat * self.dgamma) * (self.gamma * self.inv_std / rows)


class LayerNorm(_Norm):
    """x (batch, n) -> gamma * (x - mean_row) / sqrt(var_row + eps) + beta."""

    def forward(self, x, training=False):
        unit_ones = ones(self.n, x.dtype)
        xc = x - (np.matmul(x, unit_ones) / self.n)[:, None]
        inv_std = 1 / np.sqrt(np.matmul(xc * xc, unit_ones) / self.n + self.eps)
        xhat = xc * inv_std[:, None]
        if training:
            self.xhat, self.inv_std = xhat, inv_std
        return xhat * self.gamma + self.beta

    def backward(self, grad):
        """dx = inv_std * (d - mean_row(d) - xhat mean_row(d xhat)), d = g gamma."""
        self._param_grads(grad)
        d = grad * self.gamma  # the gradient of xhat
        unit_ones = ones(self.n, grad.dtype)
        mean_d = np.matmul(d, unit_ones) / self.n
        mean_dx = np.matmul(d * self.xhat, unit_ones) / self.n
        return (d - mean_d[:, None] - self.xhat * mean_dx[:, None]) * self.inv_std[:, None]


NORMALIZATIONS = {"batch_norm": BatchNorm, "layer_norm": LayerNorm}
