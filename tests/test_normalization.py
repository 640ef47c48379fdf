"""BatchNorm and LayerNorm: gradients, train / eval behaviour, running statistics
(against PyTorch where it imports), the weights file, config and the CLI."""
import numpy as np
import pytest

import mlpcli
from mlpcli.trained import load_weights, save_weights
from mlpcli.config import parse_config
from mlpcli.engine import MLP, LayerSpec
from mlpcli.engine.normalization import BatchNorm, LayerNorm
from mlpcli.errors import ConfigError
from mlpcli.training import EarlyStopping, FitOptions, fit

from .conftest import CONFIGS, run_mlp
from .test_engine_gradients import TOL, check_network_gradient, make_problem, numeric_grad, rel_error


def make_norm(cls, n, rng):
    layer = cls(n, "norm.0")
    params = {"norm.0.weight": rng.standard_normal(n) + 1, "norm.0.bias": rng.standard_normal(n)}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    buffers = {k: np.zeros(shape) for k, shape in layer.buffer_shapes.items()}
    layer.bind(params, grads)
    layer.bind_buffers(buffers)
    return layer, params, grads, buffers


# (LayerNorm of one unit is beta alone: checked separately below.)
@pytest.mark.parametrize("cls, batch, n", [
    (BatchNorm, 5, 4), (BatchNorm, 3, 3), (BatchNorm, 7, 1), (LayerNorm, 5, 4), (LayerNorm, 3, 3), (LayerNorm, 1, 5),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_norm_gradients_wrt_input_gamma_and_beta(cls, batch, n):
    rng = np.random.default_rng(0)
    layer, params, grads, _ = make_norm(cls, n, rng)
    x = rng.standard_normal((batch, n)) * 3 + 1
    upstream = rng.standard_normal((batch, n))
    layer.forward(x.copy(), training=True)
    dx = layer.backward(upstream.copy())

    def objective():
        return float(np.sum(upstream * layer.forward(x.copy(), training=True)))

    for name in ("norm.0.weight", "norm.0.bias"):
        assert rel_error(grads[name], numeric_grad(objective, params[name])) < TOL, name
    assert rel_error(dx, numeric_grad(objective, x)) < TOL


def test_layer_norm_of_one_unit_is_beta_with_zero_input_gradient():
    layer, params, _, _ = make_norm(LayerNorm, 1, np.random.default_rng(0))
    x = np.array([[3.0], [-2.0]])
    np.testing.assert_allclose(layer.forward(x.copy(), training=True), [params["norm.0.bias"]] * 2)
    np.testing.assert_array_equal(layer.backward(np.ones((2, 1))), 0)


NORM_NETWORKS = [
    ("cross_entropy", 4, [LayerSpec(5, "relu", norm="batch_norm"), LayerSpec(3, "tanh", norm="layer_norm")], 3),
    ("mse", 3, [LayerSpec(6, "gelu", norm="layer_norm", dropout=0.3), LayerSpec(4, "elu", norm="batch_norm")], 2),
    ("binary_cross_entropy", 3, [LayerSpec(4, "selu", norm="batch_norm"), LayerSpec(3, "softplus")], 1),
]


@pytest.mark.parametrize("loss, n_inputs, hidden, n_outputs", NORM_NETWORKS)
def test_network_gradient_with_norms(loss, n_inputs, hidden, n_outputs):
    network, x, y = make_problem(loss, n_inputs, hidden, n_outputs, batch=7, seed=5)
    # a dropout seed puts the check in training mode (batch statistics), with or without dropout
    check_network_gradient(network, x, y, dropout_seed=11)


def test_batch_norm_eval_uses_the_running_statistics():
    rng = np.random.default_rng(1)
    layer, params, _, buffers = make_norm(BatchNorm, 4, rng)
    buffers["norm.0.running_mean"][...] = rng.standard_normal(4)
    buffers["norm.0.running_var"][...] = rng.uniform(0.5, 2, 4)
    x = rng.standard_normal((6, 4)) * 2
    expected = (x - buffers["norm.0.running_mean"]) / np.sqrt(buffers["norm.0.running_var"] + 1e-5)
    expected = expected * params["norm.0.weight"] + params["norm.0.bias"]
    before = {k: v.copy() for k, v in buffers.items()}
    np.testing.assert_allclose(layer.forward(x.copy()), expected, rtol=1e-13)
    for k in buffers:  # evaluation never moves them
        np.testing.assert_array_equal(buffers[k], before[k])
    # a single row at evaluation is fine (and is not its own batch statistic)
    np.testing.assert_allclose(layer.forward(x[:1].copy()), expected[:1], rtol=1e-13)


def test_batch_norm_training_and_running_statistics_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    n = 5
    layer, params, grads, buffers = make_norm(BatchNorm, n, rng)
    buffers["norm.0.running_var"][...] = 1
    ref = torch.nn.BatchNorm1d(n, momentum=0.1, eps=1e-5).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(params["norm.0.weight"]))
        ref.bias.copy_(torch.from_numpy(params["norm.0.bias"]))
    ref.train()
    for rows in (8, 3, 2, 16):  # the unbiased running variance depends on the batch size
        x = rng.standard_normal((rows, n)) * 3 + 2
        upstream = rng.standard_normal((rows, n))
        xt = torch.from_numpy(x.copy()).requires_grad_()
        ref.zero_grad()
        out_t = ref(xt)
        (out_t * torch.from_numpy(upstream)).sum().backward()
        out = layer.forward(x.copy(), training=True)
        dx = layer.backward(upstream.copy())
        np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grads["norm.0.weight"], ref.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(grads["norm.0.bias"], ref.bias.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(buffers["norm.0.running_mean"], ref.running_mean.numpy(), rtol=1e-13)
        np.testing.assert_allclose(buffers["norm.0.running_var"], ref.running_var.numpy(), rtol=1e-13)
    ref.eval()
    x = rng.standard_normal((4, n))
    np.testing.assert_allclose(layer.forward(x.copy()), ref(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)


def test_layer_norm_matches_pytorch_in_training_and_evaluation():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    layer, params, grads, _ = make_norm(LayerNorm, 6, rng)
    ref = torch.nn.LayerNorm(6, eps=1e-5).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(params["norm.0.weight"]))
        ref.bias.copy_(torch.from_numpy(params["norm.0.bias"]))
    x, upstream = rng.standard_normal((5, 6)) * 4, rng.standard_normal((5, 6))
    xt = torch.from_numpy(x.copy()).requires_grad_()
    out_t = ref(xt)
    (out_t * torch.from_numpy(upstream)).sum().backward()
    np.testing.assert_allclose(layer.forward(x.copy(), training=True), out_t.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.backward(upstream.copy()), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["norm.0.weight"], ref.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.forward(x.copy()), out_t.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_norm_parameters_live_after_the_dense_weights_and_start_at_one_and_zero():
    network = MLP(3, [LayerSpec(4, norm="batch_norm"), LayerSpec(2, norm="layer_norm")], 2, "mse")
    network.params[:] = 7.0
    network.buffer[:] = 7.0
    network.init_params(np.random.default_rng(0))
    assert network.n_weights == 3 * 4 + 4 * 2 + 2 * 2  # weight decay's block: dense weights only
    base = network.params.__array_interface__["data"][0]
    for name in ("norm.0.weight", "norm.0.bias", "norm.1.weight", "norm.1.bias"):
        start = (network.parameters[name].__array_interface__["data"][0] - base) // network.params.itemsize
        assert start >= network.n_weights, name
    np.testing.assert_array_equal(network.parameters["norm.0.weight"], 1)
    np.testing.assert_array_equal(network.parameters["norm.1.bias"], 0)
    np.testing.assert_array_equal(network.buffers["norm.0.running_mean"], 0)
    np.testing.assert_array_equal(network.buffers["norm.0.running_var"], 1)
    assert set(network.buffers) == {"norm.0.running_mean", "norm.0.running_var"}  # LayerNorm keeps none
    assert network.has_batch_norm and not MLP(3, [LayerSpec(4, norm="layer_norm")], 2, "mse").has_batch_norm


def _network_and_data(n_rows, batch_norm=True):
    rng = np.random.default_rng(0)
    network = MLP(3, [LayerSpec(8, norm="batch_norm" if batch_norm else None)], 2, "cross_entropy", dtype="float64")
    network.init_params(rng)
    X = rng.standard_normal((n_rows, 3))
    return network, X, (X[:, 0] > 0).astype(int)


def test_a_last_batch_of_one_row_joins_the_batch_before():
    """33 rows in batches of 16: PyTorch would fail on the last row alone; here
    the last batch has 17 rows, and every row still trains."""
    from mlpcli.engine.optimizers import get_optimizer

    network, X, y = _network_and_data(33)
    sizes = []
    step = network.train_step
    network.train_step = lambda xb, yb: sizes.append(len(xb)) or step(xb, yb)
    fit(network, get_optimizer("adam", lr=0.01), X, y, FitOptions(epochs=2, task="classification", batch_size=16),
        rng=np.random.default_rng(1))
    assert sizes == [16, 17, 16, 17]
    plain, X, y = _network_and_data(33, batch_norm=False)  # without batch norm nothing changes
    sizes.clear()
    step = plain.train_step
    plain.train_step = lambda xb, yb: sizes.append(len(xb)) or step(xb, yb)
    fit(plain, get_optimizer("adam", lr=0.01), X, y, FitOptions(epochs=1, task="classification", batch_size=16),
        rng=np.random.default_rng(1))
    assert sizes == [16, 16, 1]


def test_batch_norm_refuses_a_training_batch_of_one_row():
    layer, *_ = make_norm(BatchNorm, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least 2 rows"):
        layer.forward(np.ones((1, 3)), training=True)


def test_early_stopping_restores_the_running_statistics_with_the_weights():
    network, X, y = _network_and_data(20)
    stop = EarlyStopping(network, monitor="train_loss")
    stop.on_epoch_end(1, {"train_loss": 1.0})
    params, buffer = network.params.copy(), network.buffer.copy()
    network.train_step(X, y)  # moves the running statistics
    assert np.any(network.buffer != buffer)
    stop.on_epoch_end(2, {"train_loss": 2.0})
    stop.on_train_end([])
    np.testing.assert_array_equal(network.params, params)
    np.testing.assert_array_equal(network.buffer, buffer)


@pytest.mark.parametrize("layers, message", [
    ([{"units": 4, "batch_norm": True, "layer_norm": True}], "model.layers[0]: batch_norm and layer_norm"),
    ([{"units": 4, "batch_norm": "maybe"}], "model.layers[0].batch_norm"),
])
def test_config_refuses_bad_norm_settings(layers, message):
    with pytest.raises(ConfigError) as info:
        parse_config({"model": {"layers": layers}})
    assert message in str(info.value)


def test_config_refuses_batch_norm_with_batches_of_one():
    with pytest.raises(ConfigError, match=r"model.layers\[1\].batch_norm: needs train.batch_size >= 2"):
        parse_config({"model": {"layers": [{"units": 3}, {"units": 4, "batch_norm": True}]}, "train": {"batch_size": 1}})
    layer = parse_config({"model": {"layers": [{"units": 3, "layer_norm": True}]}, "train": {"batch_size": 1}})
    assert layer.to_dict()["model"]["layers"][0]["layer_norm"] is True


def test_save_load_predict_is_identical_with_batch_norm(tmp_path):
    result = mlpcli.train(
        CONFIGS / "iris.yaml", tmp_path / "run",
        overrides=["train.epochs=5", "model.layers=[{units: 8, batch_norm: true}, {units: 6, layer_norm: true}]"],
    )
    loaded = load_weights(tmp_path / "run" / "weights.npz")
    trained = result.model.network
    assert np.any(trained.buffers["norm.0.running_mean"] != 0)  # the statistics moved while training
    for name, value in trained.buffers.items():
        np.testing.assert_array_equal(loaded.network.buffers[name], value)
    X = np.random.default_rng(0).normal(size=(30, 4)) * 2
    np.testing.assert_array_equal(loaded.predict_proba(X), result.model.predict_proba(X))
    # a tampered running variance is refused rather than turned into NaN
    with np.load(tmp_path / "run" / "weights.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["norm.0.running_var"][0] = -1
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(mlpcli.errors.WeightsError, match="norm.0.running_var holds negative variances"):
        load_weights(tmp_path / "bad.npz")
    save_weights(tmp_path / "again.npz", loaded)
    np.testing.assert_array_equal(load_weights(tmp_path / "again.npz").network.buffer, trained.buffer)


@pytest.mark.parametrize("norm", ["batch_norm", "layer_norm"])
def test_mlp_train_with_a_norm_end_to_end(norm, tmp_path):
    """Unscaled wine (features from 0.1 to 1,680), 40 epochs: a stack with either
    norm learns it (mean test accuracy over seeds 0-2: 0.92 with batch norm, 0.82
    with layer norm; single runs over seeds 0-11: 0.81-0.97 and 0.69-0.89, and
    0.53-0.92 without a norm, so one run proves little: a change in rounding
    moves it anywhere in its range); the weights file holds the documented keys
    and `mlp eval` reproduces the metrics."""
    layers = f"[{{units: 32, {norm}: true}}, {{units: 32, {norm}: true}}]"
    overrides = ["data.dataset=wine", "data.scale=none", f"model.layers={layers}",
                 "train.epochs=40", "train.optimizer.lr=0.003", "train.batch_size=32"]
    proc = run_mlp("train", CONFIGS / "iris.yaml", "--out", tmp_path / "run", "--json", "--quiet",
                   *[arg for override in overrides for arg in ("--set", override)])
    assert proc.returncode == 0, proc.stderr
    import json

    result = json.loads(proc.stdout)
    accuracies = [result["test"]["accuracy"]] + [
        mlpcli.train(CONFIGS / "iris.yaml", tmp_path / f"seed{seed}", overrides=[*overrides, f"seed={seed}"])
        .metrics["test"]["accuracy"] for seed in (1, 2)]
    assert np.mean(accuracies) >= 0.75, accuracies
    with np.load(tmp_path / "run" / "weights.npz", allow_pickle=False) as f:
        keys = set(f.files)
    assert {"norm.0.weight", "norm.0.bias", "norm.1.weight", "norm.1.bias"} <= keys
    assert ({"norm.0.running_mean", "norm.0.running_var"} <= keys) == (norm == "batch_norm")
    evaluated = run_mlp("eval", tmp_path / "run" / "weights.npz", "--json")
    assert json.loads(evaluated.stdout)["accuracy"] == result["test"]["accuracy"]
