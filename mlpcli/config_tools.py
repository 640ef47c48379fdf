"""Tools around the config schema: the JSON Schema (`mlp schema`), a commented
starter config (`mlp init`) and the resolved config without data (`mlp validate`).

The JSON Schema is pydantic's ``model_json_schema`` of config.Config, with a
description for every key (DESCRIPTIONS, by dotted path) so an editor running
a YAML language server completes and explains keys. The repository commits it
as schema/mlpcli.schema.json; every shipped config starts with SCHEMA_LINE.
"""
from __future__ import annotations

import json

from .errors import ConfigError

# What a config's first line points an editor at: the committed schema, from a config in configs/.
SCHEMA_REF = "../schema/mlpcli.schema.json"
SCHEMA_COMMENT = "# yaml-language-server: $schema="
SCHEMA_LINE = SCHEMA_COMMENT + SCHEMA_REF

# One line per key, by its dotted path (list items and union variants share their key's path).
DESCRIPTIONS = {
    "seed": "The one seed; split into independent streams for data generation, the split, initialisation, shuffling and dropout.",
    "data": "The data set, its split and input scaling.",
    "data.dataset": "A scikit-learn data set (iris, digits, wine, breast_cancer, diabetes, linnerud), a generator (moons, circles, blobs, classification, regression, friedman1, multilabel), openml:NAME / openml:ID, or a path to a .npz / .csv / .npy file.",
    "data.options": "Keyword arguments of the loader or generator (n_samples, noise, ...); for openml: those of fetch_openml.",
    "data.test_size": "Fraction held out for the final test, in (0, 1).",
    "data.val_size": "Fraction of the rest scored after every epoch, in [0, 1); 0 = no validation split.",
    "data.scale": "Input scaling, fitted on the training split only: standard, minmax, robust or none.",
    "data.target": "A .csv's target column (null: the last column), or the .npy file of targets of a .npy data set.",
    "data.features": "A .csv's feature columns, in order (null: every column but the target).",
    "data.impute": "How missing values in a .csv's feature columns are filled.",
    "data.impute.numeric": "Numeric columns: the training split's mean or median, zero, or refuse (an error naming the row).",
    "data.impute.categorical": "String columns: the most frequent category of the training split, or refuse.",
    "model": "The network: task, hidden layers, initialiser and precision.",
    "model.task": "auto (from the targets), classification, multilabel or regression.",
    "model.layers": "Hidden layers, in order; the output layer is added from the task. An empty list is a linear model.",
    "model.layers.units": "Width of the layer (required).",
    "model.layers.activation": "relu, leaky_relu, elu, selu, gelu, silu, softplus, tanh, sigmoid or identity (PyTorch's definitions).",
    "model.layers.dropout": "Inverted dropout after the activation, in [0, 1).",
    "model.layers.negative_slope": "leaky_relu only: the slope for x < 0 (default 0.01).",
    "model.layers.approximate": "gelu only: none (the exact erf form) or tanh.",
    "model.layers.alpha": "elu only: the value approached for large negative x (default 1.0).",
    "model.layers.beta": "softplus only: log(1 + exp(beta x)) / beta (default 1.0).",
    "model.layers.threshold": "softplus only: x itself where beta x > threshold (default 20).",
    "model.layers.batch_norm": "Batch normalisation between the dense layer and the activation (PyTorch's BatchNorm1d).",
    "model.layers.layer_norm": "Layer normalisation between the dense layer and the activation (PyTorch's LayerNorm).",
    "model.init": "Weight initialiser: auto (by activation), he_normal, he_uniform, glorot_normal, glorot_uniform, lecun_normal, lecun_uniform or pytorch.",
    "model.dtype": "Parameter and arithmetic precision: float32 or float64.",
    "train": "The optimisation: epochs, batches, optimizer, schedule, regularisation, early stopping, loss.",
    "train.epochs": "Passes over the training split.",
    "train.batch_size": "Samples per step.",
    "train.optimizer": "The optimizer, chosen by name (PyTorch's update rules and defaults).",
    "train.optimizer.name": "adam, adamw, sgd, rmsprop, adagrad or lbfgs.",
    "train.optimizer.lr": "Learning rate; the schedule's starting point.",
    "train.optimizer.beta1": "adam, adamw: decay of the gradient average.",
    "train.optimizer.beta2": "adam, adamw: decay of the squared-gradient average.",
    "train.optimizer.eps": "Added to the denominator for numerical stability.",
    "train.optimizer.momentum": "sgd, rmsprop: momentum factor in [0, 1).",
    "train.optimizer.nesterov": "sgd: Nesterov momentum (needs momentum > 0).",
    "train.optimizer.alpha": "rmsprop: decay of the squared-gradient average (Keras's rho).",
    "train.optimizer.centered": "rmsprop: normalise by the gradient's estimated variance.",
    "train.optimizer.initial_accumulator_value": "adagrad: starting value of the squared-gradient sum.",
    "train.optimizer.history_size": "lbfgs: number of corrections kept (scipy's maxcor).",
    "train.optimizer.gtol": "lbfgs: stop when every gradient component is below it.",
    "train.optimizer.max_fun": "lbfgs: cap on loss evaluations.",
    "train.schedule": "The learning rate per epoch, chosen by name (PyTorch's lr_scheduler rules); null = constant.",
    "train.schedule.name": "constant, step, exponential, cosine, one_cycle or reduce_on_plateau.",
    "train.schedule.step_size": "step: epochs between decays.",
    "train.schedule.gamma": "step, exponential: the decay factor.",
    "train.schedule.warmup_epochs": "cosine: epochs of linear warm-up before the decay.",
    "train.schedule.min_lr": "cosine: the rate decayed towards; reduce_on_plateau: the lowest rate.",
    "train.schedule.max_lr": "one_cycle: the peak rate (null: the optimizer's lr).",
    "train.schedule.pct_start": "one_cycle: fraction of the epochs spent rising.",
    "train.schedule.div_factor": "one_cycle: the starting rate is max_lr / div_factor.",
    "train.schedule.final_div_factor": "one_cycle: the final rate is max_lr / div_factor / final_div_factor.",
    "train.schedule.monitor": "reduce_on_plateau: the logged value watched (val_loss, val_accuracy, train_loss, ...).",
    "train.schedule.mode": "reduce_on_plateau: auto, min or max.",
    "train.schedule.factor": "reduce_on_plateau: the rate is multiplied by it on a plateau.",
    "train.schedule.patience": "reduce_on_plateau: epochs without improvement before a reduction.",
    "train.schedule.min_delta": "reduce_on_plateau: smallest change that counts as improvement.",
    "train.schedule.cooldown": "reduce_on_plateau: epochs to wait after a reduction.",
    "train.weight_decay": "Weight decay (null: 0.01 for adamw, decoupled; else 0, added to the gradient).",
    "train.l1": "L1 penalty on the dense weights, added to the loss (Keras's kernel_regularizer).",
    "train.l2": "L2 penalty on the dense weights, added to the loss (Keras's kernel_regularizer).",
    "train.max_norm": "Rescale each unit's incoming weights to at most this L2 norm after every step (Keras's MaxNorm).",
    "train.clip_norm": "Rescale the whole gradient to at most this L2 norm before each step.",
    "train.clip_value": "Clamp every gradient component to [-clip_value, clip_value].",
    "train.early_stopping": "Stop when the monitored value stops improving (null: never).",
    "train.early_stopping.monitor": "The logged value watched: val_loss, val_<metric> or train_loss.",
    "train.early_stopping.patience": "Epochs without improvement before stopping.",
    "train.early_stopping.min_delta": "Smallest change that counts as improvement.",
    "train.early_stopping.mode": "auto (maximise scores, minimise losses), min or max.",
    "train.early_stopping.restore_best": "Keep the best epoch's weights, not the last.",
    "train.max_seconds": "A time budget: stop after the epoch during which it ran out.",
    "train.shuffle": "Reshuffle the samples every epoch.",
    "train.loss": "auto, cross_entropy, binary_cross_entropy (classification, multilabel); mse, mae, huber (regression).",
    "train.huber_delta": "huber only: squared error within delta of the target, linear beyond (default 1.0).",
    "train.class_weight": "Classification: 'balanced', or a mapping label -> weight >= 0.",
    "train.label_smoothing": "Classification and multilabel: label smoothing in [0, 1).",
    "output": "Where the run folder goes and what it holds.",
    "output.dir": "The run folder (--out overrides it; null: runs/<config name>-<time>).",
    "output.plots": "Draw learning_curves.png (and confusion_matrix.png for classification) in the run folder.",
}


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a config file, with a description per key."""
    from .config import Config

    schema = Config.model_json_schema(mode="validation")
    defs = schema["$defs"]

    def resolve(node):
        return defs[node["$ref"].split("/")[-1]] if "$ref" in node else node

    def describe(node, path):
        node = resolve(node)
        for variant in node.get("oneOf", []) + node.get("anyOf", []):
            describe(variant, path)
        if "items" in node:
            describe(node["items"], path)
        for key, prop in node.get("properties", {}).items():
            key_path = f"{path}.{key}" if path else key
            if key_path in DESCRIPTIONS:
                # On the property itself: a $ref's own description would be shared by every use.
                prop["description"] = DESCRIPTIONS[key_path]
            describe(prop, key_path)

    describe(schema, "")
    # Names the validators check against a registry: listed, so an editor completes and checks them.
    from .config import INITIALIZERS, monitors
    from .data import DATASETS
    from .engine.activations import ACTIVATIONS

    defs["LayerConfig"]["properties"]["activation"]["enum"] = list(ACTIVATIONS)
    defs["ModelConfig"]["properties"]["init"]["enum"] = ["auto", *INITIALIZERS]
    for owner in ("EarlyStoppingConfig", "PlateauScheduleConfig"):
        defs[owner]["properties"]["monitor"]["enum"] = monitors()
    defs["DataConfig"]["properties"]["dataset"]["examples"] = [*DATASETS, "openml:NAME", "data/table.csv"]
    train = defs["TrainConfig"]["properties"]
    # null is a constant schedule (config.TrainConfig reads it so).
    schedule = train["schedule"]
    train["schedule"] = {
        "anyOf": [{k: schedule.pop(k) for k in ("oneOf", "discriminator") if k in schedule}, {"type": "null"}],
        **schedule,
    }
    train["class_weight"] = {
        "anyOf": [
            {"const": "balanced"},
            {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}, "minProperties": 1},
            {"type": "null"},
        ],
        "default": None,
        **{k: v for k, v in train["class_weight"].items() if k in ("title", "description")},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mlpcli config",
        "description": "A config file of mlpcli (`mlp train CONFIG`); generated by `mlp schema`.",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_text() -> str:
    """What `mlp schema` prints and schema/mlpcli.schema.json holds."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def undescribed_keys() -> list[str]:
    """Dotted paths of config keys the schema has no description for (a test keeps this empty)."""
    from .config import Config

    missing = []

    def walk(model, path):
        for key, field in model.model_fields.items():
            key_path = f"{path}.{key}" if path else key
            if key_path not in DESCRIPTIONS and not field.description:
                missing.append(key_path)
            for inner in _models_in(field.annotation):
                walk(inner, key_path)

    walk(Config, "")
    return sorted(set(missing))


def _models_in(annotation) -> list:
    """Every BaseModel class inside an annotation (X, list[X], X | None, every variant of a union)."""
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


# --------------------------------------------------------------------------- mlp validate


def resolved_without_data(path, overrides=()) -> dict:
    """The config as `mlp train` would record it, as far as it is known without
    reading the data: defaults filled and file paths made absolute, but
    ``model.task`` and ``train.loss`` stay as given (``auto`` is resolved from
    the targets), and so does a ``class_weight`` of ``balanced``."""
    from .runner import resolve_config

    return resolve_config(path, overrides)[0].to_dict()


# --------------------------------------------------------------------------- mlp init

# The task of each built-in data set (data.DATASETS); files and OpenML sets are read to know it.
DATASET_TASKS = {
    "iris": "classification", "digits": "classification", "wine": "classification",
    "breast_cancer": "classification", "diabetes": "regression", "linnerud": "regression",
    "moons": "classification", "circles": "classification", "blobs": "classification",
    "classification": "classification", "regression": "regression", "friedman1": "regression",
    "multilabel": "multilabel",
}
_LOSSES = {
    "classification": "auto = cross_entropy (softmax), binary_cross_entropy for 2 classes",
    "multilabel": "auto = binary_cross_entropy, one sigmoid per label",
    "regression": "auto = mse; or mae, huber",
    "auto": "auto: chosen from the task",
}


def _scalar(value) -> str:
    """A value as one YAML flow scalar, quoted where YAML needs it."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def starter_config(dataset: str = "digits", task: str | None = None, schema_ref: str = SCHEMA_REF) -> str:
    """A commented config for ``dataset`` and ``task`` that validates as it is
    (`mlp init`). A built-in data set fixes its task; another task for it is refused."""
    from .config import monitors, parse_config

    suffix = dataset.lower().rsplit(".", 1)[-1] if "." in dataset else ""
    target = {
        "csv": (None, "the target column's name (null: the last column)"),
        "npy": ("y.npy", "the .npy file of targets that goes with the features (required)"),
    }.get(suffix)
    # An unknown name: its error and suggestion.
    parse_config({"data": {"dataset": dataset, "target": target and target[0]}}, source="--dataset")
    known = DATASET_TASKS.get(dataset)
    if task and known and task != known:
        raise ConfigError(f"--task {task}: {dataset} is a {known} data set; leave --task out or use --task {known}")
    task = task or known or "auto"
    watch = ", ".join(monitors(task))
    lines = [
        f"{SCHEMA_COMMENT}{schema_ref}",
        f"# A starter config for {dataset} ({task if task != 'auto' else 'task from the targets'}); made by `mlp init`.",
        "#   mlp validate THIS.yaml    check it and see every default",
        "#   mlp train THIS.yaml       train it",
        "seed: 0                      # the one seed: data split, initialisation, shuffling, dropout",
        "data:",
        f"  dataset: {_scalar(dataset):<17} # built-in name, openml:NAME, or a .npz / .csv / .npy path",
        "  options: {}                # keyword arguments of the loader or generator (n_samples, noise, ...)",
        "  test_size: 0.2             # fraction held out for the final test",
        "  val_size: 0.1              # fraction of the rest scored after every epoch (0 = none)",
        "  scale: standard            # standard | minmax | robust | none, fitted on the training split",
    ]
    if target:
        lines.append(f"  target: {_scalar(target[0]):<18} # {target[1]}")
    lines += [
        "model:",
        f"  task: {task:<20} # auto | classification | multilabel | regression",
        "  layers:                    # hidden layers, in order; the output layer is added from the task",
        "    - {units: 128, activation: relu, dropout: 0.1}",
        "    - {units: 64, activation: relu, dropout: 0.1}",
        "  init: auto                 # weight initialiser; auto: by each layer's activation",
        "  dtype: float32             # float32 | float64",
        "train:",
        "  epochs: 50                 # passes over the training split",
        "  batch_size: 32             # samples per step",
        "  optimizer: {name: adam, lr: 0.001}   # adam | adamw | sgd | rmsprop | adagrad | lbfgs",
        "  schedule: {name: constant} # constant | step | exponential | cosine | one_cycle | reduce_on_plateau",
        "  weight_decay: 0.0          # L2 on the weights (decoupled for adamw)",
        f"  loss: auto                 # {_LOSSES[task]}",
        "  early_stopping:            # or null: train every epoch",
        f"    monitor: val_loss        # {watch}",
        "    patience: 10             # epochs without improvement before stopping",
        "    restore_best: true       # keep the best epoch's weights",
        "output:",
        "  dir: null                  # the run folder; null: runs/<config name>-<time> (--out overrides it)",
    ]
    from .config import OutputConfig

    if "plots" in OutputConfig.model_fields:
        lines.append("  plots: true                # learning_curves.png (and confusion_matrix.png) in the run folder")
    return "\n".join(lines) + "\n"
