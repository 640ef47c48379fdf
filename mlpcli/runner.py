"""Train, evaluate, predict and describe, as used by both the CLI and the Python API.

The runner turns a validated config into data, a network and a run folder,
and hands results back as plain dicts; it never prints (progress comes from
callbacks the caller passes).
"""
from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import artifacts, data
from .checkpoint import Checkpointer
from .config import STDIN, Config, apply_overrides, load_config, monitor_problem, monitored, parse_config, task_problem
from .engine import get_optimizer, get_schedule
from .errors import ConfigError, MLPError, RunFolderError, TrainingDiverged, TrainingInterrupted
from .trained import TrainedModel, balanced_class_weight, build_network, class_weight_array, head_for, output_head
from .training import Callback, EarlyStopping, Interrupted, fit

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
    loss: str = "auto"  # the loss head, resolved from train.loss and the task
    fingerprint: str | None = None  # artifacts.data_fingerprint of the data as loaded, before the split


def prepare_data(config: dict, rngs: dict | None = None) -> PreparedData:
    """Load, check, encode and split the data a resolved config describes
    (deterministic in the seed, so eval rebuilds the very same split)."""
    cfg = config["data"]
    rngs = rngs or generators(config["seed"])
    X, y = data.load_dataset(
        cfg["dataset"], cfg["options"], _random_state(rngs["data"]),
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
    train_cfg = config["train"]
    problem = task_problem(
        task, train_cfg["loss"], train_cfg["class_weight"], train_cfg["label_smoothing"],
        None if classes is None else len(classes),
    )
    if problem:
        raise ConfigError(problem)
    loss = output_head(task, None if classes is None else len(classes), train_cfg["loss"])
    # One sigmoid unit for two classes under binary cross-entropy; a unit per class, label or target otherwise.
    if task == "classification":
        n_outputs = 1 if loss == "binary_cross_entropy" else len(classes)
    else:
        n_outputs = target.shape[1]
    index = data.split(y, task, cfg["test_size"], cfg["val_size"], _random_state(rngs["split"]))
    splits = {name: Split(X[i], y[i], target[i]) for name, i in index.items()}
    return PreparedData(task, classes, n_outputs, splits, loss, artifacts.data_fingerprint(X, y))


def resolve_config(config_or_path, overrides=()) -> tuple[Config, str]:
    """A validated Config and a name for its run folder, from a path, dict or Config."""
    if isinstance(config_or_path, (Config, dict)):
        raw = config_or_path.to_dict() if isinstance(config_or_path, Config) else config_or_path
        cfg, name = parse_config(apply_overrides(raw, overrides)), "run"
    else:
        cfg = load_config(config_or_path, overrides)
        name = "stdin" if str(config_or_path) == STDIN else Path(config_or_path).stem
    dataset = cfg.data.dataset
    if dataset not in data.DATASETS and not data.is_openml(dataset):
        # Record where the file is, so eval finds it from any working directory.
        cfg.data.dataset = str(Path(dataset).expanduser().resolve())
        if dataset.lower().endswith(".npy"):  # data.target is the .npy file of targets
            cfg.data.target = str(Path(cfg.data.target).expanduser().resolve())
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
    prepared: PreparedData | None = None,
    interrupt=None,
    resume_dir: Path | None = None,
) -> RunResult:
    """Train the model a config describes and write its run folder.

    Everything that can be refused (config, data, model, run folder) is
    checked before the folder is created or anything is written.
    ``prepared`` (cross_validate's folds) replaces the data and split the config describes.
    ``interrupt`` (see training.fit) stops training at a step, checkpointed;
    ``resume_dir`` continues the run in that folder from its checkpoint (see ``resume``).
    A run that diverges or is interrupted records its status in metrics.json.
    """
    started = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    cfg, name = resolve_config(config_or_path, overrides)
    resolved = cfg.to_dict()
    rngs = generators(resolved["seed"])
    if prepared is None:
        prepared = prepare_data(resolved, rngs)
    resolved["model"]["task"] = prepared.task
    resolved["train"]["loss"] = prepared.loss
    if prepared.task == "classification" and resolved["train"]["class_weight"] is not None:
        # Recorded as the mapping it resolved to, a weight for every class, so
        # the weights file alone gives the loss (and 'balanced' is reproducible).
        weights = resolved["train"]["class_weight"]
        if weights == "balanced":
            weights = balanced_class_weight(prepared.splits["train"].target, prepared.classes)
        names = [str(c) for c in prepared.classes.tolist()]
        weight_array = class_weight_array(weights, prepared.classes)
        if not weight_array.any():  # the config check sees the mapping; this, every class (a class left out weighs 1)
            raise ConfigError(
                f"train.class_weight: gives every class of the data ({', '.join(names[:20])}"
                f"{' ...' if len(names) > 20 else ''}) weight 0, which leaves nothing to train on; "
                "give some class a weight > 0"
            )
        resolved["train"]["class_weight"] = dict(zip(names, weight_array.tolist()))
    train_cfg = resolved["train"]
    stop_cfg = train_cfg["early_stopping"]
    for key, watcher in monitored(train_cfg):
        problem = monitor_problem(watcher["monitor"], prepared.task, key)
        if problem:
            raise ConfigError(problem)

    splits = prepared.splits
    model = _new_model(resolved, prepared, rngs)
    network = model.network
    optimizer, schedule = _optimization(cfg, network)
    stopper = None
    if stop_cfg:
        stopper = EarlyStopping(network, **{**stop_cfg, "mode": cfg.train.early_stopping.resolved_mode()})

    def arrays(split: Split, copy: bool = True):
        target = split.target if prepared.task == "classification" else split.target.astype(network.dtype)
        return model.transform(split.X, copy=copy), target

    validation = arrays(splits["val"]) if "val" in splits else None
    # The raw training rows are not used again: scale them in place, not in a copy.
    X_train, y_train = arrays(splits["train"], copy=False)

    if resume_dir is None:
        run_dir = artifacts.new_run_dir(str(out) if out else None, resolved["output"]["dir"], name, overwrite)
        artifacts.write_yaml(run_dir / "config.yaml", resolved, header=artifacts.overrides_header(overrides))
        artifacts.write_run_json(run_dir, resolved, prepared.fingerprint, started, overrides=overrides)
    else:
        run_dir = Path(resume_dir)
    checkpointer = position = None
    if optimizer is not None:  # lbfgs runs in scipy, whose state cannot be saved
        checkpointer = Checkpointer(run_dir, network, optimizer, schedule, stopper, rngs, artifacts.config_hash(resolved))
    if resume_dir is not None:
        position = checkpointer.load()
        # metrics.jsonl as of the checkpoint: each epoch's line exactly once
        artifacts.atomic_write(run_dir / "metrics.jsonl", "".join(artifacts.to_json(h) + "\n" for h in position.history))
    start = time.perf_counter() - (position.elapsed if position else 0.0)
    try:
        history = _fit(
            model, optimizer, schedule, stopper, rngs, train_cfg, prepared.task, X_train, y_train, validation,
            run_dir, resume_dir is None, callbacks, checkpointer, position, interrupt,
        )
    except TrainingDiverged as exc:
        artifacts.write_json(run_dir / "metrics.json", {
            "status": "diverged", "epoch": exc.epoch, "step": exc.step, "epochs_run": exc.epoch - 1,
            "error": str(exc), "train_seconds": time.perf_counter() - start,
        })
        raise
    except Interrupted as exc:
        verb = "interrupted" if exc.signum == signal.SIGINT else "terminated"
        artifacts.write_json(run_dir / "metrics.json", {
            "status": "interrupted", "signal": signal.Signals(exc.signum).name, "epoch": exc.epoch,
            "step": exc.step, "epochs_run": exc.epochs_run, "train_seconds": time.perf_counter() - start,
        })
        raise TrainingInterrupted(
            f"{verb} at epoch {exc.epoch}, step {exc.step}; the checkpoint is saved: "
            f"continue with `mlp resume {run_dir}`", exc.signum, exc.epoch, exc.step,
        ) from None
    train_seconds = time.perf_counter() - start
    restored = stopper and stopper.restore_best and stopper.best_epoch
    results = {
        "status": "completed",
        "test": model.score(splits["test"].X, splits["test"].y),
        "best_epoch": stopper.best_epoch if restored else len(history),
        "epochs_run": len(history),
        "stopped": history.stopped,
        "train_seconds": train_seconds,
    }
    if "val" in splits:
        results["val"] = model.score(splits["val"].X, splits["val"].y)
    model.metrics = results
    artifacts.save_weights(run_dir / "weights.npz", model)
    artifacts.write_json(run_dir / "metrics.json", results)
    if resolved["output"]["plots"]:
        from .plots import write_run_plots

        write_run_plots(run_dir, history, prepared.task, results["test"], prepared.classes)
    return RunResult(run_dir, results, history, model)


def resume(run_dir: str | Path, *, callbacks: list[Callback] = (), interrupt=None) -> RunResult:
    """Continue an interrupted (or killed) run in ``run_dir`` from its latest
    readable checkpoint to the configured number of epochs. The final weights
    are those an uninterrupted run of the config gives, bit for bit.

    Refused (exit 2): a folder with no config.yaml or checkpoint, a completed
    or diverged run, an lbfgs run, and a config.yaml edited since the run
    started (its SHA-256 differs from the checkpoint's)."""
    import json

    run_dir = Path(run_dir)
    config = run_dir / "config.yaml"
    if not run_dir.is_dir() or not config.is_file():
        raise RunFolderError(f"{run_dir}: not a run folder (no config.yaml)")
    try:
        status = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        status = {}  # killed before it wrote one
    if isinstance(status, dict) and status.get("status") == "completed":
        raise RunFolderError(f"{run_dir}: the run is complete (metrics.json status: completed); nothing to resume")
    if isinstance(status, dict) and status.get("status") == "diverged":
        raise RunFolderError(
            f"{run_dir}: the run diverged at epoch {status.get('epoch')}, step {status.get('step')}; resumed with "
            "the same config it would diverge again: train a new run with a lower train.optimizer.lr"
        )
    if load_config(config).train.optimizer.name == "lbfgs":
        raise RunFolderError(
            f"{run_dir}: an lbfgs run cannot be resumed (scipy's L-BFGS-B keeps its state to itself); train it again"
        )
    if not any(path.exists() for path in artifacts.checkpoint_paths(run_dir)):
        raise RunFolderError(f"{run_dir}: holds no checkpoint.npz to resume from")
    artifacts.remove_stale_temporaries(run_dir)
    return train(config, callbacks=callbacks, interrupt=interrupt, resume_dir=run_dir)


def _fit(model, optimizer, schedule, stopper, rngs, train_cfg, task, X_train, y_train, validation,
         run_dir, new, callbacks, checkpointer, position, interrupt):
    """Run the fit loop (or L-BFGS) with metrics.jsonl open; returns the History."""
    network = model.network
    with artifacts.JsonLines(run_dir / "metrics.jsonl", truncate=new) as lines:
        common = dict(
            epochs=train_cfg["epochs"],
            task=task,
            validation=validation,
            callbacks=[MetricsLog(lines), *([stopper] if stopper else []), *callbacks],
            l1=train_cfg["l1"],
            l2=train_cfg["l2"],
            max_seconds=train_cfg["max_seconds"],
        )
        if optimizer is None:  # lbfgs: scipy, on the full batch
            from .lbfgs import fit_lbfgs

            options = {k: v for k, v in train_cfg["optimizer"].items() if k != "name"}
            history = fit_lbfgs(network, X_train, y_train, weight_decay=train_cfg["weight_decay"], **options, **common)
        else:
            history = fit(
                network,
                optimizer,
                X_train,
                y_train,
                batch_size=train_cfg["batch_size"],
                rng=rngs["shuffle"],
                # AdamW decays inside the optimizer (decoupled); the others add it to the gradient.
                weight_decay=0.0 if train_cfg["optimizer"]["name"] == "adamw" else train_cfg["weight_decay"],
                shuffle=train_cfg["shuffle"],
                schedule=schedule,
                clip_norm=train_cfg["clip_norm"],
                clip_value=train_cfg["clip_value"],
                max_norm=train_cfg["max_norm"],
                checkpoint=checkpointer,
                start=position,
                interrupt=interrupt,
                **common,
            )
    return history


def _optimization(cfg: Config, network):
    """The optimizer (None for lbfgs, which training runs through scipy) and
    the learning-rate schedule (None for constant) a validated config asks for."""
    train_cfg = cfg.train
    options = train_cfg.optimizer.model_dump()
    name = options.pop("name")
    if name == "lbfgs":
        return None, None
    if name == "adamw":
        options.update(weight_decay=train_cfg.weight_decay, decay_size=network.n_weights)
    optimizer = get_optimizer(name, **options)
    schedule_options = train_cfg.schedule.model_dump()
    schedule_name = schedule_options.pop("name")
    if schedule_name == "constant":
        return optimizer, None
    if schedule_name == "reduce_on_plateau":
        schedule_options["mode"] = train_cfg.schedule.resolved_mode()
    return optimizer, get_schedule(schedule_name, optimizer.lr, train_cfg.epochs, **schedule_options)


def _check_model_fits_in_memory(model_config: dict, n_features: int, n_outputs: int) -> None:
    """Refuse a network whose training state cannot fit in this machine's memory
    (a typo such as units: 1000000000000), instead of failing inside NumPy."""
    import os

    widths = [n_features, *(layer["units"] for layer in model_config["layers"]), n_outputs]
    n_params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    # parameters, gradients, two optimizer moments and one work buffer
    needed = 5 * n_params * np.dtype(model_config["dtype"]).itemsize
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: no bound known
        return
    if needed > total:
        raise ConfigError(
            f"model.layers: {n_params:,} parameters need about {needed / 2**30:,.1f} GiB to train, "
            f"more than this machine's {total / 2**30:,.1f} GiB of memory"
        )


def _new_model(config: dict, prepared: PreparedData, rngs: dict) -> TrainedModel:
    """An initialised network with the input scaling fitted on the training split."""
    classes, train_X = prepared.classes, prepared.splits["train"].X
    encoder = None
    if train_X.dtype.names:  # a CSV table: imputation and one-hot categories fitted on the training split
        from .tabular import Encoder

        encoder = Encoder.fit(train_X, config["data"]["impute"], config["data"]["target"])
        train_X = encoder.encode(train_X, "the training split")
    head, loss_options = head_for(config, prepared.task, classes)
    _check_model_fits_in_memory(config["model"], train_X.shape[1], prepared.n_outputs)
    network = build_network(
        config["model"], train_X.shape[1], prepared.n_outputs, head, rng=rngs["dropout"], loss_options=loss_options
    )
    network.init_params(rngs["init"], config["model"]["init"])
    scaler = data.fit_scaler(config["data"]["scale"], train_X)
    if scaler is not None and encoder is not None:  # one-hot inputs stay 0 / 1; only numbers are scaled
        offset, scale = (a.copy() for a in scaler)
        offset[encoder.one_hot()], scale[encoder.one_hot()] = 0.0, 1.0
        scaler = offset, scale
    data.check_scaler(scaler, network.dtype, config["data"]["scale"], config["data"]["dataset"])
    if scaler is not None:
        scaler = tuple(a.astype(network.dtype) for a in scaler)
    return TrainedModel(network, prepared.task, classes, scaler, config, encoder=encoder)


def load(path: str | Path) -> TrainedModel:
    """A trained model from its weights file."""
    return artifacts.load_weights(path)


def evaluate(
    weights: str | Path, data_file: str | None = None, split: str | None = None, per_class: bool = False
) -> dict:
    """Score a saved model on a split of its own data (rebuilt from meta.config;
    the test split by default) or on every row of a .npz / .csv file. With
    ``per_class``, a "per_class" entry: {label: precision, recall, f1, support}."""
    if data_file and split:
        raise MLPError("--data and --split: choose one (--data scores every row of the file)")
    model = load(weights)
    if data_file:
        X, y = data.read_xy(data_file, encoder=model.encoder)  # a CSV model's columns by name
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
    if per_class and model.task == "regression":
        raise MLPError("--per-class: this model does regression; per-class figures are for classifiers")
    result = {"split": name, "n_samples": int(len(X)), **model.score(X, y, source)}
    if per_class:
        result["per_class"] = model.per_class(X, y, source)
    return result


def predict(weights: str | Path, input_path: str, proba: bool = False) -> tuple[np.ndarray, list[str]]:
    """Predictions for the rows of a .csv / .npz / .npy file, and their column names."""
    model = load(weights)
    if proba and model.task == "regression":
        raise MLPError("--proba: this model does regression; it predicts values, not probabilities")
    out = model.output(data.read_features(input_path, encoder=model.encoder), source=input_path)
    if proba:
        return out, [str(c) for c in model.classes]
    if model.task == "classification":
        return model.decode(out), ["label"]
    if model.task == "multilabel":  # a 0/1 column per label
        return model.decode(out), [str(c) for c in model.classes]
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
                "norm": next((k for k in ("batch_norm", "layer_norm") if spec.get(k)), None),
                # with a norm: its gamma and beta too
                "params": dense.W.size + dense.b.size + (2 * dense.n_out if spec.get("batch_norm") or spec.get("layer_norm") else 0),
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


# --------------------------------------------------------------------------- cross-validation


def cross_validate(
    config_or_path,
    folds: int = 5,
    *,
    overrides=(),
    out: str | Path | None = None,
    overwrite: bool = False,
    on_fold=None,
) -> dict:
    """K-fold cross-validation of the model a config describes, over every row
    of its data set (data.test_size is not used: each held-out fold is the test set).

    Folds as scikit-learn's StratifiedKFold (KFold for regression or several
    target columns), shuffled with a seed drawn from the config's seed. Each
    fold trains exactly as ``train`` does, with its validation split
    (data.val_size > 0) cut from the training folds and the scaler fitted on
    the rest, and is scored on the held-out fold. Returns ``folds``, ``task``,
    ``n_samples``, ``metrics`` ({name: {mean, std, values}}, std as NumPy's,
    over the folds), ``fold_sizes``, ``epochs_run`` and, with ``out``,
    ``run_dirs`` (``out/fold-1`` ...; without ``out`` nothing is written).
    ``on_fold(i, folds, result)`` is called as fold i (from 1) ends.
    """
    import dataclasses
    import tempfile

    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    if folds < 2:
        raise MLPError(f"--folds {folds}: cross-validation needs at least 2 folds")
    cfg, _ = resolve_config(config_or_path, overrides)
    resolved = cfg.to_dict()
    rngs = generators(resolved["seed"])
    prepared = prepare_data(resolved, rngs)  # loads and encodes exactly as train does
    rows = _concat_splits(list(prepared.splits.values()))
    n = len(rows.target)
    stratified = prepared.task == "classification" and rows.target.ndim == 1
    if stratified:
        counts = np.bincount(rows.target, minlength=len(prepared.classes))
        rare = int(counts.argmin())
        if folds > counts[rare]:
            raise MLPError(
                f"--folds {folds}: class {str(prepared.classes[rare])!r} has only {counts[rare]} samples, "
                f"fewer than the folds; use --folds {max(int(counts[rare]), 2)} or fewer"
            )
    elif folds > n:
        raise MLPError(f"--folds {folds}: more folds than samples ({n})")
    fold_dirs = [Path(out) / f"fold-{i + 1}" for i in range(folds)] if out else []
    if not out:  # the folds train in scratch folders that are deleted: no pictures to draw
        resolved["output"]["plots"] = False
    for path in fold_dirs:  # refuse before training anything
        held = [name for name in artifacts.RESULT_FILES if (path / name).exists()]
        if held and not overwrite:
            raise MLPError(f"{path}: already holds results ({', '.join(held)}); choose another --out or pass --overwrite")

    splitter = (StratifiedKFold if stratified else KFold)(
        folds, shuffle=True, random_state=_random_state(rngs["split"])
    )
    val_size, val_state = resolved["data"]["val_size"], _random_state(rngs["split"])
    per_fold, sizes, epochs = [], [], []
    with tempfile.TemporaryDirectory(prefix="mlp-cv-") as scratch:
        for i, (rest, held_out) in enumerate(splitter.split(np.zeros(n), rows.target if stratified else None)):
            index = {"train": rest}
            if val_size > 0:
                try:
                    index["train"], index["val"] = train_test_split(
                        rest, test_size=val_size, random_state=val_state,
                        stratify=rows.target[rest] if stratified else None,
                    )
                except ValueError as exc:
                    raise MLPError(
                        f"data.val_size: cannot split a validation set off fold {i + 1}'s {len(rest)} "
                        f"training samples ({str(exc).split('. ')[0][:160]}); try another data.val_size or fewer folds"
                    ) from None
            index["test"] = held_out
            fold = dataclasses.replace(prepared, splits={k: _take_rows(rows, idx) for k, idx in index.items()})
            run_dir = fold_dirs[i] if out else Path(scratch) / f"fold-{i + 1}"
            # The overrides again (already in resolved, so a no-op) so each fold's run folder records them.
            result = train(resolved, run_dir, overrides=overrides, overwrite=overwrite, prepared=fold)
            per_fold.append(result.metrics["test"])
            sizes.append(int(len(held_out)))
            epochs.append(result.metrics["epochs_run"])
            if on_fold:
                on_fold(i + 1, folds, result)
    summary = {
        "folds": folds,
        "task": prepared.task,
        "n_samples": int(n),
        "metrics": _fold_statistics(per_fold),
        "fold_sizes": sizes,
        "epochs_run": epochs,
    }
    if out:
        summary["run_dirs"] = [str(p) for p in fold_dirs]
    return summary


def _concat_splits(parts: list[Split]) -> Split:
    import dataclasses

    return Split(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Split)})


def _take_rows(rows: Split, index: np.ndarray) -> Split:
    import dataclasses

    return Split(**{f.name: getattr(rows, f.name)[index] for f in dataclasses.fields(Split)})


def _fold_statistics(per_fold: list[dict]) -> dict:
    """{metric: {mean, std, values}} over the folds' scalar metrics; a metric
    undefined on some fold (null) has a null mean and std."""
    names = [k for k, v in per_fold[0].items() if v is None or isinstance(v, (int, float)) and not isinstance(v, bool)]
    stats = {}
    for name in names:
        values = [fold.get(name) for fold in per_fold]
        defined = all(v is not None for v in values)
        stats[name] = {
            "mean": float(np.mean(values)) if defined else None,
            "std": float(np.std(values)) if defined else None,
            "values": values,
        }
    return stats
