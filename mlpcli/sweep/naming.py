"""A sweep trial's folder name: ``key=value,...`` with the shortest key suffix
that tells the swept keys apart (``lr=0.001,dropout=0.2,seed=1``), short,
readable, filesystem-safe and the same on every run of the sweep (a re-run
finds its finished trials by these names)."""
from __future__ import annotations

import hashlib
import re

from ..config import parse_key

NAME_LIMIT = 120  # a whole name, as most file systems hold 255 bytes
VALUE_LIMIT = 40  # one value; a longer one is cut, with a hash of the whole
_HASH = 8


def short_keys(keys: list[str]) -> dict[str, str]:
    """The shortest suffix of each key path that no other swept key ends with:
    lr, dropout, 0.dropout (model.layers[0].dropout beside model.layers[1].dropout);
    a [*] part reads ``all`` (layers.all.dropout), keeping ``*`` out of folder names."""
    paths = {key: parse_key(key) for key in keys}
    short = {}
    for key, path in paths.items():
        for n in range(1, len(path) + 1):
            suffix = path[-n:]
            if not any(other != key and len(p) >= n and p[-n:] == suffix for other, p in paths.items()):
                break
        short[key] = ".".join("all" if part == "*" else str(part) for part in suffix)
    return short


def safe(text: str) -> str:
    """Text as a file name can hold it: a/b c -> a_b_c."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text)


def value_name(text: str, value) -> str:
    """A value (``text`` as given, ``value`` parsed) in a folder name: a number
    or string as given (made safe), a list as its items joined by ``+`` and a
    mapping as ``key-value`` pairs joined by ``_`` ([{units: 64}, {units: 32}]
    -> units-64+units-32); past VALUE_LIMIT characters, cut and ended with a
    hash of the whole value text."""
    name = _compact(value) if isinstance(value, (list, dict)) else safe(text)
    if len(name) > VALUE_LIMIT:
        name = f"{name[:VALUE_LIMIT - _HASH - 1]}-{_digest(text)}"
    return name


def _compact(value) -> str:
    if isinstance(value, list):
        return "+".join(_compact(v) for v in value) if value else "empty"
    if isinstance(value, dict):
        return "_".join(f"{safe(str(k))}-{_compact(v)}" for k, v in value.items()) if value else "empty"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return safe(str(value))


def trial_name(parts: list[str], force_hash: bool = False) -> str:
    """``key=value`` parts joined by commas ("base" for none); past NAME_LIMIT,
    or with ``force_hash`` (two trials alike once made safe), cut and ended with
    a hash of the parts."""
    name = ",".join(parts) or "base"
    if force_hash or len(name) > NAME_LIMIT:
        name = f"{name[:NAME_LIMIT - _HASH - 1]}-{_digest(chr(0).join(parts))}"
    return name


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:_HASH]
