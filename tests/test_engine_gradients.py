"""Central-difference gradient checks for every differentiable piece of the engine.

If one of these fails, training follows a wrong gradient: the loss stalls or
diverges for no visible reason. All checks run in float64, where a correct
analytic gradient matches central differences (step 1e-6) to far better than
the 1e-6 relative error asserted here, and a wrong one (a missing factor, a
sign, a transposed product) misses by orders of magnitude.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlpcli.engine import ACTIVATIONS, LOSSES, MLP, Dense, LayerSpec, get_activation
from mlpcli.engine.activations import erf, normal_cdf

H = 1e-6
TOL = 1e-6


def rel_error(analytic, numeric) -> float:
    """||a - n|| / (||a|| + ||n||): scale-free, and 0 when both are exactly zero."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(np.linalg.norm(analytic - numeric) / denom) if denom > 0 else 0.0


def numeric_grad(f, x, h=H):
    """d f / d x by central differences, perturbing x in place one entry at a time."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad


def away_from_zero(rng, shape, margin=1e-3):
    """Standard-normal values with |x| >= margin, so no ReLU kink sits inside a step."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.copysign(margin + np.abs(x), x), x)


# -- activations ------------------------------------------------------------------

ACTIVATION_CASES = [
    ("relu", {}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.3}),
    ("tanh", {}),
    ("sigmoid", {}),
    ("gelu", {"approximate": "none"}),
    ("gelu", {"approximate": "tanh"}),
    ("identity", {}),
    ("elu", {}),
    ("elu", {"alpha": 0.5}),
    ("selu", {}),
    ("silu", {}),
    ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 3.0}),  # some inputs beyond the threshold (identity there)
]


def test_activation_cases_cover_the_registry():
    assert {name for name, _ in ACTIVATION_CASES} == set(ACTIVATIONS)


@pytest.mark.parametrize("name, options", ACTIVATION_CASES, ids=lambda v: str(v))
def test_activation_backward_matches_central_differences(name, options):
    rng = np.random.default_rng(0)
    x = away_from_zero(rng, (4, 6)) * 2
    upstream = rng.standard_normal(x.shape)
    layer = get_activation(name, **options)

    if options.get("threshold") is not None:
        # PyTorch's softplus switches to the identity at beta x = threshold, a tiny jump: no step may cross it
        kink = options["threshold"] / options["beta"]
        x = np.where(np.abs(x - kink) < 1e-3, x + 1e-2, x)
        assert np.any(x * options["beta"] > options["threshold"])
    layer.forward(x.copy(), training=True)
    analytic = layer.backward(upstream.copy())

    probe = get_activation(name, **options)
    numeric = numeric_grad(lambda: float(np.sum(upstream * probe.forward(x.copy()))), x)
    assert analytic.shape == x.shape
    assert rel_error(analytic, numeric) < TOL


def test_leaky_relu_slope_is_applied_to_negative_inputs():
    """The option must reach the function: slope 0.3 is not the default 0.01."""
    layer = get_activation("leaky_relu", negative_slope=0.3)
    out = layer.forward(np.array([-2.0, 3.0]))
    np.testing.assert_allclose(out, [-0.6, 3.0], rtol=1e-15)
    np.testing.assert_allclose(layer.backward(np.ones(2)), [0.3, 1.0], rtol=1e-15)


def test_gelu_forms_agree_closely_but_are_distinct():
    """'tanh' is PyTorch's approximation of the exact erf form: close, not equal."""
    x = np.linspace(-4, 4, 81)
    exact = get_activation("gelu", approximate="none").forward(x.copy())
    approx = get_activation("gelu", approximate="tanh").forward(x.copy())
    assert np.max(np.abs(exact - approx)) < 1e-3
    assert np.max(np.abs(exact - approx)) > 1e-6
    # GELU(1) = Phi(1) = 0.8413447460685429 (exact form).
    assert get_activation("gelu").forward(np.array([1.0]))[0] == pytest.approx(0.8413447460685429, rel=1e-14)


def test_elu_selu_softplus_options_reach_the_function():
    x = np.array([-2.0, 0.5])
    np.testing.assert_allclose(get_activation("elu", alpha=0.5).forward(x.copy()), [0.5 * np.expm1(-2), 0.5], rtol=1e-15)
    selu = get_activation("selu").forward(x.copy())
    np.testing.assert_allclose(selu, 1.0507009873554805 * np.array([1.6732632423543772 * np.expm1(-2), 0.5]), rtol=1e-15)
    soft = get_activation("softplus", beta=2.0, threshold=0.5)
    # beta x = -4 -> log(1 + e^-4) / 2; beta x = 1 > threshold 0.5 -> x itself
    np.testing.assert_allclose(soft.forward(x.copy()), [np.log1p(np.exp(-4.0)) / 2, 0.5], rtol=1e-15)


def test_new_activations_are_finite_at_extreme_inputs():
    x = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]])
    for name in ("elu", "selu", "silu", "softplus", "gelu"):
        layer = get_activation(name)
        out = layer.forward(x.copy(), training=True)
        grad = layer.backward(np.ones_like(x))
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad)), name
    np.testing.assert_allclose(get_activation("softplus").forward(x.copy()), [[0, 1.9287498479639178e-22, np.log(2), 50, 1e4]], rtol=1e-15)


def _torch_function(torch, name, options):
    F = torch.nn.functional
    return {
        "relu": torch.relu, "leaky_relu": lambda t: F.leaky_relu(t, **options),
        "elu": lambda t: F.elu(t, **options), "selu": torch.selu,
        "gelu": lambda t: F.gelu(t, **options), "silu": F.silu,
        "softplus": lambda t: F.softplus(t, **options), "tanh": torch.tanh,
        "sigmoid": torch.sigmoid, "identity": lambda t: t * 1,
    }[name]


@pytest.mark.parametrize("name, options", ACTIVATION_CASES, ids=lambda v: str(v))
def test_activation_forward_and_gradient_match_pytorch(name, options):
    """PyTorch's definitions and defaults, value for value, over a range that
    covers both tails (float64: the differences are rounding; in the tails,
    1 - tanh^2 and the like cancel to ~1e-15 in absolute terms in either library)."""
    torch = pytest.importorskip("torch")
    x = np.concatenate([np.linspace(-30, 30, 601), np.random.default_rng(0).standard_normal(200)]).reshape(1, -1)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    reference = _torch_function(torch, name, options)(xt)
    reference.sum().backward()
    layer = get_activation(name, **options)
    np.testing.assert_allclose(layer.forward(x.copy()), reference.detach().numpy(), rtol=1e-13, atol=1e-15)
    layer.forward(x.copy(), training=True)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_vectorised_erf_matches_math_erf():
    """GELU's exact form needs erf, which NumPy lacks: Cody's rational
    approximations, checked against libm over the whole range, both tails
    (where erf rounds to +-1) and tiny arguments (where erf(x) ~ 2x / sqrt(pi))."""
    import math

    rng = np.random.default_rng(0)
    tiny = 10.0 ** np.linspace(-310, -1, 400)
    x = np.concatenate([
        np.linspace(-30, 30, 60001), rng.standard_normal(20000) * 3, tiny, -tiny,
        [0.0, -0.0, 0.46875, -0.46875, np.nextafter(0.46875, 1), 4.0, -4.0, np.nextafter(4.0, 5), 26.6, 1e300],
    ])
    expected = np.array([math.erf(v) for v in x])
    got = erf(x)
    assert got.dtype == np.float64 and got.shape == x.shape
    relative = np.abs(got - expected) / np.maximum(np.abs(expected), 1e-320)
    assert relative.max() < 2e-15, x[relative.argmax()]
    np.testing.assert_array_equal(erf(np.array([np.inf, -np.inf])), [1.0, -1.0])
    assert np.isnan(erf(np.array([np.nan]))[0])
    assert np.copysign(1, erf(np.array([-0.0]))[0]) == -1  # the sign of zero is kept
    # float32 in, float32 out, to float32 precision
    x32 = rng.standard_normal(1000).astype(np.float32) * 3
    assert erf(x32).dtype == np.float32
    np.testing.assert_allclose(erf(x32), [math.erf(v) for v in x32.astype(np.float64)], rtol=1e-6, atol=1e-7)


def test_normal_cdf_keeps_relative_precision_in_the_lower_tail():
    """Phi(-30) ~ 4.9e-198; 1 + erf would give 0. (GELU(x) = x Phi(x).)"""
    import math

    x = np.array([-37.0, -30.0, -10.0, -1.0, 0.0, 1.0, 10.0])
    expected = [0.5 * math.erfc(-v / math.sqrt(2)) for v in x]
    np.testing.assert_allclose(normal_cdf(x), expected, rtol=1e-14)


# -- Dense ------------------------------------------------------------------------


def make_dense(n_in, n_out, rng, input_grad=True):
    params = {"dense.0.weight": rng.standard_normal((n_in, n_out)), "dense.0.bias": rng.standard_normal(n_out)}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    layer = Dense(n_in, n_out, "dense.0", input_grad=input_grad)
    layer.bind(params, grads)
    return layer, params, grads


@pytest.mark.parametrize("n_in, n_out, batch", [(3, 4, 5), (1, 1, 1), (6, 2, 3)])
def test_dense_gradients_wrt_weight_bias_and_input(n_in, n_out, batch):
    rng = np.random.default_rng(1)
    layer, params, grads = make_dense(n_in, n_out, rng)
    x = rng.standard_normal((batch, n_in))
    upstream = rng.standard_normal((batch, n_out))

    layer.forward(x, training=True)
    dx = layer.backward(upstream.copy())

    def objective():
        return float(np.sum(upstream * layer.forward(x)))

    assert rel_error(grads["dense.0.weight"], numeric_grad(objective, params["dense.0.weight"])) < TOL
    assert rel_error(grads["dense.0.bias"], numeric_grad(objective, params["dense.0.bias"])) < TOL
    assert rel_error(dx, numeric_grad(objective, x)) < TOL


def test_dense_without_input_grad_returns_none_but_fills_dW_and_db():
    rng = np.random.default_rng(2)
    layer, _, grads = make_dense(3, 2, rng, input_grad=False)
    x, upstream = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer.forward(x, training=True)
    assert layer.backward(upstream) is None
    np.testing.assert_allclose(grads["dense.0.weight"], x.T @ upstream, rtol=1e-13)
    np.testing.assert_allclose(grads["dense.0.bias"], upstream.sum(axis=0), rtol=1e-13)


# -- loss heads -------------------------------------------------------------------


def head_case(name, rng, n=6, k=3, scale=2.0):
    """Logits z and targets y in the shapes each head documents."""
    if name == "cross_entropy":
        return rng.standard_normal((n, k)) * scale, rng.integers(0, k, n)
    if name == "binary_cross_entropy":
        return rng.standard_normal((n, 1)) * scale, rng.integers(0, 2, n)
    if name in ("mse", "mae", "huber"):
        # mae and huber have kinks at z = y (and |z - y| = delta): keep them out of the steps.
        y = rng.standard_normal((n, k))
        return y + away_from_zero(rng, (n, k), margin=0.05) * scale, y
    raise AssertionError(f"no test case for loss {name!r}")


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_head_backward_matches_central_differences(name):
    rng = np.random.default_rng(3)
    z, y = head_case(name, rng)
    head = LOSSES[name]()
    head.forward(z.copy(), y)
    analytic = head.backward().copy()
    numeric = numeric_grad(lambda: head.forward(z.copy(), y), z)
    assert analytic.shape == z.shape
    assert rel_error(analytic, numeric) < TOL


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_evaluate_reports_the_training_objective(name):
    """The loss reported at evaluation (val_loss, the test loss) is the one
    training minimised, whatever chunk size evaluation uses."""
    rng = np.random.default_rng(4)
    k = 1 if name == "binary_cross_entropy" else 3
    network = MLP(5, [LayerSpec(4, "tanh")], k, name, dtype="float64")
    network.init_params(rng)
    x = rng.standard_normal((10, 5))
    y = rng.integers(0, 2 if k == 1 else 3, 10) if name in ("cross_entropy", "binary_cross_entropy") else rng.standard_normal((10, k))
    z = network.forward(x.copy())
    expected = LOSSES[name]().forward(z.copy(), y)
    for chunk in (3, 4096):
        loss, out = network.evaluate(x, y, batch_size=chunk)
        assert loss == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(out, LOSSES[name]().output(z.copy()), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["cross_entropy", "binary_cross_entropy"])
def test_eval_loss_equals_training_objective_for_confidently_wrong_predictions(name, dtype):
    """An over-confident wrong prediction (logit margin 40) costs 40 nats in training;
    the validation loss (what early stopping watches) must report the same."""
    head = LOSSES[name]()
    z = np.array([[40.0, 0.0]] if name == "cross_entropy" else [[40.0]], dtype)
    y = np.array([1] if name == "cross_entropy" else [0])
    assert head.forward(z.copy(), y) == pytest.approx(40.0, rel=1e-6)
    # the network's evaluation path (used for val_loss and test loss) scores from logits too
    network = MLP(1, [], z.shape[1], name, dtype=dtype)
    network.parameters["dense.0.weight"][...] = z
    loss, out = network.evaluate(np.ones((1, 1)), y)
    assert loss == pytest.approx(40.0, rel=1e-6)
    assert out.shape == (1, 2)


def test_cross_entropy_value_on_a_hand_computed_case():
    head = LOSSES["cross_entropy"]()
    z = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])  # p = [.5, .5] and [.75, .25]
    y = np.array([0, 1])
    assert head.forward(z, y) == pytest.approx(-(np.log(0.5) + np.log(0.25)) / 2, rel=1e-14)


def test_binary_cross_entropy_value_on_a_hand_computed_case():
    head = LOSSES["binary_cross_entropy"]()
    z = np.array([[0.0], [np.log(3.0)]])  # p = 0.5 and 0.75
    y = np.array([1, 0])
    assert head.forward(z, y) == pytest.approx(-(np.log(0.5) + np.log(0.25)) / 2, rel=1e-14)
    np.testing.assert_allclose(head.output(z), [[0.5, 0.5], [0.25, 0.75]], rtol=1e-14)


def test_heads_stay_finite_and_exact_at_huge_logits():
    """Logits of +-1000 overflow a naive exp/log; the fused heads must not."""
    ce = LOSSES["cross_entropy"]()
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]])
    y = np.array([1, 1])  # first sample badly wrong, second confidently right
    loss = ce.forward(z.copy(), y)
    grad = ce.backward()
    assert loss == pytest.approx(2000.0 / 2, rel=1e-12)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-12)
    proba = ce.output(z.copy())
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1)

    bce = LOSSES["binary_cross_entropy"]()
    z = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]])
    y = np.array([0, 1, 1, 0])  # two confidently wrong (loss 1000 each), two right (0)
    loss = bce.forward(z.copy(), y)
    grad = bce.backward()
    assert loss == pytest.approx(2000.0 / 4, rel=1e-12)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad[:, 0], [0.25, -0.25, 0.0, 0.0], atol=1e-12)
    proba = bce.output(z.copy())
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba, [[0, 1], [1, 0], [0, 1], [1, 0]], atol=1e-12)

    mse = LOSSES["mse"]()
    loss = mse.forward(np.array([[1000.0], [-1000.0]]), np.array([[0.0], [0.0]]))
    assert loss == pytest.approx(1e6) and np.all(np.isfinite(mse.backward()))


# -- the whole network ------------------------------------------------------------


def make_problem(loss, n_inputs, hidden, n_outputs, batch, seed, dropout_seed=None):
    rng = np.random.default_rng(seed)
    network = MLP(n_inputs, hidden, n_outputs, loss, dtype="float64")
    network.init_params(rng)
    # Non-zero biases, so a bias gradient routed to the wrong slot shows up.
    network.params[network.n_weights :] = rng.standard_normal(network.params.size - network.n_weights) * 0.5
    x = rng.standard_normal((batch, n_inputs))
    if loss == "cross_entropy":
        y = rng.integers(0, n_outputs, batch)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, batch)
    else:
        y = rng.standard_normal((batch, n_outputs))
    return network, x, y


def min_abs_preactivation(network, x, dropout_seed=None) -> float:
    """Smallest |Dense output| feeding an activation, to keep kinks out of the steps."""
    if dropout_seed is not None:
        network.set_dropout_rng(np.random.default_rng(dropout_seed))
    smallest = np.inf
    for layer in network.layers[:-1]:
        x = layer.forward(x, dropout_seed is not None)
        if isinstance(layer, Dense):
            smallest = min(smallest, float(np.abs(x).min()))
    return smallest


def check_network_gradient(network, x, y, dropout_seed=None):
    """train_step's grads vs central differences of the loss over every parameter."""
    training = dropout_seed is not None

    def loss():
        if training:
            network.set_dropout_rng(np.random.default_rng(dropout_seed))
        return network.head.forward(network.forward(x, training=training), y)

    if training:
        network.set_dropout_rng(np.random.default_rng(dropout_seed))
    x_before = x.copy()
    step_loss = network.train_step(x, y)
    analytic = network.grads.copy()
    assert step_loss == pytest.approx(loss(), rel=1e-14)
    numeric = numeric_grad(loss, network.params)
    np.testing.assert_array_equal(x, x_before)
    assert np.any(analytic != 0)
    assert rel_error(analytic, numeric) < TOL, f"relative error {rel_error(analytic, numeric):.2e}"
    # Each parameter block separately, so a small block (a bias) cannot hide in the
    # total. A block whose gradient is ~0 is judged against the noise of central
    # differences instead: the loss is computed to ~eps times the size of the numbers
    # summed into it (the loss, the head's inputs), so each quotient carries ~eps * size / H
    # and a block of n entries ~sqrt(n) times that (measured: at most 0.97 of it over
    # 6000 random blocks; 4 is the margin). At H = 1e-6 the truncation error
    # (~H^2 f''' / 6) is far smaller. A fixed 1e-9 failed a layer norm over 2 units.
    if training:
        network.set_dropout_rng(np.random.default_rng(dropout_seed))
    size = abs(step_loss) + float(np.abs(network.forward(x, training=training)).max())
    noise = 4 * np.finfo(np.float64).eps * size / H
    base = network.grads.__array_interface__["data"][0]
    for name, view in network.gradients.items():
        start = (view.__array_interface__["data"][0] - base) // network.grads.itemsize
        a, n = analytic[start : start + view.size], numeric[start : start + view.size]
        floor = np.sqrt(view.size) * noise
        assert np.linalg.norm(a - n) <= TOL * (np.linalg.norm(a) + np.linalg.norm(n)) + floor, name


NETWORK_CASES = [
    # loss, n_inputs, hidden, n_outputs
    ("cross_entropy", 4, [LayerSpec(5, "relu"), LayerSpec(3, "tanh")], 3),
    ("cross_entropy", 3, [LayerSpec(6, "gelu")], 4),
    ("cross_entropy", 2, [], 3),
    ("binary_cross_entropy", 4, [LayerSpec(5, "sigmoid")], 1),
    ("binary_cross_entropy", 3, [LayerSpec(4, "leaky_relu", activation_options={"negative_slope": 0.2})], 1),
    ("binary_cross_entropy", 5, [], 1),
    ("mse", 3, [LayerSpec(4, "gelu", activation_options={"approximate": "tanh"}), LayerSpec(2, "identity")], 2),
    ("mse", 2, [LayerSpec(7, "tanh"), LayerSpec(3, "relu"), LayerSpec(2, "sigmoid")], 1),
    ("mse", 4, [], 2),
]


@pytest.mark.parametrize("loss, n_inputs, hidden, n_outputs", NETWORK_CASES)
def test_network_gradient_without_dropout(loss, n_inputs, hidden, n_outputs):
    network, x, y = make_problem(loss, n_inputs, hidden, n_outputs, batch=7, seed=5)
    assert min_abs_preactivation(network, x) > 1e-4
    check_network_gradient(network, x, y)


DROPOUT_CASES = [
    ("cross_entropy", 4, [LayerSpec(6, "relu", dropout=0.3), LayerSpec(5, "tanh", dropout=0.5)], 3),
    ("binary_cross_entropy", 3, [LayerSpec(8, "gelu", dropout=0.25)], 1),
    ("mse", 3, [LayerSpec(6, "sigmoid", dropout=0.4), LayerSpec(4, "identity", dropout=0.2)], 2),
]


@pytest.mark.parametrize("loss, n_inputs, hidden, n_outputs", DROPOUT_CASES)
def test_network_gradient_with_a_fixed_dropout_mask(loss, n_inputs, hidden, n_outputs):
    network, x, y = make_problem(loss, n_inputs, hidden, n_outputs, batch=6, seed=6)
    assert min_abs_preactivation(network, x, dropout_seed=11) > 1e-4
    # The mask must actually drop something, or this is the no-dropout check again.
    network.set_dropout_rng(np.random.default_rng(11))
    network.forward(x, training=True)
    assert any(layer.mask is not None and np.any(layer.mask == 0) for layer in network.layers if hasattr(layer, "mask"))
    check_network_gradient(network, x, y, dropout_seed=11)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    loss=st.sampled_from(sorted(LOSSES)),
    n_inputs=st.integers(1, 8),
    widths=st.lists(st.integers(1, 8), min_size=0, max_size=3),
    activations=st.lists(st.sampled_from(sorted(ACTIVATIONS)), min_size=3, max_size=3),
    use_dropout=st.booleans(),
    n_outputs=st.integers(1, 4),
    batch=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_network_gradient_property(loss, n_inputs, widths, activations, use_dropout, n_outputs, batch, seed):
    if loss == "binary_cross_entropy":
        n_outputs = 1
    elif loss == "cross_entropy":
        n_outputs = max(n_outputs, 2)
    hidden = [
        LayerSpec(w, a, dropout=0.3 if use_dropout else 0.0) for w, a in zip(widths, activations)
    ]
    network, x, y = make_problem(loss, n_inputs, hidden, n_outputs, batch, seed)
    dropout_seed = seed if use_dropout and hidden else None
    assume(min_abs_preactivation(network, x, dropout_seed) > 1e-4)
    check_network_gradient(network, x, y, dropout_seed)


@pytest.mark.parametrize("loss, n_outputs", [("cross_entropy", 3), ("binary_cross_entropy", 1), ("mse", 2)])
def test_float32_network_gradients_agree_with_float64(loss, n_outputs):
    """float32 is the default: its gradients must be the float64 ones, rounded,
    and nothing inside the step may silently promote to float64."""
    hidden = [LayerSpec(6, a) for a in ("relu", "leaky_relu", "tanh", "sigmoid", "gelu", "identity")]
    net64, x, y = make_problem(loss, 4, hidden, n_outputs, batch=8, seed=9)
    net32 = MLP(4, hidden, n_outputs, loss)
    net32.params[:] = net64.params
    x32 = x.astype(np.float32)
    y32 = y.astype(np.float32) if loss == "mse" else y
    assert net32.forward(x32).dtype == np.float32
    loss32, loss64 = net32.train_step(x32, y32), net64.train_step(x, y)
    assert net32.head.backward().dtype == np.float32
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    assert rel_error(net32.grads, net64.grads) < 1e-5
