"""The weights file alone defines the model: rebuild it with plain NumPy,
following DESIGN.md's description, and compare with `mlp predict --proba`."""
import json
import math

import numpy as np
import pytest

import mlpcli
from mlpcli.trained import load_weights, save_weights

from .conftest import CONFIGS, run_mlp

_erf = np.vectorize(math.erf)
ACTIVATIONS = {
    "relu": lambda x, layer: np.maximum(x, 0),
    "leaky_relu": lambda x, layer: np.where(x > 0, x, layer["negative_slope"] * x),
    "tanh": lambda x, layer: np.tanh(x),
    "sigmoid": lambda x, layer: 0.5 * (1 + np.tanh(x / 2)),
    "identity": lambda x, layer: x,
    "elu": lambda x, layer: np.where(x > 0, x, layer["alpha"] * np.expm1(np.minimum(x, 0))),
    "selu": lambda x, layer: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
    "silu": lambda x, layer: x / (1 + np.exp(-x)),
    "softplus": lambda x, layer: np.where(
        layer["beta"] * x > layer["threshold"], x, np.logaddexp(0, layer["beta"] * x) / layer["beta"]
    ),
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
    assert meta["format"] == "mlpcli.weights" and meta["format_version"] == 2
    h = np.asarray(X, np.float64)
    if "scaler.mean" in arrays:
        h = (h - arrays["scaler.mean"]) / arrays["scaler.scale"]
    layers = meta["config"]["model"]["layers"]
    for i, layer in enumerate(layers):
        h = h @ arrays[f"dense.{i}.weight"] + arrays[f"dense.{i}.bias"]
        if layer["batch_norm"]:  # the running statistics, at inference
            h = (h - arrays[f"norm.{i}.running_mean"]) / np.sqrt(arrays[f"norm.{i}.running_var"] + 1e-5)
        if layer["layer_norm"]:
            h = (h - h.mean(axis=1, keepdims=True)) / np.sqrt(h.var(axis=1, keepdims=True) + 1e-5)
        if layer["batch_norm"] or layer["layer_norm"]:
            h = h * arrays[f"norm.{i}.weight"] + arrays[f"norm.{i}.bias"]
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
    "iris_norms_and_new_activations": (
        CONFIGS / "iris.yaml",
        ["model.layers=[{units: 12, activation: elu, alpha: 0.7, batch_norm: true},"
         " {units: 9, activation: softplus, beta: 2, threshold: 1, layer_norm: true},"
         " {units: 7, activation: selu, batch_norm: true}, {units: 5, activation: silu}]",
         "train.batch_size=16"],
    ),
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
    assert meta["config"]["model"]["layers"][0] == {
        "units": 64, "activation": "relu", "dropout": 0.3, "batch_norm": False, "layer_norm": False,
    }
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


# --------------------------------------------------------------------------- the output layer against meta


@pytest.fixture(scope="module")
def heads(tmp_path_factory):
    """Weights files of a 3-class softmax (iris), a 2-class sigmoid unit and a 3-label multilabel model."""
    tmp = tmp_path_factory.mktemp("heads")
    mlpcli.train(CONFIGS / "iris.yaml", tmp / "iris", overrides=["train.epochs=2", "model.layers=[{units: 4}]"])
    mlpcli.train(CONFIGS / "iris.yaml", tmp / "binary",
                 overrides=["train.epochs=2", "data.dataset=breast_cancer", "model.layers=[{units: 4}]"])
    mlpcli.train({"data": {"dataset": "multilabel", "options": {"n_samples": 120, "n_classes": 3}},
                  "model": {"layers": [{"units": 4}]}, "train": {"epochs": 2}}, tmp / "multilabel")
    return {name: tmp / name / "weights.npz" for name in ("iris", "binary", "multilabel")}


def tamper(src, dst, meta_change=None, extra_outputs=0):
    """A copy of a weights file with meta edited, or ``extra_outputs`` units added to the output layer."""
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    if meta_change:
        meta_change(meta)
    last = len(meta["config"]["model"]["layers"])
    if extra_outputs:
        W, b = arrays[f"dense.{last}.weight"], arrays[f"dense.{last}.bias"]
        arrays[f"dense.{last}.weight"] = np.concatenate([W, W[:, :extra_outputs]], axis=1)
        arrays[f"dense.{last}.bias"] = np.concatenate([b, b[:extra_outputs]])
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(dst, **arrays)
    return dst


@pytest.mark.parametrize("model, meta_change, extra, message", [
    ("iris", None, 1, r"output layer \(dense.1.bias\) has 4 units, but a classification model needs 3: "
                      r"a cross_entropy unit per class, and meta.classes lists 3 classes"),
    ("iris", lambda m: m.update(classes=[0, 1]), 0, "has 3 units, .* needs 2: .*meta.classes lists 2 classes"),
    ("iris", lambda m: m.update(classes=[0, 1, 2, 3]), 0, "has 3 units, .* needs 4"),
    ("binary", None, 1, r"\(dense.1.bias\) has 2 units, but a classification model needs 1: one sigmoid unit"),
    ("multilabel", None, 1, "has 4 units, but a multilabel model needs 3: .*per label.*3 labels"),
    ("iris", lambda m: m.update(task="multilabel"), 0,
     "meta.task is 'multilabel' but meta.config.model.task is 'classification'"),
    ("iris", lambda m: m.update(task="regression", classes=None), 0, "meta.task is 'regression' but"),
    ("binary", lambda m: m.update(classes=[0, 1, 2]), 0, "binary_cross_entropy' needs 2 classes, the data has 3"),
])
def test_an_output_layer_that_does_not_fit_meta_is_refused(heads, tmp_path, model, meta_change, extra, message):
    from mlpcli.errors import WeightsError

    bad = tamper(heads[model], tmp_path / "bad.npz", meta_change, extra)
    with pytest.raises(WeightsError, match=message) as info:
        load_weights(bad)
    assert str(info.value).startswith(f"{bad}: ")
    np.save(tmp_path / "X.npy", np.zeros((2, load_weights(heads[model]).n_features)))
    for args in (["predict", bad, tmp_path / "X.npy"], ["eval", bad]):
        proc = run_mlp(*args)
        assert proc.returncode == 2 and proc.stderr.startswith(f"Error: {bad}: "), proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


def test_untampered_heads_load(heads):
    assert load_weights(heads["iris"]).network.n_outputs == 3
    assert load_weights(heads["binary"]).network.n_outputs == 1
    assert load_weights(heads["multilabel"]).network.n_outputs == 3
