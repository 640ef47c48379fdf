"""A config's prepared data (prepare.prepare_data), kept in this process for
the runs after it that would prepare the very same arrays: the trials of a
sweep or tune in one process load, check, encode and split their data once.

Only the built-in datasets (data.DATASETS: scikit-learn's loaders and
generators) are kept: what they give is decided by the data section, the
model's task and dtype and the random streams alone, which make the key. A
file or an OpenML data set is read again every time (it may have changed).
A key is kept the second time it is prepared (a process that trains once
holds no copy), at most MAX_ENTRIES of them and none over MAX_BYTES. Each
run gets its own copy of the arrays (training scales them in place), the
random streams as preparing would leave them, and its head resolved from its
own train section.
"""
from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

from . import data
from .heads import resolve_head
from .prepare import PreparedData

MAX_ENTRIES = 2
MAX_BYTES = 64 * 2**20  # the arrays of one entry
SEEN = 16  # keys remembered as prepared once


@dataclass
class _Entry:
    prepared: PreparedData  # never handed out: runs get copies
    data_section: dict  # config["data"] as preparing left it
    states: dict  # each random stream's state after preparing


_entries: OrderedDict[str, _Entry] = OrderedDict()
_seen: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()  # a Dask worker may run trials in threads


def prepare(config: dict, rngs: dict, prepare_data) -> PreparedData:
    """prepare_data(config, rngs) (prepare.prepare_data, as the caller names
    it), from the cache when the same data was prepared before in this process."""
    key = _key(config, rngs)
    if key is None:
        return prepare_data(config, rngs)
    with _lock:
        entry = _entries.get(key)
        if entry is not None:
            _entries.move_to_end(key)
    if entry is None:
        prepared = prepare_data(config, rngs)
        with _lock:
            keep = key in _seen and _nbytes(prepared) <= MAX_BYTES
            _seen[key] = None
            while len(_seen) > SEEN:
                _seen.popitem(last=False)
        if keep:  # copied outside the lock; a single run never copies
            kept = _Entry(copy.deepcopy(prepared), copy.deepcopy(config["data"]), _states(rngs))
            with _lock:
                _entries[key] = kept
                while len(_entries) > MAX_ENTRIES:
                    _entries.popitem(last=False)
        return prepared
    for name, state in entry.states.items():
        rngs[name].bit_generator.state = state
    config["data"].clear()
    config["data"].update(copy.deepcopy(entry.data_section))
    prepared = copy.deepcopy(entry.prepared)
    n_columns = prepared.splits["train"].target.shape[1] if prepared.classes is None else len(prepared.classes)
    return replace(prepared, head=resolve_head(prepared.task, config["train"], n_columns))


def clear() -> None:
    with _lock:
        _entries.clear()
        _seen.clear()


def _key(config: dict, rngs: dict) -> str | None:
    if config["data"]["dataset"] not in data.DATASETS:
        return None
    model = config["model"]
    return json.dumps([config["data"], model["task"], model["dtype"], _states(rngs)], sort_keys=True, default=repr)


def _states(rngs: dict) -> dict:
    return {name: rng.bit_generator.state for name, rng in rngs.items()}


def _nbytes(prepared: PreparedData) -> int:
    return sum(a.nbytes for split in prepared.splits.values() for a in (split.X, split.y, split.target))
