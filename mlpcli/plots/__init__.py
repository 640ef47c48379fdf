"""Pictures of runs and sweeps (PNG bytes; the callers write them atomically).

canvas: the shared figure machinery; runs: learning curves, confusion
matrix, overlays; sweeps: a metric against a swept key.
"""
from .canvas import (
    CONFUSION_MATRIX,
    CONFUSION_SIZE,
    DPI,
    LEARNING_CURVES,
    LEARNING_CURVES_SIZE,
    MAIN_METRIC,
    OVERLAY_SIZE,
    SWEEP_SIZE,
    main_metric,
)
from .runs import confusion_matrix, learning_curves, overlay, plot_runs, write_run_plots
from .sweeps import (
    SWEEP_RESULTS,
    is_sweep,
    read_sweep,
    sweep_plot,
    sweep_points,
    swept_values,
    trial_metric,
)

__all__ = [
    "CONFUSION_MATRIX", "CONFUSION_SIZE", "DPI", "LEARNING_CURVES", "LEARNING_CURVES_SIZE", "MAIN_METRIC", "OVERLAY_SIZE",
    "SWEEP_RESULTS", "SWEEP_SIZE", "confusion_matrix", "is_sweep", "learning_curves", "main_metric", "overlay",
    "plot_runs", "read_sweep", "sweep_plot", "sweep_points", "swept_values", "trial_metric", "write_run_plots",
]
