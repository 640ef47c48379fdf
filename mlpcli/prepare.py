"""From a resolved config to the data a run trains on: loaded, checked,
encoded and split, with one random Generator per purpose.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import data
from .artifacts import data_fingerprint
from .heads import Head, resolve_head

# One child SeedSequence per purpose, in this fixed order, so changing one
# setting (a dropout rate) never changes another stream (the data split).
STREAMS = ("data", "split", "init", "shuffle", "dropout")


def generators(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}


def random_state(rng: np.random.Generator) -> int:
    """An int seed for scikit-learn functions, drawn from one of our streams."""
    return int(rng.integers(2**31 - 1))


@dataclass
class Split:
    X: np.ndarray  # raw features
    y: np.ndarray  # raw targets (labels of any kind, or values)
    target: np.ndarray  # what the network trains on: class indices, or values (n, k)


@dataclass
class PreparedData:
    task: str
    classes: np.ndarray | None
    head: Head  # the loss and output width, resolved from train.loss, the task and the data
    splits: dict[str, Split]
    fingerprint: str | None = None  # artifacts.data_fingerprint of the data as loaded, before the split


def prepare_data(config: dict, rngs: dict | None = None) -> PreparedData:
    """Load, check, encode and split the data a resolved config describes
    (deterministic in the seed, so eval rebuilds the very same split). A CSV
    table's resolved columns are recorded in ``config["data"]``."""
    cfg = config["data"]
    rngs = rngs or generators(config["seed"])
    X, y = data.load_dataset(
        cfg["dataset"], cfg["options"], random_state(rngs["data"]),
        target=cfg.get("target"), features=cfg.get("features"), impute=cfg.get("impute"),
    )
    data.check_range(X, config["model"]["dtype"], cfg["dataset"])
    if X.dtype.names:  # a CSV table: record the columns it resolved to, so eval reads the same ones
        cfg["features"] = list(X.dtype.names)
        cfg["target"] = cfg.get("target") or data.csv_header(cfg["dataset"])[-1]
    task = config["model"]["task"]
    if task == "auto":
        task = data.infer_task(y)
    if task == "classification":
        target, classes = data.encode_classes(y, cfg["dataset"])
    elif task == "multilabel":
        target = data.multilabel_targets(y, cfg["dataset"])
        classes = np.arange(target.shape[1])  # the label columns, by position
    else:
        target, classes = data.regression_targets(y, cfg["dataset"]), None
    head = resolve_head(task, config["train"], target.shape[1] if classes is None else len(classes))
    index = data.split(y, task, cfg["test_size"], cfg["val_size"], random_state(rngs["split"]))
    splits = {name: Split(X[i], y[i], target[i]) for name, i in index.items()}
    return PreparedData(task, classes, head, splits, data_fingerprint(X, y))
