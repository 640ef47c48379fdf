"""checkpoint.npz: everything a run needs to continue exactly where it stopped.

Written as ``train.checkpoint_every`` says (a time budget checked after every
step, and/or every N epochs), at the end of the last epoch and at an
interruption (``fit`` asks ``due`` and calls ``save``), as Keras's
BackupAndRestore does, into the run folder: the flat
parameter and BatchNorm buffers, the optimizer's state arrays, early
stopping's best parameters, and a ``meta`` JSON string with the position
(epoch, batch within it, step), the epoch's loss sum so far, the finished
epochs' logs (metrics.jsonl's lines), the optimizer's step count and rate,
the schedule's and early stopping's counters, every Generator's state (the
shuffle stream as at the start of the epoch in progress, so its order can
be drawn again; the dropout stream, and each Dropout layer's mask pool) and
the SHA-256 of the resolved config. The previous generation is kept as
checkpoint.prev.npz; ``load`` falls back to it, with a warning on stderr,
when the latest cannot be read. Reading never unpickles and checks every
member's name, dtype and shape against the model the config builds.
"""
from __future__ import annotations

import io
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .artifacts import atomic_write, config_hash
from .engine.layers import Dropout
from .errors import CheckpointError, RunFolderError
from .npz import parse_meta, read_npz, short as _short
from .training import Position

FORMAT = "mlpcli.checkpoint"
FORMAT_VERSION = 2  # 2: Adam's moments are optimizer.m / optimizer.v (were m_scaled / v_scaled)
CHECKPOINT, PREVIOUS_CHECKPOINT = "checkpoint.npz", "checkpoint.prev.npz"


def checkpoint_paths(run_dir: str | Path) -> tuple[Path, Path]:
    """The latest checkpoint of a run folder and the generation before it."""
    return Path(run_dir) / CHECKPOINT, Path(run_dir) / PREVIOUS_CHECKPOINT


def run_hash(resolved: dict) -> str:
    """The SHA-256 a checkpoint holds of its run's resolved config (resume
    refuses a config.yaml that no longer gives it). train.checkpoint_every is
    left out: it decides when state is saved, not what is computed, so it may
    change between a run and its resume (and runs from before the key resume)."""
    train = {k: v for k, v in resolved["train"].items() if k != "checkpoint_every"}
    return config_hash({**resolved, "train": train})


def write_checkpoint(run_dir: str | Path, data: bytes) -> Path:
    """Write a checkpoint's bytes as the latest, the latest so far becoming the
    previous one (a rename). A crash leaves at least one whole checkpoint:
    the new one, or the one before it as checkpoint.prev.npz."""
    latest, previous = checkpoint_paths(run_dir)
    if latest.exists():
        os.replace(latest, previous)
    return atomic_write(latest, data)


def read_checkpoint(path: str | Path) -> dict:
    """Every array of a checkpoint, read with the weights file's checks (no
    pickles, every member read now); a problem is a CheckpointError."""
    return read_npz(path, "checkpoint", CheckpointError)


class Checkpointer:
    """Saves and restores one run's training state (see the module docstring).

    ``rngs`` holds the run's "shuffle" and "dropout" Generators; the Dropout
    layers of ``network`` draw from the latter. ``every`` is the config's
    train.checkpoint_every ({"seconds": s or None, "epochs": n or None}; by
    default every epoch)."""

    def __init__(self, run_dir, network, optimizer, schedule, stopper, rngs: dict, config_hash: str,
                 batch_size: int | None = None, every: dict | None = None):
        self.run_dir = Path(run_dir)
        every = every or {"seconds": None, "epochs": 1}
        self.every_seconds, self.every_epochs = every.get("seconds"), every.get("epochs")
        self.saved_at = time.perf_counter()
        self.network, self.optimizer, self.schedule, self.stopper = network, optimizer, schedule, stopper
        self.shuffle, self.dropout = rngs["shuffle"], rngs["dropout"]
        self.config_hash = config_hash
        self.dropouts, self.max_pools, width = [], [], getattr(network, "n_inputs", 1)
        for layer in network.layers:
            width = getattr(layer, "n_out", width)
            if isinstance(layer, Dropout):
                # A pool is POOL masks, or one batch's (rows x the layer's width) when that is larger;
                # without the batch size, at most POOL rows are assumed.
                self.dropouts.append(layer)
                self.max_pools.append(max(Dropout.POOL, width * (batch_size or Dropout.POOL)))
        self.shuffle_state = self.shuffle.bit_generator.state

    def due(self, epoch: int | None = None) -> bool:
        """Whether to save now: after a step (``epoch`` None) when the time
        budget ran out since the last save; at the end of epoch ``epoch`` also
        when it is a multiple of the epoch count."""
        if epoch is not None and self.every_epochs and epoch % self.every_epochs == 0:
            return True
        return self.every_seconds is not None and time.perf_counter() - self.saved_at >= self.every_seconds

    def epoch_started(self, rng) -> None:
        """Note the shuffle Generator's state before an epoch draws its order."""
        self.shuffle_state = rng.bit_generator.state

    # ------------------------------------------------------------------ save

    def arrays(self, position: Position) -> dict[str, np.ndarray]:
        """The checkpoint's members for ``position``."""
        arrays = {"params": self.network.params, "buffer": self.network.buffer}
        optimizer = dict(self.optimizer.state_dict())
        for name in self.optimizer.state_names():
            if optimizer[name] is not None:
                arrays[f"optimizer.{name}"] = optimizer[name]
            del optimizer[name]
        stopper = None
        if self.stopper is not None:
            stopper = dict(self.stopper.state_dict())
            for name in ("best_params", "best_buffer"):
                if stopper[name] is not None:
                    arrays[f"early_stopping.{name}"] = stopper[name]
                del stopper[name]
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config_sha256": self.config_hash,
            "epoch": position.epoch,
            "batch": position.batch,
            "step": position.step,
            "total": position.total,
            "elapsed": position.elapsed,
            "stopped": position.stopped,
            "history": position.history,
            "optimizer": optimizer,
            "schedule": None if self.schedule is None else self.schedule.state_dict(),
            "early_stopping": stopper,
            "rng": {
                "shuffle": self.shuffle_state,
                "dropout": self.dropout.bit_generator.state,
                "dropout_layers": [layer.state_dict() for layer in self.dropouts],
            },
        }
        # Python's json writes floats exactly (repr) and Infinity / NaN as such: read back bit for bit.
        arrays["meta"] = np.array(json.dumps(meta))
        return arrays

    def save(self, position: Position) -> None:
        """Write checkpoint.npz (uncompressed, one write), keeping the last one as checkpoint.prev.npz."""
        buffer = io.BytesIO()
        np.savez(buffer, **self.arrays(position))
        write_checkpoint(self.run_dir, buffer.getvalue())
        self.saved_at = time.perf_counter()

    # ------------------------------------------------------------------ load

    def load(self) -> Position:
        """Restore the latest readable checkpoint into the network, optimizer,
        schedule, early stopping and Generators; returns its position."""
        latest, previous = checkpoint_paths(self.run_dir)
        try:
            return self.restore(latest, read_checkpoint(latest))
        except CheckpointError as exc:  # any invalid latest: its meta, sizes, arrays or history
            if not previous.exists():
                raise
            print(f"Warning: {exc}; continuing from the previous checkpoint, {previous.name}", file=sys.stderr)
        return self.restore(previous, read_checkpoint(previous))

    def _upgrade_from_version_1(self, arrays: dict) -> None:
        """Version 1 kept Adam's moments divided by (1 - beta1) and (1 - beta2):
        bring them to the paper's scale, so a run interrupted under an older
        mlpcli still resumes (within float rounding of an uninterrupted run)."""
        for old, new, beta in (("m_scaled", "m", "beta1"), ("v_scaled", "v", "beta2")):
            if f"optimizer.{old}" in arrays:
                arrays[f"optimizer.{new}"] = arrays.pop(f"optimizer.{old}") * (1 - getattr(self.optimizer, beta))

    def restore(self, path: Path, arrays: dict) -> Position:
        """Check every member of ``arrays`` (read from ``path``) and every value
        of its meta against the model (sizes bounded, types and history
        checked), then restore them. A problem is a CheckpointError, so that
        ``load`` falls back to the previous checkpoint (which restores every part)."""
        if "meta" not in arrays:
            raise CheckpointError(f"{path}: not an mlpcli checkpoint (no 0-d string 'meta' entry)")
        meta = parse_meta(path, arrays.pop("meta"), CheckpointError)
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not an mlpcli checkpoint (meta.format is not {FORMAT!r})")
        if meta.get("format_version") == 1 and meta["format_version"] is not True:
            self._upgrade_from_version_1(arrays)
        elif meta.get("format_version") != FORMAT_VERSION or isinstance(meta.get("format_version"), bool):
            raise CheckpointError(
                f"{path}: checkpoint format version {_short(meta.get('format_version'))}; this mlpcli reads {FORMAT_VERSION}"
            )
        if meta.get("config_sha256") != self.config_hash:  # not a damaged file: no fallback
            raise RunFolderError(
                f"{self.run_dir / 'config.yaml'}: the config has changed since the run started (its SHA-256 "
                f"differs from the one in {path.name}); resuming would not continue the same run. "
                "Put the config back, or train a new run"
            )
        position = _position(path, meta)
        optimizer_state = _mapping(path, meta, "optimizer", required=False) or {}
        stopper_state = _mapping(path, meta, "early_stopping", required=False)
        schedule_state = _mapping(path, meta, "schedule", required=False)
        for name, state in (("optimizer", optimizer_state), ("early_stopping", stopper_state or {}),
                            ("schedule", schedule_state or {})):
            for key, value in state.items():  # counters, rates, best values, flags
                if not (value is None or isinstance(value, (bool, int, float))):
                    raise CheckpointError(f"{path}: meta.{name}.{key} must be a number, got {_short(value)}")
        rng = self._check_rng(path, meta)
        self._check_arrays(path, arrays, optimizer_state, stopper_state)
        try:
            self.network.params[...] = arrays["params"]
            self.network.buffer[...] = arrays["buffer"]
            self.optimizer.load_state_dict(
                {**optimizer_state, **{n[len("optimizer."):]: a for n, a in arrays.items() if n.startswith("optimizer.")}}
            )
            if self.schedule is not None:
                self.schedule.load_state_dict(schedule_state or {})
            if self.stopper is not None:
                self.stopper.load_state_dict(
                    {**stopper_state, "best_params": arrays.get("early_stopping.best_params"),
                     "best_buffer": arrays.get("early_stopping.best_buffer")}
                )
            for layer, state in zip(self.dropouts, rng["dropout_layers"]):
                layer.load_state_dict(state)
            self.shuffle.bit_generator.state = rng["shuffle"]
            self.dropout.bit_generator.state = rng["dropout"]
            self.shuffle_state = rng["shuffle"]
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise CheckpointError(f"{path}: malformed checkpoint state ({type(exc).__name__}: {exc})") from None
        return position

    def _check_arrays(self, path: Path, arrays: dict, optimizer_state: dict, stopper_state) -> None:
        """Check the members against the model: names, dtype, shape, finite values."""
        size, dtype = self.network.params.shape, self.network.dtype
        expected = {"params": size, "buffer": self.network.buffer.shape}
        if optimizer_state.get("t"):
            expected.update({f"optimizer.{name}": size for name in self.optimizer.state_names()})
        if (stopper_state is None) != (self.stopper is None):
            raise CheckpointError(f"{path}: early stopping state does not match the config")
        if "early_stopping.best_params" in arrays:
            expected["early_stopping.best_params"] = size
            expected["early_stopping.best_buffer"] = self.network.buffer.shape
        unknown = sorted(set(arrays) - set(expected))
        missing = sorted(set(expected) - set(arrays))
        if unknown or missing:
            raise CheckpointError(f"{path}: unexpected entries {unknown}" if unknown else f"{path}: missing {missing}")
        for name, shape in expected.items():
            a = arrays[name]
            if a.dtype != dtype or a.shape != tuple(shape):
                raise CheckpointError(
                    f"{path}: {name} has dtype {a.dtype} and shape {a.shape}, expected {dtype} and {tuple(shape)}"
                )
            if not np.isfinite(a).all():
                raise CheckpointError(f"{path}: {name} holds NaN or infinite values")

    def _check_rng(self, path: Path, meta: dict) -> dict:
        """meta.rng: two bit generator states and one state per Dropout layer,
        each pool's size bounded by the model (so a forged size allocates nothing)."""
        rng = _mapping(path, meta, "rng")
        for key in ("shuffle", "dropout"):
            state = rng.get(key)
            if not isinstance(state, dict) or state.get("bit_generator") != type(self.shuffle.bit_generator).__name__:
                raise CheckpointError(f"{path}: meta.rng.{key} is not a {type(self.shuffle.bit_generator).__name__} state")
            try:  # set on a scratch generator: checks the state's fields without touching the run's
                type(self.shuffle.bit_generator)().state = state
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                raise CheckpointError(f"{path}: meta.rng.{key} is not a valid generator state ({exc})") from None
        layers = rng.get("dropout_layers")
        if not isinstance(layers, list) or len(layers) != len(self.dropouts):
            raise CheckpointError(
                f"{path}: meta.rng.dropout_layers must list {len(self.dropouts)} Dropout layer states, got {_short(layers)}"
            )
        for i, (state, limit) in enumerate(zip(layers, self.max_pools)):
            where = f"meta.rng.dropout_layers[{i}]"
            pool = state.get("pool") if isinstance(state, dict) else None
            if not _is_int(pool) or not 0 <= pool <= limit:
                raise CheckpointError(f"{path}: {where}.pool must be an integer in [0, {limit}] for this model, got {_short(pool)}")
            if not pool:
                continue
            used = state.get("used")
            if not _is_int(used) or not 0 <= used <= pool:
                raise CheckpointError(f"{path}: {where}.used must be an integer in [0, {pool}], got {_short(used)}")
            if state.get("dtype") != self.network.dtype.str:
                raise CheckpointError(f"{path}: {where}.dtype must be {self.network.dtype.str!r}, got {_short(state.get('dtype'))}")
            bit_state = state.get("state")
            try:
                type(self.dropout.bit_generator)().state = bit_state
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                raise CheckpointError(f"{path}: {where}.state is not a valid generator state ({exc})") from None
        return rng


# Keys every epoch's logs hold (training.epoch_logs); the others are val_<metric>.
HISTORY_KEYS = ("epoch", "train_loss")


def _position(path: Path, meta: dict) -> Position:
    """meta's position, checked: counters are integers in range, sums finite
    numbers, and history one dict of numbers (or null) per finished epoch."""
    for key in ("epoch", "batch", "step"):
        if not _is_int(meta.get(key)) or meta[key] < (1 if key == "epoch" else 0):
            raise CheckpointError(f"{path}: meta.{key} must be an integer >= {1 if key == 'epoch' else 0}, got {_short(meta.get(key))}")
    for key in ("total", "elapsed"):
        if not _is_number(meta.get(key)) or not math.isfinite(meta[key]):
            raise CheckpointError(f"{path}: meta.{key} must be a finite number, got {_short(meta.get(key))}")
    stopped = meta.get("stopped")
    if stopped is not None and not isinstance(stopped, str):
        raise CheckpointError(f"{path}: meta.stopped must be null or a string, got {_short(stopped)}")
    history = meta.get("history")
    if not isinstance(history, list) or len(history) != meta["epoch"] - 1:
        raise CheckpointError(
            f"{path}: inconsistent position (epoch {meta['epoch']}, "
            f"{len(history) if isinstance(history, list) else _short(history)} epochs logged)"
        )
    for i, logs in enumerate(history):
        where = f"meta.history[{i}]"
        if not isinstance(logs, dict) or any(key not in logs for key in HISTORY_KEYS):
            raise CheckpointError(f"{path}: {where} must be a mapping with {', '.join(HISTORY_KEYS)}, got {_short(logs)}")
        if logs["epoch"] != i + 1 or not _is_int(logs["epoch"]):
            raise CheckpointError(f"{path}: {where}.epoch must be {i + 1}, got {_short(logs['epoch'])}")
        for key, value in logs.items():
            if value is not None and not _is_number(value):  # NaN (an undefined r2) is written as such
                raise CheckpointError(f"{path}: {where}.{key} must be a number or null, got {_short(value)}")
    return Position(
        epoch=meta["epoch"], batch=meta["batch"], step=meta["step"], total=float(meta["total"]),
        elapsed=float(meta["elapsed"]), history=list(history), stopped=stopped,
    )


def _mapping(path: Path, meta: dict, key: str, required: bool = True):
    value = meta.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: meta.{key} must be a mapping, got {_short(value)}")
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
