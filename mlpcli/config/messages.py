"""A pydantic ValidationError as the one line a user reads.

Each message is written from the error's structured fields (``type``,
``loc``, ``ctx``, ``input``) and the schema itself (a key's bounds, its
choices, the keys a mapping takes), and is placed at its key's line in the
file, or marked ``(--set)`` when an override wrote the key.
"""
from __future__ import annotations

import typing

from pydantic import ValidationError

from .base import closest, did_you_mean, key_path, show
from .schema import UNIONS, keys_at, model_at

# Error types that mean "wrong type", by prefix (int_type, int_parsing, int_from_float, ...).
_TYPE_NAMES = {
    "int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
    "dict": "a mapping", "model": "a mapping", "list": "a list",
}
_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")

Where = typing.Union[int, str, None]  # a line number, "--set", or unknown


def explain(exc: ValidationError, source: str, lines: dict, overridden=()) -> str:
    """Every problem in ``exc`` on one line: ``file:12: key: problem``, or
    ``file: N problems: line 3: ... | (--set) ...``, top to bottom in the
    file, then the overrides, then the rest."""
    errors = exc.errors()
    # A misspelt key that suggests a required one: its "missing" is the same mistake.
    suggested = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            suggestion = closest(error["loc"][-1], keys_at(error["loc"][:-1]))
            if suggestion:
                suggested.add((tuple(error["loc"][:-1]), suggestion))
    problems = []
    for error in errors:
        if error["type"] == "missing" and (tuple(error["loc"][:-1]), error["loc"][-1]) in suggested:
            continue
        path, message = _describe(error)
        problems.append((_where(path, lines, overridden), message))
    problems.sort(key=lambda p: (0, p[0]) if isinstance(p[0], int) else (1 if p[0] else 2, 0))
    return _format(source, problems)


def _where(path: tuple, lines: dict, overridden) -> Where:
    """The line of a key path (or of its closest ancestor written in the file),
    "--set" if an override set it, or None."""
    if any(path[: len(o)] == tuple(o) for o in overridden):
        return "--set"
    if path and path not in lines and any(tuple(o[: len(path)]) == path for o in overridden):
        return "--set"  # a key only an override wrote (--set trian.epochs=3 makes 'trian')
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def _format(source: str, problems: list[tuple[Where, str]]) -> str:
    if len(problems) == 1:
        where, message = problems[0]
        prefix = f"{source}:{where}" if isinstance(where, int) else f"{source} (--set)" if where else source
        return f"{prefix}: {message}"
    parts = [
        (f"line {where}: " if isinstance(where, int) else "(--set) " if where else "") + message
        for where, message in problems
    ]
    return f"{source}: {len(problems)} problems: " + " | ".join(parts)


def _describe(error: dict) -> tuple[tuple, str]:
    """(the key path the problem is about, its message)."""
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx", {})
    if kind == "key_problem":  # a check across keys names the key at fault itself
        return ctx["path"], f"{ctx['keys']}: {ctx['detail']}"
    _, path = model_at(loc)
    key = key_path(path) or "config"
    if kind == "extra_forbidden":
        valid = keys_at(loc[:-1])
        hint = did_you_mean(closest(loc[-1], valid))
        listing = f" (valid keys here: {', '.join(valid)})" if valid and not hint else ""
        return tuple(path), f"{key}: unknown key{hint}{listing}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):  # the tag is the variant's name
        noun, configs = UNIONS[path[-1]]
        tags = sorted(configs)
        if kind == "union_tag_not_found":
            return tuple(path), f"{key}.name: required; valid: {', '.join(tags)}"
        hint = did_you_mean(closest(ctx["tag"], tags))
        return tuple(path), f"{key}.name: unknown {noun} {ctx['tag']!r}; valid: {', '.join(tags)}{hint}"
    return tuple(path), f"{key}: {_problem(error)}"


def _problem(error: dict) -> str:
    """What is wrong with the value at one key."""
    kind, loc, value, ctx = error["type"], error["loc"], error.get("input"), error.get("ctx", {})
    if kind == "missing":
        return "required key is missing"
    if kind in _BOUNDS:
        return f"{_bounds(loc)}, got {show(value)}"
    if kind == "literal_error":
        choices = _literal_choices(loc)
        return f"must be one of {', '.join(choices)}, got {show(value)}{did_you_mean(closest(value, choices))}"
    if kind == "unknown_name":
        valid, suggestion = ", ".join(ctx["valid"]), did_you_mean(ctx["suggestion"])
        return f"unknown {ctx['kind']} {ctx['value']!r}; valid: {valid}{suggestion}"
    if kind == "too_short":
        return f"must list at least {ctx['min_length']} item(s), got {show(value)}"
    if kind == "invalid_key":
        return f"keys must be strings, got {show(value)}"
    if kind == "finite_number":
        return f"must be a finite number, got {show(value)}"
    if kind == "value_error":
        return str(ctx["error"])
    noun = next((name for prefix, name in _TYPE_NAMES.items() if kind.startswith(prefix)), None)
    if noun:
        return f"expected {noun}, got {show(value)}"
    return f"{error['msg']}, got {show(value)}"


def _field(loc):
    owner, _ = model_at(loc[:-1])
    return owner.model_fields[loc[-1]]


def _bounds(loc) -> str:
    """The interval a numeric key must lie in, from the field's constraints."""
    lo = hi = None
    for meta in _field(loc).metadata:
        for attr, bracket in (("ge", "["), ("gt", "(")):
            if getattr(meta, attr, None) is not None:
                lo = f"{bracket}{getattr(meta, attr):g}"
        for attr, bracket in (("le", "]"), ("lt", ")")):
            if getattr(meta, attr, None) is not None:
                hi = f"{getattr(meta, attr):g}{bracket}"
    if lo and hi:
        return f"must be in {lo}, {hi}"
    if lo:
        return f"must be {'>=' if lo[0] == '[' else '>'} {lo[1:]}"
    return f"must be {'<=' if hi[-1] == ']' else '<'} {hi[:-1]}"


def _literal_choices(loc) -> list[str]:
    """The values a Literal key takes, in the schema's order (Literal[...] or Literal[...] | None)."""

    def walk(annotation):
        if typing.get_origin(annotation) is typing.Literal:
            return list(typing.get_args(annotation))
        return [choice for arg in typing.get_args(annotation) for choice in walk(arg)]

    return walk(_field(loc).annotation)


KEY_VALUE_OPTIONS = ("--set", "--grid", "--range")  # options whose value is one word, KEY=VALUE


def spaced_override(args: list[str], usage_error: str) -> str | None:
    """For Click's "unexpected extra argument" after `--set KEY VALUE` (a space
    where '=' goes; Click takes KEY as the value and VALUE as an argument):
    the message that says how to write it, or None."""
    if "unexpected extra argument" not in usage_error:
        return None
    for option, key, value in zip(args, args[1:], args[2:]):
        if option in KEY_VALUE_OPTIONS and "=" not in key and not value.startswith("-"):
            return (
                f"{option} {key} {value}: write {option} {key}={value} (KEY=VALUE, one word: no space "
                "around '=', quotes around a value with spaces)"
            )
    return None
