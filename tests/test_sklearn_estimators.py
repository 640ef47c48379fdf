"""mlpcli.sklearn: scikit-learn's estimator checks, a Pipeline + GridSearchCV,
the weights-file round trip, and that the estimators train with the CLI's engine."""
import json

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris, make_regression
from sklearn.utils.estimator_checks import parametrize_with_checks

from click.testing import CliRunner

from mlpcli import prepare, runner
from mlpcli.cli import cli
from mlpcli.errors import DataError
from mlpcli.sklearn import MLPNetClassifier, MLPNetRegressor, expected_failed_checks

SMALL = dict(hidden_layer_sizes=(16,), epochs=20, lr=0.01)


@parametrize_with_checks(
    [
        # the config's defaults (float32, a 10% validation split), few epochs
        MLPNetClassifier(**SMALL),
        MLPNetRegressor(**SMALL),
        # float64, no validation split: every check passes (no expected failures)
        MLPNetClassifier(**SMALL, dtype="float64", val_size=0.0),
        MLPNetRegressor(**SMALL, dtype="float64", val_size=0.0, early_stopping=True, monitor="train_loss"),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_expected_failures_only_for_float32():
    assert "check_methods_subset_invariance" in expected_failed_checks(MLPNetClassifier())
    assert expected_failed_checks(MLPNetRegressor(dtype="float64")) == {}


@pytest.mark.parametrize("Estimator", [MLPNetClassifier, MLPNetRegressor])
def test_float32_predictions_are_subset_invariant_to_float32_rounding(Estimator):
    """check_methods_subset_invariance at float32's own precision, on every BLAS.
    sklearn's check (its data, rows alone vs all 20) asks 1e-7, which float32
    passes only where the BLAS sums both products in the same order (XPASS here):
    a reversed or pairwise order for the 1-row products, as another BLAS may use,
    put the regressor 1.3-1.8x over it. A real subset dependence (batch statistics
    or dropout at prediction) misses this bound by orders of magnitude."""
    rnd = np.random.RandomState(0)
    X = 3 * rnd.uniform(size=(20, 3))
    estimator = Estimator(**SMALL, seed=1).fit(X, X[:, 0].astype(int))
    method = estimator.predict_proba if Estimator is MLPNetClassifier else estimator.predict
    full, alone = method(X), np.concatenate([method(row[None]) for row in X])
    bound = 64 * np.finfo(np.float32).eps * np.abs(full).max()  # float32 rounding through two layers
    np.testing.assert_allclose(alone, full, rtol=0, atol=bound)


@pytest.mark.slow  # ~2.5 s: GridSearchCV's two worker processes start
def test_pipeline_grid_search_on_digits():
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", MLPNetClassifier(epochs=6, scale="none"))])
    grid = {"mlp__hidden_layer_sizes": [(8,), (64,)], "mlp__lr": [0.003]}
    search = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X_train, y_train)
    assert search.best_params_["mlp__hidden_layer_sizes"] == (64,)  # 8 units is the clearly worse net
    assert search.best_score_ > 0.9
    assert search.score(X_test, y_test) > 0.9
    mlp = search.best_estimator_.named_steps["mlp"]
    assert list(mlp.classes_) == list(range(10)) and mlp.n_features_in_ == 64
    assert len(mlp.loss_curve_) == 6 and mlp.loss_curve_[-1] < mlp.loss_curve_[0]
    assert len(mlp.validation_scores_) == 6 and 0.8 < mlp.validation_scores_[-1] <= 1.0


def test_same_network_as_mlp_train(tmp_path):
    """Fitted on the training split `mlp train` uses, with the same settings,
    the estimator ends with the very same parameters (one engine)."""
    config = {
        "seed": 3,
        "data": {"dataset": "iris", "val_size": 0.0},
        "model": {"layers": [{"units": 12, "activation": "tanh", "dropout": 0.1}]},
        "train": {"epochs": 6, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}},
    }
    run = runner.train(config, tmp_path / "run")
    train = prepare.prepare_data(run.model.config).splits["train"]
    clf = MLPNetClassifier(
        hidden_layer_sizes=(12,), activation="tanh", dropout=0.1, epochs=6, batch_size=16,
        optimizer={"name": "sgd", "momentum": 0.9}, lr=0.05, val_size=0.0, seed=3,
    ).fit(train.X, train.y)
    np.testing.assert_array_equal(clf.model_.network.params, run.model.network.params)
    assert clf.loss_curve_ == [h["train_loss"] for h in run.history]


def test_weights_round_trip_and_cli(tmp_path):
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPNetClassifier(hidden_layer_sizes=(10,), epochs=15, lr=0.02, seed=1).fit(X, labels)
    path = clf.to_weights(tmp_path / "w.npz")
    loaded = MLPNetClassifier.from_weights(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert loaded.get_params()["seed"] == 1 and loaded.get_params()["lr"] == 0.02
    assert list(loaded.classes_) == list(clf.classes_) and loaded.n_features_in_ == 4

    np.savez(tmp_path / "data.npz", X=X, y=labels)
    np.save(tmp_path / "X.npy", X)
    def run_mlp(*args):
        return CliRunner().invoke(cli, [str(a) for a in args])

    proba = run_mlp("predict", path, tmp_path / "X.npy", "--proba", "-o", tmp_path / "p.npy")
    assert proba.exit_code == 0, proba.output
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), clf.predict_proba(X), atol=1e-6)
    scored = run_mlp("eval", path, "--data", tmp_path / "data.npz", "--json")
    assert scored.exit_code == 0, scored.output
    result = json.loads(scored.stdout)
    assert result["n_samples"] == 150 and result["accuracy"] == pytest.approx(clf.score(X, labels))
    # without --data, eval says the arrays it was fitted on are not a file it can read (an Error: line, exit 2)
    missing = run_mlp("eval", path)
    assert isinstance(missing.exception, DataError) and "trained in memory" in str(missing.exception)
    assert "--data FILE" in str(missing.exception)


def test_regressor_round_trip_and_refusals(tmp_path):
    X, y = make_regression(200, 4, noise=0.5, random_state=0)
    reg = MLPNetRegressor(hidden_layer_sizes=(16,), epochs=30, lr=0.01).fit(X, y / 100)
    assert reg.score(X, y / 100) > 0.9 and reg.validation_scores_[-1] > 0.8
    path = reg.to_weights(tmp_path / "r.npz")
    np.testing.assert_array_equal(MLPNetRegressor.from_weights(path).predict(X), reg.predict(X))
    with pytest.raises(ValueError, match="holds a regression model; MLPNetClassifier needs a classification"):
        MLPNetClassifier.from_weights(path)


def test_bad_parameters_name_the_config_key():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=r"model.layers\[0\].dropout: must be in \[0, 1\), got 1.5"):
        MLPNetClassifier(dropout=1.5, epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="needs a validation split"):
        MLPNetClassifier(early_stopping=True, val_size=0.0, epochs=1).fit(X, y)
