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
    task_why: str | None = None  # why model.task: auto chose the task (data.explain_task); None if the config set it

    @property
    def task_note(self) -> str:
        """The summary's word on an inferred task and how to override it ("" if the config set it)."""
        return data.task_note(self.task, self.task_why)


def _target_column(cfg: dict) -> str | None:
    """The name of a CSV's target column: data.target, else the last header
    cell (None for a file with no header row, or not a CSV)."""
    if cfg.get("target") or not str(cfg["dataset"]).lower().endswith(".csv"):
        return cfg.get("target")
    last = data.csv_header(cfg["dataset"], cfg.get("delimiter", "auto"))[-1:]
    try:
        float(last[0])
        return None
    except (IndexError, ValueError):
        return last[0] if last else None


def prepare_data(config: dict, rngs: dict | None = None) -> PreparedData:
    """Load, check, encode and split the data a resolved config describes
    (deterministic in the seed, so eval rebuilds the very same split). A CSV
    table's resolved columns are recorded in ``config["data"]``."""
    cfg = config["data"]
    rngs = rngs or generators(config["seed"])
    X, y = data.load_dataset(
        cfg["dataset"], cfg["options"], random_state(rngs["data"]),
        target=cfg.get("target"), features=cfg.get("features"), impute=cfg.get("impute"),
        delimiter=cfg.get("delimiter", "auto"),
    )
    data.check_range(X, config["model"]["dtype"], cfg["dataset"])
    if X.dtype.names:  # a CSV table: record the columns it resolved to, so eval reads the same ones
        cfg["features"] = list(X.dtype.names)
        cfg["target"] = cfg.get("target") or data.csv_header(cfg["dataset"], cfg.get("delimiter", "auto"))[-1]
    task, why = config["model"]["task"], None
    if task == "auto":  # the one place auto becomes a task: train, cv, eval and the Python API
        task, why = data.explain_task(y)
    if task == "classification":
        data.refuse_identifier(y, str(cfg["dataset"]), _target_column(cfg))
        target, classes = data.encode_classes(y, cfg["dataset"])
    elif task == "multilabel":
        target = data.multilabel_targets(y, cfg["dataset"])
        classes = np.arange(target.shape[1])  # the label columns, by position
    else:
        target, classes = data.regression_targets(y, cfg["dataset"]), None
    head = resolve_head(task, config["train"], target.shape[1] if classes is None else len(classes))
    index = data.split(y, task, cfg["test_size"], cfg["val_size"], random_state(rngs["split"]))
    splits = {name: Split(X[i], y[i], target[i]) for name, i in index.items()}
    return PreparedData(task, classes, head, splits, data_fingerprint(X, y), why)
