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

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro")
REGRESSION_METRICS = ("r2", "mse", "mae")
TASK_METRICS = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}
# Metrics where larger is better; every other monitored value is minimised.
MAXIMISED = {"accuracy", "balanced_accuracy", "f1_macro", "r2"}


def _not_bool(value):
    # pydantic's lax mode reads true as 1, and YAML 1.1 reads yes / on as true.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {json.dumps(value)}")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]


def monitors(task: str = "auto") -> list[str]:
    """The values early stopping can watch for a task ('auto': for either)."""
    metrics = TASK_METRICS.get(task, CLASSIFICATION_METRICS + REGRESSION_METRICS)
    return ["val_loss", *(f"val_{m}" for m in metrics), "train_loss"]


_ACTIVATION_KEYS = sorted({key for options in ACTIVATION_OPTIONS.values() for key in options})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


def _choose(kind: str, value: str, valid) -> str:
    if value in valid:
        return value
    raise ValueError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}{_did_you_mean(value, valid)}")


class DataConfig(_Section):
    dataset: str = "digits"
    options: dict[str, Any] = Field(default_factory=dict)
    test_size: Float = Field(0.2, gt=0, lt=1)
    val_size: Float = Field(0.1, ge=0, lt=1)
    scale: Literal["standard", "minmax", "none"] = "standard"

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        from .data import DATASETS, FILE_SUFFIXES

        if value in DATASETS or value.lower().endswith(FILE_SUFFIXES):
            return value
        raise ValueError(
            f"unknown dataset {value!r}; valid: {', '.join(DATASETS)}, "
            f"or a path to a {' / '.join(FILE_SUFFIXES)} file{_did_you_mean(value, DATASETS)}"
        )


class LayerConfig(_Section):
    units: Int = Field(ge=1)
    activation: str = "relu"
    dropout: Float = Field(0.0, ge=0, lt=1)
    negative_slope: Float | None = Field(None, ge=0)
    approximate: Literal["none", "tanh"] | None = None

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, value: str) -> str:
        return _choose("activation", value, ACTIVATIONS)

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
    task: Literal["auto", "classification", "regression"] = "auto"
    layers: list[LayerConfig] = Field(default_factory=lambda: [LayerConfig(units=100)])
    init: str = "pytorch"
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
            raise ValueError("nesterov: true needs momentum > 0")
        return self


class AdamConfig(_Section):
    name: Literal["adam"] = "adam"
    lr: Float = Field(0.001, gt=0)
    beta1: Float = Field(0.9, ge=0, lt=1)
    beta2: Float = Field(0.999, ge=0, lt=1)
    eps: Float = Field(1e-8, gt=0)


OptimizerConfig = Annotated[Union[AdamConfig, SGDConfig], Field(discriminator="name")]
OPTIMIZER_CONFIGS = {"adam": AdamConfig, "sgd": SGDConfig}


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
        if self.mode != "auto":
            return self.mode
        return "max" if self.monitor.removeprefix("val_") in MAXIMISED else "min"


class TrainConfig(_Section):
    epochs: Int = Field(50, ge=1)
    batch_size: Int = Field(32, ge=1)
    optimizer: OptimizerConfig = Field(default_factory=AdamConfig)
    weight_decay: Float = Field(0.0, ge=0)
    early_stopping: EarlyStoppingConfig | None = None
    shuffle: bool = True

    @field_validator("optimizer", mode="before")
    @classmethod
    def _default_optimizer_name(cls, value):
        if isinstance(value, dict) and "name" not in value:
            return {"name": "adam", **value}
        return value


class OutputConfig(_Section):
    dir: str | None = None


class Config(_Section):
    seed: Int = Field(0, ge=0)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _monitor_has_data(self):
        stop = self.train.early_stopping
        if stop and stop.monitor.startswith("val_") and self.data.val_size == 0:
            raise ValueError(
                f"train.early_stopping.monitor: {stop.monitor!r} needs a validation split "
                "(data.val_size > 0), or monitor 'train_loss'"
            )
        problem = stop and self.model.task != "auto" and monitor_problem(stop.monitor, self.model.task)
        if problem:
            raise ValueError(problem)
        return self

    def to_dict(self) -> dict:
        """The resolved config as plain data (what config.yaml and the weights file hold)."""
        data = self.model_dump(mode="json")
        for layer in data["model"]["layers"]:
            for key in _ACTIVATION_KEYS:
                if layer[key] is None:  # not this layer's activation's parameter
                    del layer[key]
        return data


def monitor_problem(monitor: str, task: str) -> str | None:
    """Why an early-stopping monitor cannot be used for a task, or None. Checked
    at validation when the task is given, and again once 'auto' has become one."""
    valid = monitors(task)
    if monitor in valid:
        return None
    return f"train.early_stopping.monitor: {monitor!r} is not logged for {task}; valid: {', '.join(valid)}"


# --------------------------------------------------------------------------- loading


class _StrictSafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses duplicate keys (PyYAML keeps the last one)."""


def _construct_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", mark
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


# YAML 1.2 floats: PyYAML (YAML 1.1) reads 1e-3 as a string, which data.options passes on unconverted.
_StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
_StrictSafeLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file safely; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return yaml.load(text, Loader=_StrictSafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read, override and validate a config file."""
    raw = read_yaml(path)
    if raw is None:
        raw = {}
    raw = apply_overrides(raw, overrides, source=str(path))
    return parse_config(raw, source=str(path))


def parse_config(raw: Any, source: str = "config") -> Config:
    """Validate plain data against the schema; one ConfigError listing every problem."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping of keys ({', '.join(Config.model_fields)}), "
            f"got {_type_name(raw)}"
        )
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors()]
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


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
        try:
            value = yaml.load(text, Loader=_StrictSafeLoader)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: cannot parse the value: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping of keys, got {_type_name(raw)}")
        node, parts = raw, key.strip().split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    where = ".".join(parts[:depth]) or "the config"
                    raise ConfigError(
                        f"--set {key}: {where} is a list of {len(node)}; "
                        f"{part!r} is not an index in it"
                    )
                part = int(part)
            elif not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:depth])} is not a mapping")
            if last:
                node[part] = value
                continue
            if isinstance(node, dict) and not isinstance(node.get(part), (dict, list)):
                if parts[depth + 1].isdigit():
                    where = ".".join(parts[: depth + 1])
                    raise ConfigError(
                        f"--set {key}: {where} is not a list in {source}; set the whole list, "
                        f"e.g. --set '{where}=[{{units: 64}}]'"
                    )
                node[part] = {}
            node = node[part]
    return raw


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


def _show(value) -> str:
    """A value as the user wrote it: strings quoted, YAML's true / false / null."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (bool, dict, list)) or value is None:
        return json.dumps(value, default=str)
    return str(value)


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
        if part in OPTIMIZER_CONFIGS and clean and clean[-1] == "optimizer":
            model = OPTIMIZER_CONFIGS[part]
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
    if kind == "union_tag_invalid":
        tags = sorted(OPTIMIZER_CONFIGS)
        tag = error["ctx"]["tag"]
        return f"{key}.name: unknown optimizer {tag!r}; valid: {', '.join(tags)}{_did_you_mean(tag, tags)}"
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
