"""Reading config YAML safely: plain data only, every failure one message naming the file and line.

The loader refuses what a config never needs and an attacker could use
(object tags, duplicate keys that hide a value, alias bombs), and keeps the
line of every key so a validation error can point at it.
"""
from __future__ import annotations

import os
import re
import stat
import sys
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
# The deepest nesting a config may have. A config nests about 6 levels; pydantic's model_dump (config.yaml,
# meta.config) fails past ~255 and yaml.safe_dump past ~330, so this leaves a wide margin under both.
MAX_DEPTH = 64
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # the largest config file read; a real config is a few kB


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


def _compose_node(loader, parent, index):
    # Counted while composing, so a deep document is refused at its line before Python's recursion limit.
    loader.depth = getattr(loader, "depth", 0) + 1
    try:
        if loader.depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested too deeply (more than {MAX_DEPTH} levels)", loader.peek_event().start_mark
            )
        return yaml.SafeLoader.compose_node(loader, parent, index)
    finally:
        loader.depth -= 1


_StrictSafeLoader.compose_node = _compose_node


def too_deep(value, limit: int = MAX_DEPTH) -> bool:
    """Whether plain data (mappings and lists) nests more than ``limit`` levels; walked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)
    return False


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

    loader = None
    try:
        loader = _StrictSafeLoader(text)  # its reader refuses control characters in the whole text here
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_nodes(node, where)
        return loader.construct_document(node), _node_lines(node)
    except yaml.reader.ReaderError as exc:
        raise ConfigError(f"{source}:{_line_of(text, exc.position)}: {_bad_character(exc.character)}") from None
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
        if loader is not None:
            loader.dispose()


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _bad_character(char) -> str:
    code = ord(char) if isinstance(char, str) else char
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as Python's surrogateescape decodes it
        return f"cannot read: byte 0x{code - 0xDC00:02X} is not UTF-8 text; save the file as UTF-8"
    escape = f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}"
    return (
        f"invalid YAML: control character U+{code:04X} is not allowed anywhere in YAML, not even in a comment; "
        f"remove it (inside a double-quoted string, write it as {escape})"
    )


# File signatures of what is given as a config by mistake: (magic bytes, what it is, what to run instead).
_BINARY_KINDS = (
    (b"PK\x03\x04", "a zip archive (a weights.npz or checkpoint.npz is one)", None),
    (b"\x93NUMPY", "a NumPy .npy array", "it is data: name it in data.dataset"),
    (b"\x89PNG", "a PNG image", "a run's pictures are written by mlp train and mlp plot"),
    (b"%PDF", "a PDF document", None),
    (b"\x1f\x8b", "a gzip archive", "decompress it first"),
)
_WEIGHTS_HINT = (
    "it is a model: score it with `mlp eval {path}`, see it with `mlp info {path}`, predict with "
    "`mlp predict {path} ROWS.csv`; to train again, give the run folder's config.yaml"
)
_CHECKPOINT_HINT = "it is a run's checkpoint: continue that run with `mlp resume {folder}`"


def _refuse_binary(data: bytes, source: str) -> None:
    """Refuse a binary file given as a config (a weights file, an array, an
    image): one message saying what it is and what to run instead. Binary:
    a known signature, a NUL byte, or bytes that are not UTF-8 at its start."""
    head = data[:1024]
    kind = next(((what, hint) for magic, what, hint in _BINARY_KINDS if head.startswith(magic)), None)
    if kind is None:
        try:
            head[:4].decode("utf-8")
            starts_as_text = True
        except UnicodeDecodeError as exc:
            starts_as_text = exc.reason == "unexpected end of data"  # a character cut off at byte 4
        controls = sum(byte < 32 and byte not in b"\t\n\r\f" for byte in head)
        # A stray Latin-1 byte or control character in a text file is its line's error (parse_yaml, _decode).
        if starts_as_text and not head.startswith(b"\x00") and controls * 10 <= len(head):
            return
        kind = ("a binary file", None)
    what, hint = kind
    if head.startswith(b"PK\x03\x04"):
        name = Path(source).name.lower()
        if name.startswith("checkpoint"):
            what, hint = "a checkpoint (.npz)", _CHECKPOINT_HINT.format(folder=Path(source).parent)
        elif name.endswith(".npz") or b"meta.npy" in data[:65536]:
            what, hint = "a weights file (.npz)", _WEIGHTS_HINT.format(path=source)
    raise ConfigError(f"{source}: is {what}, not a YAML config" + (f"; {hint}" if hint else ""))


def _decode(data: bytes, source: str) -> str:
    """UTF-8 text, or a ConfigError naming the line and the byte that is not UTF-8."""
    _refuse_binary(data, source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{source}:{line}: cannot read: byte 0x{data[exc.start]:02X} is not UTF-8 text; save the file as UTF-8"
        ) from None


def _read_bounded(stream, source: str) -> bytes:
    """At most MAX_CONFIG_BYTES from a binary stream; more is a ConfigError."""
    chunks, size = [], 0
    while size <= MAX_CONFIG_BYTES:
        chunk = stream.read(min(1 << 16, MAX_CONFIG_BYTES + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise _too_large(source)


def _too_large(source: str) -> ConfigError:
    return ConfigError(
        f"{source}: larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB, which no config is; is it the right file?"
    )


_NOT_A_FILE = {
    stat.S_IFDIR: "a directory", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _refuse_kind(mode: int, path) -> None:
    # A regular file, or a pipe (a process substitution <(...)), read with the size bound.
    kind = _NOT_A_FILE.get(stat.S_IFMT(mode))
    if kind:
        raise ConfigError(f"{path}: is {kind}, not a config file")


def read_text(path: Path) -> str:
    """A config file's text (UTF-8, at most MAX_CONFIG_BYTES, a regular file or
    a pipe); anything else is a ConfigError naming it."""
    try:
        _refuse_kind(os.stat(path).st_mode, path)  # before opening: opening a device can block or act
        with open(path, "rb") as stream:
            _refuse_kind(os.fstat(stream.fileno()).st_mode, path)  # replaced since the stat
            data = _read_bounded(stream, str(path))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _decode(data, str(path))


def read_stdin(source: str = "<stdin>") -> str:
    """Standard input's text, bounded as a config file is; a closed standard
    input (``<&-``) or one that cannot be read is a ConfigError naming it."""
    stream = sys.stdin
    if stream is None:
        raise ConfigError(f"{source}: standard input is closed; give a config file, or pipe one in")
    binary = getattr(stream, "buffer", None)
    try:
        if binary is None:  # a text stream without bytes beneath (an embedding program's)
            text = stream.read(MAX_CONFIG_BYTES + 1)
            if len(text) > MAX_CONFIG_BYTES:
                raise _too_large(source)
            return text
        return _decode(_read_bounded(binary, source), source)
    except (OSError, ValueError) as exc:  # a closed descriptor: EBADF, or "I/O operation on closed file"
        raise ConfigError(f"{source}: cannot read standard input: {getattr(exc, 'strerror', None) or exc}") from None


def empty_document(source: str) -> ConfigError:
    """The error for a config with no YAML document (an empty file, only comments, only ``---``):
    it would train on every default, which is never what an empty file meant."""
    return ConfigError(
        f"{source}: holds no config (the file is empty, or only comments or '---'); write the keys to "
        "set (`mlp init > config.yaml` prints a starter), `{}` for every default, or give them with --set"
    )


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file safely; errors name the file and line."""
    return parse_yaml(read_text(Path(path)), str(path))[0]
