"""Name lookups: every name a config can use resolves through one plain dict per concept."""
from __future__ import annotations


def lookup(kind: str, registry: dict, name: str, extra=()):
    """registry[name], or a ValueError that lists the valid names."""
    try:
        return registry[name]
    except KeyError:
        valid = ", ".join([*extra, *sorted(registry)])
        raise ValueError(f"unknown {kind} {name!r}; valid: {valid}") from None
