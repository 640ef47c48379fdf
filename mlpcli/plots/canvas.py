"""What every picture shares: a fixed-size Agg figure, PNG bytes, the
series of one logged figure, titles and epoch axes.

matplotlib is imported here only, when a picture is drawn (so ``mlp --help``
and a run with ``output.plots: false`` never load it), with its Agg backend
through the object API (``Figure`` + ``FigureCanvasAgg``, no pyplot state).
Figures have fixed sizes at 100 dpi (LEARNING_CURVES_SIZE ... in pixels) and a
fixed layout, which keeps a run's two pictures to a fraction of a second.
"""
from __future__ import annotations

import io
import math
import os

from ..errors import MLPError

DPI = 100
LEARNING_CURVES_SIZE = (900, 320)  # width, height in pixels
CONFUSION_SIZE = (440, 420)
OVERLAY_SIZE = (900, 360)
SWEEP_SIZE = (600, 400)
MAX_ANNOTATED_CLASSES = 20  # above this a confusion matrix shows colours only, no counts
MAX_TICK_LABELS = 40
# matplotlib's margin and tick arithmetic overflows on values near the float
# range (1e308: "arange: cannot compute length"), and a log axis spanning
# hundreds of decades fails to place its ticks: larger values are refused, with
# the file and figure named, and a wider spread keeps a linear axis.
MAX_PLOTTED = 1e100
MAX_LOG_SPREAD = 1e100
MAX_EPOCH = 10**9  # a logged epoch number beyond this (or not an integer) is drawn at its line's position
LEARNING_CURVES = "learning_curves.png"
CONFUSION_MATRIX = "confusion_matrix.png"

# The figure a task is judged by, as the one-line summary of `mlp train` shows it.
MAIN_METRIC = {"classification": "accuracy", "multilabel": "subset_accuracy", "regression": "r2"}


def main_metric(task: str) -> str:
    return MAIN_METRIC.get(task, "accuracy")


def figure(size: tuple[int, int]):
    try:
        import matplotlib
    except ValueError:  # matplotlib refuses to import when MPLBACKEND names no backend
        raise MLPError(
            f"cannot load matplotlib: MPLBACKEND={os.environ.get('MPLBACKEND')!r} is not a matplotlib backend "
            "(unset it, or set it to agg)"
        ) from None

    matplotlib.use("Agg", force=False)  # a user's own backend choice stays unless none is set
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def png(fig) -> bytes:
    buffer = io.BytesIO()
    # zlib level 1: a third larger file than the default 6, encoded several times faster
    fig.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def series(history: list[dict], key: str, source="the run's history") -> tuple[list, list]:
    """(epochs, values) of one logged figure, skipping epochs where it is null /
    NaN (or that are not a mapping); a value too large to draw is refused,
    naming ``source`` (the metrics.jsonl it came from)."""
    xs, ys = [], []
    for i, logs in enumerate(history):
        value = logs.get(key) if isinstance(logs, dict) else None
        if is_number(value) and math.isfinite(value):
            epoch = logs.get("epoch")
            x = epoch if is_number(epoch) and 0 <= epoch <= MAX_EPOCH and epoch == int(epoch) else i + 1
            if abs(value) > MAX_PLOTTED:
                raise MLPError(f"{source}: {key} is {value:g} at epoch {x}, too large to plot (beyond ±{MAX_PLOTTED:g})")
            xs.append(x)
            ys.append(value)
    return xs, ys


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def axes_title(ax, text: str) -> None:
    # A fixed position (y given): matplotlib otherwise measures every tick label to place it, a third of the drawing time.
    ax.set_title(text, fontsize="medium", y=1.0, pad=5)


def epoch_axis(ax) -> None:
    ax.set_xlabel("epoch")
    ax.locator_params(axis="x", integer=True, nbins=4)  # few ticks: each label costs a text layout
    ax.locator_params(axis="y", nbins=4)


def axes_note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")



def short_label(value, limit: int = 12) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
