"""The data registry, files, labels and scaling."""
import numpy as np
import pytest

from mlpcli import data
from mlpcli.trained import load_weights
from mlpcli.errors import DataError


@pytest.mark.parametrize("name", sorted(data.LOADERS))
def test_every_bundled_loader_loads(name):
    X, y = data.load_dataset(name, {}, random_state=0)
    assert X.ndim == 2 and len(X) == len(y) > 0


@pytest.mark.parametrize("name", sorted(data.GENERATORS))
def test_every_generator_takes_options_and_a_seed(name):
    X, y = data.load_dataset(name, {"n_samples": 123}, random_state=5)
    assert len(X) == len(y) == 123
    X2, _ = data.load_dataset(name, {"n_samples": 123}, random_state=5)
    np.testing.assert_array_equal(X, X2)
    X3, _ = data.load_dataset(name, {"n_samples": 123}, random_state=6)
    assert not np.array_equal(X, X3)


def test_options_reach_the_generator():
    X, _ = data.load_dataset("classification", {"n_samples": 50, "n_features": 7}, 0)
    assert X.shape == (50, 7)
    _, y = data.load_dataset("blobs", {"n_samples": 60, "centers": 4}, 0)
    assert len(np.unique(y)) == 4


def test_unknown_option_is_refused_with_a_suggestion():
    with pytest.raises(DataError, match=r"data\.options\.noize: .*did you mean 'noise'"):
        data.load_dataset("moons", {"noize": 0.1}, 0)
    with pytest.raises(DataError, match="return_X_y"):
        data.load_dataset("digits", {"return_X_y": False}, 0)


def test_task_inference():
    assert data.infer_task(np.array([0, 1, 2])) == "classification"
    assert data.infer_task(np.array(["a", "b"])) == "classification"
    assert data.infer_task(np.array([True, False])) == "classification"
    assert data.infer_task(np.array([0.5, 1.5])) == "regression"
    assert data.infer_task(np.zeros((4, 3))) == "regression"


def test_labels_of_any_kind_map_to_classes_and_back():
    y = np.array(["b", "a", "c", "a"])
    index, classes = data.encode_classes(y, "y")
    assert classes.tolist() == ["a", "b", "c"]
    assert classes[index].tolist() == y.tolist()
    with pytest.raises(DataError, match="at least 2 classes"):
        data.encode_classes(np.array([1, 1, 1]), "y")


def test_npz_and_csv_files(tmp_path):
    X = np.arange(20.0).reshape(10, 2)
    y = np.array([0, 1] * 5)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    X2, y2 = data.read_xy(str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    rows = ["f1,f2,label"] + [f"{a},{b},{'yes' if t else 'no'}" for (a, b), t in zip(X, y)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    X3, y3 = data.read_xy(str(tmp_path / "d.csv"))
    np.testing.assert_array_equal(X3, X)
    assert y3.tolist() == ["yes" if t else "no" for t in y]
    (tmp_path / "n.csv").write_text("1,2,0.5\n3,4,1.5\n")  # no header, numeric target
    X4, y4 = data.read_xy(str(tmp_path / "n.csv"))
    assert X4.shape == (2, 2) and y4.dtype.kind == "f"


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        data.read_xy(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "noy.npz", X=np.zeros((3, 2)))
    with pytest.raises(DataError, match="needs arrays 'X' and 'y'"):
        data.read_xy(str(tmp_path / "noy.npz"))
    np.savez(tmp_path / "obj.npz", X=np.array([{}, {}], dtype=object), y=np.zeros(2))
    with pytest.raises(DataError, match="pickled Python objects, which are never loaded"):
        data.read_xy(str(tmp_path / "obj.npz"))
    with pytest.raises(DataError, match="NaN or infinite"):
        data.check_xy(np.array([[np.nan, 1.0]]), np.array([0]), "f")
    with pytest.raises(DataError, match="3 rows but y has 2"):
        data.check_xy(np.zeros((3, 2)), np.zeros(2), "f")


def test_split_sizes_and_disjointness():
    y = np.repeat([0, 1], 50)
    parts = data.split(y, "classification", 0.2, 0.25, random_state=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [60, 20, 20]
    seen = np.concatenate(list(parts.values()))
    assert sorted(seen.tolist()) == list(range(100))  # every sample exactly once
    assert np.bincount(y[parts["test"]]).tolist() == [10, 10]
    assert set(data.split(y, "classification", 0.2, 0.0, 0)) == {"train", "test"}


def test_a_split_that_cannot_be_stratified_names_the_key():
    y = np.repeat([0, 1, 2], 10)  # a test set of 2 cannot hold one sample of each of 3 classes
    with pytest.raises(DataError, match=r"data\.test_size: cannot split off the test set from 30 samples"):
        data.split(y, "classification", 0.05, 0.0, 0)
    with pytest.raises(DataError, match=r"data\.val_size: cannot split off the validation set from 24 samples"):
        data.split(y, "classification", 0.2, 0.05, 0)


def test_a_class_of_one_sample_names_the_target_not_the_split():
    y = np.array([0] * 20 + [1])  # no data.test_size can split this stratified
    with pytest.raises(DataError, match=r"^data\.target: 1 of its 2 classes have a single sample \(1\), "):
        data.split(y, "classification", 0.2, 0.0, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scalers_match_scikit_learn_without_copying_the_data(dtype):
    """Statistics as StandardScaler / MinMaxScaler compute them (constant columns
    get scale 1), accumulated in float64 over blocks of rows."""
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    rng = np.random.default_rng(0)
    X = (rng.standard_normal((5000, 6)) * [1, 10, 1e-3, 0, 1e4, 1] + [0, 3, 1e5, 7, -2, 1]).astype(dtype)
    mean, std = data.fit_scaler("standard", X, chunk_rows=512)
    reference = StandardScaler().fit(X)
    np.testing.assert_allclose(mean, reference.mean_, rtol=1e-12)
    np.testing.assert_allclose(std, reference.scale_, rtol=1e-9)
    assert std[3] == 1.0  # the constant column
    low, spread = data.fit_scaler("minmax", X)
    reference = MinMaxScaler().fit(X)
    np.testing.assert_array_equal(low, reference.data_min_)
    np.testing.assert_allclose(spread, 1 / reference.scale_, rtol=1e-6)
    assert spread[3] == 1.0


def test_scalers():
    X = np.array([[0.0, 10], [2, 10], [4, 10]])
    offset, scale = data.fit_scaler("standard", X)
    np.testing.assert_allclose((X - offset) / scale, [[-1.2247449, 0], [0, 0], [1.2247449, 0]], atol=1e-6)
    offset, scale = data.fit_scaler("minmax", X)
    np.testing.assert_allclose((X - offset) / scale, [[0, 0], [0.5, 0], [1, 0]])
    assert data.fit_scaler("none", X) is None


@pytest.mark.parametrize("seed", range(6))
def test_classification_metrics_equal_scikit_learns(seed):
    """Accuracy, balanced accuracy and macro F1 from one confusion matrix are
    scikit-learn's own, also with classes never predicted or absent from y."""
    import warnings

    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    from mlpcli import metrics

    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    y = rng.integers(0, k - (seed % 2), int(rng.integers(5, 200)))  # odd seeds: the last class is absent
    proba = rng.random((len(y), k)) ** 4  # some classes rarely or never predicted
    pred = proba.argmax(axis=1)
    got = metrics.classification(y, proba, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert got["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-15)
        assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-15)
        assert got["f1_macro"] == pytest.approx(
            f1_score(y, pred, average="macro", labels=np.arange(k), zero_division=0), abs=1e-15)


def _iris_file(tmp_path, name, X=None, y=None):
    from sklearn.datasets import load_iris

    X0, y0 = load_iris(return_X_y=True)
    path = tmp_path / name
    np.savez(path, X=X0 if X is None else X, y=y0 if y is None else y)
    return path, X0, y0


def test_bytes_labels_are_decoded_and_the_model_is_written(tmp_path):
    import mlpcli
    from mlpcli import runner

    labels = np.array([b"setosa", b"versicolor", "virginica".encode()])
    path, _, y = _iris_file(tmp_path, "bytes.npz", y=labels[np.arange(150) % 3])
    X, y = data.read_xy(str(path))
    assert y.dtype.kind == "U" and y[:3].tolist() == ["setosa", "versicolor", "virginica"]
    config = {"data": {"dataset": str(path), "val_size": 0}, "train": {"epochs": 2}}
    result = mlpcli.train(config, tmp_path / "run")
    model = load_weights(tmp_path / "run" / "weights.npz")
    assert model.classes.tolist() == ["setosa", "versicolor", "virginica"]
    assert runner.evaluate(tmp_path / "run" / "weights.npz", str(path))["accuracy"] == pytest.approx(
        result.model.score(X, y)["accuracy"])
    bad = tmp_path / "bad.npz"
    np.savez(bad, X=X, y=np.array([b"caf\xe9", b"tea", b"tea"])[np.arange(150) % 3])
    with pytest.raises(DataError, match=r"bad\.npz: y holds the label b'caf\\xe9', which is not UTF-8"):
        data.read_xy(str(bad))


def test_boolean_features_are_read_as_0_and_1_for_training_and_prediction(tmp_path):
    import mlpcli

    from .conftest import run_mlp

    path, X, y = _iris_file(tmp_path, "bool.npz")
    np.savez(path, X=X > X.mean(axis=0), y=y)
    mlpcli.train({"data": {"dataset": str(path), "val_size": 0}, "train": {"epochs": 2}}, tmp_path / "run")
    np.save(tmp_path / "new.npy", X[:5] > X.mean(axis=0))
    proc = run_mlp("predict", tmp_path / "run" / "weights.npz", "new.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 6
    assert data.read_features(str(tmp_path / "new.npy")).dtype == np.uint8


def test_a_generator_too_big_for_memory_is_refused_before_it_runs():
    with pytest.raises(DataError, match=r"data\.options\.n_samples: 1,000,000,000,000 samples x 20 features") as info:
        data.load_dataset("classification", {"n_samples": 10**12}, 0)
    assert "data.options.n_features" in str(info.value)
    with pytest.raises(DataError, match=r"200,000,000,000 samples need"):  # moons: no n_features option
        data.load_dataset("moons", {"n_samples": [10**11, 10**11]}, 0)
    data.check_generator_size("classification", {"n_samples": 10**5, "n_features": 50})  # 120 MB: fine


def test_features_beyond_float32_are_refused_naming_the_column():
    X = np.ones((5, 3))
    X[2, 1] = -1e39
    with pytest.raises(DataError, match=r"^x\.npy: column 2 of 3 holds -1e\+39, beyond the range of float32"):
        data.check_range(X, np.float32, "x.npy")
    data.check_range(X, np.float64, "x.npy")
    data.check_range(np.array([[np.inf, 1.0]]), np.float32, "x")  # non-finite values are another check's


def test_a_scaling_beyond_float32_is_refused_naming_the_column():
    X = np.array([[1.0, 3e38], [2.0, -3e38], [3.0, 0.0]])
    data.check_range(X, np.float32, "x.npz")  # every value fits float32 ...
    with pytest.raises(DataError, match=r"^x\.npz: column 2 of 2 needs a data\.scale: minmax scale of 6e\+38"):
        data.check_scaler(data.fit_scaler("minmax", X), np.float32, "minmax", "x.npz")  # ... its range does not
    data.check_scaler(data.fit_scaler("minmax", X), np.float64, "minmax", "x.npz")
    data.check_scaler(data.fit_scaler("standard", X), np.float32, "standard", "x.npz")
