"""The ``train:`` section of the schema: optimizers and learning-rate schedules
(tagged unions chosen by ``name``), early stopping, regularisation and the loss."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from .base import Float, Int, Section, key_problem, show, unknown_name
from .checkpointing import CheckpointEveryConfig
from .tasks import monitors, resolved_mode

# Keys that several optimizers or schedules share mean the same in each.
_OPTIMIZER = "adam, adamw, sgd, rmsprop, adagrad or lbfgs."
_LR = "Learning rate; the schedule's starting point."
_EPS = "Added to the denominator for numerical stability."
_MOMENTUM = "sgd, rmsprop: momentum factor in [0, 1)."
_SCHEDULE = "constant, step, exponential, cosine, one_cycle or reduce_on_plateau."
_GAMMA = "step, exponential: the decay factor."
_MIN_LR = "cosine: the rate decayed towards; reduce_on_plateau: the lowest rate."


def _known_monitor(value: str) -> str:
    if value not in monitors():
        raise unknown_name("metric", value, monitors())
    return value


class SGDConfig(Section):
    name: Literal["sgd"] = Field(description=_OPTIMIZER)
    lr: Float = Field(0.01, gt=0, description=_LR)
    momentum: Float = Field(0.0, ge=0, lt=1, description=_MOMENTUM)
    nesterov: bool = Field(False, description="sgd: Nesterov momentum (needs momentum > 0).")

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self):
        if self.nesterov and self.momentum == 0:
            raise key_problem(("train", "optimizer", "nesterov"),
                              "true needs train.optimizer.momentum > 0, got momentum 0")
        return self


class AdamConfig(Section):
    name: Literal["adam"] = Field("adam", description=_OPTIMIZER)
    lr: Float = Field(0.001, gt=0, description=_LR)
    beta1: Float = Field(0.9, ge=0, lt=1, description="adam, adamw: decay of the gradient average.")
    beta2: Float = Field(0.999, ge=0, lt=1, description="adam, adamw: decay of the squared-gradient average.")
    eps: Float = Field(1e-8, gt=0, description=_EPS)


class AdamWConfig(AdamConfig):
    name: Literal["adamw"] = Field(description=_OPTIMIZER)


class RMSpropConfig(Section):
    name: Literal["rmsprop"] = Field(description=_OPTIMIZER)
    lr: Float = Field(0.01, gt=0, description=_LR)
    alpha: Float = Field(0.99, ge=0, lt=1,
                         description="rmsprop: decay of the squared-gradient average (Keras's rho).")
    eps: Float = Field(1e-8, gt=0, description=_EPS)
    momentum: Float = Field(0.0, ge=0, lt=1, description=_MOMENTUM)
    centered: bool = Field(False, description="rmsprop: normalise by the gradient's estimated variance.")


class AdagradConfig(Section):
    name: Literal["adagrad"] = Field(description=_OPTIMIZER)
    lr: Float = Field(0.01, gt=0, description=_LR)
    eps: Float = Field(1e-10, gt=0, description=_EPS)
    initial_accumulator_value: Float = Field(
        0.0, ge=0, description="adagrad: starting value of the squared-gradient sum.")


class LBFGSConfig(Section):
    """scipy's L-BFGS-B on the whole training split (scikit-learn's solver='lbfgs');
    one epoch is one iteration."""

    name: Literal["lbfgs"] = Field(description=_OPTIMIZER)
    history_size: Int = Field(10, ge=1, description="lbfgs: number of corrections kept (scipy's maxcor).")
    gtol: Float = Field(1e-5, ge=0, description="lbfgs: stop when every gradient component is below it.")
    max_fun: Int = Field(15000, ge=1, description="lbfgs: cap on loss evaluations.")


OPTIMIZER_CONFIGS = {
    "adam": AdamConfig, "adamw": AdamWConfig, "sgd": SGDConfig, "rmsprop": RMSpropConfig,
    "adagrad": AdagradConfig, "lbfgs": LBFGSConfig,
}
OptimizerConfig = Annotated[Union[tuple(OPTIMIZER_CONFIGS.values())], Field(discriminator="name")]


class ConstantScheduleConfig(Section):
    name: Literal["constant"] = Field("constant", description=_SCHEDULE)


class StepScheduleConfig(Section):
    name: Literal["step"] = Field(description=_SCHEDULE)
    step_size: Int = Field(10, ge=1, description="step: epochs between decays.")
    gamma: Float = Field(0.1, gt=0, description=_GAMMA)


class ExponentialScheduleConfig(Section):
    name: Literal["exponential"] = Field(description=_SCHEDULE)
    gamma: Float = Field(0.95, gt=0, description=_GAMMA)


class CosineScheduleConfig(Section):
    name: Literal["cosine"] = Field(description=_SCHEDULE)
    warmup_epochs: Int = Field(0, ge=0, description="cosine: epochs of linear warm-up before the decay.")
    min_lr: Float = Field(0.0, ge=0, description=_MIN_LR)


class OneCycleScheduleConfig(Section):
    name: Literal["one_cycle"] = Field(description=_SCHEDULE)
    max_lr: Float | None = Field(None, gt=0, description="one_cycle: the peak rate (null: the optimizer's lr).")
    pct_start: Float = Field(0.3, gt=0, lt=1, description="one_cycle: fraction of the epochs spent rising.")
    div_factor: Float = Field(25.0, gt=0, description="one_cycle: the starting rate is max_lr / div_factor.")
    final_div_factor: Float = Field(
        1e4, gt=0, description="one_cycle: the final rate is max_lr / div_factor / final_div_factor.")


class PlateauScheduleConfig(Section):
    name: Literal["reduce_on_plateau"] = Field(description=_SCHEDULE)
    monitor: str = Field("val_loss", description=(
        "reduce_on_plateau: the logged value watched (val_loss, val_accuracy, train_loss, ...)."))
    mode: Literal["auto", "min", "max"] = Field("auto", description="reduce_on_plateau: auto, min or max.")
    factor: Float = Field(0.1, gt=0, lt=1, description="reduce_on_plateau: the rate is multiplied by it on a plateau.")
    patience: Int = Field(10, ge=0, description="reduce_on_plateau: epochs without improvement before a reduction.")
    min_delta: Float = Field(1e-4, ge=0, description="reduce_on_plateau: smallest change that counts as improvement.")
    cooldown: Int = Field(0, ge=0, description="reduce_on_plateau: epochs to wait after a reduction.")
    min_lr: Float = Field(0.0, ge=0, description=_MIN_LR)

    _known_monitor = field_validator("monitor")(_known_monitor)

    def resolved_mode(self) -> str:
        return resolved_mode(self.mode, self.monitor)


SCHEDULE_CONFIGS = {
    "constant": ConstantScheduleConfig, "step": StepScheduleConfig, "exponential": ExponentialScheduleConfig,
    "cosine": CosineScheduleConfig, "one_cycle": OneCycleScheduleConfig, "reduce_on_plateau": PlateauScheduleConfig,
}
ScheduleConfig = Annotated[Union[tuple(SCHEDULE_CONFIGS.values())], Field(discriminator="name")]


class EarlyStoppingConfig(Section):
    monitor: str = Field("val_loss", description="The logged value watched: val_loss, val_<metric> or train_loss.")
    patience: Int = Field(10, ge=1, description="Epochs without improvement before stopping.")
    min_delta: Float = Field(0.0, ge=0, description="Smallest change that counts as improvement.")
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="auto (maximise scores, minimise losses), min or max.")
    restore_best: bool = Field(True, description="Keep the best epoch's weights, not the last.")

    _known_monitor = field_validator("monitor")(_known_monitor)

    def resolved_mode(self) -> str:
        return resolved_mode(self.mode, self.monitor)


class TrainConfig(Section):
    epochs: Int = Field(50, ge=1, description="Passes over the training split.")
    batch_size: Int = Field(32, ge=1, description="Samples per step.")
    optimizer: OptimizerConfig = Field(
        default_factory=AdamConfig, description="The optimizer, chosen by name (PyTorch's update rules and defaults).")
    schedule: ScheduleConfig = Field(
        default_factory=ConstantScheduleConfig,
        description="The learning rate per epoch, chosen by name (PyTorch's lr_scheduler rules); null = constant.")
    weight_decay: Float | None = Field(
        None, ge=0, description="Weight decay (null: 0.01 for adamw, decoupled; else 0, added to the gradient).")
    l1: Float = Field(
        0.0, ge=0, description="L1 penalty on the dense weights, added to the loss (Keras's kernel_regularizer).")
    l2: Float = Field(
        0.0, ge=0, description="L2 penalty on the dense weights, added to the loss (Keras's kernel_regularizer).")
    max_norm: Float | None = Field(
        None, gt=0,
        description="Rescale each unit's incoming weights to at most this L2 norm after every step (Keras's MaxNorm).")
    clip_norm: Float | None = Field(
        None, gt=0, description="Rescale the whole gradient to at most this L2 norm before each step.")
    clip_value: Float | None = Field(
        None, gt=0, description="Clamp every gradient component to [-clip_value, clip_value].")
    early_stopping: EarlyStoppingConfig | None = Field(
        None, description="Stop when the monitored value stops improving (null: never).")
    max_seconds: Float | None = Field(
        None, gt=0, description="A time budget: stop after the epoch during which it ran out.")
    shuffle: bool = Field(True, description="Reshuffle the samples every epoch.")
    checkpoint_every: CheckpointEveryConfig = Field(
        default_factory=CheckpointEveryConfig,
        description="How often to save checkpoint.npz for `mlp resume`: after a time budget and/or an epoch count, "
                    "whichever comes first; the last epoch and a SIGINT / SIGTERM always save one.")
    # engine/losses.py's names; whether one fits the task is tasks.task_misfit's question.
    loss: Literal["auto", "cross_entropy", "binary_cross_entropy", "mse", "mae", "huber"] = Field("auto", description=(
        "auto, cross_entropy, binary_cross_entropy (classification, multilabel); mse, mae, huber (regression)."))
    huber_delta: Float | None = Field(
        None, gt=0,
        description="huber only: squared error within delta of the target, linear beyond (default 1.0).")
    class_weight: Any = Field(None, description="Classification: 'balanced', or a mapping label -> weight >= 0.")
    label_smoothing: Float = Field(
        0.0, ge=0, lt=1, description="Classification and multilabel: label smoothing in [0, 1).")

    @field_validator("class_weight", mode="before")
    @classmethod
    def _class_weight(cls, value):
        if value is None or value == "balanced":
            return value
        if not isinstance(value, dict) or not value:
            raise ValueError(f"must be 'balanced' or a mapping label -> weight, got {show(value)}")
        weights, written = {}, {}
        for label, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < float("inf"):
                raise ValueError(f"the weight of label {label!r} must be a finite number >= 0, got {show(weight)}")
            name = str(label)  # labels as text: YAML keys and JSON keys alike
            if name in weights:  # 1 and '1' (or true and 'True'): one class, two weights
                raise ValueError(
                    f"labels {written[name]!r} and {label!r} are the same class (labels are compared as text); "
                    "give it one weight"
                )
            weights[name], written[name] = float(weight), label
        if not any(weights.values()):
            raise ValueError("every weight is 0, which leaves nothing to train on; give some class a weight > 0")
        return weights

    @model_validator(mode="after")
    def _huber_delta(self):
        # Like an activation's parameters: filled in where it applies, refused elsewhere.
        if self.loss == "huber" and self.huber_delta is None:
            self.huber_delta = 1.0
        elif self.loss != "huber" and self.huber_delta is not None:
            raise key_problem(("train", "huber_delta"), f"applies to train.loss 'huber' only, not {self.loss!r}")
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
            raise key_problem(("train", "clip_norm"), "set one of them, not both (as Keras)",
                              keys="train.clip_norm and train.clip_value")
        if opt.name == "lbfgs":
            steps = [k for k in ("clip_norm", "clip_value", "max_norm") if getattr(self, k) is not None]
            if schedule.name != "constant":
                steps.insert(0, "schedule")
            if steps:
                raise key_problem(("train", steps[0]), (
                    "does not apply to optimizer lbfgs, which runs scipy's line search on the full batch; "
                    "leave it out or pick a gradient-step optimizer"
                ))
            return self
        if schedule.name == "one_cycle" and schedule.max_lr is None:
            schedule.max_lr = opt.lr
        if schedule.name == "cosine":
            if schedule.warmup_epochs >= self.epochs:
                raise key_problem(("train", "schedule", "warmup_epochs"),
                                  f"must be < train.epochs ({self.epochs}), got {schedule.warmup_epochs}")
            if schedule.min_lr > opt.lr:
                raise key_problem(("train", "schedule", "min_lr"),
                                  f"must be <= train.optimizer.lr ({opt.lr:g}), got {schedule.min_lr:g}")
        return self
