"""Train, evaluate, predict and describe, as used by both the CLI and the Python API.

The runner turns a validated config into data, a network and a run folder,
and hands results back as plain dicts; it never prints (progress comes from
callbacks the caller passes).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import artifacts, data
from .config import Config, apply_overrides, load_config, monitor_problem, parse_config
from .engine import get_optimizer
from .errors import ConfigError, MLPError
from .trained import TrainedModel, build_network, output_head
from .training import Callback, EarlyStopping, fit

# One child SeedSequence per purpose, in this fixed order, so changing one
# setting (a dropout rate) never changes another stream (the data split).
STREAMS = ("data", "split", "init", "shuffle", "dropout")


def generators(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}


def _random_state(rng: np.random.Generator) -> int:
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
    n_outputs: int  # units of the output layer
    splits: dict[str, Split]


def prepare_data(config: dict, rngs: dict | None = None) -> PreparedData:
    """Load, check, encode and split the data a resolved config describes
    (deterministic in the seed, so eval rebuilds the very same split)."""
    cfg = config["data"]
    rngs = rngs or generators(config["seed"])
    X, y = data.load_dataset(cfg["dataset"], cfg["options"], _random_state(rngs["data"]))
    task = config["model"]["task"]
    if task == "auto":
        task = data.infer_task(y)
    if task == "classification":
        target, classes = data.encode_classes(y, cfg["dataset"])
        n_outputs = 1 if len(classes) == 2 else len(classes)
    else:
        target, classes = data.regression_targets(y, cfg["dataset"]), None
        n_outputs = target.shape[1]
    index = data.split(y, task, cfg["test_size"], cfg["val_size"], _random_state(rngs["split"]))
    splits = {name: Split(X[i], y[i], target[i]) for name, i in index.items()}
    return PreparedData(task, classes, n_outputs, splits)


def resolve_config(config_or_path, overrides=()) -> tuple[Config, str]:
    """A validated Config and a name for its run folder, from a path, dict or Config."""
    if isinstance(config_or_path, (Config, dict)):
        raw = config_or_path.to_dict() if isinstance(config_or_path, Config) else config_or_path
        cfg, name = parse_config(apply_overrides(raw, overrides)), "run"
    else:
        cfg, name = load_config(config_or_path, overrides), Path(config_or_path).stem
    dataset = cfg.data.dataset
    if dataset not in data.DATASETS:
        # Record where the file is, so eval finds it from any working directory.
        cfg.data.dataset = str(Path(dataset).expanduser().resolve())
    return cfg, name


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    history: list[dict]
    model: TrainedModel


class MetricsLog(Callback):
    """Appends each epoch's logs to metrics.jsonl as it ends."""

    def __init__(self, lines: artifacts.JsonLines):
        self.lines = lines

    def on_epoch_end(self, epoch, logs):
        self.lines.append(logs)


def train(
    config_or_path,
    out: str | Path | None = None,
    *,
    overrides=(),
    overwrite: bool = False,
    callbacks: list[Callback] = (),
) -> RunResult:
    """Train the model a config describes and write its run folder.

    Everything that can be refused (config, data, model, run folder) is
    checked before the folder is created or anything is written.
    """
    cfg, name = resolve_config(config_or_path, overrides)
    resolved = cfg.to_dict()
    rngs = generators(resolved["seed"])
    prepared = prepare_data(resolved, rngs)
    resolved["model"]["task"] = prepared.task
    stop_cfg = resolved["train"]["early_stopping"]
    problem = stop_cfg and monitor_problem(stop_cfg["monitor"], prepared.task)
    if problem:
        raise ConfigError(problem)

    splits = prepared.splits
    model = _new_model(resolved, prepared, rngs)
    network = model.network
    options = dict(resolved["train"]["optimizer"])
    optimizer = get_optimizer(options.pop("name"), **options)
    stopper = None
    if stop_cfg:
        stopper = EarlyStopping(network, **{**stop_cfg, "mode": cfg.train.early_stopping.resolved_mode()})

    def arrays(split: Split, copy: bool = True):
        target = split.target if prepared.task == "classification" else split.target.astype(network.dtype)
        return model.transform(split.X, copy=copy), target

    validation = arrays(splits["val"]) if "val" in splits else None
    # The raw training rows are not used again: scale them in place, not in a copy.
    X_train, y_train = arrays(splits["train"], copy=False)

    run_dir = artifacts.new_run_dir(str(out) if out else None, resolved["output"]["dir"], name, overwrite)
    artifacts.write_yaml(run_dir / "config.yaml", resolved)
    start = time.perf_counter()
    with artifacts.JsonLines(run_dir / "metrics.jsonl") as lines:
        history = fit(
            network,
            optimizer,
            X_train,
            y_train,
            epochs=resolved["train"]["epochs"],
            batch_size=resolved["train"]["batch_size"],
            rng=rngs["shuffle"],
            task=prepared.task,
            validation=validation,
            weight_decay=resolved["train"]["weight_decay"],
            shuffle=resolved["train"]["shuffle"],
            callbacks=[MetricsLog(lines), *([stopper] if stopper else []), *callbacks],
        )
    train_seconds = time.perf_counter() - start
    restored = stopper and stopper.restore_best and stopper.best_epoch
    results = {
        "status": "completed",
        "test": model.score(splits["test"].X, splits["test"].y),
        "best_epoch": stopper.best_epoch if restored else len(history),
        "epochs_run": len(history),
        "train_seconds": train_seconds,
    }
    if "val" in splits:
        results["val"] = model.score(splits["val"].X, splits["val"].y)
    model.metrics = results
    artifacts.save_weights(run_dir / "weights.npz", model)
    artifacts.write_json(run_dir / "metrics.json", results)
    return RunResult(run_dir, results, history, model)


def _new_model(config: dict, prepared: PreparedData, rngs: dict) -> TrainedModel:
    """An initialised network with the input scaling fitted on the training split."""
    classes, train_X = prepared.classes, prepared.splits["train"].X
    head = output_head(prepared.task, None if classes is None else len(classes))
    network = build_network(config["model"], train_X.shape[1], prepared.n_outputs, head, rng=rngs["dropout"])
    network.init_params(rngs["init"], config["model"]["init"])
    scaler = data.fit_scaler(config["data"]["scale"], train_X)
    if scaler is not None:
        scaler = tuple(a.astype(network.dtype) for a in scaler)
    return TrainedModel(network, prepared.task, classes, scaler, config)


def load(path: str | Path) -> TrainedModel:
    """A trained model from its weights file."""
    return artifacts.load_weights(path)


def evaluate(weights: str | Path, data_file: str | None = None, split: str | None = None) -> dict:
    """Score a saved model on a split of its own data (rebuilt from meta.config;
    the test split by default) or on every row of a .npz / .csv file."""
    if data_file and split:
        raise MLPError("--data and --split: choose one (--data scores every row of the file)")
    model = load(weights)
    if data_file:
        X, y = data.read_xy(data_file)
        data.check_xy(np.asarray(X), np.asarray(y), data_file)
        name, source = "file", data_file
    else:
        split = split or "test"
        prepared = prepare_data(model.config)
        if split == "all":
            parts = list(prepared.splits.values())
            X, y = np.concatenate([p.X for p in parts]), np.concatenate([p.y for p in parts])
        elif split not in prepared.splits:
            raise MLPError(f"--split {split}: this model was trained with no {split} split (data.val_size is 0)")
        else:
            X, y = prepared.splits[split].X, prepared.splits[split].y
        name, source = split, f"the {split} split of {model.config['data']['dataset']}"
    return {"split": name, "n_samples": int(len(X)), **model.score(X, y, source)}


def predict(weights: str | Path, input_path: str, proba: bool = False) -> tuple[np.ndarray, list[str]]:
    """Predictions for the rows of a .csv / .npz / .npy file, and their column names."""
    model = load(weights)
    if proba and model.task != "classification":
        raise MLPError("--proba: this model does regression; it predicts values, not probabilities")
    out = model.output(data.read_features(input_path), source=input_path)
    if proba:
        return out, [str(c) for c in model.classes]
    if model.task == "classification":
        return model.decode(out), ["label"]
    names = ["prediction"] if out.shape[1] == 1 else [f"prediction_{i}" for i in range(out.shape[1])]
    return out, names


def info(weights: str | Path) -> dict:
    """Architecture, parameter count and training summary of a weights file."""
    model = load(weights)
    hidden = model.config["model"]["layers"]
    layers = []
    for i, dense in enumerate(model.network.dense):
        spec = hidden[i] if i < len(hidden) else {"activation": model.network.head.activation, "dropout": 0.0}
        layers.append(
            {
                "name": dense.name,
                "in": dense.n_in,
                "out": dense.n_out,
                "activation": spec["activation"],
                "dropout": spec["dropout"],
                "params": dense.W.size + dense.b.size,
            }
        )
    return {
        "weights": str(weights),
        "task": model.task,
        "n_features": model.n_features,
        "classes": None if model.classes is None else model.classes.tolist(),
        "dtype": str(model.network.dtype),
        "scale": model.config["data"]["scale"],
        "layers": layers,
        "n_params": int(model.network.n_params),
        "dataset": model.config["data"]["dataset"],
        "metrics": model.metrics,
    }
