"""The scikit-learn estimators' parameters (issue 14): scikit-learn's names
(random_state, max_iter, learning_rate_init, validation_fraction, batch_size
'auto') next to the config's, class_weight, label_smoothing and multilabel targets."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import (
    load_iris,
    make_classification,
    make_multilabel_classification,
)
from sklearn.metrics import recall_score

from mlpcli.sklearn import MLPNetClassifier, MLPNetRegressor

SMALL = dict(hidden_layer_sizes=(8,))


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_random_state_is_the_seed(iris):
    X, y = iris
    a = MLPNetClassifier(**SMALL, max_iter=3, random_state=7).fit(X, y)
    b = MLPNetClassifier(**SMALL, max_iter=3, random_state=7).fit(X, y)
    c = MLPNetClassifier(**SMALL, max_iter=3, seed=7).fit(X, y)
    d = MLPNetClassifier(**SMALL, max_iter=3, random_state=8).fit(X, y)
    np.testing.assert_array_equal(a.model_.network.params, b.model_.network.params)
    np.testing.assert_array_equal(a.model_.network.params, c.model_.network.params)  # one setting, two names
    assert not np.array_equal(a.model_.network.params, d.model_.network.params)
    assert a.model_.config["seed"] == 7
    # a RandomState draws the seed, as scikit-learn's check_random_state would
    e = MLPNetClassifier(**SMALL, max_iter=1, random_state=np.random.RandomState(0)).fit(X, y)
    assert e.model_.config["seed"] == np.random.RandomState(0).randint(np.iinfo(np.int32).max)


def test_max_iter_and_learning_rate_init_set_epochs_and_lr(iris):
    X, y = iris
    clf = MLPNetClassifier(**SMALL, max_iter=4, learning_rate_init=0.02).fit(X, y)
    assert clf.n_iter_ == 4 and len(clf.loss_curve_) == 4
    assert clf.model_.config["train"]["epochs"] == 4 and clf.model_.config["train"]["optimizer"]["lr"] == 0.02
    auto = MLPNetClassifier(**SMALL, max_iter=1, batch_size="auto").fit(X, y)
    assert auto.model_.config["train"]["batch_size"] == 150  # min(200, n_samples), as MLPClassifier's 'auto'


def test_clone_get_params_and_set_params_round_trip(iris):
    clf = MLPNetClassifier(max_iter=5, learning_rate_init=0.01, random_state=3, validation_fraction=0.2,
                           class_weight={0: 2.0}, label_smoothing=0.1)
    params = clf.get_params()
    for name in ("random_state", "max_iter", "learning_rate_init", "validation_fraction", "batch_size",
                 "early_stopping", "class_weight", "label_smoothing", "seed", "epochs", "lr", "val_size"):
        assert name in params
    assert clone(clf).get_params() == params
    assert pickle.loads(pickle.dumps(clf)).get_params() == params
    assert MLPNetRegressor().get_params()["random_state"] is None
    assert "class_weight" not in MLPNetRegressor().get_params()
    # set_params by either name: the last value set counts, and both names then show it
    clf = MLPNetClassifier(epochs=20)
    clf.set_params(max_iter=3)
    assert clf.get_params()["epochs"] == 3 and clf.get_params()["max_iter"] == 3
    clf.set_params(epochs=2)
    assert clf.get_params()["max_iter"] == 2
    X, y = iris
    assert clf.fit(X, y).n_iter_ == 2
    # a name left unset (None) stays unset when its partner changes
    clf = MLPNetClassifier().set_params(lr=0.05)
    assert clf.get_params()["learning_rate_init"] is None and clf.get_params()["lr"] == 0.05


def test_two_names_for_one_setting_that_disagree_are_refused(iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"MLPNetClassifier: seed=1 and random_state=2 are two names for one "
                                         r"setting \(seed\)"):
        MLPNetClassifier(seed=1, random_state=2, max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match=r"epochs=10 and max_iter=5 .*\(train.epochs\)"):
        MLPNetRegressor(epochs=10, max_iter=5).fit(X, X[:, 0])
    with pytest.raises(ValueError, match=r"val_size=0.2 and validation_fraction=0.3 .*\(data.val_size\)"):
        MLPNetClassifier(val_size=0.2, validation_fraction=0.3).fit(X, y)
    assert MLPNetClassifier(**SMALL, epochs=2, max_iter=2).fit(X, y).n_iter_ == 2  # agreeing: fine
    with pytest.raises(ValueError, match="random_state must be an int, a numpy RandomState or None"):
        MLPNetClassifier(random_state="zero", max_iter=1).fit(X, y)


@pytest.mark.parametrize("Estimator", [MLPNetClassifier, MLPNetRegressor])
def test_an_unknown_parameter_names_the_public_class(Estimator):
    with pytest.raises(TypeError, match=rf"^{Estimator.__name__}\.__init__\(\) got an unexpected keyword argument "
                                        "'hidden_layers'"):
        Estimator(hidden_layers=(8,))


def test_early_stopping_with_validation_fraction():
    X, y = make_classification(300, 20, n_informative=3, flip_y=0.3, random_state=0)
    clf = MLPNetClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=300, early_stopping=True,
                           patience=3, validation_fraction=0.25, random_state=0).fit(X, y)
    assert clf.n_iter_ < 300  # noisy labels, a wide net: the validation loss turns up early
    assert clf.best_epoch_ == clf.n_iter_ - 3
    assert clf.model_.config["data"]["val_size"] == 0.25 and len(clf.validation_scores_) == clf.n_iter_
    with pytest.raises(ValueError, match="needs a validation split"):
        MLPNetClassifier(early_stopping=True, validation_fraction=0.0, max_iter=1).fit(X, y)


def test_class_weight_shifts_a_skewed_classifier_toward_the_rare_class():
    X, y = make_classification(600, 4, n_informative=2, weights=[0.9], class_sep=0.5, flip_y=0.05, random_state=1)
    kwargs = dict(hidden_layer_sizes=(16,), max_iter=15, learning_rate_init=0.01, validation_fraction=0.0)
    plain = MLPNetClassifier(**kwargs).fit(X, y)
    balanced = MLPNetClassifier(**kwargs, class_weight="balanced").fit(X, y)
    mapping = MLPNetClassifier(**kwargs, class_weight={1: 9.0}).fit(X, y)
    rare = [recall_score(y, m.predict(X)) for m in (plain, balanced, mapping)]
    assert rare[1] > rare[0] + 0.2 and rare[2] > rare[0] + 0.2, rare
    weights = balanced.model_.config["train"]["class_weight"]  # resolved on the training rows, per class
    assert weights["1"] > 4 * weights["0"]
    with pytest.raises(ValueError, match=r"train.class_weight: 'cat' is not a class of the data"):
        MLPNetClassifier(class_weight={"cat": 2.0}, max_iter=1).fit(X, y)


def test_label_smoothing_reaches_the_loss(iris):
    """Smoothed targets keep the cross-entropy above their own entropy; the plain loss goes below it."""
    X, y = iris
    kwargs = dict(hidden_layer_sizes=(32,), max_iter=150, learning_rate_init=0.02, validation_fraction=0.0)
    e, k = 0.3, 3
    target = np.array([1 - e + e / k, e / k, e / k])
    floor = float(-(target * np.log(target)).sum())  # ~0.64 nats
    smoothed = MLPNetClassifier(**kwargs, label_smoothing=e).fit(X, y)
    plain = MLPNetClassifier(**kwargs).fit(X, y)
    assert smoothed.model_.config["train"]["label_smoothing"] == e
    assert min(smoothed.loss_curve_) >= floor - 1e-3
    assert plain.loss_curve_[-1] < floor - 0.3
    assert smoothed.score(X, y) > 0.9  # the predictions still follow the labels


def test_multilabel_targets(tmp_path):
    X, Y = make_multilabel_classification(300, 10, n_classes=4, random_state=0)
    clf = MLPNetClassifier(hidden_layer_sizes=(32,), max_iter=40, learning_rate_init=0.01, random_state=0).fit(X, Y)
    assert clf.model_.task == "multilabel" and list(clf.classes_) == [0, 1, 2, 3]
    pred, proba = clf.predict(X), clf.predict_proba(X)
    assert pred.shape == (300, 4) and set(np.unique(pred)) <= {0, 1}
    assert proba.shape == (300, 4) and ((proba >= 0) & (proba <= 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1)  # a probability per label, not a distribution over them
    np.testing.assert_array_equal(pred, (proba >= 0.5).astype(int))
    assert clf.score(X, Y) > 0.5  # subset accuracy (ClassifierMixin.score on an indicator matrix)
    assert clf.validation_scores_ is not None and len(clf.validation_scores_) == 40  # val subset accuracy
    smoothed = MLPNetClassifier(hidden_layer_sizes=(8,), max_iter=2, label_smoothing=0.1).fit(X, Y)
    assert smoothed.model_.config["train"]["label_smoothing"] == 0.1
    loaded = MLPNetClassifier.from_weights(clf.to_weights(tmp_path / "ml.npz"))
    np.testing.assert_array_equal(loaded.predict(X), pred)
    with pytest.raises(ValueError, match="train.class_weight: applies to classification only, not to the multilabel"):
        MLPNetClassifier(class_weight="balanced", max_iter=1).fit(X, Y)
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        MLPNetClassifier(max_iter=1).fit(X, np.column_stack([Y[:, 0] * 2 + Y[:, 1], Y[:, 2]]))
