"""`mlp export`: the ONNX graph run in onnxruntime matches `mlp predict` for every
shipped config, every activation and both norms; `to_numpy_fn` is pure NumPy;
the README's description of the weights file is enough to rebuild a model."""
import json
import math
import sys

import numpy as np
import pytest

import mlpcli
from mlpcli.onnx_export import build
from mlpcli.prepare import prepare_data

from .conftest import CONFIGS, SHIPPED, assert_refused, make_shipped_data, run_mlp

ort = pytest.importorskip("onnxruntime")  # in the test extra: pip install -e ".[test,dask,onnx]"
pytest.importorskip("onnx")

TOL = dict(rtol=1e-5, atol=1e-5)


def _session(model):
    return ort.InferenceSession(build(model).SerializeToString(), providers=["CPUExecutionProvider"])


def _run(model, X):
    """{output name: array} of the exported graph on raw rows X."""
    session = _session(model)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"input": np.asarray(X, model.network.dtype)})))


def _check_parity(model, X):
    got = _run(model, X)
    expected = model.output(X)
    if model.task == "regression":
        assert set(got) == {"values"}
        np.testing.assert_allclose(got["values"], expected, **TOL)
        return
    assert set(got) == {"probabilities", "label"}
    np.testing.assert_allclose(got["probabilities"], expected, **TOL)
    if model.task == "multilabel":
        # a probability within 1e-7 of 0.5 could flip a label; compare where it is clearly off 0.5
        clear = np.all(np.abs(expected - 0.5) > 1e-5, axis=1)
        assert clear.mean() > 0.9
        np.testing.assert_array_equal(got["label"][clear], model.predict(X)[clear])
    else:
        # ties at 1e-7 could flip a label; compare where the top two differ clearly
        top2 = np.sort(expected, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 1e-5
        np.testing.assert_array_equal(got["label"][clear], model.predict(X)[clear])


@pytest.mark.parametrize("name", [s for s in SHIPPED if s != "tabular"])
def test_every_shipped_config_matches_predict_on_its_test_split(name, tmp_path):
    result = mlpcli.train(CONFIGS / f"{name}.yaml", tmp_path / "run", overrides=["train.epochs=3"])
    model = mlpcli.load(tmp_path / "run" / "weights.npz")
    X = prepare_data(model.config).splits["test"].X
    _check_parity(model, X)
    assert result.model.task in ("classification", "multilabel", "regression")


def test_cli_export_matches_mlp_predict_proba(tmp_path):
    """The real commands end to end: mlp export, then onnxruntime against mlp predict --proba."""
    mlpcli.train(CONFIGS / "adamw_schedule.yaml", tmp_path / "run", overrides=["train.epochs=3"])
    weights = tmp_path / "run" / "weights.npz"
    model = mlpcli.load(weights)
    X = prepare_data(model.config).splits["test"].X
    np.save(tmp_path / "X.npy", X)
    proc = run_mlp("export", weights, "-o", tmp_path / "model.onnx")
    assert proc.returncode == 0, proc.stderr
    assert "model.onnx" in proc.stdout and "probabilities, label" in proc.stdout
    proc = run_mlp("predict", weights, tmp_path / "X.npy", "--proba", "-o", tmp_path / "p.npy")
    assert proc.returncode == 0, proc.stderr
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    proba, label = session.run(None, {"input": X.astype(np.float32)})
    np.testing.assert_allclose(proba, np.load(tmp_path / "p.npy"), **TOL)
    assert label.dtype == np.int64 and np.mean(label == model.predict(X)) > 0.99


ACTIVATIONS = [
    ("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.7}), ("selu", {}),
    ("gelu", {"approximate": "none"}), ("gelu", {"approximate": "tanh"}), ("silu", {}),
    ("softplus", {"beta": 2.0, "threshold": 1.0}), ("tanh", {}), ("sigmoid", {}), ("identity", {}),
]


@pytest.mark.parametrize("activation,options", ACTIVATIONS, ids=[f"{a}-{o}" for a, o in ACTIVATIONS])
def test_every_activation_with_both_norms(activation, options, tmp_path):
    layer = {"activation": activation, **options}
    config = {
        "data": {"dataset": "wine", "val_size": 0},
        "model": {"layers": [{"units": 12, "batch_norm": True, **layer},
                             {"units": 9, "layer_norm": True, **layer}, {"units": 7, **layer}]},
        "train": {"epochs": 3, "batch_size": 16},
    }
    mlpcli.train(config, tmp_path / "run")
    model = mlpcli.load(tmp_path / "run" / "weights.npz")
    X = prepare_data(model.config).splits["test"].X
    # and far outside the training range, where the softplus / gelu branches switch
    X = np.concatenate([X, X[:10] * 4])
    _check_parity(model, X)


def test_string_labels_float64_and_unscaled(tmp_path):
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(-2, 1, (40, 3)), rng.normal(2, 1, (40, 3))])
    np.savez(tmp_path / "pets.npz", X=X, y=np.array(["cat"] * 40 + ["dog"] * 40))
    mlpcli.train({"data": {"dataset": str(tmp_path / "pets.npz"), "val_size": 0, "scale": "none"},
                  "model": {"layers": [{"units": 8}], "dtype": "float64"}, "train": {"epochs": 30, "optimizer": {"lr": 0.05}}},
                 tmp_path / "run")
    model = mlpcli.load(tmp_path / "run" / "weights.npz")
    got = _run(model, X)
    assert got["probabilities"].dtype == np.float64
    np.testing.assert_allclose(got["probabilities"], model.predict_proba(X), **TOL)
    assert got["label"].tolist() == model.predict(X).tolist() and set(got["label"]) == {"cat", "dog"}


def test_csv_model_is_refused_with_one_error_line(tmp_path):
    make_shipped_data(tmp_path)
    run = tmp_path / "run"
    mlpcli.train(CONFIGS / "tabular.yaml", run, overrides=["train.epochs=1", f"data.dataset={tmp_path}/data/churn.csv"])
    proc = run_mlp("export", run / "weights.npz", "-o", tmp_path / "m.onnx")
    assert_refused(proc, "weights.npz", "CSV", "meta.encoder")
    assert not (tmp_path / "m.onnx").exists()


def test_export_wants_an_onnx_name_and_a_weights_file(tmp_path):
    assert_refused(run_mlp("export", tmp_path / "none.npz", "-o", tmp_path / "m.txt"), "m.txt", ".onnx")
    assert_refused(run_mlp("export", tmp_path / "none.npz", "-o", tmp_path / "m.onnx"), "none.npz")
    assert not (tmp_path / "m.onnx").exists()


# --------------------------------------------------------------------------- pure NumPy


def test_to_numpy_fn_needs_no_mlpcli(tmp_path, monkeypatch):
    mlpcli.train(CONFIGS / "iris.yaml", tmp_path / "run", overrides=[
        "train.epochs=3", "model.layers=[{units: 8, activation: gelu, batch_norm: true}, "
        "{units: 6, activation: softplus, layer_norm: true}]"])
    model = mlpcli.load(tmp_path / "run" / "weights.npz")
    X = prepare_data(model.config).splits["test"].X
    fn = model.to_numpy_fn()
    expected = model.predict_proba(X)
    # Its globals are NumPy and math alone, and nothing it holds is an mlpcli object.
    assert set(fn.__globals__) - {"__builtins__", "make"} == {"np", "math"}
    cells = [c.cell_contents for c in fn.__closure__]

    def walk(value):
        if isinstance(value, (tuple, list)):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            walk(list(value.values()))
        else:
            assert not (getattr(type(value), "__module__", "") or "").startswith("mlpcli"), value
            if callable(value) and hasattr(value, "__closure__"):  # the nested helpers
                assert value.__globals__ is fn.__globals__
                walk([c.cell_contents for c in value.__closure__ or ()])
    walk(cells)
    for name in [m for m in sys.modules if m == "mlpcli" or m.startswith("mlpcli.")]:
        monkeypatch.delitem(sys.modules, name)
    np.testing.assert_allclose(fn(X), expected, **TOL)
    assert "def predict(X)" in fn.__source__


def _readme_rebuild(path, X):
    """The README's 'The weights file' section, followed by hand."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    h = np.asarray(X, np.float64)
    if "scaler.mean" in arrays:
        h = (h - arrays["scaler.mean"]) / arrays["scaler.scale"]
    layers = meta["config"]["model"]["layers"]
    acts = {
        "relu": lambda x, L: np.maximum(x, 0),
        "elu": lambda x, L: np.where(x > 0, x, L["alpha"] * np.expm1(np.minimum(x, 0))),
        "tanh": lambda x, L: np.tanh(x),
        "gelu": lambda x, L: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    }
    for i, layer in enumerate(layers):
        h = h @ arrays[f"dense.{i}.weight"] + arrays[f"dense.{i}.bias"]
        if layer["batch_norm"]:
            h = (h - arrays[f"norm.{i}.running_mean"]) / np.sqrt(arrays[f"norm.{i}.running_var"] + 1e-5)
            h = h * arrays[f"norm.{i}.weight"] + arrays[f"norm.{i}.bias"]
        h = acts[layer["activation"]](h, layer)
    z = h @ arrays[f"dense.{len(layers)}.weight"] + arrays[f"dense.{len(layers)}.bias"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_readme_description_rebuilds_the_model_by_hand(tmp_path):
    mlpcli.train(CONFIGS / "wine.yaml", tmp_path / "run", overrides=[
        "train.epochs=3", "model.layers=[{units: 10, activation: elu, alpha: 0.5, batch_norm: true}, "
        "{units: 6, activation: gelu}, {units: 5, activation: tanh}]", "train.batch_size=16"])
    model = mlpcli.load(tmp_path / "run" / "weights.npz")
    X = prepare_data(model.config).splits["test"].X
    np.testing.assert_allclose(_readme_rebuild(tmp_path / "run" / "weights.npz", X), model.predict_proba(X),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.to_numpy_fn()(X), model.predict_proba(X), **TOL)
