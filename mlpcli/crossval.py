"""K-fold cross-validation (``mlp cv``): every fold trained as ``mlp train``
would (runner.train, on the fold's rows) and scored on its held-out part.
"""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from . import run_folder
from .data.splitting import SplitError, k_folds, train_test_indices
from .errors import MLPError
from .prepare import Split, generators, prepare_data, random_state
from .runner import resolve_config, train


def cross_validate(
    config_or_path,
    folds: int = 5,
    *,
    overrides=(),
    out: str | Path | None = None,
    overwrite: bool = False,
    on_fold=None,
) -> dict:
    """K-fold cross-validation of the model a config describes, over every row
    of its data set (data.test_size is not used: each held-out fold is the test set).

    Folds as scikit-learn's StratifiedKFold (KFold for regression or several
    target columns), shuffled with a seed drawn from the config's seed
    (data.splitting.k_folds gives the same folds without importing it). Each
    fold trains exactly as ``train`` does, with its validation split
    (data.val_size > 0) cut from the training folds and the scaler fitted on
    the rest, and is scored on the held-out fold. Returns ``folds``, ``task``,
    ``n_samples``, ``metrics`` ({name: {mean, std, values}}, std as NumPy's,
    over the folds), ``fold_sizes``, ``epochs_run`` and, with ``out``,
    ``run_dirs`` (``out/fold-1`` ...; without ``out`` nothing is written).
    ``on_fold(i, folds, result)`` is called as fold i (from 1) ends.
    """
    if folds < 2:
        raise MLPError(f"--folds {folds}: cross-validation needs at least 2 folds")
    cfg, _ = resolve_config(config_or_path, overrides)
    resolved = cfg.to_dict()
    rngs = generators(resolved["seed"])
    prepared = prepare_data(resolved, rngs)  # loads and encodes exactly as train does
    rows = _concat_splits(list(prepared.splits.values()))
    n = len(rows.target)
    stratified = prepared.task == "classification" and rows.target.ndim == 1
    if stratified:
        counts = np.bincount(rows.target, minlength=len(prepared.classes))
        rare = int(counts.argmin())
        if folds > counts[rare]:
            raise MLPError(
                f"--folds {folds}: class {str(prepared.classes[rare])!r} has only {counts[rare]} samples, "
                f"fewer than the folds; use --folds {max(int(counts[rare]), 2)} or fewer"
            )
    elif folds > n:
        raise MLPError(f"--folds {folds}: more folds than samples ({n})")
    fold_dirs = [Path(out) / f"fold-{i + 1}" for i in range(folds)] if out else []
    if not out:  # the folds train in scratch folders that are deleted: no pictures to draw
        resolved["output"]["plots"] = False
    for path in fold_dirs:  # refuse before training anything
        held = [name for name in run_folder.RESULT_FILES if (path / name).exists()]
        if held and not overwrite:
            raise MLPError(f"{path}: already holds results ({', '.join(held)}); choose another --out or pass --overwrite")

    fold_state = random_state(rngs["split"])
    val_size, val_state = resolved["data"]["val_size"], random_state(rngs["split"])
    per_fold, sizes, epochs = [], [], []
    with tempfile.TemporaryDirectory(prefix="mlp-cv-") as scratch:
        for i, (rest, held_out) in enumerate(k_folds(n, folds, rows.target if stratified else None, fold_state)):
            index = {"train": rest}
            if val_size > 0:
                try:
                    index["train"], index["val"] = train_test_indices(
                        rest, val_size, rows.target[rest] if stratified else None, val_state
                    )
                except SplitError as exc:
                    raise MLPError(
                        f"data.val_size: cannot split a validation set off fold {i + 1}'s {len(rest)} "
                        f"training samples ({str(exc).split('. ')[0][:160]}); try another data.val_size or fewer folds"
                    ) from None
            index["test"] = held_out
            fold = dataclasses.replace(prepared, splits={k: _take_rows(rows, idx) for k, idx in index.items()})
            run_dir = fold_dirs[i] if out else Path(scratch) / f"fold-{i + 1}"
            # The overrides again (already in resolved, so a no-op) so each fold's run folder records them.
            result = train(resolved, run_dir, overrides=overrides, overwrite=overwrite, prepared=fold)
            per_fold.append(result.metrics["test"])
            sizes.append(int(len(held_out)))
            epochs.append(result.metrics["epochs_run"])
            if on_fold:
                on_fold(i + 1, folds, result)
    summary = {
        "folds": folds,
        "task": prepared.task,
        "task_note": prepared.task_note,  # "" when the config set model.task
        "n_samples": int(n),
        "metrics": _fold_statistics(per_fold),
        "fold_sizes": sizes,
        "epochs_run": epochs,
    }
    if out:
        summary["run_dirs"] = [str(p) for p in fold_dirs]
    return summary


def _concat_splits(parts: list[Split]) -> Split:
    return Split(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Split)})


def _take_rows(rows: Split, index: np.ndarray) -> Split:
    return Split(**{f.name: getattr(rows, f.name)[index] for f in dataclasses.fields(Split)})


def _fold_statistics(per_fold: list[dict]) -> dict:
    """{metric: {mean, std, values}} over the folds' scalar metrics; a metric
    undefined on some fold (null) has a null mean and std."""
    names = [k for k, v in per_fold[0].items() if v is None or isinstance(v, (int, float)) and not isinstance(v, bool)]
    stats = {}
    for name in names:
        values = [fold.get(name) for fold in per_fold]
        defined = all(v is not None for v in values)
        stats[name] = {
            "mean": float(np.mean(values)) if defined else None,
            "std": float(np.std(values)) if defined else None,
            "values": values,
        }
    return stats
