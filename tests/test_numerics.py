"""Regression tests for issue 12's numerical bugs: centered RMSprop under a
near-constant gradient, the sigmoid's lower tail in float32, and the number
of draws the ``pytorch`` bias initialiser takes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mlpcli.engine import MLP, LayerSpec, RMSprop, get_activation
from mlpcli.engine.activations import sigmoid
from mlpcli.engine.losses import SigmoidBinaryCrossEntropy
from mlpcli.numpy_fn import SOURCE


def near_constant_gradients(steps, n=1000, seed=0):
    """A gradient that hardly changes (relative noise 1e-4), in float32."""
    rng = np.random.default_rng(seed)
    g0 = rng.uniform(0.5, 2, n).astype(np.float32)
    return [(g0 * (1 + 1e-4 * rng.standard_normal(n))).astype(np.float32) for _ in range(steps)]


def test_centered_rmsprop_stays_finite_under_a_near_constant_gradient():
    """s - a^2 cancels to rounding noise and goes negative (here first at step
    ~1,220); the square root of it made every later parameter NaN, which the
    trainer reported as a divergence. 1,600 float32 steps stay finite."""
    params = np.zeros(1000, np.float32)
    optimizer = RMSprop(lr=0.01, centered=True)
    negative_variance_seen = False
    for g in near_constant_gradients(1600):
        optimizer.step(params, g)
        negative_variance_seen |= bool(np.any(optimizer.square_avg - optimizer.grad_avg**2 < 0))
    assert negative_variance_seen  # the run does reach the case the clamp is for
    assert np.all(np.isfinite(params))
    assert np.all(np.isfinite(optimizer.square_avg)) and np.all(np.isfinite(optimizer.grad_avg))


def test_centered_rmsprop_matches_torch_while_torch_is_finite():
    """Where s - a^2 >= 0 the clamp changes nothing: the same float32 run as
    torch.optim.RMSprop's (to rounding, which this ill-conditioned update
    amplifies slowly: 1e-5 relative after 300 steps)."""
    torch = pytest.importorskip("torch")
    grads = near_constant_gradients(300)
    params = np.zeros(1000, np.float32)
    optimizer = RMSprop(lr=0.01, centered=True)
    reference = torch.zeros(1000, requires_grad=True)
    torch_optimizer = torch.optim.RMSprop([reference], lr=0.01, centered=True)
    for g in grads:
        optimizer.step(params, g.copy())
        reference.grad = torch.from_numpy(g.copy())
        torch_optimizer.step()
    np.testing.assert_allclose(params, reference.detach().numpy(), rtol=1e-4)


def exact_sigmoid(z):
    return np.array([1 / (1 + math.exp(-float(v))) if v > -700 else 0.0 for v in np.ravel(z)])


def test_sigmoid_keeps_the_lower_tail_in_float32():
    """0.5 (1 + tanh(z / 2)) gave 2.98e-8 at z = -18 and exactly 0 from z = -20
    down, so the probabilities of distinct logits tied."""
    assert sigmoid(np.float32(-18)) == pytest.approx(1.522997951276035e-8, rel=3e-7)
    z = np.arange(-80, -19, dtype=np.float32)[::-1]  # -20, -21, ..., -80
    p = sigmoid(z)
    assert p.dtype == np.float32
    assert np.all(p > 0)
    assert np.all(np.diff(p) < 0)  # strictly decreasing as z falls: no ties
    np.testing.assert_allclose(p, exact_sigmoid(z), rtol=3e-7)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 3e-7), (np.float64, 5e-16)])
def test_sigmoid_is_within_a_few_ulp_everywhere(dtype, rtol):
    z = np.linspace(-87, 87, 20001).astype(dtype)
    np.testing.assert_allclose(sigmoid(z), exact_sigmoid(z), rtol=rtol, atol=0)
    assert sigmoid(np.array([-1000.0, 1000.0], dtype)).tolist() == [0.0, 1.0]  # no overflow warning either


def test_sigmoid_matches_torch():
    torch = pytest.importorskip("torch")
    z = np.linspace(-87, 87, 20001).astype(np.float32)
    np.testing.assert_allclose(sigmoid(z), torch.sigmoid(torch.from_numpy(z)).numpy(), rtol=4e-7, atol=0)


def test_binary_probabilities_of_very_negative_logits_are_not_zero_and_do_not_tie():
    """What predict_proba and ROC AUC see: a float32 binary model whose logits are
    -20 ... -60 gives distinct, non-zero probabilities of the second class."""
    network = MLP(1, [], 1, "binary_cross_entropy", dtype="float32")
    network.parameters["dense.0.weight"][...] = 1
    x = -np.arange(20, 61, dtype=np.float32)[:, None]
    p = network.predict(x)[:, 1]
    assert np.all(p > 0)
    assert len(np.unique(p)) == len(p)
    np.testing.assert_allclose(p, exact_sigmoid(x), rtol=3e-7)
    labels = SigmoidBinaryCrossEntropy().output(np.repeat(x, 3, axis=1))  # multilabel: k sigmoid outputs
    assert np.all(labels > 0) and len(np.unique(labels[:, 0])) == len(x)


def test_every_sigmoid_is_the_same_function():
    """The Sigmoid activation, the SiLU and softplus slopes, the binary head's
    gradient and the pure-NumPy export all use the one stable sigmoid."""
    z = np.concatenate([np.linspace(-100, 100, 2001), [-0.0, 0.0]]).astype(np.float32)
    expected = sigmoid(z)
    np.testing.assert_array_equal(get_activation("sigmoid").forward(z[:, None])[:, 0], expected)
    silu = get_activation("silu")
    np.testing.assert_array_equal(silu.forward(z, training=True), z * expected)
    softplus = get_activation("softplus")
    softplus.forward(z, training=True)
    np.testing.assert_array_equal(softplus.slope[z <= 20], expected[z <= 20])
    head = SigmoidBinaryCrossEntropy()
    head.forward(z[:, None], np.zeros(len(z), int))
    np.testing.assert_array_equal(head.backward()[:, 0], expected * np.float32(1 / len(z)))  # (p - 0) / n

    namespace = {"np": np, "math": math}
    exec(compile(SOURCE, "<numpy_fn>", "exec"), namespace)  # noqa: S102 - mlpcli's own source
    identity = ((np.ones((1, 1), np.float32), np.zeros(1, np.float32), None, "identity", {}),)
    predict = namespace["make"](np.dtype(np.float32), None, identity, "sigmoid2")
    np.testing.assert_array_equal(predict(z[:, None])[:, 1], expected)
    hidden = ((np.ones((1, 1), np.float32), np.zeros(1, np.float32), None, "sigmoid", {}),) + identity
    np.testing.assert_array_equal(namespace["make"](np.dtype(np.float32), None, hidden, "identity")(z[:, None])[:, 0],
                                  expected)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pytorch_bias_init_draws_exactly_one_number_per_unit(dtype):
    """nn.Linear's bias is n_out uniforms in +-1/sqrt(fan_in); the initialiser
    used to draw fan_in x n_out of them and keep one row. Each layer now takes
    fan_in x n_out draws for W and n_out for b, in that order, and nothing more."""
    network = MLP(400, [LayerSpec(300, "relu"), LayerSpec(200, "tanh")], 10, "cross_entropy", dtype=dtype)
    rng = np.random.default_rng(7)
    network.init_params(rng, init="pytorch")
    replay = np.random.default_rng(7)
    for i, (fan_in, n_out) in enumerate([(400, 300), (300, 200), (200, 10)]):
        limit = 1 / math.sqrt(fan_in)
        W = replay.uniform(-limit, limit, size=(fan_in, n_out)).astype(dtype)
        b = replay.uniform(-limit, limit, size=n_out).astype(dtype)
        np.testing.assert_array_equal(network.parameters[f"dense.{i}.weight"], W)
        np.testing.assert_array_equal(network.parameters[f"dense.{i}.bias"], b)
    assert rng.bit_generator.state == replay.bit_generator.state
