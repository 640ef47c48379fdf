"""data.scale: standard, minmax and robust equal scikit-learn's scalers; fitted
on the training split only; stored in the weights file as (offset, scale)."""
import json

import numpy as np
import pytest

from mlpcli import data
from mlpcli.config import parse_config
from mlpcli.errors import ConfigError


def _awkward(rng, n=201):
    """Heavy-tailed columns with outliers, a constant column, an integer column."""
    X = np.column_stack(
        [
            rng.normal(size=n),
            rng.standard_cauchy(size=n),  # outliers that move the mean, std and range, not the median / IQR
            np.full(n, 3.5),  # constant: scale 1
            rng.integers(0, 4, size=n).astype(float),
            rng.exponential(size=n) * 1e4,
        ]
    )
    X[:3, 0] = [1e6, -1e6, 5e5]
    return X


@pytest.mark.parametrize(
    "kind, sklearn_name",
    [("standard", "StandardScaler"), ("minmax", "MinMaxScaler"), ("robust", "RobustScaler")],
)
def test_scaler_equals_scikit_learn(kind, sklearn_name):
    import sklearn.preprocessing

    X = _awkward(np.random.default_rng(0))
    offset, scale = data.fit_scaler(kind, X)
    expected = getattr(sklearn.preprocessing, sklearn_name)().fit_transform(X)
    np.testing.assert_allclose((X - offset) / scale, expected, rtol=1e-12, atol=1e-12)
    assert scale[2] == 1.0  # the constant column is centred, not divided by zero


def test_robust_offset_and_scale_are_the_median_and_iqr():
    import sklearn.preprocessing

    X = _awkward(np.random.default_rng(1), n=50)
    offset, scale = data.fit_scaler("robust", X)
    reference = sklearn.preprocessing.RobustScaler().fit(X)
    np.testing.assert_allclose(offset, np.median(X, axis=0))
    np.testing.assert_allclose(offset, reference.center_)
    np.testing.assert_allclose(scale, reference.scale_)
    # One wild value leaves the robust statistics where they were; it drags the standard ones.
    wild = X.copy()
    wild[5, 0] = 1e12
    assert np.allclose(data.fit_scaler("robust", wild)[1][0], scale[0], rtol=0.2)
    assert data.fit_scaler("standard", wild)[1][0] > 1e9


def test_none_is_no_scaler_and_unknown_kinds_are_refused():
    assert data.fit_scaler("none", np.ones((4, 2))) is None
    with pytest.raises(ConfigError, match="data.scale: must be one of standard, minmax, robust, none, got 'robus'; did you mean 'robust'"):
        parse_config({"data": {"scale": "robus"}})


def test_robust_scaler_is_fitted_on_the_training_split_and_stored(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "data: {dataset: wine, scale: robust, val_size: 0}\nmodel: {layers: [{units: 8}]}\ntrain: {epochs: 2}\n"
    )
    from mlpcli.prepare import prepare_data
    from mlpcli.runner import train

    train(tmp_path / "c.yaml", tmp_path / "run")
    with np.load(tmp_path / "run" / "weights.npz", allow_pickle=False) as weights:
        offset, scale = weights["scaler.mean"], weights["scaler.scale"]
        meta = json.loads(str(weights["meta"]))
    assert meta["config"]["data"]["scale"] == "robust"
    train_X = prepare_data(meta["config"]).splits["train"].X
    q25, median, q75 = np.percentile(train_X, [25, 50, 75], axis=0)
    np.testing.assert_allclose(offset, median, rtol=1e-6)
    np.testing.assert_allclose(scale, q75 - q25, rtol=1e-6)
