"""checkpoint.npz: everything a run needs to continue exactly where it stopped.

Written at the end of every epoch and at an interruption (``fit`` calls
``save``), as Keras's BackupAndRestore does, into the run folder: the flat
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
import os
import sys
from pathlib import Path

import numpy as np

from .artifacts import atomic_write
from .engine.layers import Dropout
from .errors import CheckpointError, RunFolderError
from .npz import read_npz
from .training import Position

FORMAT = "mlpcli.checkpoint"
FORMAT_VERSION = 2  # 2: Adam's moments are optimizer.m / optimizer.v (were m_scaled / v_scaled)
CHECKPOINT, PREVIOUS_CHECKPOINT = "checkpoint.npz", "checkpoint.prev.npz"


def checkpoint_paths(run_dir: str | Path) -> tuple[Path, Path]:
    """The latest checkpoint of a run folder and the generation before it."""
    return Path(run_dir) / CHECKPOINT, Path(run_dir) / PREVIOUS_CHECKPOINT


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
    layers of ``network`` draw from the latter."""

    def __init__(self, run_dir, network, optimizer, schedule, stopper, rngs: dict, config_hash: str):
        self.run_dir = Path(run_dir)
        self.network, self.optimizer, self.schedule, self.stopper = network, optimizer, schedule, stopper
        self.shuffle, self.dropout = rngs["shuffle"], rngs["dropout"]
        self.config_hash = config_hash
        self.dropouts = [layer for layer in network.layers if isinstance(layer, Dropout)]
        self.shuffle_state = self.shuffle.bit_generator.state

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

    # ------------------------------------------------------------------ load

    def load(self) -> Position:
        """Restore the latest readable checkpoint into the network, optimizer,
        schedule, early stopping and Generators; returns its position."""
        latest, previous = checkpoint_paths(self.run_dir)
        try:
            return self.restore(latest, read_checkpoint(latest))
        except CheckpointError as exc:
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
        """Check every member of ``arrays`` (read from ``path``), then restore them."""
        if "meta" not in arrays or arrays["meta"].dtype.kind != "U" or arrays["meta"].ndim != 0:
            raise CheckpointError(f"{path}: not an mlpcli checkpoint (no 0-d string 'meta' entry)")
        try:
            meta = json.loads(str(arrays.pop("meta")))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}: 'meta' is not valid JSON ({exc.msg})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not an mlpcli checkpoint (meta.format is not {FORMAT!r})")
        if meta.get("format_version") == 1:
            self._upgrade_from_version_1(arrays)
        elif meta.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{path}: checkpoint format version {meta.get('format_version')!r}; this mlpcli reads {FORMAT_VERSION}"
            )
        if meta.get("config_sha256") != self.config_hash:  # not a damaged file: no fallback
            raise RunFolderError(
                f"{self.run_dir / 'config.yaml'}: the config has changed since the run started (its SHA-256 "
                f"differs from the one in {path.name}); resuming would not continue the same run. "
                "Put the config back, or train a new run"
            )
        size, dtype = self.network.params.shape, self.network.dtype
        expected = {"params": size, "buffer": self.network.buffer.shape}
        optimizer_state = meta.get("optimizer") or {}
        if optimizer_state.get("t"):
            expected.update({f"optimizer.{name}": size for name in self.optimizer.state_names()})
        stopper_state = meta.get("early_stopping")
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
        try:
            position = Position(
                epoch=int(meta["epoch"]), batch=int(meta["batch"]), step=int(meta["step"]),
                total=float(meta["total"]), elapsed=float(meta["elapsed"]),
                history=list(meta["history"]), stopped=meta["stopped"],
            )
            self.network.params[...] = arrays["params"]
            self.network.buffer[...] = arrays["buffer"]
            self.optimizer.load_state_dict(
                {**optimizer_state, **{n[len("optimizer."):]: a for n, a in arrays.items() if n.startswith("optimizer.")}}
            )
            if self.schedule is not None:
                self.schedule.load_state_dict(meta["schedule"] or {})
            if self.stopper is not None:
                self.stopper.load_state_dict(
                    {**stopper_state, "best_params": arrays.get("early_stopping.best_params"),
                     "best_buffer": arrays.get("early_stopping.best_buffer")}
                )
            rng = meta["rng"]
            layers = rng["dropout_layers"]
            if len(layers) != len(self.dropouts):
                raise ValueError(f"{len(layers)} Dropout layer states for {len(self.dropouts)} layers")
            for layer, state in zip(self.dropouts, layers):
                layer.load_state_dict(state)
            self.shuffle.bit_generator.state = rng["shuffle"]
            self.dropout.bit_generator.state = rng["dropout"]
            self.shuffle_state = rng["shuffle"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: malformed checkpoint state ({type(exc).__name__}: {exc})") from None
        if position.epoch < 1 or position.batch < 0 or position.step < 0 or len(position.history) != position.epoch - 1:
            raise CheckpointError(f"{path}: inconsistent position (epoch {position.epoch}, {len(position.history)} epochs logged)")
        return position
