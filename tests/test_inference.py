"""Prediction from a trained model: chunked, one pass of scaling per chunk, and
the same numbers (to float32 rounding) whatever the chunk size."""
import numpy as np
import pytest

import mlpcli
from mlpcli.errors import DataError
from mlpcli.trained import TrainedModel


def _train(tmp_path, dataset, **model):
    config = {
        "data": {"dataset": dataset, "val_size": 0.0},
        "model": {"layers": [{"units": 16, "activation": "relu", "dropout": 0.1}], **model},
        "train": {"epochs": 3},
    }
    return mlpcli.train(config, tmp_path / dataset).model


@pytest.mark.parametrize("dataset", ["digits", "diabetes", "breast_cancer"])
def test_output_is_the_same_in_any_chunk_size(tmp_path, dataset, monkeypatch):
    from sklearn import datasets

    model = _train(tmp_path, dataset)
    X = getattr(datasets, f"load_{dataset}")(return_X_y=True)[0]
    whole = model.output(X)
    assert whole.shape[0] == len(X) and np.all(np.isfinite(whole))
    monkeypatch.setattr(TrainedModel, "CHUNK_ROWS", 7)
    # Equal to float32 rounding: BLAS may order a product's sums by the block's height.
    np.testing.assert_allclose(model.output(X), whole, rtol=1e-5, atol=1e-7)
    # Scaling per chunk gives what scaling the whole array gives.
    np.testing.assert_allclose(model.network.predict(model.transform(X)), whole, rtol=1e-6, atol=1e-7)


def test_output_leaves_the_callers_array_untouched(tmp_path):
    model = _train(tmp_path, "digits")
    X = np.random.default_rng(0).uniform(0, 16, (50, 64)).astype(np.float32)
    before = X.copy()
    model.output(X)
    model.transform(X)
    np.testing.assert_array_equal(X, before)


def test_a_non_finite_value_in_any_chunk_is_refused(tmp_path, monkeypatch):
    model = _train(tmp_path, "digits")
    monkeypatch.setattr(TrainedModel, "CHUNK_ROWS", 10)
    for bad in (np.nan, np.inf, -np.inf):
        X = np.zeros((35, 64))
        X[23, 5] = bad  # in the third chunk
        with pytest.raises(DataError, match="rows.csv: holds NaN or infinite values"):
            model.output(X, source="rows.csv")


def test_huge_finite_values_are_not_mistaken_for_infinite(tmp_path):
    """The quick check sums in float64; a sum that overflows falls back to the exact test."""
    model = _train(tmp_path, "digits", dtype="float64")
    model.scaler = None
    X = np.zeros((4, 64))
    X[:, :2] = 1.5e308  # finite, but their sum is not
    out = model.output(X)
    assert out.shape == (4, 10) and np.all(np.isfinite(out))
