"""Elementwise activations as layers: each forward sits beside its backward.

Definitions and defaults follow PyTorch (leaky_relu slope 0.01, elu alpha 1,
selu's fixed constants, gelu in its exact erf form, softplus beta 1 and
threshold 20). A layer caches only what its backward needs; forward and
backward return new arrays and leave the ones they are given alone.
"""
from __future__ import annotations

import math

import numpy as np

from .registry import lookup


class Activation:
    """Base class: no parameters, forward(x, training) -> a, backward(da) -> dx."""

    name = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Identity(Activation):
    name = "identity"

    def forward(self, x, training=False):
        return x

    def backward(self, grad):
        return grad


class ReLU(Activation):
    name = "relu"

    def forward(self, x, training=False):
        self.a = np.maximum(x, 0)
        return self.a

    def backward(self, grad):
        return grad * (self.a > 0)


class LeakyReLU(Activation):
    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = float(negative_slope)

    def forward(self, x, training=False):
        self.positive = x > 0
        return np.where(self.positive, x, x * np.asarray(self.negative_slope, x.dtype))

    def backward(self, grad):
        return np.where(self.positive, grad, grad * np.asarray(self.negative_slope, grad.dtype))


class Tanh(Activation):
    name = "tanh"

    def forward(self, x, training=False):
        self.a = np.tanh(x)
        return self.a

    def backward(self, grad):
        return grad * (1 - self.a * self.a)


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, x, training=False):
        self.a = sigmoid(x)
        return self.a

    def backward(self, grad):
        return grad * (self.a * (1 - self.a))


class ELU(Activation):
    """x for x > 0, alpha * (exp(x) - 1) otherwise (PyTorch's nn.ELU, alpha 1)."""

    name = "elu"
    scale = 1.0

    def __init__(self, alpha: float = 1.0):
        self.alpha = float(alpha)

    def forward(self, x, training=False):
        positive, negative = x > 0, np.minimum(x, 0)
        scale, scaled_alpha = np.asarray(self.scale, x.dtype), np.asarray(self.scale * self.alpha, x.dtype)
        if training:  # d/dx: scale for x > 0, scale * alpha * exp(x) otherwise
            self.slope = np.where(positive, scale, np.exp(negative) * scaled_alpha)
        # expm1 keeps alpha * (exp(x) - 1) exact near zero.
        return np.where(positive, x * scale, np.expm1(negative) * scaled_alpha)

    def backward(self, grad):
        return grad * self.slope


class SELU(ELU):
    """scale * ELU(x; alpha) with Klambauer et al.'s fixed constants (PyTorch's nn.SELU)."""

    name = "selu"
    alpha_value = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946

    def __init__(self):
        super().__init__(self.alpha_value)


class SiLU(Activation):
    """x * sigmoid(x), also called swish (PyTorch's nn.SiLU)."""

    name = "silu"

    def forward(self, x, training=False):
        s = sigmoid(x)
        if training:
            # d/dx x s(x) = s (1 + x (1 - s))
            self.slope = s * (1 + x * (1 - s))
        return x * s

    def backward(self, grad):
        return grad * self.slope


class Softplus(Activation):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold
    (PyTorch's nn.Softplus, beta 1, threshold 20: its switch to the identity is
    kept, so outputs match PyTorch's to rounding)."""

    name = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        if beta <= 0:
            raise ValueError(f"softplus beta must be > 0, got {beta}")
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x, training=False):
        bx = x * np.asarray(self.beta, x.dtype)
        linear = bx > self.threshold
        if training:
            self.slope = np.where(linear, np.asarray(1, x.dtype), sigmoid(bx))
        # logaddexp(0, bx) = log(1 + exp(bx)) without overflow.
        return np.where(linear, x, np.logaddexp(0, bx) * np.asarray(1 / self.beta, x.dtype))

    def backward(self, grad):
        return grad * self.slope


class GELU(Activation):
    """x * Phi(x) (exact, through a vectorised erf); approximate='tanh' gives PyTorch's tanh form."""

    name = "gelu"

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x, training=False):
        self.x = x
        if self.approximate == "tanh":
            self.t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            return 0.5 * x * (1 + self.t)
        self.cdf = normal_cdf(x)
        return x * self.cdf

    def backward(self, grad):
        x = self.x
        if self.approximate == "tanh":
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return grad * (0.5 * (1 + self.t) + 0.5 * x * (1 - self.t * self.t) * du)
        # d/dx x Phi(x) = Phi(x) + x phi(x)
        return grad * (self.cdf + x * np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi)))


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)

# W. J. Cody, "Rational Chebyshev approximations for the error function",
# Math. Comp. 23 (1969), as in his SPECFUN routine CALERF: erf on |x| <= 0.46875,
# erfc on (0.46875, 4] and beyond 4, each a ratio of polynomials good to ~1e-18.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
          2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
          2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
          1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)
_ERF_THRESHOLD = 0.46875
_ONE_OVER_SQRT_PI = 5.6418958354775628695e-1


def _ratio(num, den, z):
    """CALERF's evaluation order:
    (((num[-1] z + num[0]) z + num[1]) ... + num[-2]) / ((((z + den[0]) z ...) + den[-1])."""
    top, bottom = z * num[-1], z
    for a, b in zip(num[:-2], den[:-1]):
        top = (top + a) * z
        bottom = (bottom + b) * z
    return (top + num[-2]) / (bottom + den[-1])


def _erf_small(x):
    """erf(x) for |x| <= 0.46875 (larger values are clipped to that range)."""
    t = np.clip(x, -_ERF_THRESHOLD, _ERF_THRESHOLD)
    return _ratio(_ERF_A, _ERF_B, t * t) * t


def _erfc_tail(y):
    """erfc(y) for y >= 0.46875 (smaller values are clipped to it).

    Every element goes through both branches and np.where picks one: boolean
    indexing would cost more than the arithmetic."""
    y = np.clip(y, _ERF_THRESHOLD, 26.543)  # erfc underflows to 0 beyond (Cody's XBIG); inf would give inf - inf below
    out = _ratio(_ERF_C, _ERF_D, np.minimum(y, 4.0))
    far = y > 4.0
    if far.any():
        z = np.maximum(y, 4.0)
        z = 1 / (z * z)
        out = np.where(far, (_ONE_OVER_SQRT_PI - _ratio(_ERF_P, _ERF_Q, z) * z) / y, out)
    # exp(-y^2) as exp(-r^2) exp(-(y - r)(y + r)) with r = y rounded down to
    # 1/16: r^2 is exact, so the large exponent carries no rounding error.
    r = np.trunc(y * 16) / 16
    with np.errstate(under="ignore"):
        return out * np.exp(-((y - r) * (y + r))) * np.exp(-(r * r))


def _float_array(x):
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def erf(x):
    """The error function, elementwise and vectorised (NumPy has none): Cody's
    rational approximations, within a few ulp of libm's erf in float64."""
    x = _float_array(x)
    out = _erf_small(x)
    tail = np.abs(x) > _ERF_THRESHOLD
    if tail.any():
        out = np.where(tail, np.copysign(1 - _erfc_tail(np.abs(x)), x), out)
    return out


def normal_cdf(x):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF. Beyond the
    central range it is computed from erfc: erfc(|z|) / 2 in the lower tail,
    which keeps its relative precision where 1 + erf would cancel to zero."""
    z = _float_array(x) * (1 / math.sqrt(2))
    out = (_erf_small(z) + 1) * 0.5
    tail = np.abs(z) > _ERF_THRESHOLD
    if tail.any():
        half_erfc = _erfc_tail(np.abs(z)) * 0.5
        out = np.where(tail, np.where(z > 0, 1 - half_erfc, half_erfc), out)
    return out


def sigmoid(x):
    """The logistic function 1 / (1 + exp(-x)), the one every part of mlpcli uses.

    It is computed from e = exp(-|x|) <= 1, as 1 / (1 + e) for x >= 0 and
    e / (1 + e) below: nothing overflows, and the lower tail keeps its relative
    precision down to the smallest subnormal (the form 0.5 (1 + tanh(x / 2))
    cancels there: in float32 it gives 2.98e-8 for sigmoid(-18) = 1.52e-8, and
    exactly 0 from x = -20 down)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (ReLU, LeakyReLU, ELU, SELU, GELU, SiLU, Softplus, Tanh, Sigmoid, Identity)
}

# Parameters an activation accepts, with their PyTorch defaults.
ACTIVATION_OPTIONS: dict[str, dict] = {
    "leaky_relu": {"negative_slope": 0.01},
    "elu": {"alpha": 1.0},
    "gelu": {"approximate": "none"},
    "softplus": {"beta": 1.0, "threshold": 20.0},
}


def get_activation(name: str, **options) -> Activation:
    """Look an activation up by name; an unknown name lists the valid ones."""
    return lookup("activation", ACTIVATIONS, name)(**options)
