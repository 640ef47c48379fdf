"""Where a config's data files are: the rule for relative paths, and a
model's data that is no file at all.

A relative data path (data.dataset, a .npy data set's data.target, --set,
--data) is relative to the working directory, as every path on a command
line is; a run records it resolved, so `mlp eval` finds the file from
anywhere. A config file's own folder is no part of the rule, but when a file
is missing where the rule looks and exists beside the config, the error says
so and gives the path to write.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

# What a scikit-learn estimator's weights file records as data.dataset: the
# arrays given to fit(), in memory, never a file (sklearn_params.IN_MEMORY_DATASET).
IN_MEMORY_DATASET = "in-memory.npz"


def check_data_paths(data_config, config_path=None) -> None:
    """Refuse a relative data file that is missing from the working directory
    but exists beside the config file ``config_path``, with the path to use.
    A file missing from both is left to the reader's "no such file"."""
    if config_path is None:
        return
    keys = [("data.dataset", data_config.dataset)]
    if data_config.dataset.lower().endswith(".npy") and data_config.target:
        keys.append(("data.target", data_config.target))
    folder = Path(config_path).parent
    for key, value in keys:
        path = Path(value).expanduser()
        if path.is_absolute() or path.exists() or folder == Path("."):
            continue
        beside = folder / path
        if beside.exists():
            use = os.path.relpath(beside)
            raise DataError(
                f"{key}: {value}: no such file in the working directory {Path.cwd()}; it exists beside "
                f"the config, as {use}: a relative data path is taken from the working directory, so "
                f"write {key.split('.')[1]}: {use} (or an absolute path), or run from {folder}"
            )


def refuse_in_memory(dataset: str, weights, split: str = "test") -> None:
    """Refuse to rebuild the data of a model a scikit-learn estimator trained:
    its arrays were in memory, and only --data can score it."""
    if dataset == IN_MEMORY_DATASET:
        raise DataError(
            f"{weights}: this model was trained in memory (by MLPNetClassifier / MLPNetRegressor.fit; its "
            f"data set is recorded as {IN_MEMORY_DATASET}, no file), so `mlp eval` cannot rebuild its "
            f"{split} split: score it on a file with --data FILE (.csv or .npz with X and y)"
        )
