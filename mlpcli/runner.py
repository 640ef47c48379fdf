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
from .config import Config, load_config, parse_config
from .errors import DataError, MLPError
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
class PreparedData:
    task: str
    classes: np.ndarray | None
    n_outputs: int  # units of the output layer
    splits: dict[str, data.Split]  # raw features and raw targets, by split name


def prepare_data(config: dict) -> PreparedData:
    """Load, check and split the data a resolved config describes (deterministic in the seed)."""
    cfg = config["data"]
    rngs = generators(config["seed"])
    X, y = data.load_dataset(cfg["dataset"], cfg["options"], _random_state(rngs["data"]))
    task = config["model"]["task"]
    if task == "auto":
        task = data.infer_task(y)
    if task == "classification":
        classes = data.encode_classes(y, cfg["dataset"])[1]
        n_outputs = 1 if len(classes) == 2 else len(classes)
    else:
        classes = None
        n_outputs = data.regression_targets(y, cfg["dataset"]).shape[1]
    splits = data.split(X, y, task, cfg["test_size"], cfg["val_size"], _random_state(rngs["split"]))
    return PreparedData(task, classes, n_outputs, splits)


def resolve_config(config_or_path, overrides=()) -> tuple[Config, str]:
    """A validated Config and a name for its run folder, from a path, dict or Config."""
    if isinstance(config_or_path, Config):
        cfg, name = config_or_path, "run"
        if overrides:
            from .config import apply_overrides

            cfg = parse_config(apply_overrides(cfg.to_dict(), overrides))
    elif isinstance(config_or_path, dict):
        from .config import apply_overrides

        cfg, name = parse_config(apply_overrides(config_or_path, overrides)), "run"
    else:
        cfg, name = load_config(config_or_path, overrides), Path(config_or_path).stem
    dataset = cfg.data.dataset
    if dataset not in data.DATASETS:
        # Record where the file is, so eval finds it from any working directory.
        cfg.data.dataset = str(Path(dataset).expanduser().resolve())
    data.check_options(cfg.data.dataset, cfg.data.options)
    return cfg, name


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    history: list[dict]
    model: TrainedModel


class MetricsLog(Callback):
    """Rewrites metrics.jsonl (whole, atomically) after every epoch."""

    def __init__(self, path: Path):
        self.path, self.rows = path, []

    def on_epoch_end(self, epoch, logs):
        self.rows.append(logs)
        artifacts.write_jsonl(self.path, self.rows)


def train(
    config_or_path,
    out: str | Path | None = None,
    *,
    overrides=(),
    overwrite: bool = False,
    callbacks: list[Callback] = (),
) -> RunResult:
    """Train the model a config describes and write its run folder.

    Everything that can be refused (config, data, run folder) is checked
    before the folder is created or anything is written.
    """
    cfg, name = resolve_config(config_or_path, overrides)
    resolved = cfg.to_dict()
    prepared = prepare_data(resolved)
    resolved["model"]["task"] = prepared.task
    _check_monitor(resolved, prepared.task)
    run_dir = artifacts.new_run_dir(
        str(out) if out else None, resolved["output"]["dir"], name, overwrite
    )
    artifacts.write_yaml(run_dir / "config.yaml", resolved)

    rngs = generators(resolved["seed"])
    classes = prepared.classes
    head = output_head(prepared.task, None if classes is None else len(classes))
    n_features = prepared.splits["train"].X.shape[1]
    network = build_network(resolved["model"], n_features, prepared.n_outputs, head, rng=rngs["dropout"])
    network.init_params(rngs["init"], resolved["model"]["init"])
    scaler = data.fit_scaler(resolved["data"]["scale"], prepared.splits["train"].X)
    if scaler is not None:
        scaler = tuple(a.astype(network.dtype) for a in scaler)
    model = TrainedModel(network, prepared.task, classes, scaler, resolved)

    def targets(split):
        if prepared.task == "classification":
            return np.searchsorted(classes, split.y)
        return data.regression_targets(split.y, resolved["data"]["dataset"]).astype(network.dtype)

    train_split, val_split = prepared.splits["train"], prepared.splits.get("val")
    validation = (model.transform(val_split.X), targets(val_split)) if val_split else None
    opt_cfg = dict(resolved["train"]["optimizer"])
    from .engine import get_optimizer

    optimizer = get_optimizer(opt_cfg.pop("name"), **opt_cfg)
    stopper = None
    es = resolved["train"]["early_stopping"]
    if es:
        mode = es["mode"] if es["mode"] != "auto" else cfg.train.early_stopping.resolved_mode()
        stopper = EarlyStopping(network, es["monitor"], mode, es["patience"], es["min_delta"], es["restore_best"])
    log = MetricsLog(run_dir / "metrics.jsonl")
    start = time.perf_counter()
    history = fit(
        network,
        optimizer,
        model.transform(train_split.X),
        targets(train_split),
        epochs=resolved["train"]["epochs"],
        batch_size=resolved["train"]["batch_size"],
        rng=rngs["shuffle"],
        task=prepared.task,
        validation=validation,
        weight_decay=resolved["train"]["weight_decay"],
        shuffle=resolved["train"]["shuffle"],
        callbacks=[log, *([stopper] if stopper else []), *callbacks],
    )
    train_seconds = time.perf_counter() - start
    best_epoch = (
        stopper.best_epoch if stopper and stopper.restore_best and stopper.best_epoch else len(history)
    )
    results = {
        "status": "completed",
        "test": model.score(prepared.splits["test"].X, prepared.splits["test"].y),
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "train_seconds": train_seconds,
    }
    if val_split is not None:
        results["val"] = model.score(val_split.X, val_split.y)
    model.metrics = results
    artifacts.save_weights(run_dir / "weights.npz", model)
    artifacts.write_json(run_dir / "metrics.json", results)
    return RunResult(run_dir, results, history, model)


def _check_monitor(config: dict, task: str) -> None:
    es = config["train"]["early_stopping"]
    if not es:
        return
    from .config import CLASSIFICATION_METRICS, REGRESSION_METRICS

    own = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    valid = ["val_loss", *(f"val_{m}" for m in own), "train_loss"]
    if es["monitor"] not in valid:
        raise MLPError(
            f"train.early_stopping.monitor: {es['monitor']!r} is not logged for {task}; "
            f"valid: {', '.join(valid)}"
        )


def load(path: str | Path) -> TrainedModel:
    """A trained model from its weights file."""
    return artifacts.load_weights(path)


def evaluate(weights: str | Path, data_file: str | None = None, split: str = "test") -> dict:
    """Score a saved model on a split of its own data (rebuilt from meta.config) or on a file."""
    model = load(weights)
    if data_file:
        X, y = data.read_xy(data_file)
        data.check_xy(np.asarray(X), np.asarray(y), data_file)
        name = "file"
    else:
        prepared = prepare_data(model.config)
        if split == "all":
            parts = list(prepared.splits.values())
            X = np.concatenate([p.X for p in parts])
            y = np.concatenate([p.y for p in parts])
        elif split not in prepared.splits:
            raise MLPError(f"--split {split}: this model was trained with no {split} split (data.val_size is 0)")
        else:
            X, y = prepared.splits[split].X, prepared.splits[split].y
        name = split
    scores = model.score(X, y)
    return {"split": name, "n_samples": int(len(X)), **scores}


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
    layers = []
    hidden = model.config["model"]["layers"]
    for i, dense in enumerate(model.network.dense):
        spec = hidden[i] if i < len(hidden) else None
        layers.append(
            {
                "name": f"dense.{i}",
                "in": dense.n_in,
                "out": dense.n_out,
                "activation": spec["activation"] if spec else model.network.head.activation,
                "dropout": spec["dropout"] if spec else 0.0,
                "params": dense.n_in * dense.n_out + dense.n_out,
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
