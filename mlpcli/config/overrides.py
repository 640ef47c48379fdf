"""Key paths and ``--set KEY=VALUE``: one parser and one applier for every
command that sets a config key (`mlp train / cv / validate --set`, `mlp sweep
--grid / --range`, `mlp tune`).

A key path is dotted names with list items by index, ``model.layers[0].units``
or ``model.layers.0.units``, or every item at once with the wildcard
``model.layers[*].dropout`` (``model.layers.*.dropout``). Parsed, it is a
tuple: ``('model', 'layers', '*', 'dropout')``, indices as ints.

Public API (also for mlpcli.tune): ``parse_key``, ``key_text``, ``set_value``,
``expand_key``, ``value_text``, ``apply_overrides``, ``override_paths``.
"""
from __future__ import annotations

import copy
import re
import types
import typing

import yaml

from ..errors import ConfigError
from .base import closest, did_you_mean, show, type_name
from .loading import parse_yaml
from .schema import keys_at, model_at

WILDCARD = "*"  # the path part that stands for every item of a list
_BRACKET = re.compile(r"\[([^\[\]]*)\]")  # model.layers[0] / [*] -> model.layers.0 / .*
_EXAMPLE = "e.g. train.optimizer.lr, model.layers[0].units or model.layers[*].dropout"


def _is_index(part: str) -> bool:
    # ASCII digits only: str.isdigit() also takes '²' and '٣', which int() refuses or reads otherwise.
    return part.isascii() and part.isdigit()


def parse_key(text: str, option: str | None = None) -> tuple:
    """A key path as written -> its parts: 'model.layers[*].dropout' ->
    ('model', 'layers', '*', 'dropout'); [N] and .N are the index N (an int).
    A malformed path is a ConfigError starting with ``option`` (default
    ``--set KEY``)."""
    key = text.strip()
    prefix = option or f"--set {key}"
    for inside in _BRACKET.findall(key):
        if inside != WILDCARD and not _is_index(inside):
            raise ConfigError(f"{prefix}: [{inside}] is not a list index; use a number from 0, or [*] for every item")
    parts = _BRACKET.sub(r".\1", key).split(".")
    if not key or any(not part or "[" in part or "]" in part for part in parts):
        raise ConfigError(f"{prefix}: {key!r} is not a key path ({_EXAMPLE})")
    return tuple(int(part) if _is_index(part) else part for part in parts)


def key_text(path) -> str:
    """A parsed key path as messages print it: ('model', 'layers', '*', 'units') -> model.layers[*].units."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) or part == WILDCARD else (f".{part}" if text else str(part))
    return text


def override_path(item: str) -> tuple:
    """The key path a --set KEY=VALUE sets: ('model', 'layers', 0, 'units'), '*' for a wildcard."""
    return parse_key(item.partition("=")[0])


def holds(outer: tuple, inner: tuple) -> bool:
    """Whether setting key path ``outer`` replaces what ``inner`` sets:
    model.layers holds model.layers[*].dropout and model.layers[0].units."""
    return len(outer) < len(inner) and all(a == b or WILDCARD in (a, b) for a, b in zip(outer, inner))


def with_swept(sets, swept) -> list[str]:
    """A sweep's or tune's --set items and one trial's swept KEY=VALUE items,
    in the order they apply: the --set items first, except those inside a
    swept value, which follow it (--set model.layers[*].dropout=0.2 applies
    to each list --grid model.layers tries, instead of being replaced by it).
    A swept key equal to a --set key wins, as the trial's own value."""
    swept_paths = [override_path(item) for item in swept]
    inside = [any(holds(path, override_path(item)) for path in swept_paths) for item in sets]
    return [*(i for i, held in zip(sets, inside) if not held), *swept, *(i for i, held in zip(sets, inside) if held)]


def set_value(raw: dict, key, value, *, source: str = "config", option: str | None = None) -> list[tuple]:
    """Set ``value`` at ``key`` (a path as written, or parsed) in ``raw``, in
    place: every item of a list at a ``[*]`` (each its own copy), making the
    mappings on the way. Returns the concrete paths written. A path the config
    cannot take (an index past a list's end, ``[*]`` on a mapping, a missing
    or empty list, a plain value on the way) is a ConfigError starting with
    ``option`` (default ``--set KEY``) and naming ``source``."""
    path = parse_key(key, option) if isinstance(key, str) else tuple(key)
    prefix = option or f"--set {key.strip() if isinstance(key, str) else key_text(path)}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of keys, got {type_name(raw)}")
    written, nodes = [], [(raw, ())]  # breadth first: a path of hundreds of parts needs no recursion
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        following = None if last else path[depth + 1]
        ahead = []
        for node, at in nodes:
            for item in _items(node, at, part, prefix, source):
                if last:
                    node[item] = copy.deepcopy(value)
                    written.append((*at, item))
                else:
                    ahead.append((_child(node, item, at, following, prefix, source), (*at, item)))
        nodes = ahead
    return written


def _items(node, at: tuple, part, prefix: str, source: str) -> list:
    """The keys (or indices) of ``node`` (at path ``at``) that ``part`` names."""
    where = key_text(at) or "the config"
    if isinstance(node, list):
        if part == WILDCARD:
            if not node:
                raise ConfigError(f"{prefix}: {where} is an empty list in {source}; [*] has no item to set")
            return list(range(len(node)))
        if not isinstance(part, int) or part >= len(node):
            indices = f" (indices 0 to {len(node) - 1})" if node else ""
            raise ConfigError(
                f"{prefix}: {where} is a list of {len(node)}{indices}; {str(part)!r} is not an index in it; "
                f"to add or remove items, set the whole list, e.g. --set '{where}=[...]'"
            )
        return [part]
    if not isinstance(node, dict):
        raise ConfigError(f"{prefix}: {where} is not a mapping")
    if part == WILDCARD:
        raise ConfigError(f"{prefix}: {where} is a mapping in {source}, not a list; [*] sets every item of a list")
    return [str(part)]  # data.options.0: a mapping's key, as written


def _child(node, item, at: tuple, following, prefix: str, source: str):
    """``node[item]``, made an empty mapping when missing and ``following`` is a key in it."""
    child = node.get(item) if isinstance(node, dict) else node[item]
    where = key_text((*at, item))
    wants_list = following == WILDCARD or isinstance(following, int)
    if child is not None and not isinstance(child, (dict, list)):
        # Replacing it with a mapping would drop the value silently (train.optimizer: sgd).
        what = "a list" if following == WILDCARD else "a mapping or a list"
        raise ConfigError(f"{prefix}: {where} is {show(child)} in {source}, not {what}")
    if child is None and wants_list:
        keys = keys_at(at)
        suggestion = closest(item, keys) if keys and item not in keys else None
        if suggestion:
            raise ConfigError(f"{prefix}: {where}: unknown key{did_you_mean(suggestion)}")
        if item in keys and not _takes_list(at, item):
            raise ConfigError(f"{prefix}: {where} is not a list; [N] and [*] index the items of a list, as model.layers[*].dropout")
        example = "[{units: 64}]" if where == "model.layers" else "[...]"
        every = " ([*] sets every item of a list the config has)" if following == WILDCARD else ""
        raise ConfigError(
            f"{prefix}: {where} is not a list in {source}{every}; set the whole list, e.g. --set '{where}={example}'"
        )
    if child is None:
        node[item] = child = {}
    return child


def _takes_list(at: tuple, item: str) -> bool:
    """Whether the schema's key ``item`` of the mapping at ``at`` takes a list (model.layers, data.features)."""
    def lists(kind) -> bool:
        origin = typing.get_origin(kind)
        return origin is list or (origin in (typing.Union, types.UnionType, typing.Annotated)
                                  and any(lists(arg) for arg in typing.get_args(kind)))

    owner = model_at(at)[0]
    field = owner.model_fields.get(item) if owner else None
    return field is not None and lists(field.annotation)


def expand_key(raw, key) -> list[tuple]:
    """The concrete paths a key (as written, or parsed) names in ``raw``:
    every index of a list at ``[*]``; [] where a wildcard finds no list.
    Nothing is checked or changed (see set_value for that)."""
    path = parse_key(key) if isinstance(key, str) else tuple(key)
    found = [((), raw)]
    for part in path:
        ahead = []
        for at, node in found:
            if part == WILDCARD:
                if isinstance(node, list):
                    ahead.extend(((*at, i), item) for i, item in enumerate(node))
                continue
            child = None
            if isinstance(node, dict):
                child = node.get(str(part))
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                child = node[part]
            ahead.append(((*at, part), child))
        found = ahead
    return [at for at, _ in found]


def override_paths(raw, overrides) -> list[tuple]:
    """The concrete key paths ``overrides`` (KEY=VALUE strings) wrote in
    ``raw`` (the config they were applied to): what messages mark ``(--set)``."""
    return [p for item in overrides for p in expand_key(raw, override_path(item))]


def apply_overrides(raw: dict, overrides, source: str = "config") -> dict:
    """Apply ``KEY=VALUE`` strings (key paths as parse_key reads them, values
    parsed as YAML) to a copy of ``raw``."""
    raw = copy.deepcopy(raw) if isinstance(raw, dict) else raw
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.optimizer.lr=0.01")
        path = parse_key(key)
        value = parse_yaml(text, f"--set {item!r}: the value")[0]
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping of keys, got {type_name(raw)}")
        set_value(raw, path, value, source=source, option=f"--set {key.strip()}")
    return raw


def value_text(value) -> str:
    """A value as --set takes it and a table shows it: a list or mapping as
    compact YAML flow ([{units: 64}, {units: 32}]), true / false / null,
    a number or string as itself; never a Python repr."""
    if isinstance(value, (list, dict)):
        return yaml.safe_dump(value, default_flow_style=True, width=float("inf"), sort_keys=False).strip()
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(value)
