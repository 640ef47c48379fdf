"""Random cuts of sample indices, the same as scikit-learn's: one train /
test cut as ``train_test_split(indices, test_size=..., stratify=...,
random_state=seed)`` (train_test_indices), and k folds as its shuffled
``KFold`` / ``StratifiedKFold`` (k_folds, for ``mlp cv``).

The same draws from the same ``np.random.RandomState(seed)`` in the same
order, so every split (and so every run recorded before this module existed)
is unchanged; tests check it index for index against scikit-learn. It lives
here so that a run on a built-in data set or a file never imports
scikit-learn (about 0.8 s of every ``mlp train``; see the performance issue).
"""
from __future__ import annotations

from math import ceil

import numpy as np


class SplitError(ValueError):
    """A split that cannot be made; the message is its reason, as scikit-learn words it."""


def train_test_indices(
    indices: np.ndarray, test_size: float, stratify: np.ndarray | None, random_state: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test): ``indices`` cut at random, ``ceil(test_size * n)`` of them
    held out; with ``stratify`` (labels, one per index) each class keeps its
    share in both parts (scikit-learn's StratifiedShuffleSplit), else
    ShuffleSplit. ``test_size`` is a fraction in (0, 1)."""
    indices = np.asarray(indices)
    n = len(indices)
    if not 0 < test_size < 1:
        raise SplitError(f"test_size={test_size} should be either positive and smaller than the number of samples {n} "
                         "or a float in the (0, 1) range")
    n_test = ceil(test_size * n)
    n_train = n - n_test
    if n_train == 0:
        raise SplitError(f"With n_samples={n}, test_size={test_size} and train_size=None, the resulting train set "
                         "will be empty. Adjust any of the aforementioned parameters.")
    rng = np.random.RandomState(random_state)
    if stratify is None:
        permutation = rng.permutation(n)
        return indices[permutation[n_test:]], indices[permutation[:n_test]]
    train, test = _stratified(np.asarray(stratify), n_train, n_test, rng)
    return indices[train], indices[test]


def _stratified(y: np.ndarray, n_train: int, n_test: int, rng: np.random.RandomState):
    if y.ndim != 1:
        raise SplitError(f"stratify needs one label per sample, got shape {y.shape}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():  # scikit-learn's check of y; np.unique would make them a class
        raise SplitError("Input y contains NaN." if np.isnan(y).any() else "Input y contains infinity.")
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    n_classes = len(classes)
    if class_counts.min() < 2:
        raise SplitError(
            "The least populated classes in y have only 1 member, which is too few. The minimum number of groups "
            f"for any class cannot be less than 2. Classes with too few members are: {classes[class_counts < 2].tolist()}"
        )
    if n_train < n_classes:
        raise SplitError(f"The train_size = {n_train} should be greater or equal to the number of classes = {n_classes}")
    if n_test < n_classes:
        raise SplitError(f"The test_size = {n_test} should be greater or equal to the number of classes = {n_classes}")
    class_indices = np.split(np.argsort(y_indices.ravel(), kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(n_classes):
        permuted = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(permuted[: n_i[i]])
        test.extend(permuted[n_i[i]: n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Draws per class, close to the mode of the multivariate hypergeometric:
    the floor of each class's share, then one more for the classes with the
    largest remainders, ties broken at random (scikit-learn's _approximate_mode)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def k_folds(n: int, folds: int, stratify: np.ndarray | None, random_state: int):
    """(train, test) index arrays for each of ``folds`` folds of range(n), as
    scikit-learn's KFold(folds, shuffle=True, random_state=seed).split, or with
    ``stratify`` (one label per sample, every class at least ``folds``
    members: the caller checks) StratifiedKFold's. Both ascending, as its are."""
    rng = np.random.RandomState(random_state)
    test_folds = np.empty(n, dtype=np.intp)
    if stratify is None:
        order = np.arange(n)
        rng.shuffle(order)
        sizes = np.full(folds, n // folds, dtype=int)
        sizes[: n % folds] += 1
        test_folds[order] = np.repeat(np.arange(folds), sizes)
    else:
        # Classes numbered by first appearance; each fold gets its round-robin share
        # of every class, and a class's fold numbers are shuffled (StratifiedKFold._make_test_folds).
        _, first, inverse = np.unique(np.asarray(stratify), return_index=True, return_inverse=True)
        _, by_appearance = np.unique(first, return_inverse=True)
        encoded = by_appearance[inverse.ravel()]
        n_classes = len(first)
        ordered = np.sort(encoded)
        allocation = np.asarray([np.bincount(ordered[i::folds], minlength=n_classes) for i in range(folds)])
        for k in range(n_classes):
            folds_for_class = np.arange(folds).repeat(allocation[:, k])
            rng.shuffle(folds_for_class)
            test_folds[encoded == k] = folds_for_class
    indices = np.arange(n)
    for i in range(folds):
        held = test_folds == i
        yield indices[~held], indices[held]
