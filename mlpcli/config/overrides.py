"""``--set KEY=VALUE``: a dotted key path (list items by index, as
``model.layers[0].units`` or ``model.layers.0.units``) and a YAML value."""
from __future__ import annotations

import copy
import re

from ..errors import ConfigError
from .base import closest, did_you_mean, show, type_name
from .loading import parse_yaml
from .schema import keys_at

_INDEX = re.compile(r"\[([0-9]+)\]")  # model.layers[0].units, as errors print it -> model.layers.0.units


def _is_index(part: str) -> bool:
    # ASCII digits only: str.isdigit() also takes '²' and '٣', which int() refuses or reads otherwise.
    return part.isascii() and part.isdigit()


def override_path(item: str) -> tuple:
    """The key path a --set KEY=VALUE sets: ('model', 'layers', 0, 'units')."""
    key = _INDEX.sub(r".\1", item.partition("=")[0]).strip()
    return tuple(int(part) if _is_index(part) else part for part in key.split("."))


def apply_overrides(raw: dict, overrides, source: str = "config") -> dict:
    """Apply ``KEY=VALUE`` strings (dotted paths, list indices as numbers,
    values parsed as YAML) to a copy of ``raw``."""
    raw = copy.deepcopy(raw) if isinstance(raw, dict) else raw
    for item in overrides:
        key, sep, text = item.partition("=")
        key = _INDEX.sub(r".\1", key)
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.optimizer.lr=0.01")
        value = parse_yaml(text, f"--set {item!r}: the value")[0]
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping of keys, got {type_name(raw)}")
        _set(raw, key, key.strip().split("."), value, source)
    return raw


def _set(raw: dict, key: str, parts: list[str], value, source: str) -> None:
    """Set ``value`` at ``parts`` in ``raw``, making the mappings on the way;
    ``key`` is the path as the user wrote it, for messages."""
    node = raw
    for depth, part in enumerate(parts):
        if isinstance(node, list):
            if not _is_index(part) or int(part) >= len(node):
                where = ".".join(parts[:depth]) or "the config"
                indices = f" (indices 0 to {len(node) - 1})" if node else ""
                raise ConfigError(
                    f"--set {key}: {where} is a list of {len(node)}{indices}; "
                    f"{part!r} is not an index in it; to add or remove items, set the whole "
                    f"list, e.g. --set '{where}=[...]'"
                )
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:depth])} is not a mapping")
        if depth == len(parts) - 1:
            node[part] = value
            return
        child = node.get(part) if isinstance(node, dict) else node[part]
        where = ".".join(parts[: depth + 1])
        if child is not None and not isinstance(child, (dict, list)):
            # Replacing it with a mapping would drop the value silently (train.optimizer: sgd).
            raise ConfigError(f"--set {key}: {where} is {show(child)} in {source}, not a mapping or a list")
        if child is None:
            if _is_index(parts[depth + 1]):
                keys = keys_at(tuple(int(p) if _is_index(p) else p for p in parts[:depth]))
                suggestion = closest(part, keys) if part not in keys else None
                if suggestion:
                    raise ConfigError(f"--set {key}: {where}: unknown key{did_you_mean(suggestion)}")
                raise ConfigError(
                    f"--set {key}: {where} is not a list in {source}; set the whole list, "
                    f"e.g. --set '{where}=[{{units: 64}}]'"
                )
            node[part] = {}
        node = node[part]
