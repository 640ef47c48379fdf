"""The weights file alone defines the model: rebuild it with plain NumPy,
following DESIGN.md's description, and compare with `mlp predict --proba`."""
import json
import math

import numpy as np
import pytest

import mlpcli
from mlpcli.artifacts import load_weights, save_weights

from .conftest import CONFIGS, run_mlp

_erf = np.vectorize(math.erf)
ACTIVATIONS = {
    "relu": lambda x, layer: np.maximum(x, 0),
    "leaky_relu": lambda x, layer: np.where(x > 0, x, layer["negative_slope"] * x),
    "tanh": lambda x, layer: np.tanh(x),
    "sigmoid": lambda x, layer: 0.5 * (1 + np.tanh(x / 2)),
    "identity": lambda x, layer: x,
    "gelu": lambda x, layer: (
        0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
        if layer["approximate"] == "tanh"
        else 0.5 * x * (1 + _erf(x / math.sqrt(2)))
    ),
}


def rebuild_forward(path, X):
    """DESIGN.md's weights format, read by hand: scale, dense layers, output function."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    assert meta["format"] == "mlpcli.weights" and meta["format_version"] == 1
    h = np.asarray(X, np.float64)
    if "scaler.mean" in arrays:
        h = (h - arrays["scaler.mean"]) / arrays["scaler.scale"]
    layers = meta["config"]["model"]["layers"]
    for i, layer in enumerate(layers):
        h = h @ arrays[f"dense.{i}.weight"] + arrays[f"dense.{i}.bias"]
        h = ACTIVATIONS[layer["activation"]](h, layer)  # dropout: identity at inference
    z = h @ arrays[f"dense.{len(layers)}.weight"] + arrays[f"dense.{len(layers)}.bias"]
    if meta["task"] == "regression":
        return z
    if len(meta["classes"]) == 2:
        p = 0.5 * (1 + np.tanh(z[:, 0] / 2))  # the logistic function, without overflow
        return np.stack([1 - p, p], axis=1)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


CASES = {
    "digits": (CONFIGS / "digits.yaml", []),
    "breast_cancer": (CONFIGS / "breast_cancer.yaml", []),
    "iris_tanh": (CONFIGS / "iris.yaml", []),
    "moons_gelu": (CONFIGS / "moons.yaml", []),
    "moons_gelu_tanh_leaky": (
        CONFIGS / "moons.yaml",
        ["model.layers.0.approximate=tanh", "model.layers.1.activation=leaky_relu",
         "model.layers.1.negative_slope=0.2", "data.scale=minmax"],
    ),
    "sigmoid_unscaled": (CONFIGS / "iris.yaml", ["model.layers.0.activation=sigmoid", "data.scale=none"]),
    "diabetes": (CONFIGS / "diabetes.yaml", []),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_plain_numpy_rebuild_matches_mlp_predict(case, tmp_path):
    config, overrides = CASES[case]
    result = mlpcli.train(config, tmp_path / "run", overrides=["train.epochs=3", *overrides])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(25, result.model.n_features)) * 3
    np.save(tmp_path / "X.npy", X)
    weights = tmp_path / "run" / "weights.npz"
    args = ["predict", weights, tmp_path / "X.npy", "-o", tmp_path / "out.npy"]
    if result.model.task == "classification":
        args.append("--proba")
    proc = run_mlp(*args)
    assert proc.returncode == 0, proc.stderr
    got = np.load(tmp_path / "out.npy", allow_pickle=False)
    expected = rebuild_forward(weights, X)
    # float32 model against a float64 rebuild
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=2e-4, atol=2e-5)


def test_weights_file_keys_and_meta(tmp_path):
    result = mlpcli.train(CONFIGS / "breast_cancer.yaml", tmp_path / "run", overrides=["train.epochs=2"])
    with np.load(tmp_path / "run" / "weights.npz", allow_pickle=False) as f:
        keys = set(f.files)
        meta = json.loads(str(f["meta"]))
        assert f["meta"].shape == () and f["dense.0.weight"].shape == (30, 64)
        assert f["dense.0.weight"].dtype == np.float32
    assert keys == {
        "dense.0.weight", "dense.0.bias", "dense.1.weight", "dense.1.bias",
        "dense.2.weight", "dense.2.bias", "scaler.mean", "scaler.scale", "meta",
    }
    assert meta["task"] == "classification" and meta["classes"] == [0, 1]
    assert meta["n_features"] == 30 and meta["mlpcli_version"] == mlpcli.__version__
    assert meta["config"]["model"]["layers"][0] == {"units": 64, "activation": "relu", "dropout": 0.3}
    assert meta["metrics"]["test"] == result.metrics["test"]


def test_scale_none_has_no_scaler_and_float64_is_kept(tmp_path):
    mlpcli.train(CONFIGS / "iris.yaml", tmp_path / "run",
                 overrides=["train.epochs=2", "data.scale=none", "model.dtype=float64"])
    with np.load(tmp_path / "run" / "weights.npz", allow_pickle=False) as f:
        assert "scaler.mean" not in f.files
        assert f["dense.0.weight"].dtype == np.float64


def test_string_labels_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(-2, 1, (60, 3)), rng.normal(2, 1, (60, 3))])
    y = np.array(["cat"] * 60 + ["dog"] * 60)
    np.savez(tmp_path / "pets.npz", X=X, y=y)
    result = mlpcli.train(
        {"data": {"dataset": str(tmp_path / "pets.npz"), "val_size": 0},
         "model": {"layers": [{"units": 8}]}, "train": {"epochs": 100, "optimizer": {"lr": 0.01}}},
        tmp_path / "run",
    )
    assert result.metrics["test"]["accuracy"] > 0.9
    model = mlpcli.load(tmp_path / "run" / "weights.npz")
    assert model.classes.tolist() == ["cat", "dog"]
    assert model.predict(np.array([[-3.0, -3, -3], [3, 3, 3]])).tolist() == ["cat", "dog"]
    proc = run_mlp("predict", tmp_path / "run" / "weights.npz", tmp_path / "pets.npz")
    assert proc.stdout.splitlines()[0] == "label" and set(proc.stdout.split()[1:]) == {"cat", "dog"}


def test_save_load_round_trip_is_exact(tmp_path):
    result = mlpcli.train(CONFIGS / "digits.yaml", tmp_path / "run", overrides=["train.epochs=1"])
    again = tmp_path / "copy.npz"
    save_weights(again, load_weights(tmp_path / "run" / "weights.npz"))
    loaded = load_weights(again)
    np.testing.assert_array_equal(loaded.network.params, result.model.network.params)
    assert loaded.config == result.model.config and loaded.metrics == result.metrics
