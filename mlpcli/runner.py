"""Train, resume, evaluate, predict and describe, as used by both the CLI and the Python API.

The runner turns a config into a run folder, or a weights file into results,
and hands them back as plain dicts; it never prints (progress comes from
callbacks the caller passes). Data preparation is prepare.py's, building and
fitting the model builder.py's, cross-validation crossval.py's.
"""
from __future__ import annotations

import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import artifacts, data, prepare_cache, run_folder
from .builder import Trainer
from .checkpoint import Checkpointer, checkpoint_paths, run_hash
from .config import STDIN, Config, apply_overrides, load_config, parse_config
from .errors import MLPError, RunFolderError, TrainingDiverged, TrainingInterrupted
from .prepare import PreparedData, generators, prepare_data
from .trained import TrainedModel, load_weights, save_weights
from .training import Callback, Interrupted


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
        # Relative to the working directory; missing there but beside the config: say so.
        from_file = not isinstance(config_or_path, (Config, dict)) and str(config_or_path) != STDIN
        data.check_data_paths(cfg.data, config_or_path if from_file else None)
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
    task_note: str = ""  # which task model.task: auto chose and how to override it ("" if the config set it)


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
    resume_dir: run_folder.RunFolder | None = None,
    background_plots: bool = False,
    plotter=None,
    pictures=None,
) -> RunResult:
    """Train the model a config describes and write its run folder.

    Everything that can be refused (config, data, model, run folder) is
    checked before the folder is created or anything is written.
    ``prepared`` (cross_validate's folds) replaces the data and split the config describes.
    ``interrupt`` (see training.fit) stops training at a step, checkpointed;
    ``resume_dir`` (held by ``resume``) continues the run in that folder from its checkpoint.
    A run that diverges or is interrupted records its status in metrics.json.
    ``background_plots`` (one run per process: the CLI) draws the pictures in
    a helper process started before the data loads (plots.worker), or in
    ``plotter``, one the caller started earlier (``plots.worker.start_early``),
    which a run without pictures closes. ``pictures`` (a sweep's or tune's
    plots.worker.PictureQueue, its caller's to finish) takes the pictures
    instead, drawn while the caller goes on.
    """
    started = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    try:
        cfg, name = resolve_config(config_or_path, overrides)
        resolved = cfg.to_dict()
        if not (background_plots and resolved["output"]["plots"]):
            if plotter is not None:
                plotter.close()
            plotter = None
        elif plotter is None:
            from .plots.worker import PlotWorker, wanted

            plotter = PlotWorker.start() if wanted(resolved) else None
        rngs = generators(resolved["seed"])
        if prepared is None:
            prepared = prepare_cache.prepare(resolved, rngs, prepare_data)  # a sweep's or tune's trials: prepared once
        trainer = Trainer(cfg, resolved, prepared, rngs)
    except BaseException:
        if plotter is not None:
            plotter.close()
        if resume_dir is not None:
            resume_dir.close()
        raise
    try:
        if resume_dir is None:
            folder = run_folder.new_run_dir(str(out) if out else None, resolved["output"]["dir"], name, overwrite)
        else:
            folder = resume_dir  # resume() holds it already
        with folder:
            return _train_in(folder.path, trainer, prepared, resolved, rngs, overrides, started, resume_dir is not None,
                             callbacks, interrupt, plotter if plotter is not None else pictures)
    finally:
        if plotter is not None:
            plotter.close()


def _train_in(run_dir, trainer, prepared, resolved, rngs, overrides, started, resuming, callbacks, interrupt,
              plotter=None) -> RunResult:
    """The part of ``train`` that runs with the run folder held, in the
    context its picture helper asks for (``plotter.training``: a sweep's
    helper gets a core from a small model's step, threads.py; such a run
    keeps to one BLAS thread throughout, as its run.json records)."""
    batch = None if trainer.optimizer is None else trainer.options.batch_size  # lbfgs: the whole data
    drawn = plotter is not None and resolved["output"]["plots"]
    with plotter.training(trainer.model.network, batch) if drawn else nullcontext():
        return _train_held(run_dir, trainer, prepared, resolved, rngs, overrides, started, resuming, callbacks,
                           interrupt, plotter)


def _train_held(run_dir, trainer, prepared, resolved, rngs, overrides, started, resuming, callbacks, interrupt,
                plotter) -> RunResult:
    model = trainer.model
    if not resuming:
        artifacts.write_yaml(run_dir / "config.yaml", resolved, header=artifacts.overrides_header(overrides))
        artifacts.write_run_json(run_dir, resolved, prepared.fingerprint, started, overrides=overrides)
    else:
        _check_same_data(run_dir, prepared, resolved["data"]["dataset"])
    checkpointer = position = None
    if trainer.optimizer is not None:  # lbfgs runs in scipy, whose state cannot be saved
        checkpointer = Checkpointer(
            run_dir, model.network, trainer.optimizer, trainer.schedule, trainer.stopper, rngs,
            run_hash(resolved), batch_size=trainer.options.batch_size,
            every=resolved["train"]["checkpoint_every"],
        )
    if resuming:
        position = checkpointer.load()
        # metrics.jsonl as of the checkpoint: each epoch's line exactly once
        artifacts.atomic_write(run_dir / "metrics.jsonl", "".join(artifacts.to_json(h) + "\n" for h in position.history))
    start = time.perf_counter() - (position.elapsed if position else 0.0)
    try:
        with artifacts.JsonLines(run_dir / "metrics.jsonl", truncate=not resuming) as lines:
            history = trainer.fit([MetricsLog(lines), *callbacks], checkpointer, position, interrupt)
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
    splits = prepared.splits
    results = {
        "status": "completed",
        "test": model.score(splits["test"].X, splits["test"].y),
        **trainer.outcome(history),
        "train_seconds": train_seconds,
    }
    if "val" in splits:
        results["val"] = model.score(splits["val"].X, splits["val"].y)
    for callback in callbacks:
        results.update(callback.run_status())
    model.metrics = results
    save_weights(run_dir / "weights.npz", model)
    artifacts.write_json(run_dir / "metrics.json", results)
    if resolved["output"]["plots"]:
        from .plots import write_run_plots

        stopper = trainer.stopper  # its best epoch is marked on the curves
        best = (stopper.best_epoch, stopper.monitor) if stopper and stopper.best_epoch else None
        if plotter is None or not plotter.draw(run_dir, history, prepared.task, results["test"], prepared.classes, best):
            write_run_plots(run_dir, history, prepared.task, results["test"], prepared.classes, best)
    return RunResult(run_dir, results, history, model, prepared.task_note)


def resume(run_dir: str | Path, *, callbacks: list[Callback] = (), interrupt=None,
           background_plots: bool = False, pictures=None) -> RunResult:
    """Continue an interrupted (or killed) run in ``run_dir`` from its latest
    readable checkpoint to the configured number of epochs. The final weights
    are those an uninterrupted run of the config gives, bit for bit.

    Refused (exit 2): a folder with no config.yaml or checkpoint, a completed
    or diverged run, an lbfgs run, and a config.yaml edited since the run
    started (its SHA-256 differs from the checkpoint's)."""

    run_dir = Path(run_dir)
    config = run_dir / "config.yaml"
    if not run_dir.is_dir() or not config.is_file():
        raise RunFolderError(f"{run_dir}: not a run folder (no config.yaml)")
    try:
        folder = run_folder.lock_run_dir(run_dir)
    except OSError as exc:
        raise RunFolderError(f"{run_dir}: cannot use the run folder ({exc.strerror or exc})") from None
    try:
        _check_resumable(run_dir, config)
        artifacts.remove_stale_temporaries(run_dir)
    except BaseException:
        folder.close()
        raise
    return train(config, callbacks=callbacks, interrupt=interrupt, resume_dir=folder, background_plots=background_plots,
                 pictures=pictures)


def _check_resumable(run_dir: Path, config: Path) -> None:
    import json

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
    if not any(path.exists() for path in checkpoint_paths(run_dir)):
        raise RunFolderError(f"{run_dir}: holds no checkpoint.npz to resume from")


def _check_same_data(run_dir: Path, prepared: PreparedData, dataset: str) -> None:
    """Refuse to resume on data other than the run's: run.json's data_sha256
    must be the fingerprint of the data as loaded now."""
    import json

    try:
        recorded = json.loads((run_dir / "run.json").read_text()).get("data_sha256")
    except (OSError, ValueError, AttributeError):
        recorded = None  # no run.json (a run older than it): nothing to compare
    if recorded and prepared.fingerprint and recorded != prepared.fingerprint:
        raise RunFolderError(
            f"{run_dir}: the data changed since the run started ({dataset}: its SHA-256 is no longer "
            f"run.json's data_sha256 {recorded[:12]}...); resuming would train on other data: train a new run"
        )


def evaluate(
    weights: str | Path, data_file: str | None = None, split: str | None = None, per_class: bool = False,
    class_names: bool = False,
) -> dict:
    """Score a saved model on a split of its own data (rebuilt from meta.config;
    the test split by default) or on every row of a .npz / .csv file. With
    ``per_class``, a "per_class" entry: {label: precision, recall, f1, support};
    with ``class_names``, "classes": the confusion matrix's labels (for its text)."""
    if data_file and split:
        raise MLPError("--data and --split: choose one (--data scores every row of the file)")
    model = load_weights(weights)
    if data_file:
        # a CSV model's columns by name, split as its training file was
        X, y = data.read_xy(data_file, encoder=model.encoder, delimiter=model.config["data"].get("delimiter", "auto"))
        data.check_xy(np.asarray(X), np.asarray(y), data_file)
        name, source = "file", data_file
    else:
        split = split or "test"
        data.refuse_in_memory(model.config["data"]["dataset"], weights, split)
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
    if class_names and "confusion_matrix" in result:  # its rows' and columns' labels
        result["classes"] = model.classes.tolist()
    if per_class:
        result["per_class"] = model.per_class(X, y, source)
    return result


def predict(weights: str | Path, input_path: str, proba: bool = False) -> tuple[np.ndarray, list[str]]:
    """Predictions for the rows of a .csv / .npz / .npy file, and their column names."""
    model = load_weights(weights)
    if proba and model.task == "regression":
        raise MLPError("--proba: this model does regression; it predicts values, not probabilities")
    delimiter = model.config["data"].get("delimiter", "auto")
    rows = data.read_features(input_path, encoder=model.encoder, delimiter=delimiter)
    out = model.output(rows, source=data.source_name(input_path))
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
    model = load_weights(weights)
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
