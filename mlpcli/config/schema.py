"""The config schema: DESIGN.md's YAML as pydantic models, one description per key.

Every key has a default except a hidden layer's ``units``. The descriptions
are what `mlp schema` gives an editor; config_tools adds nothing to them.
"""
from __future__ import annotations

import math
import typing
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from ..engine.activations import ACTIVATION_OPTIONS, ACTIVATIONS
from ..engine.initializers import INITIALIZERS
from .base import Float, Int, Section, key_problem, unknown_name
from .optimization import OPTIMIZER_CONFIGS, SCHEDULE_CONFIGS, TrainConfig
from .tasks import monitored, task_misfit, unlogged

ACTIVATION_KEYS = sorted({key for options in ACTIVATION_OPTIONS.values() for key in options})


class ImputeConfig(Section):
    """How missing values in a .csv's feature columns are filled (scikit-learn's
    SimpleImputer strategies, fitted on the training split), or refused."""

    numeric: Literal["mean", "median", "zero", "refuse"] = Field("mean", description=(
        "Numeric columns: the training split's mean or median, zero, or refuse (an error naming the row)."))
    categorical: Literal["most_frequent", "refuse"] = Field(
        "most_frequent", description="String columns: the most frequent category of the training split, or refuse.")


class DataConfig(Section):
    dataset: str = Field("digits", description=(
        "A scikit-learn data set (iris, digits, wine, breast_cancer, diabetes, linnerud), a generator (moons, "
        "circles, blobs, classification, regression, friedman1, multilabel), openml:NAME / openml:ID, or a path "
        "to a .npz / .csv / .npy file."))
    options: dict[str, Any] = Field(default_factory=dict, description=(
        "Keyword arguments of the loader or generator (n_samples, noise, ...); for openml: those of fetch_openml."))
    test_size: Float = Field(0.2, gt=0, lt=1, description="Fraction held out for the final test, in (0, 1).")
    val_size: Float = Field(0.1, ge=0, lt=1, description=(
        "Fraction of the rest scored after every epoch, in [0, 1); 0 = no validation split."))
    scale: Literal["standard", "minmax", "robust", "none"] = Field(
        "standard", description="Input scaling, fitted on the training split only: standard, minmax, robust or none.")
    target: str | None = Field(None, description=(
        "A .csv's target column (null: the last column), or the .npy file of targets of a .npy data set."))
    features: list[str] | None = Field(
        None, min_length=1, description="A .csv's feature columns, in order (null: every column but the target).")
    impute: ImputeConfig = Field(
        default_factory=ImputeConfig, description="How missing values in a .csv's feature columns are filled.")
    delimiter: Literal["auto", ",", ";", "\t", "|"] = Field("auto", description=(
        "A .csv's column separator: auto (detected from its first lines), ',', ';', a tab (\"\\t\") or '|'."))

    @field_validator("options")
    @classmethod
    def _finite_options(cls, value: dict) -> dict:
        # allow_inf_nan covers typed keys only; an inf here would be written as null and read back as None.
        stack = [(("data", "options", key), item) for key, item in value.items()]
        while stack:
            path, item = stack.pop()
            if isinstance(item, float) and not math.isfinite(item):
                raise key_problem(path, f"must be a finite number, got {item}")
            if isinstance(item, dict):
                stack.extend((path + (key,), child) for key, child in item.items())
            elif isinstance(item, list):
                stack.extend((path + (i,), child) for i, child in enumerate(item))
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        from ..data import DATASETS, FILE_SUFFIXES, OPENML_PREFIX

        if value.startswith(OPENML_PREFIX):
            if not value[len(OPENML_PREFIX) :].strip():
                raise ValueError(f"{value!r} needs an OpenML data set name or id, e.g. openml:iris or openml:61")
            return value
        if value in DATASETS or value.lower().endswith(FILE_SUFFIXES):
            return value
        shown = [*DATASETS, "openml:NAME", "openml:ID", f"or a path to a {' / '.join(FILE_SUFFIXES)} file"]
        raise unknown_name("dataset", value, DATASETS, shown)

    @model_validator(mode="after")
    def _npy_pair(self):
        features_npy = self.dataset.lower().endswith(".npy")
        targets_npy = isinstance(self.target, str) and self.target.lower().endswith(".npy")
        if features_npy and not targets_npy:
            got = "nothing" if self.target is None else repr(self.target)
            raise key_problem(("data", "target"), (
                f"a .npy data set ({self.dataset}) needs its targets in a second .npy file, "
                f"e.g. data.target: y.npy; got {got}"
            ))
        if targets_npy and not features_npy:
            raise key_problem(("data", "target"), (
                f"{self.target!r} is a .npy file of targets, which goes with a .npy file of features "
                f"in data.dataset, not {self.dataset!r}"
            ))
        return self

    @model_validator(mode="after")
    def _csv_columns(self):
        csv = self.dataset.lower().endswith(".csv")
        if self.features is not None and not csv:
            raise key_problem(("data", "features"), f"names columns of a .csv data set; {self.dataset!r} is not one")
        if self.target is not None and not csv and not self.dataset.lower().endswith(".npy"):
            raise key_problem(("data", "target"), (
                f"names the target column of a .csv data set (or the .npy file of targets of a .npy one); "
                f"{self.dataset!r} brings its own target"
            ))
        if self.features:
            twice = sorted({name for name in self.features if self.features.count(name) > 1})
            if twice:
                raise key_problem(("data", "features"), f"lists {twice[0]!r} twice")
            if self.target in self.features:
                raise key_problem(("data", "features"), f"lists the target column {self.target!r}")
        return self


class LayerConfig(Section):
    units: Int = Field(ge=1, description="Width of the layer (required).")
    activation: str = Field("relu", description=(
        "relu, leaky_relu, elu, selu, gelu, silu, softplus, tanh, sigmoid or identity (PyTorch's definitions)."))
    dropout: Float = Field(0.0, ge=0, lt=1, description="Inverted dropout after the activation, in [0, 1).")
    negative_slope: Float | None = Field(
        None, ge=0, description="leaky_relu only: the slope for x < 0 (default 0.01).")
    approximate: Literal["none", "tanh"] | None = Field(
        None, description="gelu only: none (the exact erf form) or tanh.")
    alpha: Float | None = Field(
        None, ge=0, description="elu only: the value approached for large negative x (default 1.0).")
    beta: Float | None = Field(None, gt=0, description="softplus only: log(1 + exp(beta x)) / beta (default 1.0).")
    threshold: Float | None = Field(None, description="softplus only: x itself where beta x > threshold (default 20).")
    batch_norm: bool = Field(False, description=(
        "Batch normalisation between the dense layer and the activation (PyTorch's BatchNorm1d)."))
    layer_norm: bool = Field(False, description=(
        "Layer normalisation between the dense layer and the activation (PyTorch's LayerNorm)."))

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, value: str) -> str:
        if value not in ACTIVATIONS:
            raise unknown_name("activation", value, ACTIVATIONS)
        return value

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
        for key in ACTIVATION_KEYS:
            if key in accepted and getattr(self, key) is None:
                setattr(self, key, accepted[key])
            elif key not in accepted and getattr(self, key) is not None:
                owner = next(a for a, opts in ACTIVATION_OPTIONS.items() if key in opts)
                raise ValueError(f"{key} applies to activation {owner!r} only, not {self.activation!r}")
        return self


class ModelConfig(Section):
    task: Literal["auto", "classification", "multilabel", "regression"] = Field(
        "auto", description="auto (from the targets), classification, multilabel or regression.")
    layers: list[LayerConfig] = Field(default_factory=lambda: [LayerConfig(units=100)], description=(
        "Hidden layers, in order; the output layer is added from the task. An empty list is a linear model."))
    init: str = Field("auto", description=(
        "Weight initialiser: auto (by activation), he_normal, he_uniform, glorot_normal, glorot_uniform, "
        "lecun_normal, lecun_uniform or pytorch."))
    dtype: Literal["float32", "float64"] = Field(
        "float32", description="Parameter and arithmetic precision: float32 or float64.")

    @field_validator("init")
    @classmethod
    def _known_init(cls, value: str) -> str:
        valid = ["auto", *INITIALIZERS]
        if value not in valid:
            raise unknown_name("initializer", value, valid)
        return value


class OutputConfig(Section):
    dir: str | None = Field(None, description="The run folder (--out overrides it; null: runs/<config name>-<time>).")
    plots: bool = Field(True, description=(
        "Draw learning_curves.png (and confusion_matrix.png for classification) in the run folder."))


class Config(Section):
    seed: Int = Field(0, ge=0, description=(
        "The one seed; split into independent streams for data generation, the split, initialisation, "
        "shuffling and dropout."))
    data: DataConfig = Field(default_factory=DataConfig, description="The data set, its split and input scaling.")
    model: ModelConfig = Field(
        default_factory=ModelConfig, description="The network: task, hidden layers, initialiser and precision.")
    train: TrainConfig = Field(default_factory=TrainConfig, description=(
        "The optimisation: epochs, batches, optimizer, schedule, regularisation, early stopping, loss."))
    output: OutputConfig = Field(
        default_factory=OutputConfig, description="Where the run folder goes and what it holds.")

    @model_validator(mode="after")
    def _monitor_has_data(self):
        for path, watcher in monitored(self.train):
            if watcher.monitor.startswith("val_") and self.data.val_size == 0:
                raise key_problem(path, (
                    f"{watcher.monitor!r} needs a validation split (data.val_size > 0), or monitor 'train_loss'"
                ))
            detail = self.model.task != "auto" and unlogged(watcher.monitor, self.model.task)
            if detail:
                raise key_problem(path, detail)
        if self.train.optimizer.name == "lbfgs":
            for i, layer in enumerate(self.model.layers):
                if layer.dropout > 0:
                    raise key_problem(("model", "layers", i, "dropout"), (
                        f"must be 0 with optimizer lbfgs, got {layer.dropout:g}; "
                        "L-BFGS needs the same loss at every evaluation, and dropout makes it random"
                    ))
        if self.model.task != "auto":
            train = self.train
            misfit = task_misfit(self.model.task, train.loss, train.class_weight, train.label_smoothing)
            if misfit:
                raise key_problem(*misfit)
        return self

    @model_validator(mode="after")
    def _batch_norm_needs_batches(self):
        # Batch statistics of one row are undefined (PyTorch raises on them).
        i = next((i for i, layer in enumerate(self.model.layers) if layer.batch_norm), None)
        if i is not None and self.train.batch_size < 2:
            raise key_problem(("model", "layers", i, "batch_norm"), (
                f"needs train.batch_size >= 2 (the statistics of a one-row batch are undefined), "
                f"got {self.train.batch_size}; or use layer_norm"
            ))
        return self

    def to_dict(self) -> dict:
        """The resolved config as plain data (what config.yaml and the weights file hold)."""
        data = self.model_dump(mode="json")
        for layer in data["model"]["layers"]:
            for key in ACTIVATION_KEYS:
                if layer[key] is None:  # not this layer's activation's parameter
                    del layer[key]
        return data


# --------------------------------------------------------------------------- walking the schema

# Where a tagged union lives: its noun in messages, and its variants by tag.
UNIONS = {"optimizer": ("optimizer", OPTIMIZER_CONFIGS), "schedule": ("schedule", SCHEDULE_CONFIGS)}


def models_in(annotation) -> list[type[BaseModel]]:
    """Every model class inside an annotation (X, list[X], X | None, every variant of a union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def model_at(loc) -> tuple[type[BaseModel] | None, list]:
    """Walk the schema along a key path or pydantic error location: the model
    class that owns the last key, and the location with union tags removed."""
    model, clean = Config, []
    for part in loc:
        if isinstance(part, int) or model is None:
            clean.append(part)
            continue
        if clean and clean[-1] in UNIONS and part in UNIONS[clean[-1]][1]:
            model = UNIONS[clean[-1]][1][part]
            continue
        clean.append(part)
        field = model.model_fields.get(part)
        model = next(iter(models_in(field.annotation)), None) if field else None
    return model, clean


def keys_at(loc) -> list[str]:
    """The keys the schema takes in the mapping at ``loc`` (none in a free mapping such as data.options)."""
    owner = model_at(loc)[0]
    return list(owner.model_fields) if owner else []
