"""A tqdm progress bar on stderr, as a training callback (terminal only)."""
from __future__ import annotations

import os
import sys
import weakref

from .training import Callback

MIN_BAR = 8  # columns the bar itself keeps, however many figures would fit
# tqdm's statistics after the bar, "| 1350/1350 [00:12<00:00, 108.21batch/s, figures]", less the
# rate, or only the times, where the figures would not fit: (format, the columns it takes bar the figures)
FULL_STATS = "| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
COUNT_STATS = "| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
SHORT_STATS = "| {elapsed}<{remaining}{postfix}"
MAIN_METRICS = ("val_accuracy", "val_subset_accuracy", "val_r2")

_OPEN = weakref.WeakSet()  # the bars of fits that have not ended (a failure leaves its bar open)


def close_bars() -> None:
    """Close every bar left open (a fit that failed or was interrupted), so
    what is printed next (the Error: line) starts on a line of its own."""
    for bar in list(_OPEN):
        bar.close()


class ProgressBar(Callback):
    """One bar over all batches of the run; the postfix shows the last epoch's
    figures, as many as the terminal's width leaves room for, most wanted
    first: the monitored value (early stopping's), the losses, the main metric."""

    def __init__(self, file=None, ncols: int | None = None):
        self.file = file or sys.stderr
        self.ncols = ncols  # None: the terminal's width, followed as it changes
        self.bar = None
        self.pending = 0

    def on_train_begin(self, fit_state):
        from tqdm.auto import tqdm

        self.epochs = fit_state["epochs"]
        self.monitor = fit_state.get("monitor")
        columns = self.columns()
        self.bar = tqdm(
            total=fit_state["epochs"] * fit_state["batches_per_epoch"],
            desc=f"epoch 1/{self.epochs}",
            unit="batch",
            file=self.file,
            # A terminal that reports no size (some pseudo-terminals) would get an empty bar.
            dynamic_ncols=self.ncols is None and columns > 0,
            ncols=self.ncols or (None if columns else 80),
            leave=False,
        )
        _OPEN.add(self.bar)

    def columns(self) -> int:
        """The width to fit: ``ncols``, else the terminal's (0 when it reports none)."""
        if self.ncols:
            return self.ncols
        try:
            return os.get_terminal_size(self.file.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return 0

    def on_batch_end(self, batch):
        self.pending += 1
        if self.pending >= 16:  # tqdm redraws at most 10x a second anyway; call it less
            self.bar.update(self.pending)
            self.pending = 0

    def on_epoch_end(self, epoch, logs):
        self.bar.update(self.pending)
        self.pending = 0
        desc = f"epoch {min(epoch + 1, self.epochs)}/{self.epochs}"
        self.bar.set_description(desc, refresh=False)
        stats, figures = self.layout(desc, logs)
        # tqdm's own layout, made to fit ({desc} ends in ": ")
        self.bar.bar_format = "{desc}{percentage:3.0f}%|{bar}" + stats
        self.bar.set_postfix_str(", ".join(figures))

    def layout(self, desc: str, logs: dict) -> tuple[str, list[str]]:
        """(tqdm's statistics format, the figures "name=value") that fit the
        width: every figure with the fullest statistics there is room for,
        else the times alone and the figures that fit, in order of priority."""
        figures = [f"{key}={logs[key]:.4g}" for key in self.priority(logs)]
        width = self.columns() or 80
        digits = len(str(self.bar.total))
        # "{desc}: 100%|" + the bar + statistics (a rate up to "999999.99batch/s", times up to an hour)
        fixed = len(desc) + 7 + MIN_BAR
        levels = ((FULL_STATS, fixed + 2 * digits + 36), (COUNT_STATS, fixed + 2 * digits + 18), (SHORT_STATS, fixed + 13))
        for stats, used in levels:
            shown = []
            for text in figures:
                if used + len(text) + 2 > width:
                    break
                shown.append(text)
                used += len(text) + 2
            if len(shown) == len(figures) or stats is SHORT_STATS:
                return stats, shown
        return SHORT_STATS, []  # pragma: no cover - the loop returns

    def priority(self, logs: dict) -> list[str]:
        """The logged figures to show, most wanted first."""
        wanted = [self.monitor, "val_loss", "train_loss", *MAIN_METRICS]
        rest = [k for k in logs if k.endswith(("loss", "accuracy", "r2"))]
        keys = [k for k in dict.fromkeys([*wanted, *rest]) if k in logs]
        return [k for k in keys if isinstance(logs[k], (int, float)) and not isinstance(logs[k], bool)]

    def on_train_end(self, history):
        self.bar.close()
        _OPEN.discard(self.bar)
