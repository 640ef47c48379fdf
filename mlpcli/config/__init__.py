"""The config: schema (schema.py, optimization.py), safe YAML (loading.py),
--set overrides (overrides.py) and the messages of a config that does not
validate (messages.py); the names the rest of mlpcli uses.

A config error is one ConfigError naming each key's full path
(``model.layers[1].dropout``) and line, with a "did you mean" for a misspelt
key or name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from .base import type_name
from .loading import MAX_DEPTH, empty_document, parse_yaml, read_stdin, read_text, read_yaml, too_deep
from .messages import explain
from .optimization import OPTIMIZER_CONFIGS, SCHEDULE_CONFIGS
from .overrides import (
    apply_overrides, expand_key, holds, key_text, override_paths, parse_key, set_value, value_text, with_swept,
)
from .schema import Config
from .tasks import MAXIMISED, TASK_METRICS, monitor_problem, monitored, monitors, task_problem

__all__ = [
    "MAXIMISED", "OPTIMIZER_CONFIGS", "SCHEDULE_CONFIGS", "STDIN", "TASK_METRICS", "Config",
    "apply_overrides", "expand_key", "key_text", "load_config", "monitor_problem", "monitored", "monitors", "parse_config",
    "parse_key", "parse_yaml", "read_stdin", "read_stdin_config", "read_yaml", "set_value", "task_problem", "value_text",
    "holds", "with_swept",
]

STDIN = "-"  # the config path that reads the config from standard input
STDIN_NAME = "<stdin>"  # how messages name it


def document(raw, source: str, overrides=()) -> dict:
    """A parsed config document, or {} when it is empty and --set gives every
    key; an empty one alone is refused: every default (digits) is never what an
    empty file meant."""
    if raw is None:  # no document, or only null
        if not overrides:
            raise empty_document(source)
        return {}
    return raw


def read_stdin_config(overrides=()) -> dict:
    """The config on standard input, read and parsed once (a sweep or a tune
    gives every trial this data), empty documents refused as for a file."""
    return document(parse_yaml(read_stdin(), STDIN_NAME)[0], STDIN_NAME, overrides)


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read, override and validate a config file (``-``: standard input); an
    error names each key's line in the file, or (--set) for a key an override set."""
    if str(path) == STDIN:
        text, source = read_stdin(), STDIN_NAME
    else:
        text, source = read_text(Path(path)), str(path)
    raw, lines = parse_yaml(text, source)
    raw = apply_overrides(document(raw, source, overrides), overrides, source=source)
    overridden = override_paths(raw, overrides)  # a [*] path: each item it set
    return parse_config(raw, source=source, lines=lines, overridden=overridden)


def parse_config(raw: Any, source: str = "config", lines: dict | None = None, overridden=()) -> Config:
    """Validate plain data against the schema; one ConfigError listing every
    problem, each at its line in ``source`` (``lines``, from parse_yaml) or as
    set by an override (``overridden``: key paths)."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping of keys ({', '.join(Config.model_fields)}), got {type_name(raw)}"
        )
    if too_deep(raw):  # past what the resolved config's serialisers take (a weights file's meta.config)
        raise ConfigError(f"{source}: nested too deeply (more than {MAX_DEPTH} levels), which no config is")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(explain(exc, source, lines or {}, overridden)) from None
