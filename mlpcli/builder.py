"""One way to build and fit a model. ``train``, ``resume``, ``cross_validate``
and the scikit-learn estimators all get their network, scaler, optimizer,
schedule, early stopping and fit options from ``Trainer``, and train through
``Trainer.fit`` (the fit loop, or L-BFGS through scipy).
"""
from __future__ import annotations

import os

import numpy as np

from . import data
from .config import Config, monitor_problem, monitored
from .engine import get_optimizer, get_schedule
from .errors import ConfigError
from .heads import balanced_class_weight, class_weight_array
from .prepare import PreparedData
from .trained import TrainedModel, build_network
from .training import EarlyStopping, FitOptions, History, fit


class Trainer:
    """Everything one run trains with, built from a validated config ``cfg``,
    its resolved dict ``config``, the prepared data and the run's Generators
    (prepare.generators), in a fixed order so the same config always gives
    the same network:

    - ``config``: completed with what the data decided (the task, the loss,
      class weights as a weight per class), as config.yaml records it;
    - ``model``: a TrainedModel with the initialised network, and the scaler
      (and a CSV table's encoder) fitted on the training split;
    - ``optimizer`` and ``schedule``: None for lbfgs, which scipy runs, and
      the schedule None for a constant rate;
    - ``stopper``: EarlyStopping, or None; ``options``: the FitOptions;
    - ``train_data`` and ``validation``: (X, target) scaled for the network.

    Everything that can be refused is refused here, before a run writes anything.
    """

    def __init__(self, cfg: Config, config: dict, prepared: PreparedData, rngs: dict):
        _complete_config(config, prepared)
        self.config, self.rngs = config, rngs
        self.model = _new_model(config, prepared, rngs)
        network = self.model.network
        self.optimizer, self.schedule = _optimization(cfg, network)
        stop = config["train"]["early_stopping"]
        self.stopper = None
        if stop:
            self.stopper = EarlyStopping(network, **{**stop, "mode": cfg.train.early_stopping.resolved_mode()})
        self.options = FitOptions.from_config(config)
        splits = prepared.splits
        self.validation = self._arrays(splits["val"]) if "val" in splits else None
        # The raw training rows are not used again: scale them in place, not in a copy.
        self.train_data = self._arrays(splits["train"], copy=False)

    def _arrays(self, split, copy: bool = True) -> tuple[np.ndarray, np.ndarray]:
        network = self.model.network
        target = split.target if self.model.task == "classification" else split.target.astype(network.dtype)
        return self.model.transform(split.X, copy=copy), target

    def fit(self, callbacks=(), checkpoint=None, start=None, interrupt=None) -> History:
        """Train the model in place (training.fit, or L-BFGS); returns the History.
        ``checkpoint``, ``start`` and ``interrupt`` as for training.fit (not for lbfgs)."""
        network, (X, y) = self.model.network, self.train_data
        callbacks = [*([self.stopper] if self.stopper else []), *callbacks]
        if self.optimizer is None:  # lbfgs: scipy, on the full batch
            from .lbfgs import fit_lbfgs

            return fit_lbfgs(network, X, y, self.options, validation=self.validation, callbacks=callbacks)
        return fit(
            network, self.optimizer, X, y, self.options, rng=self.rngs["shuffle"], validation=self.validation,
            callbacks=callbacks, schedule=self.schedule, checkpoint=checkpoint, start=start, interrupt=interrupt,
        )

    def outcome(self, history: History) -> dict:
        """best_epoch (the epoch whose parameters the model holds), epochs_run and why it stopped."""
        stopper = self.stopper
        restored = stopper and stopper.restore_best and stopper.best_epoch
        return {
            "best_epoch": stopper.best_epoch if restored else len(history),
            "epochs_run": len(history),
            "stopped": history.stopped,
        }


def _complete_config(config: dict, prepared: PreparedData) -> None:
    """Record the task, the loss and the class weights the data resolved in
    ``config``; refuse what only the data shows to be wrong."""
    config["model"]["task"] = prepared.task
    train = config["train"]
    train["loss"] = prepared.head.loss
    if prepared.task == "classification" and train["class_weight"] is not None:
        # Recorded as the mapping it resolved to, a weight for every class, so
        # the weights file alone gives the loss (and 'balanced' is reproducible).
        weights = train["class_weight"]
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
        train["class_weight"] = dict(zip(names, weight_array.tolist()))
    for key, watcher in monitored(train):
        problem = monitor_problem(watcher["monitor"], prepared.task, key)
        if problem:
            raise ConfigError(problem)


def _optimization(cfg: Config, network):
    """The optimizer (None for lbfgs, which training runs through scipy) and
    the learning-rate schedule (None for constant) a validated config asks for."""
    train_cfg = cfg.train
    options = train_cfg.optimizer.model_dump()
    name = options.pop("name")
    if name == "lbfgs":
        return None, None
    if name == "adamw":  # decoupled decay, inside the optimizer (FitOptions.weight_decay is 0)
        options.update(weight_decay=train_cfg.weight_decay, decay_size=network.n_weights)
    optimizer = get_optimizer(name, **options)
    schedule_options = train_cfg.schedule.model_dump()
    schedule_name = schedule_options.pop("name")
    if schedule_name == "constant":
        return optimizer, None
    if schedule_name == "reduce_on_plateau":
        schedule_options["mode"] = train_cfg.schedule.resolved_mode()
    return optimizer, get_schedule(schedule_name, optimizer.lr, train_cfg.epochs, **schedule_options)


def _check_model_fits_in_memory(config: dict, n_features: int, n_outputs: int, n_train: int, n_eval: int) -> None:
    """Refuse a network whose training cannot fit in this machine's memory (a
    typo such as units: 1000000000000, or a huge batch of wide layers) with
    the keys to change, instead of failing inside NumPy after the run started."""
    model, train = config["model"], config["train"]
    widths = [n_features, *(layer["units"] for layer in model["layers"]), n_outputs]
    n_params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    itemsize = np.dtype(model["dtype"]).itemsize
    # parameters, gradients, two optimizer moments and one work buffer
    params = 5 * n_params * itemsize
    batch = n_train if train["optimizer"]["name"] == "lbfgs" else min(train["batch_size"], n_train)
    # per row of a batch, for every layer's width: its input, pre-activation, activation, dropout mask and gradient
    activations = 5 * batch * sum(widths) * itemsize
    # scoring (validation, test) goes in chunks of TrainedModel.CHUNK_ROWS rows: two buffers per layer
    scoring = 2 * min(n_eval, TrainedModel.CHUNK_ROWS) * sum(widths) * itemsize
    needed = params + activations + scoring
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: no bound known
        return
    if needed > total:
        raise ConfigError(
            f"model.layers / train.batch_size: {n_params:,} parameters and batches of {batch:,} rows need about "
            f"{needed / 2**30:,.1f} GiB to train ({params / 2**30:,.1f} GiB for the parameters, "
            f"{(activations + scoring) / 2**30:,.1f} GiB for the activations), more than this machine's "
            f"{total / 2**30:,.1f} GiB of memory; use fewer units or a smaller train.batch_size"
        )


def _new_model(config: dict, prepared: PreparedData, rngs: dict) -> TrainedModel:
    """An initialised network with the input scaling fitted on the training split."""
    classes, train_X = prepared.classes, prepared.splits["train"].X
    encoder = None
    if train_X.dtype.names:  # a CSV table: imputation and one-hot categories fitted on the training split
        from .tabular import Encoder

        encoder = Encoder.fit(train_X, config["data"]["impute"], config["data"]["target"])
        train_X = encoder.encode(train_X, "the training split")
    n_eval = max(len(split.X) for split in prepared.splits.values())
    _check_model_fits_in_memory(config, train_X.shape[1], prepared.head.n_outputs, len(train_X), n_eval)
    network = build_network(config, train_X.shape[1], prepared.head, classes, rng=rngs["dropout"])
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
