"""Errors a user can act on, each with the exit code DESIGN.md gives it.

The CLI prints ``Error: <message>`` on one line and exits with ``exit_code``;
anything else that escapes is a bug (exit 1).
"""
from __future__ import annotations


class MLPError(Exception):
    """Bad usage, config or input file: exit 2."""

    exit_code = 2


class ConfigError(MLPError):
    """The config file is unreadable or invalid; the message names the key path."""


class DataError(MLPError):
    """A data set or input file cannot be used; the message names it."""


class WeightsError(MLPError):
    """A weights file is missing, corrupt or not one of ours."""


class RunFolderError(MLPError):
    """The run folder cannot be used (it already holds results, or is not writable)."""


class CheckpointError(MLPError):
    """A checkpoint is unreadable, corrupt or does not fit the run's model."""


class TrainingInterrupted(MLPError):
    """SIGINT or SIGTERM stopped training at a step: exit 128 + the signal (130 / 143)."""

    def __init__(self, message: str, signum: int, epoch: int, step: int):
        self.signum, self.exit_code, self.epoch, self.step = signum, 128 + signum, epoch, step
        super().__init__(message)


class TrainingDiverged(MLPError):
    """The loss or the weights became non-finite: exit 3."""

    exit_code = 3

    def __init__(self, epoch: int, step: int, lr: float):
        self.epoch, self.step = epoch, step
        super().__init__(
            f"training diverged at epoch {epoch}, step {step}: the loss or the weights "
            f"are no longer finite; try a lower learning rate (train.optimizer.lr is {lr:g})"
        )
