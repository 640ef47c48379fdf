"""A tqdm progress bar on stderr, as a training callback (terminal only)."""
from __future__ import annotations

import os
import sys

from .training import Callback


class ProgressBar(Callback):
    """One bar over all batches of the run; the postfix shows the last epoch's figures."""

    def __init__(self, file=None):
        self.file = file or sys.stderr
        self.bar = None
        self.pending = 0

    def on_train_begin(self, fit_state):
        from tqdm.auto import tqdm

        self.epochs = fit_state["epochs"]
        try:
            columns = os.get_terminal_size(self.file.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        self.bar = tqdm(
            total=fit_state["epochs"] * fit_state["batches_per_epoch"],
            desc=f"epoch 1/{self.epochs}",
            unit="batch",
            file=self.file,
            # A terminal that reports no size (some pseudo-terminals) would get an empty bar.
            dynamic_ncols=columns > 0,
            ncols=None if columns else 80,
            leave=False,
        )

    def on_batch_end(self, batch):
        self.pending += 1
        if self.pending >= 16:  # tqdm redraws at most 10x a second anyway; call it less
            self.bar.update(self.pending)
            self.pending = 0

    def on_epoch_end(self, epoch, logs):
        self.bar.update(self.pending)
        self.pending = 0
        figures = {k: v for k, v in logs.items() if k.endswith(("loss", "accuracy", "r2"))}
        self.bar.set_description(f"epoch {min(epoch + 1, self.epochs)}/{self.epochs}", refresh=False)
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in figures.items()})

    def on_train_end(self, history):
        self.bar.close()
