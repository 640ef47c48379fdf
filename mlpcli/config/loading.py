"""Reading config YAML safely: plain data only, every failure one message naming the file and line.

The loader refuses what a config never needs and an attacker could use
(object tags, duplicate keys that hide a value, alias bombs), and keeps the
line of every key so a validation error can point at it.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError


class _StrictSafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader for plain data: refuses duplicate keys (PyYAML keeps the
    last one), every tag that is not a plain YAML value (``!!python/...``,
    ``!!binary``, ``!!set``, local ``!tags``), and aliases that expand past
    MAX_YAML_VALUES (a "billion laughs" document). Dates stay strings (as in
    YAML 1.2's core schema) and ``1e-3`` is a float."""


# Plain YAML values: what a config can hold. Every other tag is refused before anything is constructed.
_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map", "merge")
}
MAX_YAML_VALUES = 100_000  # the most values aliases may expand a document to


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:  # the mapping's own keys; a merged (<<) key may be overridden
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: SafeLoader's construct_mapping explains it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {first + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


# YAML 1.2 floats: PyYAML (YAML 1.1) reads 1e-3 as a string, which data.options passes on unconverted.
_StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
_StrictSafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag in _PLAIN_TAGS]  # no timestamps, no '=' values
    for first, resolvers in _StrictSafeLoader.yaml_implicit_resolvers.items()
}
_StrictSafeLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def _show_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


def _check_nodes(root, where) -> None:
    """Refuse tags that are not plain values, recursive aliases and alias
    expansion past MAX_YAML_VALUES, walking the composed document (each node
    once) before anything is constructed. ``where(mark)`` prefixes a message."""
    sizes, open_nodes, distinct = {}, set(), 0

    def size(node) -> int:
        nonlocal distinct
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise ConfigError(
                f"{where(node.start_mark)}: an alias refers to a node that contains it (a recursive structure)"
            )
        if node.tag not in _PLAIN_TAGS:
            raise ConfigError(
                f"{where(node.start_mark)}: tag {_show_tag(node.tag)} is not allowed: a config holds plain "
                "values (mappings, lists, strings, numbers, true / false, null), and mlpcli never "
                "builds objects from tags"
            )
        distinct += 1
        open_nodes.add(id(node))
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else (
            node.value if isinstance(node, yaml.SequenceNode) else []
        )
        total = 1 + sum(size(child) for child in children)
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        if total > MAX_YAML_VALUES and total > distinct:
            raise ConfigError(
                f"{where(node.start_mark)}: its aliases expand to more than {MAX_YAML_VALUES} values "
                "(a 'billion laughs' document?); write the values out instead"
            )
        return total

    size(root)


def _node_lines(root) -> dict[tuple, int]:
    """The line (from 1) of every key and list item, by its path: ('model', 'layers', 1, 'dropout')."""
    lines = {}

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    key = path + (key_node.value,)
                    lines.setdefault(key, key_node.start_mark.line + 1)
                    walk(value_node, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines.setdefault(path + (i,), item.start_mark.line + 1)
                walk(item, path + (i,))

    walk(root, ())
    return lines


def parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """Plain data from YAML text, and the line (from 1) of every key and list
    item by its path: {('model', 'layers', 1, 'dropout'): 7, ...}. A failure
    is a ConfigError naming ``source``, line and column."""

    def where(mark):
        return f"{source}:{mark.line + 1}:{mark.column + 1}"

    loader = _StrictSafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_nodes(node, where)
        return loader.construct_document(node), _node_lines(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        # PyYAML splits "expected a single document ..., but found another" into context and problem.
        if problem.startswith("but ") and getattr(exc, "context", None):
            problem = f"{exc.context}, {problem}"
        raise ConfigError(f"{where(mark) if mark else source}: invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def read_text(path: Path) -> str:
    """A config file's text; a missing or unreadable file is a ConfigError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file safely; errors name the file and line."""
    return parse_yaml(read_text(Path(path)), str(path))[0]
