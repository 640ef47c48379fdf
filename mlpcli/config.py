"""The config schema (pydantic), YAML loading, --set overrides and error messages.

The schema mirrors DESIGN.md's YAML. Every key has a default except a hidden
layer's ``units``; unknown keys, wrong types and out-of-range values become one
ConfigError naming each key's full path (``model.layers[1].dropout``), with a
"did you mean" for a misspelt key or name.
"""
from __future__ import annotations

import difflib
import json
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from .engine.activations import ACTIVATION_OPTIONS, ACTIVATIONS
from .engine.initializers import INITIALIZERS
from .errors import ConfigError
from .metrics import EPOCH_METRICS

# The validation metrics logged every epoch, by task (val_<name> in metrics.jsonl).
TASK_METRICS = EPOCH_METRICS
TASKS = tuple(TASK_METRICS)
# Metrics where larger is better; every other monitored value (losses, errors) is minimised.
MAXIMISED = {
    "accuracy", "balanced_accuracy", "subset_accuracy", "r2", "explained_variance", "roc_auc",
    *(f"{m}_{avg}" for m in ("precision", "recall", "f1") for avg in ("macro", "weighted", "micro", "samples")),
}


def _not_bool(noun: str):
    # pydantic's lax mode reads true as 1, and YAML 1.1 reads yes / on as true.
    def check(value):
        if isinstance(value, bool):
            raise ValueError(f"expected {noun}, got {json.dumps(value)}")
        return value

    return BeforeValidator(check)


Int = Annotated[int, _not_bool("an integer")]
Float = Annotated[float, _not_bool("a number")]


def monitors(task: str = "auto") -> list[str]:
    """The values early stopping can watch for a task ('auto': for either)."""
    metrics = TASK_METRICS[task] if task in TASK_METRICS else dict.fromkeys(sum(TASK_METRICS.values(), ()))
    return ["val_loss", *(f"val_{m}" for m in metrics), "train_loss"]


_ACTIVATION_KEYS = sorted({key for options in ACTIVATION_OPTIONS.values() for key in options})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


def _choose(kind: str, value: str, valid) -> str:
    if value in valid:
        return value
    raise ValueError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}{_did_you_mean(value, valid)}")


class ImputeConfig(_Section):
    """How missing values in a .csv's feature columns are filled (scikit-learn's
    SimpleImputer strategies, fitted on the training split), or refused."""

    numeric: Literal["mean", "median", "zero", "refuse"] = "mean"
    categorical: Literal["most_frequent", "refuse"] = "most_frequent"


class DataConfig(_Section):
    dataset: str = "digits"
    options: dict[str, Any] = Field(default_factory=dict)
    test_size: Float = Field(0.2, gt=0, lt=1)
    val_size: Float = Field(0.1, ge=0, lt=1)
    scale: Literal["standard", "minmax", "robust", "none"] = "standard"
    # Two meanings, by data.dataset's kind: a .csv's target column, or the
    # .npy file of targets that goes with a .npy file of features.
    target: str | None = None
    features: list[str] | None = Field(None, min_length=1)  # a .csv's feature columns; None: all but the target
    impute: ImputeConfig = Field(default_factory=ImputeConfig)

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        from .data import DATASETS, FILE_SUFFIXES, OPENML_PREFIX

        if value.startswith(OPENML_PREFIX):
            if not value[len(OPENML_PREFIX) :].strip():
                raise ValueError(f"{value!r} needs an OpenML data set name or id, e.g. openml:iris or openml:61")
            return value
        if value in DATASETS or value.lower().endswith(FILE_SUFFIXES):
            return value
        raise ValueError(
            f"unknown dataset {value!r}; valid: {', '.join(DATASETS)}, openml:NAME, openml:ID, "
            f"or a path to a {' / '.join(FILE_SUFFIXES)} file{_did_you_mean(value, DATASETS)}"
        )

    @model_validator(mode="after")
    def _npy_pair(self):
        features_npy = self.dataset.lower().endswith(".npy")
        targets_npy = isinstance(self.target, str) and self.target.lower().endswith(".npy")
        if features_npy and not targets_npy:
            got = "nothing" if self.target is None else repr(self.target)
            raise ValueError(
                f"data.target: a .npy data set ({self.dataset}) needs its targets in a second "
                f".npy file, e.g. data.target: y.npy; got {got}"
            )
        if targets_npy and not features_npy:
            raise ValueError(
                f"data.target: {self.target!r} is a .npy file of targets, which goes with a .npy "
                f"file of features in data.dataset, not {self.dataset!r}"
            )
        return self

    @model_validator(mode="after")
    def _csv_columns(self):
        csv = self.dataset.lower().endswith(".csv")
        if self.features is not None and not csv:
            raise ValueError(f"data.features: names columns of a .csv data set; {self.dataset!r} is not one")
        if self.target is not None and not csv and not self.dataset.lower().endswith(".npy"):
            raise ValueError(
                f"data.target: names the target column of a .csv data set (or the .npy file of "
                f"targets of a .npy one); {self.dataset!r} brings its own target"
            )
        if self.features:
            twice = sorted({name for name in self.features if self.features.count(name) > 1})
            if twice:
                raise ValueError(f"data.features: lists {twice[0]!r} twice")
            if self.target in self.features:
                raise ValueError(f"data.features: lists the target column {self.target!r}")
        return self


class LayerConfig(_Section):
    units: Int = Field(ge=1)
    activation: str = "relu"
    dropout: Float = Field(0.0, ge=0, lt=1)
    negative_slope: Float | None = Field(None, ge=0)
    approximate: Literal["none", "tanh"] | None = None
    alpha: Float | None = Field(None, ge=0)
    beta: Float | None = Field(None, gt=0)
    threshold: Float | None = None
    batch_norm: bool = False
    layer_norm: bool = False

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, value: str) -> str:
        return _choose("activation", value, ACTIVATIONS)

    @model_validator(mode="after")
    def _one_normalisation(self):
        if self.batch_norm and self.layer_norm:
            raise ValueError("batch_norm and layer_norm cannot both be true on one layer; choose one")
        return self

    @model_validator(mode="after")
    def _activation_options(self):
        # An activation's parameters are explicit keys, filled with their
        # defaults where they apply and refused where they do not.
        accepted = ACTIVATION_OPTIONS.get(self.activation, {})
        for key in _ACTIVATION_KEYS:
            if key in accepted and getattr(self, key) is None:
                setattr(self, key, accepted[key])
            elif key not in accepted and getattr(self, key) is not None:
                owner = next(a for a, opts in ACTIVATION_OPTIONS.items() if key in opts)
                raise ValueError(f"{key} applies to activation {owner!r} only, not {self.activation!r}")
        return self


class ModelConfig(_Section):
    task: Literal["auto", "classification", "multilabel", "regression"] = "auto"
    layers: list[LayerConfig] = Field(default_factory=lambda: [LayerConfig(units=100)])
    init: str = "auto"
    dtype: Literal["float32", "float64"] = "float32"

    @field_validator("init")
    @classmethod
    def _known_init(cls, value: str) -> str:
        return _choose("initializer", value, ["auto", *INITIALIZERS])


class SGDConfig(_Section):
    name: Literal["sgd"]
    lr: Float = Field(0.01, gt=0)
    momentum: Float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self):
        if self.nesterov and self.momentum == 0:
            raise ValueError("train.optimizer.nesterov: true needs train.optimizer.momentum > 0, got momentum 0")
        return self


class AdamConfig(_Section):
    name: Literal["adam"] = "adam"
    lr: Float = Field(0.001, gt=0)
    beta1: Float = Field(0.9, ge=0, lt=1)
    beta2: Float = Field(0.999, ge=0, lt=1)
    eps: Float = Field(1e-8, gt=0)


class AdamWConfig(AdamConfig):
    name: Literal["adamw"]


class RMSpropConfig(_Section):
    name: Literal["rmsprop"]
    lr: Float = Field(0.01, gt=0)
    alpha: Float = Field(0.99, ge=0, lt=1)
    eps: Float = Field(1e-8, gt=0)
    momentum: Float = Field(0.0, ge=0, lt=1)
    centered: bool = False


class AdagradConfig(_Section):
    name: Literal["adagrad"]
    lr: Float = Field(0.01, gt=0)
    eps: Float = Field(1e-10, gt=0)
    initial_accumulator_value: Float = Field(0.0, ge=0)


class LBFGSConfig(_Section):
    """scipy's L-BFGS-B on the whole training split (scikit-learn's solver='lbfgs');
    one epoch is one iteration."""

    name: Literal["lbfgs"]
    history_size: Int = Field(10, ge=1)
    gtol: Float = Field(1e-5, ge=0)
    max_fun: Int = Field(15000, ge=1)


OptimizerConfig = Annotated[
    Union[AdamConfig, AdamWConfig, SGDConfig, RMSpropConfig, AdagradConfig, LBFGSConfig], Field(discriminator="name")
]
OPTIMIZER_CONFIGS = {
    "adam": AdamConfig, "adamw": AdamWConfig, "sgd": SGDConfig, "rmsprop": RMSpropConfig,
    "adagrad": AdagradConfig, "lbfgs": LBFGSConfig,
}


class ConstantScheduleConfig(_Section):
    name: Literal["constant"] = "constant"


class StepScheduleConfig(_Section):
    name: Literal["step"]
    step_size: Int = Field(10, ge=1)
    gamma: Float = Field(0.1, gt=0)


class ExponentialScheduleConfig(_Section):
    name: Literal["exponential"]
    gamma: Float = Field(0.95, gt=0)


class CosineScheduleConfig(_Section):
    name: Literal["cosine"]
    warmup_epochs: Int = Field(0, ge=0)
    min_lr: Float = Field(0.0, ge=0)


class OneCycleScheduleConfig(_Section):
    name: Literal["one_cycle"]
    max_lr: Float | None = Field(None, gt=0)  # None: the optimizer's lr (recorded resolved)
    pct_start: Float = Field(0.3, gt=0, lt=1)
    div_factor: Float = Field(25.0, gt=0)
    final_div_factor: Float = Field(1e4, gt=0)


class PlateauScheduleConfig(_Section):
    name: Literal["reduce_on_plateau"]
    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    factor: Float = Field(0.1, gt=0, lt=1)
    patience: Int = Field(10, ge=0)
    min_delta: Float = Field(1e-4, ge=0)
    cooldown: Int = Field(0, ge=0)
    min_lr: Float = Field(0.0, ge=0)

    @field_validator("monitor")
    @classmethod
    def _known_monitor(cls, value: str) -> str:
        return _choose("metric", value, monitors())

    def resolved_mode(self) -> str:
        return _resolved_mode(self.mode, self.monitor)


ScheduleConfig = Annotated[
    Union[
        ConstantScheduleConfig, StepScheduleConfig, ExponentialScheduleConfig,
        CosineScheduleConfig, OneCycleScheduleConfig, PlateauScheduleConfig,
    ],
    Field(discriminator="name"),
]
SCHEDULE_CONFIGS = {
    "constant": ConstantScheduleConfig, "step": StepScheduleConfig, "exponential": ExponentialScheduleConfig,
    "cosine": CosineScheduleConfig, "one_cycle": OneCycleScheduleConfig, "reduce_on_plateau": PlateauScheduleConfig,
}
# Where a tagged union lives, and what its tag names.
_UNIONS = {"optimizer": ("optimizer", OPTIMIZER_CONFIGS), "schedule": ("schedule", SCHEDULE_CONFIGS)}


def _resolved_mode(mode: str, monitor: str) -> str:
    if mode != "auto":
        return mode
    return "max" if monitor.removeprefix("val_") in MAXIMISED else "min"


class EarlyStoppingConfig(_Section):
    monitor: str = "val_loss"
    patience: Int = Field(10, ge=1)
    min_delta: Float = Field(0.0, ge=0)
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best: bool = True

    @field_validator("monitor")
    @classmethod
    def _known_monitor(cls, value: str) -> str:
        return _choose("metric", value, monitors())

    def resolved_mode(self) -> str:
        return _resolved_mode(self.mode, self.monitor)


class TrainConfig(_Section):
    epochs: Int = Field(50, ge=1)
    batch_size: Int = Field(32, ge=1)
    optimizer: OptimizerConfig = Field(default_factory=AdamConfig)
    schedule: ScheduleConfig = Field(default_factory=ConstantScheduleConfig)
    # None: 0.01 for adamw (decoupled, PyTorch's AdamW default), else 0 (coupled L2).
    weight_decay: Float | None = Field(None, ge=0)
    l1: Float = Field(0.0, ge=0)
    l2: Float = Field(0.0, ge=0)
    max_norm: Float | None = Field(None, gt=0)
    clip_norm: Float | None = Field(None, gt=0)
    clip_value: Float | None = Field(None, gt=0)
    early_stopping: EarlyStoppingConfig | None = None
    max_seconds: Float | None = Field(None, gt=0)
    shuffle: bool = True
    # The loss and its options (engine/losses.py), checked against the task by task_problem.
    loss: Literal["auto", "cross_entropy", "binary_cross_entropy", "mse", "mae", "huber"] = "auto"
    huber_delta: Float | None = Field(None, gt=0)
    class_weight: Any = None
    label_smoothing: Float = Field(0.0, ge=0, lt=1)

    @field_validator("class_weight", mode="before")
    @classmethod
    def _class_weight(cls, value):
        if value is None or value == "balanced":
            return value
        if not isinstance(value, dict) or not value:
            raise ValueError(f"must be 'balanced' or a mapping label -> weight, got {_show(value)}")
        weights = {}
        for label, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < float("inf"):
                raise ValueError(f"the weight of label {label!r} must be a finite number >= 0, got {_show(weight)}")
            weights[str(label)] = float(weight)  # labels as text: YAML keys and JSON keys alike
        if not any(weights.values()):
            raise ValueError(
                "every weight is 0, which leaves nothing to train on; give some class a weight > 0"
            )
        return weights

    @model_validator(mode="after")
    def _huber_delta(self):
        # Like an activation's parameters: filled in where it applies, refused elsewhere.
        if self.loss == "huber" and self.huber_delta is None:
            self.huber_delta = 1.0
        elif self.loss != "huber" and self.huber_delta is not None:
            raise ValueError(f"train.huber_delta: applies to train.loss 'huber' only, not {self.loss!r}")
        return self

    @field_validator("optimizer", mode="before")
    @classmethod
    def _default_optimizer_name(cls, value):
        if isinstance(value, dict) and "name" not in value:
            return {"name": "adam", **value}
        return value

    @field_validator("schedule", mode="before")
    @classmethod
    def _no_schedule_is_constant(cls, value):
        return {"name": "constant"} if value is None else value

    @model_validator(mode="after")
    def _optimization(self):
        opt, schedule = self.optimizer, self.schedule
        if self.weight_decay is None:
            self.weight_decay = 0.01 if opt.name == "adamw" else 0.0
        if self.clip_norm is not None and self.clip_value is not None:
            raise ValueError("train.clip_norm and train.clip_value: set one of them, not both (as Keras)")
        if opt.name == "lbfgs":
            steps = [k for k in ("clip_norm", "clip_value", "max_norm") if getattr(self, k) is not None]
            if schedule.name != "constant":
                steps.insert(0, "schedule")
            if steps:
                raise ValueError(
                    f"train.{steps[0]}: does not apply to optimizer lbfgs, which runs scipy's line "
                    "search on the full batch; leave it out or pick a gradient-step optimizer"
                )
            return self
        if schedule.name == "one_cycle" and schedule.max_lr is None:
            schedule.max_lr = opt.lr
        if schedule.name == "cosine":
            if schedule.warmup_epochs >= self.epochs:
                raise ValueError(
                    f"train.schedule.warmup_epochs: must be < train.epochs ({self.epochs}), "
                    f"got {schedule.warmup_epochs}"
                )
            if schedule.min_lr > opt.lr:
                raise ValueError(
                    f"train.schedule.min_lr: must be <= train.optimizer.lr ({opt.lr:g}), got {schedule.min_lr:g}"
                )
        return self


class OutputConfig(_Section):
    dir: str | None = None
    plots: bool = True  # learning_curves.png and confusion_matrix.png in the run folder


class Config(_Section):
    seed: Int = Field(0, ge=0)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _monitor_has_data(self):
        for key, watcher in monitored(self.train):
            if watcher.monitor.startswith("val_") and self.data.val_size == 0:
                raise ValueError(
                    f"{key}: {watcher.monitor!r} needs a validation split "
                    "(data.val_size > 0), or monitor 'train_loss'"
                )
            problem = self.model.task != "auto" and monitor_problem(watcher.monitor, self.model.task, key)
            if problem:
                raise ValueError(problem)
        if self.train.optimizer.name == "lbfgs":
            for i, layer in enumerate(self.model.layers):
                if layer.dropout > 0:
                    raise ValueError(
                        f"model.layers[{i}].dropout: must be 0 with optimizer lbfgs, got {layer.dropout:g}; "
                        "L-BFGS needs the same loss at every evaluation, and dropout makes it random"
                    )
        if self.model.task != "auto":
            train = self.train
            problem = task_problem(self.model.task, train.loss, train.class_weight, train.label_smoothing)
            if problem:
                raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _batch_norm_needs_batches(self):
        # Batch statistics of one row are undefined (PyTorch raises on them).
        i = next((i for i, layer in enumerate(self.model.layers) if layer.batch_norm), None)
        if i is not None and self.train.batch_size < 2:
            raise ValueError(
                f"model.layers[{i}].batch_norm: needs train.batch_size >= 2 (the statistics of a "
                f"one-row batch are undefined), got {self.train.batch_size}; or use layer_norm"
            )
        return self

    def to_dict(self) -> dict:
        """The resolved config as plain data (what config.yaml and the weights file hold)."""
        data = self.model_dump(mode="json")
        for layer in data["model"]["layers"]:
            for key in _ACTIVATION_KEYS:
                if layer[key] is None:  # not this layer's activation's parameter
                    del layer[key]
        return data


TASK_LOSSES = {
    "classification": ("cross_entropy", "binary_cross_entropy"),
    "multilabel": ("binary_cross_entropy",),
    "regression": ("mse", "mae", "huber"),
}


def task_problem(task: str, loss: str, class_weight=None, label_smoothing=0.0, n_classes=None) -> str | None:
    """Why the loss and its options do not fit a task (and, once the data is
    read, its number of classes), or None. Checked at validation when the task
    is given, and again once 'auto' has become one."""
    valid = TASK_LOSSES[task]
    if loss != "auto" and loss not in valid:
        return f"train.loss: {loss!r} does not fit the {task} task; valid: auto, {', '.join(valid)}"
    if task == "classification" and loss == "binary_cross_entropy" and n_classes and n_classes > 2:
        return (
            f"train.loss: 'binary_cross_entropy' needs 2 classes, the data has {n_classes}; "
            "use cross_entropy (or auto)"
        )
    if class_weight is not None and task != "classification":
        return f"train.class_weight: applies to classification only, not to the {task} task"
    if label_smoothing and task == "regression":
        return "train.label_smoothing: applies to classification and multilabel, not to the regression task"
    return None


def monitored(train) -> list[tuple[str, Any]]:
    """(key path, section) of each setting that watches a logged metric:
    early stopping and the reduce_on_plateau schedule. ``train`` is a
    TrainConfig or its resolved dict; a section is returned as given."""
    get = train.get if isinstance(train, dict) else (lambda key: getattr(train, key))
    out = []
    if get("early_stopping"):
        out.append(("train.early_stopping.monitor", get("early_stopping")))
    schedule = get("schedule")
    name = schedule.get("name") if isinstance(schedule, dict) else getattr(schedule, "name", None)
    if name == "reduce_on_plateau":
        out.append(("train.schedule.monitor", schedule))
    return out


def monitor_problem(monitor: str, task: str, key: str = "train.early_stopping.monitor") -> str | None:
    """Why a monitored metric cannot be used for a task, or None. Checked
    at validation when the task is given, and again once 'auto' has become one."""
    valid = monitors(task)
    if monitor in valid:
        return None
    return f"{key}: {monitor!r} is not logged for {task}; valid: {', '.join(valid)}"


# --------------------------------------------------------------------------- loading


class _StrictSafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader for plain data: refuses duplicate keys (PyYAML keeps the
    last one), every tag that is not a plain YAML value (``!!python/...``,
    ``!!binary``, ``!!set``, local ``!tags``), and aliases that expand past
    MAX_YAML_VALUES (a "billion laughs" document). Dates stay strings (as in
    YAML 1.2's core schema) and ``1e-3`` is a float."""


# Plain YAML values: what a config can hold. Every other tag is refused before anything is constructed.
_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map", "merge")
}
MAX_YAML_VALUES = 100_000  # the most values aliases may expand a document to


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:  # the mapping's own keys; a merged (<<) key may be overridden
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: SafeLoader's construct_mapping explains it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {first + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


# YAML 1.2 floats: PyYAML (YAML 1.1) reads 1e-3 as a string, which data.options passes on unconverted.
_StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
_StrictSafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag in _PLAIN_TAGS]  # no timestamps, no '=' values
    for first, resolvers in _StrictSafeLoader.yaml_implicit_resolvers.items()
}
_StrictSafeLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def _show_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


def _check_nodes(root, where) -> None:
    """Refuse tags that are not plain values, recursive aliases and alias
    expansion past MAX_YAML_VALUES, walking the composed document (each node
    once) before anything is constructed. ``where(mark)`` prefixes a message."""
    sizes, open_nodes, distinct = {}, set(), 0

    def size(node) -> int:
        nonlocal distinct
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise ConfigError(f"{where(node.start_mark)}: an alias refers to a node that contains it (a recursive structure)")
        if node.tag not in _PLAIN_TAGS:
            raise ConfigError(
                f"{where(node.start_mark)}: tag {_show_tag(node.tag)} is not allowed: a config holds plain "
                "values (mappings, lists, strings, numbers, true / false, null), and mlpcli never "
                "builds objects from tags"
            )
        distinct += 1
        open_nodes.add(id(node))
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else (
            node.value if isinstance(node, yaml.SequenceNode) else []
        )
        total = 1 + sum(size(child) for child in children)
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        if total > MAX_YAML_VALUES and total > distinct:
            raise ConfigError(
                f"{where(node.start_mark)}: its aliases expand to more than {MAX_YAML_VALUES} values "
                "(a 'billion laughs' document?); write the values out instead"
            )
        return total

    size(root)


def _node_lines(root) -> dict[tuple, int]:
    """The line (from 1) of every key and list item, by its path: ('model', 'layers', 1, 'dropout')."""
    lines = {}

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    key = path + (key_node.value,)
                    lines.setdefault(key, key_node.start_mark.line + 1)
                    walk(value_node, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines.setdefault(path + (i,), item.start_mark.line + 1)
                walk(item, path + (i,))

    walk(root, ())
    return lines


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """Plain data from YAML text, and the line of each key (see _node_lines)."""

    def where(mark):
        return f"{source}:{mark.line + 1}:{mark.column + 1}"

    loader = _StrictSafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_nodes(node, where)
        return loader.construct_document(node), _node_lines(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if problem.startswith("but ") and getattr(exc, "context", None):  # "expected a single document ..., but found another"
            problem = f"{exc.context}, {problem}"
        raise ConfigError(f"{where(mark) if mark else source}: invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file safely; errors name the file and line."""
    return _parse_yaml(_read_text(Path(path)), str(path))[0]


STDIN = "-"  # the config path that reads the config from standard input


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read, override and validate a config file (``-``: standard input); an
    error names each key's line in the file, or (--set) for a key an override set."""
    if str(path) == STDIN:
        import sys

        text, source = sys.stdin.read(), "<stdin>"
    else:
        text, source = _read_text(Path(path)), str(path)
    raw, lines = _parse_yaml(text, source)
    if raw is None:
        raw = {}
    raw = apply_overrides(raw, overrides, source=source)
    overridden = [_override_path(item) for item in overrides]
    return parse_config(raw, source=source, lines=lines, overridden=overridden)


def parse_config(raw: Any, source: str = "config", lines: dict | None = None, overridden=()) -> Config:
    """Validate plain data against the schema; one ConfigError listing every
    problem, each at its line in ``source`` (``lines``, from the YAML) or as
    set by an override (``overridden``: key paths)."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping of keys ({', '.join(Config.model_fields)}), "
            f"got {_type_name(raw)}"
        )
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = []
        errors = exc.errors()
        # A misspelt key that suggests a required one: its "missing" is the same mistake.
        suggested = {
            (tuple(e["loc"][:-1]), _did_you_mean(e["loc"][-1], _valid_keys(e["loc"])).split("'")[1])
            for e in errors if e["type"] == "extra_forbidden" and _did_you_mean(e["loc"][-1], _valid_keys(e["loc"]))
        }
        for error in errors:
            if error["type"] == "missing" and (tuple(error["loc"][:-1]), error["loc"][-1]) in suggested:
                continue
            message = _describe(error)
            problems.append((_where(_error_path(error, message), lines or {}, overridden), message))
        # Top to bottom in the file, then the overrides, then the rest.
        problems.sort(key=lambda p: (0, p[0]) if isinstance(p[0], int) else (1 if p[0] else 2, 0))
        raise ConfigError(_format_problems(source, problems)) from None


def _override_path(item: str) -> tuple:
    """The key path a --set KEY=VALUE sets: ('model', 'layers', 0, 'units')."""
    key = re.sub(r"\[(\d+)\]", r".\1", item.partition("=")[0]).strip()
    return tuple(int(part) if part.isdigit() else part for part in key.split("."))


_KEY_PATH = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])*)(?=:| and )")


def _error_path(error: dict, message: str) -> tuple:
    """The key path a problem is about: the one its message starts with (a
    cross-field check names the key at fault), else pydantic's location."""
    if error["type"] == "value_error":
        match = _KEY_PATH.match(message)
        if match:
            return tuple(int(p) if p.isdigit() else p for p in re.findall(r"[A-Za-z_]\w*|\d+", match.group(1)))
    return tuple(_model_at(error["loc"])[1])


def _where(path: tuple, lines: dict, overridden) -> int | str | None:
    """The line of a key path (or of its closest ancestor written in the file),
    "--set" if an override set it, or None."""
    if any(path[: len(o)] == tuple(o) for o in overridden):
        return "--set"
    if path and path not in lines and any(tuple(o[: len(path)]) == path for o in overridden):
        return "--set"  # a key only an override wrote (--set trian.epochs=3 makes 'trian')
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def _format_problems(source: str, problems: list[tuple[int | str | None, str]]) -> str:
    """One line: ``file:12: key: problem``, or ``file: N problems: line 3: ... | (--set) ...``."""
    if len(problems) == 1:
        where, message = problems[0]
        prefix = f"{source}:{where}" if isinstance(where, int) else f"{source} (--set)" if where else source
        return f"{prefix}: {message}"
    parts = [
        (f"line {where}: " if isinstance(where, int) else "(--set) " if where else "") + message
        for where, message in problems
    ]
    return f"{source}: {len(problems)} problems: " + " | ".join(parts)


def apply_overrides(raw: dict, overrides, source: str = "config") -> dict:
    """Apply ``KEY=VALUE`` strings (dotted paths, list indices as numbers,
    values parsed as YAML) to a copy of ``raw``."""
    import copy

    raw = copy.deepcopy(raw) if isinstance(raw, dict) else raw
    for item in overrides:
        key, sep, text = item.partition("=")
        key = re.sub(r"\[(\d+)\]", r".\1", key)  # model.layers[0].units, as errors print it
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.optimizer.lr=0.01")
        value = _parse_yaml(text, f"--set {item!r}: the value")[0]
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping of keys, got {_type_name(raw)}")
        node, parts = raw, key.strip().split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    where = ".".join(parts[:depth]) or "the config"
                    indices = f" (indices 0 to {len(node) - 1})" if node else ""
                    raise ConfigError(
                        f"--set {key}: {where} is a list of {len(node)}{indices}; "
                        f"{part!r} is not an index in it; to add or remove items, set the whole "
                        f"list, e.g. --set '{where}=[...]'"
                    )
                part = int(part)
            elif not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:depth])} is not a mapping")
            if last:
                node[part] = value
                continue
            child = node.get(part) if isinstance(node, dict) else node[part]
            where = ".".join(parts[: depth + 1])
            if child is not None and not isinstance(child, (dict, list)):
                # Replacing it with a mapping would drop the value silently (train.optimizer: sgd).
                raise ConfigError(f"--set {key}: {where} is {_show(child)} in {source}, not a mapping or a list")
            if child is None:
                if parts[depth + 1].isdigit():
                    keys = _schema_keys(parts[:depth])
                    hint = _did_you_mean(part, keys) if part not in keys else ""
                    if hint:
                        raise ConfigError(f"--set {key}: {where}: unknown key{hint}")
                    raise ConfigError(
                        f"--set {key}: {where} is not a list in {source}; set the whole list, "
                        f"e.g. --set '{where}=[{{units: 64}}]'"
                    )
                node[part] = {}
            node = node[part]
    return raw


def _schema_keys(parts) -> list[str]:
    """The keys the schema takes in the mapping at a --set path's parts (none in a free mapping)."""
    loc = tuple(int(p) if p.isdigit() else p for p in parts)
    owner, _ = _model_at(loc) if loc else (Config, [])
    return list(owner.model_fields) if owner else []


# --------------------------------------------------------------------------- messages

_TYPE_NAMES = {
    "int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
    "dict": "a mapping", "model": "a mapping", "list": "a list", "model_attributes": "a mapping",
}


# Names other libraries use for our keys (Keras, PyTorch, scikit-learn).
_ALIASES = {
    "learning_rate": "lr", "learning_rate_init": "lr", "beta_1": "beta1", "beta_2": "beta2",
    "epsilon": "eps", "rate": "dropout", "n_epochs": "epochs", "num_epochs": "epochs",
    "max_iter": "epochs", "random_state": "seed", "units_per_layer": "units", "hidden_layers": "layers",
    "optimiser": "optimizer", "solver": "optimizer", "alpha": "weight_decay", "l2": "weight_decay",
    "clipnorm": "clip_norm", "global_clipnorm": "clip_norm", "clipvalue": "clip_value", "rho": "alpha",
    "scheduler": "schedule", "lr_scheduler": "schedule", "lr_schedule": "schedule",
    "kernel_constraint": "max_norm", "maxcor": "history_size", "time_limit": "max_seconds",
}


def _did_you_mean(value, valid) -> str:
    valid = [str(v) for v in valid]
    if _ALIASES.get(str(value)) in valid:
        return f"; did you mean {_ALIASES[str(value)]!r}?"
    match = difflib.get_close_matches(str(value), valid, n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _type_name(value) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def _show(value, limit: int = 80) -> str:
    """A value as the user wrote it: strings quoted, YAML's true / false / null;
    cut short past ``limit`` characters (an error stays one readable line)."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, (bool, dict, list)) or value is None:
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _path(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(loc) -> tuple[type[BaseModel] | None, list]:
    """Walk the schema along a pydantic error location; returns the model class
    that owns the last key, and the location with union tags removed."""
    model, clean = Config, []
    for part in loc:
        if isinstance(part, int):
            clean.append(part)
            continue
        if model is None:
            clean.append(part)
            continue
        if clean and clean[-1] in _UNIONS and part in _UNIONS[clean[-1]][1]:
            model = _UNIONS[clean[-1]][1][part]
            continue
        clean.append(part)
        field = model.model_fields.get(part)
        model = _nested_model(field.annotation) if field else None
    return model, clean


def _nested_model(annotation):
    """The BaseModel class inside an annotation (X, list[X], X | None, Union[X, Y]), or None."""
    args = typing.get_args(annotation)
    if not args:
        return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    for arg in args:
        inner = _nested_model(arg)
        if inner:
            return inner
    return None


def _bounds(error) -> str:
    """The interval a numeric key must lie in, from the field's constraints."""
    owner, clean = _model_at(error["loc"][:-1])
    field = owner.model_fields.get(error["loc"][-1]) if owner else None
    lo = hi = None
    for meta in getattr(field, "metadata", []):
        for attr, bracket in (("ge", "["), ("gt", "(")):
            if getattr(meta, attr, None) is not None:
                lo = f"{bracket}{getattr(meta, attr):g}"
        for attr, bracket in (("le", "]"), ("lt", ")")):
            if getattr(meta, attr, None) is not None:
                hi = f"{getattr(meta, attr):g}{bracket}"
    if lo and hi:
        return f"must be in {lo}, {hi}"
    if lo:
        return f"must be {'>=' if lo[0] == '[' else '>'} {lo[1:]}"
    if hi:
        return f"must be {'<=' if hi[-1] == ']' else '<'} {hi[:-1]}"
    return "is out of range"


def _valid_keys(loc) -> list[str]:
    """The keys the mapping at loc[:-1] takes."""
    owner, _ = _model_at(loc[:-1]) if loc else (Config, [])
    return list(owner.model_fields) if owner else []


def _describe(error: dict) -> str:
    kind, loc, value = error["type"], error["loc"], error.get("input")
    owner, clean = _model_at(loc[:-1]) if loc else (Config, [])
    _, full = _model_at(loc)
    key = _path(full) or "config"
    if kind == "extra_forbidden":
        valid = list(owner.model_fields) if owner else []
        hint = _did_you_mean(loc[-1], valid)
        listing = f" (valid keys here: {', '.join(valid)})" if valid and not hint else ""
        return f"{key}: unknown key{hint}{listing}"
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{key}: {_bounds(error)}, got {_show(value)}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", error["ctx"]["expected"])
        return f"{key}: must be one of {', '.join(choices)}, got {_show(value)}{_did_you_mean(value, choices)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        noun, configs = _UNIONS.get(full[-1] if full else "", ("optimizer", OPTIMIZER_CONFIGS))
        tags = sorted(configs)
        if kind == "union_tag_not_found":
            return f"{key}.name: required; valid: {', '.join(tags)}"
        tag = error["ctx"]["tag"]
        return f"{key}.name: unknown {noun} {tag!r}; valid: {', '.join(tags)}{_did_you_mean(tag, tags)}"
    if kind in ("too_short", "too_long"):
        size = error["ctx"].get("min_length" if kind == "too_short" else "max_length")
        return f"{key}: must list {'at least' if kind == 'too_short' else 'at most'} {size} item(s), got {_show(value)}"
    if kind == "invalid_key":
        return f"{key}: keys must be strings, got {_show(value)}"
    if kind == "finite_number":
        return f"{key}: must be a finite number, got {_show(value)}"
    if kind == "value_error":
        message = str(error["ctx"]["error"])
        return message if message.startswith(("train.", "model.", "data.")) else f"{key}: {message}"
    noun = next((name for prefix, name in _TYPE_NAMES.items() if kind.startswith(prefix)), None)
    if kind == "int_from_float":
        noun = "an integer"
    if noun:
        return f"{key}: expected {noun}, got {_show(value)}"
    return f"{key}: {error['msg']}, got {_show(value)}"
