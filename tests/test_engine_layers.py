"""Behaviour of the engine's layers and of the MLP that stacks them: dropout,
the dense product, the flat parameter buffer, dtypes, evaluation mode and
initialisation."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from mlpcli.engine import MLP, Dense, Dropout, LayerSpec, get_activation, get_optimizer
from mlpcli.engine.activations import sigmoid

# -- Dropout ----------------------------------------------------------------------

N = 1_000_000
RATE = 0.2


@pytest.fixture(scope="module")
def dropped():
    """Inverted dropout at rate 0.2 on a million ones, in training mode."""
    x = np.ones(N)
    layer = Dropout(RATE, np.random.default_rng(0))
    return x, layer, layer.forward(x, training=True)


def test_dropout_keeps_the_expected_activation(dropped):
    # Each output is 1/(1-p) with probability 1-p, else 0: mean 1, variance
    # p/(1-p) = 0.25, so the mean of N = 1e6 has standard deviation 5e-4.
    # 0.003 is six of those: a wrong scale (no 1/(1-p): mean 0.8) is far outside.
    _, _, out = dropped
    assert abs(out.mean() - 1) < 0.003


def test_dropout_drops_the_requested_fraction(dropped):
    # The zero count is Binomial(N, 0.2): standard deviation 4e-4 as a fraction.
    _, _, out = dropped
    assert abs(np.mean(out == 0) - RATE) < 0.003


def test_dropout_survivors_are_scaled_by_exactly_one_over_keep(dropped):
    _, _, out = dropped
    assert set(np.unique(out)) == {0.0, 1 / (1 - RATE)}


def test_dropout_does_not_modify_its_input(dropped):
    x, _, out = dropped
    assert np.all(x == 1)
    assert not np.shares_memory(x, out)


def test_dropout_backward_uses_the_forward_mask():
    rng = np.random.default_rng(1)
    x = rng.uniform(1, 2, (50, 40))
    layer = Dropout(0.5, np.random.default_rng(2))
    out = layer.forward(x, training=True)
    upstream = rng.standard_normal(x.shape)
    grad = layer.backward(upstream.copy())
    dropped = out == 0
    assert 0.4 < dropped.mean() < 0.6
    assert np.all(grad[dropped] == 0)
    np.testing.assert_allclose(grad[~dropped], upstream[~dropped] * 2, rtol=1e-15)
    # d out / d x is the mask itself: out / x.
    np.testing.assert_allclose(grad, upstream * (out / x), rtol=1e-15)


def test_dropout_is_the_identity_at_evaluation():
    x = np.random.default_rng(3).standard_normal((20, 10))
    layer = Dropout(0.5, np.random.default_rng(0))
    out = layer.forward(x, training=False)
    np.testing.assert_array_equal(out, x)
    upstream = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(upstream), 1)


def test_dropout_rate_zero_is_the_identity_while_training():
    x = np.random.default_rng(3).standard_normal((20, 10))
    out = Dropout(0.0, np.random.default_rng(0)).forward(x, training=True)
    np.testing.assert_array_equal(out, x)


def test_dropout_mask_is_reproducible_from_the_seed():
    x = np.ones((30, 30))
    a = Dropout(0.3, np.random.default_rng(7)).forward(x, training=True)
    b = Dropout(0.3, np.random.default_rng(7)).forward(x, training=True)
    c = Dropout(0.3, np.random.default_rng(8)).forward(x, training=True)
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


def test_dropout_draws_a_new_mask_each_training_step():
    layer = Dropout(0.5, np.random.default_rng(0))
    x = np.ones((30, 30))
    first = layer.forward(x, training=True).copy()  # training outputs live in reused memory
    assert np.any(first != layer.forward(x, training=True))


def test_dropout_rate_is_exact_in_expectation():
    """Kept when a raw 32-bit draw >= rate * 2**32: over 2 million units the kept
    fraction is within 4 standard deviations of 1 - rate."""
    for rate in (0.2, 0.5, 0.9):
        out = Dropout(rate, np.random.default_rng(5)).forward(np.ones(2_000_000, np.float32), training=True)
        kept = np.count_nonzero(out) / out.size
        assert abs(kept - (1 - rate)) < 4 * np.sqrt(rate * (1 - rate) / out.size)


def test_dropout_keeps_the_input_dtype():
    out = Dropout(0.5, np.random.default_rng(0)).forward(np.ones(100, np.float32), training=True)
    assert out.dtype == np.float32
    assert set(np.unique(out)) == {0.0, 2.0}


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_dropout_rejects_rates_outside_zero_one(rate):
    with pytest.raises(ValueError, match="dropout rate"):
        Dropout(rate)


def test_dropout_without_a_generator_cannot_train():
    with pytest.raises(RuntimeError, match="Generator"):
        Dropout(0.5).forward(np.ones(3), training=True)


# -- Dense ------------------------------------------------------------------------


def test_dense_forward_is_x_times_W_plus_b():
    rng = np.random.default_rng(4)
    W, b = rng.standard_normal((3, 5)), rng.standard_normal(5)
    layer = Dense(3, 5, "dense.2")
    assert layer.shapes == {"dense.2.weight": (3, 5), "dense.2.bias": (5,)}
    layer.bind({"dense.2.weight": W, "dense.2.bias": b}, {"dense.2.weight": np.zeros_like(W), "dense.2.bias": np.zeros_like(b)})
    x = rng.standard_normal((4, 3))
    x_before = x.copy()
    y = layer.forward(x)
    assert y.shape == (4, 5)
    np.testing.assert_allclose(y, x @ W + b, rtol=1e-14)
    np.testing.assert_array_equal(x, x_before)


# -- MLP: the flat buffer -----------------------------------------------------------


def small_mlp(**kwargs):
    hidden = [LayerSpec(4, "relu"), LayerSpec(3, "tanh")]
    return MLP(5, hidden, 2, "cross_entropy", **kwargs)


def test_parameter_names_and_order_weights_first_then_biases():
    network = small_mlp()
    assert list(network.parameters) == [
        "dense.0.weight", "dense.1.weight", "dense.2.weight",
        "dense.0.bias", "dense.1.bias", "dense.2.bias",
    ]
    assert list(network.gradients) == list(network.parameters)
    shapes = {name: view.shape for name, view in network.parameters.items()}
    assert shapes == {
        "dense.0.weight": (5, 4), "dense.1.weight": (4, 3), "dense.2.weight": (3, 2),
        "dense.0.bias": (4,), "dense.1.bias": (3,), "dense.2.bias": (2,),
    }
    assert network.n_weights == 5 * 4 + 4 * 3 + 3 * 2
    assert network.n_params == network.params.size == network.n_weights + 4 + 3 + 2


def test_parameters_are_views_into_the_flat_buffer_in_order():
    network = small_mlp(dtype="float64")
    network.params[:] = np.arange(network.params.size)
    offset = 0
    for name, view in network.parameters.items():
        np.testing.assert_array_equal(view.ravel(), np.arange(offset, offset + view.size), err_msg=name)
        offset += view.size
    assert offset == network.params.size
    # Weights fill exactly the first n_weights entries (weight decay relies on it).
    weights = np.concatenate([v.ravel() for n, v in network.parameters.items() if n.endswith(".weight")])
    np.testing.assert_array_equal(weights, network.params[: network.n_weights])


def test_writing_a_named_parameter_writes_the_flat_buffer_and_back():
    network = small_mlp()
    network.parameters["dense.1.weight"][2, 1] = 7.0
    assert np.count_nonzero(network.params) == 1 and 7.0 in network.params
    network.params[-1] = 3.0
    assert network.parameters["dense.2.bias"][-1] == 3.0
    # The layers compute with those same arrays.
    assert network.dense[1].W is network.parameters["dense.1.weight"]
    assert network.dense[2].b is network.parameters["dense.2.bias"]


def test_gradients_are_views_into_the_flat_gradient_buffer():
    network = small_mlp(dtype="float64")
    network.init_params(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    network.train_step(rng.standard_normal((8, 5)), rng.integers(0, 2, 8))
    flat = np.concatenate([g.ravel() for g in network.gradients.values()])
    np.testing.assert_array_equal(flat, network.grads)
    assert np.any(network.grads != 0)
    network.gradients["dense.0.weight"][0, 0] = 123.0
    assert network.grads[0] == 123.0


def test_an_optimizer_step_on_the_flat_buffer_changes_the_model():
    rng = np.random.default_rng(0)
    network = small_mlp(dtype="float64")
    network.init_params(rng)
    x, y = rng.standard_normal((16, 5)), rng.integers(0, 2, 16)
    before = network.predict(x)
    optimizer = get_optimizer("sgd", lr=0.5)
    losses = []
    for _ in range(20):
        losses.append(network.train_step(x, y))
        optimizer.step(network.params, network.grads)
    assert not np.allclose(network.predict(x), before)
    assert losses[-1] < losses[0]


def test_default_dtype_is_float32_and_float64_on_request():
    x = np.random.default_rng(0).standard_normal((3, 5))  # float64 input
    net32 = small_mlp()
    net32.init_params(np.random.default_rng(0))
    assert net32.params.dtype == net32.grads.dtype == np.float32
    assert all(v.dtype == np.float32 for v in net32.parameters.values())
    assert net32.predict(x).dtype == np.float32

    net64 = small_mlp(dtype="float64")
    net64.init_params(np.random.default_rng(0))
    assert net64.params.dtype == net64.grads.dtype == np.float64
    assert net64.predict(x).dtype == np.float64
    # Same seed, same model up to float32 rounding.
    np.testing.assert_allclose(net32.predict(x), net64.predict(x), rtol=1e-5, atol=1e-6)


def test_unsupported_dtype_is_rejected():
    with pytest.raises(ValueError, match="float32 or float64"):
        small_mlp(dtype="float16")


# -- MLP: evaluation --------------------------------------------------------------


def test_predict_ignores_dropout_and_matches_the_plain_formula():
    rng = np.random.default_rng(0)
    network = MLP(5, [LayerSpec(6, "relu", dropout=0.5), LayerSpec(4, "sigmoid", dropout=0.5)], 3,
                  "cross_entropy", dtype="float64", rng=np.random.default_rng(1))
    network.init_params(rng)
    network.params[network.n_weights :] = rng.standard_normal(network.params.size - network.n_weights)
    x = rng.standard_normal((10, 5))
    p = network.parameters
    h = np.maximum(x @ p["dense.0.weight"] + p["dense.0.bias"], 0)
    h = 1 / (1 + np.exp(-(h @ p["dense.1.weight"] + p["dense.1.bias"])))
    z = h @ p["dense.2.weight"] + p["dense.2.bias"]
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)

    first = network.predict(x)
    network.train_step(x, rng.integers(0, 3, 10))  # a training pass in between draws masks
    second = network.predict(x)
    np.testing.assert_allclose(first, expected, rtol=1e-12)
    np.testing.assert_array_equal(first, second)
    # Training mode does apply dropout (so the equality above is not vacuous).
    assert not np.allclose(network.forward(x, training=True), z)


def test_predict_in_chunks_equals_predict_at_once():
    rng = np.random.default_rng(0)
    network = MLP(3, [LayerSpec(4, "tanh")], 1, "binary_cross_entropy", dtype="float64")
    network.init_params(rng)
    x = rng.standard_normal((25, 3))
    whole = network.predict(x)
    assert whole.shape == (25, 2)
    np.testing.assert_allclose(whole.sum(axis=1), 1, rtol=1e-14)
    np.testing.assert_allclose(network.predict(x, batch_size=7), whole, rtol=1e-15)
    np.testing.assert_allclose(whole[:, 1], sigmoid(network.forward(x)[:, 0]), rtol=1e-15)


def test_training_and_prediction_leave_the_callers_data_untouched():
    """Activations work in place on internal arrays, never on the user's x."""
    rng = np.random.default_rng(0)
    for activation in ("relu", "tanh", "sigmoid", "identity"):
        for hidden in ([], [LayerSpec(4, activation, dropout=0.3)]):
            network = MLP(3, hidden, 2, "mse", dtype="float64", rng=np.random.default_rng(1))
            network.init_params(rng)
            x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
            x0, y0 = x.copy(), y.copy()
            network.train_step(x, y)
            network.predict(x)
            np.testing.assert_array_equal(x, x0)
            np.testing.assert_array_equal(y, y0)


# -- MLP: initialisation ----------------------------------------------------------


def test_auto_init_is_glorot_but_lecun_for_selu_biases_zero():
    network = MLP(400, [LayerSpec(300, "relu"), LayerSpec(200, "selu")], 10, "cross_entropy", dtype="float64")
    network.params[:] = 1.0  # init must overwrite everything, biases included
    network.init_params(np.random.default_rng(0), init="auto")
    W0, W1, W2 = (network.parameters[f"dense.{i}.weight"] for i in range(3))

    # 120,000 samples: the sample std is within ~0.2% of the true one (1/sqrt(2N)).
    # Glorot for relu: std sqrt(2 / (fan_in + fan_out)) = 0.0535, uniform within
    # +-sqrt(6 / (fan_in + fan_out)). He would give 0.0707: well outside 2%.
    assert W0.std() == pytest.approx(math.sqrt(2 / (400 + 300)), rel=0.02)
    assert abs(W0.mean()) < 0.01 * W0.std()
    assert np.abs(W0).max() <= math.sqrt(6 / 700)
    assert np.abs(W0).max() > 0.95 * math.sqrt(6 / 700)  # uniform, not normal
    # LeCun normal for selu: std sqrt(1 / fan_in) = 0.0577, a normal (tails past the uniform's bound).
    assert W1.std() == pytest.approx(math.sqrt(1 / 300), rel=0.02)
    assert np.abs(W1).max() > math.sqrt(3 / 300)
    # The output layer gets Glorot too.
    assert W2.std() == pytest.approx(math.sqrt(2 / (200 + 10)), rel=0.1)
    assert np.abs(W2).max() <= math.sqrt(6 / 210)
    for i in range(3):
        assert np.all(network.parameters[f"dense.{i}.bias"] == 0)


def test_default_init_is_auto():
    default, auto = (
        MLP(40, [LayerSpec(30, "selu"), LayerSpec(20, "tanh")], 3, "cross_entropy", dtype="float64") for _ in range(2)
    )
    default.init_params(np.random.default_rng(0))
    auto.init_params(np.random.default_rng(0), init="auto")
    np.testing.assert_array_equal(default.params, auto.params)


@pytest.mark.parametrize("activation, std", [
    ("selu", math.sqrt(1 / 400)),  # LeCun normal
    ("relu", math.sqrt(2 / 700)), ("elu", math.sqrt(2 / 700)), ("silu", math.sqrt(2 / 700)),  # Glorot uniform
    ("leaky_relu", math.sqrt(2 / 700)), ("gelu", math.sqrt(2 / 700)), ("softplus", math.sqrt(2 / 700)),
    ("sigmoid", math.sqrt(2 / 700)), ("identity", math.sqrt(2 / 700)),
])
def test_auto_init_follows_the_activation(activation, std):
    network = MLP(400, [LayerSpec(300, activation)], 2, "mse", dtype="float64")
    network.init_params(np.random.default_rng(0), init="auto")
    W = network.parameters["dense.0.weight"]
    assert W.std() == pytest.approx(std, rel=0.02)
    uniform = np.abs(W).max() <= math.sqrt(3) * std * 1.0001  # a normal reaches ~5 std in 120,000 draws
    assert uniform == (std == math.sqrt(2 / 700))


@pytest.mark.parametrize("name, std, uniform", [
    ("lecun_normal", math.sqrt(1 / 400), False), ("lecun_uniform", math.sqrt(1 / 400), True),
    ("he_uniform", math.sqrt(2 / 400), True), ("glorot_normal", math.sqrt(2 / 700), False),
])
def test_named_initializers_have_their_variance(name, std, uniform):
    network = MLP(400, [LayerSpec(300, "relu")], 2, "mse", dtype="float64")
    network.params[:] = 1.0
    network.init_params(np.random.default_rng(0), init=name)
    W = network.parameters["dense.0.weight"]
    assert W.std() == pytest.approx(std, rel=0.02)
    assert (np.abs(W).max() <= math.sqrt(3) * std * 1.0001) == uniform
    assert np.all(network.parameters["dense.0.bias"] == 0)


def test_pytorch_init_is_uniform_for_weights_and_biases():
    """PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b
    (std 1/sqrt(3 fan_in)), in every layer whatever its activation."""
    network = MLP(400, [LayerSpec(300, "relu"), LayerSpec(200, "tanh")], 10, "cross_entropy", dtype="float64")
    network.init_params(np.random.default_rng(0), init="pytorch")
    for i, fan_in in enumerate((400, 300, 200)):
        W, b = network.parameters[f"dense.{i}.weight"], network.parameters[f"dense.{i}.bias"]
        limit = 1 / math.sqrt(fan_in)
        assert np.abs(W).max() <= limit and np.abs(W).max() > 0.99 * limit
        assert W.std() == pytest.approx(limit / math.sqrt(3), rel=0.05)
        assert np.abs(b).max() <= limit and np.any(b != 0)
    assert abs(network.parameters["dense.0.weight"].mean()) < 0.01 * limit


def test_init_is_reproducible_from_the_seed():
    a, b, c = small_mlp(), small_mlp(), small_mlp()
    a.init_params(np.random.default_rng(42))
    b.init_params(np.random.default_rng(42))
    c.init_params(np.random.default_rng(43))
    np.testing.assert_array_equal(a.params, b.params)
    assert np.any(a.params != c.params)
    assert np.all(a.params[: a.n_weights] != 0)


def test_named_initializer_overrides_auto_and_unknown_name_lists_the_valid_ones():
    network = MLP(400, [LayerSpec(300, "relu")], 2, "mse", dtype="float64")
    network.init_params(np.random.default_rng(0), init="glorot_normal")
    assert network.parameters["dense.0.weight"].std() == pytest.approx(math.sqrt(2 / 700), rel=0.02)
    with pytest.raises(ValueError, match="unknown initializer 'nope'.*glorot_uniform.*he_normal"):
        network.init_params(np.random.default_rng(0), init="nope")


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*gelu.*relu"):
        get_activation("swish")
    with pytest.raises(ValueError, match="unknown activation"):
        MLP(3, [LayerSpec(4, "swish")], 2, "mse")


# -- the engine's dependencies ----------------------------------------------------


def test_engine_imports_nothing_but_numpy():
    """DESIGN.md: the engine is a small NumPy library (the standard library aside:
    no scikit-learn, no scipy)."""
    code = (
        "import sys; before = set(sys.modules)\n"
        "import numpy as np; with_numpy = set(sys.modules)\n"
        "import mlpcli.engine\n"
        "from mlpcli.engine import get_activation\n"
        "get_activation('gelu').forward(np.ones(3))\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - with_numpy} - set(sys.stdlib_module_names)\n"
        "assert new <= {'mlpcli'}, sorted(new)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_output_width_must_suit_the_loss():
    # one softmax unit always has probability 1 (a loss of 0 that learns nothing);
    # binary cross-entropy takes any width (one sigmoid per label, multi-label)
    with pytest.raises(ValueError, match="cross_entropy"):
        MLP(3, [], 1, "cross_entropy")
    assert MLP(3, [], 2, "binary_cross_entropy").head_width == 2
