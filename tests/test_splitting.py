"""The train / test cut (data.splitting) is scikit-learn's train_test_split
index for index, so runs split as they always have without importing it."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from mlpcli import data
from mlpcli.errors import DataError
from mlpcli.data.splitting import SplitError, k_folds, train_test_indices

CASES = [  # (class counts or None for no stratification, test_size, seed)
    ([50, 50, 50], 0.2, 0),
    ([50, 50, 50], 0.25, 7),
    ([3, 7, 11, 2], 0.3, 1),  # remainders tied: the tie is broken at random, as scikit-learn does
    ([5, 5, 5, 5, 5, 5], 0.33, 123456),
    ([90, 10], 0.1, 42),
    ([2, 2], 0.5, 3),
    ([1000, 17, 300, 4], 0.15, 2**31 - 1),
    (None, 0.2, 0),
    (None, 0.01, 5),
    (None, 0.99, 9),
]


@pytest.mark.parametrize("counts, test_size, seed", CASES)
def test_the_cut_is_scikit_learns_index_for_index(counts, test_size, seed):
    rng = np.random.default_rng(seed)
    if counts is None:
        indices, labels = rng.permutation(200) + 1000, None
    else:
        labels = rng.permutation(np.repeat(np.array(["b", "a", "d", "c"] * 2)[: len(counts)], counts))
        indices = np.arange(len(labels)) * 3
    train, test = train_test_indices(indices, test_size, labels, seed)
    expected_train, expected_test = train_test_split(indices, test_size=test_size, stratify=labels, random_state=seed)
    np.testing.assert_array_equal(train, expected_train)
    np.testing.assert_array_equal(test, expected_test)


def test_random_label_sets_cut_as_scikit_learn_does():
    rng = np.random.default_rng(2024)
    for _ in range(200):
        n_classes = int(rng.integers(2, 8))
        counts = rng.integers(2, 40, n_classes)
        labels = rng.permutation(np.repeat(np.arange(n_classes), counts))
        test_size, seed = float(rng.uniform(0.05, 0.6)), int(rng.integers(0, 10**6))
        try:
            expected = train_test_split(np.arange(len(labels)), test_size=test_size, stratify=labels, random_state=seed)
        except ValueError as exc:
            with pytest.raises(SplitError) as ours:
                train_test_indices(np.arange(len(labels)), test_size, labels, seed)
            assert str(ours.value).split(" = ")[0] == str(exc).split(" = ")[0]
            continue
        for got, want in zip(train_test_indices(np.arange(len(labels)), test_size, labels, seed), expected):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("labels, test_size, reason", [
    ([0] * 20 + [1], 0.2, "have only 1 member"),  # a class of one
    ([0] * 5 + [1] * 5 + [2] * 5, 0.1, "test_size = 2 should be greater or equal to the number of classes = 3"),
    ([0] * 3 + [1] * 3, 0.9, "the resulting train set will be empty"),  # all 6 held out
])
def test_a_cut_that_scikit_learn_refuses_is_refused_with_the_reason(labels, test_size, reason):
    labels = np.array(labels)
    with pytest.raises(ValueError):
        train_test_split(np.arange(len(labels)), test_size=test_size, stratify=labels, random_state=0)
    with pytest.raises(SplitError, match=reason):
        train_test_indices(np.arange(len(labels)), test_size, labels, 0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_labels_that_are_not_finite_are_refused_as_scikit_learn_refuses_them(bad):
    labels = np.array([0.0, 1.0, bad] * 3 + [0.0])
    with pytest.raises(ValueError):
        train_test_split(np.arange(10), test_size=0.3, stratify=labels, random_state=1)
    with pytest.raises(SplitError, match="NaN" if np.isnan(bad) else "infinity"):
        train_test_indices(np.arange(10), 0.3, labels, 1)
    with pytest.raises(DataError, match=r"data\.test_size: cannot split off the test set .*Input y contains"):
        data.split(labels, "classification", 0.3, 0.0, 1)


def test_runs_split_as_before():
    """The three-way split a run makes, against scikit-learn's two cuts."""
    y = np.repeat([0, 1, 2], [40, 35, 25])
    parts = data.split(y, "classification", 0.2, 0.25, random_state=11)
    rest, test = train_test_split(np.arange(100), test_size=0.2, stratify=y, random_state=11)
    train, val = train_test_split(rest, test_size=0.25, stratify=y[rest], random_state=11)
    for name, want in (("train", train), ("val", val), ("test", test)):
        np.testing.assert_array_equal(parts[name], want)


@pytest.mark.parametrize("n, folds, classes, seed", [
    (150, 5, 3, 0), (101, 4, 2, 7), (60, 10, 5, 123), (37, 3, None, 1), (10, 10, None, 2**31 - 1), (1000, 7, 6, 5),
])
def test_the_folds_of_mlp_cv_are_scikit_learns(n, folds, classes, seed):
    """Shuffled KFold / StratifiedKFold, fold for fold (labels in an order where
    first appearance differs from sorted order, and uneven class sizes)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    rng = np.random.default_rng(seed)
    if classes is None:
        labels, splitter = None, KFold(folds, shuffle=True, random_state=seed)
    else:
        labels = np.array(["z", "b", "m", "a", "q", "c"])[rng.choice(classes, n, p=np.arange(1, classes + 1) / sum(range(1, classes + 1)))]
        labels[:classes * folds] = np.repeat(np.array(["z", "b", "m", "a", "q", "c"])[:classes], folds)  # each class >= folds
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    expected = list(splitter.split(np.zeros(n), labels))
    got = list(k_folds(n, folds, labels, seed))
    assert len(got) == len(expected) == folds
    for (train, test), (want_train, want_test) in zip(got, expected):
        np.testing.assert_array_equal(train, want_train)
        np.testing.assert_array_equal(test, want_test)
