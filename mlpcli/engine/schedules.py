"""Per-epoch learning-rate schedules, PyTorch's ``torch.optim.lr_scheduler`` rules
stepped once per epoch.

A schedule is built from the optimizer's base learning rate and the number of
epochs. ``lr(epoch)`` gives the rate for a 1-based epoch, asked for at the
start of the epoch; ``epoch_end(logs)`` lets a schedule that watches a metric
(reduce_on_plateau) react to the epoch just finished.
"""
from __future__ import annotations

import math

from .registry import lookup


class Schedule:
    """The constant rate: PyTorch with no scheduler."""

    def __init__(self, base_lr: float, epochs: int):
        if not 0 < base_lr < math.inf:
            raise ValueError(f"learning rate must be a finite number > 0, got {base_lr}")
        self.base_lr, self.epochs = float(base_lr), int(epochs)

    def lr(self, epoch: int) -> float:
        return self.base_lr

    def epoch_end(self, logs: dict) -> None:
        """Called with each epoch's logs once they are complete."""

    def state_dict(self) -> dict:
        """What the schedule has learnt from the epochs so far (plain numbers), to
        continue after a checkpoint; the others are functions of the epoch alone."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got {sorted(state)}")


class Step(Schedule):
    """StepLR: base_lr * gamma ** ((epoch - 1) // step_size)."""

    def __init__(self, base_lr, epochs, step_size=10, gamma=0.1):
        super().__init__(base_lr, epochs)
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr(self, epoch):
        return self.base_lr * self.gamma ** ((epoch - 1) // self.step_size)


class Exponential(Schedule):
    """ExponentialLR: base_lr * gamma ** (epoch - 1)."""

    def __init__(self, base_lr, epochs, gamma=0.95):
        super().__init__(base_lr, epochs)
        self.gamma = float(gamma)

    def lr(self, epoch):
        return self.base_lr * self.gamma ** (epoch - 1)


class Cosine(Schedule):
    """Linear warm-up, then cosine annealing to ``min_lr``.

    Warm-up epoch i (0-based, i < W = warmup_epochs) runs at base_lr * (i + 1) / (W + 1),
    so the first full-rate epoch is W + 1; then, over the remaining T = epochs - W
    epochs, min_lr + (base_lr - min_lr) * (1 + cos(pi * (i - W) / T)) / 2.
    PyTorch: SequentialLR of LinearLR(start_factor=1/(W+1), total_iters=W) and
    CosineAnnealingLR(T_max=T, eta_min=min_lr), milestone W. Like PyTorch's, the
    last epoch stays just above min_lr.
    """

    def __init__(self, base_lr, epochs, warmup_epochs=0, min_lr=0.0):
        super().__init__(base_lr, epochs)
        if not 0 <= warmup_epochs < epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs={epochs}), got {warmup_epochs}")
        if not 0 <= min_lr <= base_lr:
            raise ValueError(f"min_lr must be in [0, lr={base_lr:g}], got {min_lr}")
        self.warmup_epochs, self.min_lr = int(warmup_epochs), float(min_lr)

    def lr(self, epoch):
        i, w = epoch - 1, self.warmup_epochs
        if i < w:
            return self.base_lr * (i + 1) / (w + 1)
        progress = (i - w) / (self.epochs - w)
        return self.min_lr + (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2


class OneCycle(Schedule):
    """OneCycleLR (two phases, cosine annealing) with one step per epoch and
    total_steps = epochs: from max_lr / div_factor up to max_lr over the first
    pct_start of the epochs, then down to max_lr / div_factor / final_div_factor.
    Unlike PyTorch's default, the momentum is not cycled (cycle_momentum=False).
    ``max_lr`` None takes the optimizer's lr.
    """

    def __init__(self, base_lr, epochs, max_lr=None, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        super().__init__(base_lr, epochs)
        if not 0 < pct_start < 1:
            raise ValueError(f"pct_start must be in (0, 1), got {pct_start}")
        self.max_lr = float(max_lr if max_lr is not None else base_lr)
        self.initial_lr = self.max_lr / div_factor
        self.final_lr = self.initial_lr / final_div_factor
        # PyTorch's phase boundaries, as (end step, start lr, end lr).
        self.phases = [
            (float(pct_start * epochs) - 1, self.initial_lr, self.max_lr),
            (float(epochs - 1), self.max_lr, self.final_lr),
        ]

    def lr(self, epoch):
        step, start = epoch - 1, 0.0
        for i, (end, lr_start, lr_end) in enumerate(self.phases):
            if step <= end or i == len(self.phases) - 1:
                # PyTorch divides by zero when a phase is a single step; that step ends the phase.
                pct = (step - start) / (end - start) if end != start else 1.0
                return lr_end + (lr_start - lr_end) / 2 * (math.cos(math.pi * pct) + 1)
            start = end
        raise AssertionError("unreachable")


class ReduceOnPlateau(Schedule):
    """ReduceLROnPlateau with threshold_mode='abs' (Keras's min_delta): after
    ``patience`` epochs in a row (strictly more, as PyTorch counts) without the
    monitored value improving by min_delta, multiply the rate by ``factor``
    (not below min_lr), then ignore ``cooldown`` epochs. The new rate applies
    from the next epoch. A missing or non-finite value counts as no improvement.
    """

    def __init__(self, base_lr, epochs, monitor="val_loss", mode="min", factor=0.1, patience=10,
                 min_delta=1e-4, cooldown=0, min_lr=0.0, eps=1e-8):
        super().__init__(base_lr, epochs)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        self.monitor, self.mode, self.factor = monitor, mode, float(factor)
        self.patience, self.min_delta, self.cooldown = int(patience), float(min_delta), int(cooldown)
        self.min_lr, self.eps = float(min_lr), float(eps)
        self.current = self.base_lr
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs = self.cooldown_left = 0

    def lr(self, epoch):
        return self.current

    def _better(self, value) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    STATE = ("current", "best", "bad_epochs", "cooldown_left")

    def state_dict(self):
        return {name: getattr(self, name) for name in self.STATE}

    def load_state_dict(self, state):
        if sorted(state) != sorted(self.STATE):
            raise ValueError(f"reduce_on_plateau state needs {sorted(self.STATE)}, got {sorted(state)}")
        self.current, self.best = float(state["current"]), float(state["best"])
        self.bad_epochs, self.cooldown_left = int(state["bad_epochs"]), int(state["cooldown_left"])

    def epoch_end(self, logs):
        value = logs.get(self.monitor)
        if self._better(value):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            new = max(self.current * self.factor, self.min_lr)
            if self.current - new > self.eps:
                self.current = new
            self.cooldown_left, self.bad_epochs = self.cooldown, 0


SCHEDULES = {
    "constant": Schedule,
    "step": Step,
    "exponential": Exponential,
    "cosine": Cosine,
    "one_cycle": OneCycle,
    "reduce_on_plateau": ReduceOnPlateau,
}


def get_schedule(name: str, base_lr: float, epochs: int, **options) -> Schedule:
    """Build a schedule by name; an unknown name lists the valid ones."""
    return lookup("schedule", SCHEDULES, name)(base_lr, epochs, **options)
