"""Elementwise activations as layers: each forward sits beside its backward.

Definitions and defaults follow PyTorch (leaky_relu slope 0.01, elu alpha 1,
selu's fixed constants, gelu in its exact erf form, softplus beta 1 and
threshold 20). A layer caches only what its backward needs, and works in
place on the pre-activation it is given (the Dense layer below it keeps its
input, not its output, so nothing else holds that array) and on the gradient
it is given (the layer above made it for this backward alone).

``keeps_output`` says whether backward reads the forward's output array: a
dropout layer above may then not scale that array in place. ReLU keeps its
output only for its sign, which scaling by a dropout mask (>= 0) preserves.
"""
from __future__ import annotations

import math

import numpy as np

from .registry import lookup
from .scratch import Scratch, zeros_row


class Activation:
    """Base class: no parameters, forward(x, training) -> a, backward(da) -> dx."""

    name = ""
    keeps_output = False

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

    def __init__(self):
        self.scratch = Scratch()
        self._positive = None

    def forward(self, x, training=False):
        self.a = np.maximum(x, zeros_row(x.shape[-1], x.dtype), out=x)
        return self.a

    def backward(self, grad):
        positive = self._positive
        if positive is None or positive.shape != grad.shape:
            positive = self._positive = self.scratch.get("positive", grad.shape, bool)
        np.greater(self.a, 0, out=positive)
        return np.multiply(grad, positive, out=grad)


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
    keeps_output = True

    def __init__(self):
        self.scratch = Scratch()

    def forward(self, x, training=False):
        self.a = np.tanh(x, out=x)
        return self.a

    def backward(self, grad):
        slope = np.multiply(self.a, self.a, out=self.scratch.get("slope", grad.shape, grad.dtype))
        np.subtract(1, slope, out=slope)
        return np.multiply(grad, slope, out=grad)


class Sigmoid(Activation):
    name = "sigmoid"
    keeps_output = True

    def __init__(self):
        self.scratch = Scratch()

    def forward(self, x, training=False):
        # 0.5 * (1 + tanh(x / 2)) is the logistic function without overflow in exp.
        self.a = sigmoid(x, out=x)
        return self.a

    def backward(self, grad):
        slope = np.subtract(1, self.a, out=self.scratch.get("slope", grad.shape, grad.dtype))
        slope *= self.a
        return np.multiply(grad, slope, out=grad)


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
        return np.multiply(grad, self.slope, out=grad)


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
        s = _logistic(x)
        if training:
            # d/dx x s(x) = s (1 + x (1 - s))
            self.slope = s * (1 + x * (1 - s))
        return np.multiply(x, s, out=s)

    def backward(self, grad):
        return np.multiply(grad, self.slope, out=grad)


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
            self.slope = np.where(linear, np.asarray(1, x.dtype), _logistic(bx))
        # logaddexp(0, bx) = log(1 + exp(bx)) without overflow.
        return np.where(linear, x, np.logaddexp(0, bx) * np.asarray(1 / self.beta, x.dtype))

    def backward(self, grad):
        return np.multiply(grad, self.slope, out=grad)


class GELU(Activation):
    """x * Phi(x) (exact, through a vectorised erf; its training path reuses
    its arrays like ReLU's); approximate='tanh' gives PyTorch's tanh form."""

    name = "gelu"

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self.scratch = Scratch()

    def forward(self, x, training=False):
        self.x = x
        if self.approximate == "tanh":
            self.t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            return 0.5 * x * (1 + self.t)
        if not training:
            cdf = normal_cdf(x)
            return np.multiply(x, cdf, out=cdf)
        self.cdf = normal_cdf(x, out=self.scratch.get("cdf", x.shape, x.dtype), scratch=self.scratch)
        return np.multiply(x, self.cdf, out=self.scratch.get("out", x.shape, x.dtype))

    def backward(self, grad):
        x = self.x
        if self.approximate == "tanh":
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return grad * (0.5 * (1 + self.t) + 0.5 * x * (1 - self.t * self.t) * du)
        # d/dx x Phi(x) = Phi(x) + x phi(x)
        slope = np.multiply(x, x, out=self.scratch.get("slope", x.shape, x.dtype))
        slope *= -0.5
        np.exp(slope, out=slope)
        slope *= 1 / math.sqrt(2 * math.pi)
        slope *= x
        slope += self.cdf
        return np.multiply(grad, slope, out=grad)


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


def _ratio(num, den, z, out, work):
    """CALERF's evaluation order, into ``out`` (``work`` holds the denominator):
    (((num[-1] z + num[0]) z + num[1]) ... + num[-2]) / ((((z + den[0]) z ...) + den[-1])."""
    np.multiply(z, num[-1], out=out)
    np.copyto(work, z)
    for a, b in zip(num[:-2], den[:-1]):
        out += a
        out *= z
        work += b
        work *= z
    out += num[-2]
    work += den[-1]
    out /= work
    return out


class _Work:
    """Temporaries of one shape for the erf kernels, from a Scratch: every pass
    runs in place, since on small arrays a fresh temporary (page faults) costs
    more than the arithmetic."""

    def __init__(self, shape, dtype, scratch: Scratch | None):
        self.shape, self.dtype, self.scratch = shape, dtype, scratch

    def __call__(self, name, dtype=None):
        if self.scratch is None:
            return np.empty(self.shape, dtype or self.dtype)
        return self.scratch.get(f"erf.{name}", self.shape, dtype or self.dtype)


def _erf_small(x, out, work):
    """erf(x) into ``out`` for |x| <= 0.46875 (larger values are clipped to that range)."""
    t = np.clip(x, -_ERF_THRESHOLD, _ERF_THRESHOLD, out=work("a"))
    _ratio(_ERF_A, _ERF_B, np.multiply(t, t, out=work("b")), out, work("c"))
    out *= t
    return out


def _erfc_tail(y, out, work):
    """erfc(y) into ``out`` for y >= 0.46875 (smaller values are clipped to it); y is overwritten.

    Every element goes through the same passes and np.copyto picks a branch:
    boolean indexing would cost more than the arithmetic."""
    np.clip(y, _ERF_THRESHOLD, 26.543, out=y)  # erfc underflows to 0 beyond (Cody's XBIG); inf would give inf - inf below
    _ratio(_ERF_C, _ERF_D, np.minimum(y, 4.0, out=work("a")), out, work("b"))
    far = np.greater(y, 4.0, out=work("far", bool))
    if far.any():
        z = np.maximum(y, 4.0, out=work("a"))
        z *= z
        np.reciprocal(z, out=z)
        tail = _ratio(_ERF_P, _ERF_Q, z, work("c"), work("b"))
        tail *= z
        np.subtract(_ONE_OVER_SQRT_PI, tail, out=tail)
        tail /= y
        np.copyto(out, tail, where=far)
    # exp(-y^2) as exp(-r^2) exp(-(y - r)(y + r)) with r = y rounded down to
    # 1/16: r^2 is exact, so the large exponent carries no rounding error.
    r = np.multiply(y, 16, out=work("a"))
    np.trunc(r, out=r)
    r /= 16
    diff = np.subtract(y, r, out=work("b"))
    diff *= np.add(y, r, out=work("c"))
    np.negative(diff, out=diff)
    with np.errstate(under="ignore"):
        out *= np.exp(diff, out=diff)
        np.multiply(r, r, out=r)
        np.negative(r, out=r)
        out *= np.exp(r, out=r)
    return out


def _float_array(x):
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def erf(x, out=None, scratch: Scratch | None = None):
    """The error function, elementwise and vectorised (NumPy has none): Cody's
    rational approximations, within a few ulp of libm's erf in float64.
    Temporaries come from ``scratch`` when given (allocation-free when reused)."""
    x = _float_array(x)
    work = _Work(x.shape, x.dtype, scratch)
    out = _erf_small(x, np.empty_like(x) if out is None else out, work)
    y = np.abs(x, out=work("y"))
    tail = np.greater(y, _ERF_THRESHOLD, out=work("tail", bool))
    if tail.any():
        rest = _erfc_tail(y, work("rest"), work)
        np.subtract(1, rest, out=rest)
        np.copyto(out, np.copysign(rest, x, out=rest), where=tail)
    return out


def normal_cdf(x, out=None, scratch: Scratch | None = None):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF. Beyond the
    central range it is computed from erfc: erfc(|z|) / 2 in the lower tail,
    which keeps its relative precision where 1 + erf would cancel to zero."""
    x = _float_array(x)
    work = _Work(x.shape, x.dtype, scratch)
    z = np.multiply(x, 1 / math.sqrt(2), out=work("z"))
    out = _erf_small(z, np.empty_like(x) if out is None else out, work)
    out += 1
    out *= 0.5
    y = np.abs(z, out=work("y"))
    tail = np.greater(y, _ERF_THRESHOLD, out=work("tail", bool))
    if tail.any():
        half_erfc = _erfc_tail(y, work("rest"), work)
        half_erfc *= 0.5
        upper = np.greater(z, 0, out=work("upper", bool))
        np.subtract(1, half_erfc, out=half_erfc, where=upper)
        np.copyto(out, half_erfc, where=tail)
    return out


def sigmoid(x, out=None):
    """Numerically stable logistic function."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


@np.errstate(over="ignore")
def _logistic(x):
    """1 / (1 + exp(-x)), as PyTorch computes it: relatively exact in the lower
    tail, where sigmoid's 0.5 (1 + tanh(x / 2)) cancels (exp(-x) = inf gives 0)."""
    out = np.negative(x)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


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
