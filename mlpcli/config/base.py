"""What the schema's sections share, and the wording of the messages about them.

A problem a validator finds travels as a pydantic error with its facts in
``ctx`` (the name, the valid ones, the closest, the key at fault), so
messages.py writes the message from data, never by reading another message.
"""
from __future__ import annotations

import difflib
import json
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError, PydanticKnownError


class Section(BaseModel):
    """A mapping of the config: unknown keys refused, defaults validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


def _not_bool(error_type: str):
    # pydantic's lax mode reads true as 1, and YAML 1.1 reads yes / on as true.
    def check(value):
        if isinstance(value, bool):
            raise PydanticKnownError(error_type)
        return value

    return BeforeValidator(check)


Int = Annotated[int, _not_bool("int_type")]
Float = Annotated[float, _not_bool("float_type")]


# Names other libraries use for our keys (Keras, PyTorch, scikit-learn).
_ALIASES = {
    "learning_rate": "lr", "learning_rate_init": "lr", "beta_1": "beta1", "beta_2": "beta2",
    "epsilon": "eps", "rate": "dropout", "n_epochs": "epochs", "num_epochs": "epochs",
    "max_iter": "epochs", "random_state": "seed", "units_per_layer": "units", "hidden_layers": "layers",
    "optimiser": "optimizer", "solver": "optimizer", "alpha": "weight_decay", "l2": "weight_decay",
    "clipnorm": "clip_norm", "global_clipnorm": "clip_norm", "clipvalue": "clip_value", "rho": "alpha",
    "scheduler": "schedule", "lr_scheduler": "schedule", "lr_schedule": "schedule",
    "kernel_constraint": "max_norm", "maxcor": "history_size", "time_limit": "max_seconds",
}


def closest(value, valid) -> str | None:
    """The valid name a misspelt (or another library's) ``value`` most likely means, or None."""
    valid = [str(v) for v in valid]
    alias = _ALIASES.get(str(value))
    if alias in valid:
        return alias
    match = difflib.get_close_matches(str(value), valid, n=1, cutoff=0.6)
    return match[0] if match else None


def did_you_mean(suggestion: str | None) -> str:
    return f"; did you mean {suggestion!r}?" if suggestion else ""


def unknown_name(kind: str, value: str, valid, shown=None) -> PydanticCustomError:
    """A name missing from a registry (``valid``); ``shown`` lists the valid
    forms in the message when they are more than the names."""
    ctx = {"kind": kind, "value": value, "valid": list(shown or valid), "suggestion": closest(value, valid)}
    return PydanticCustomError("unknown_name", "unknown {kind} {value}", ctx)


def key_problem(path: tuple, detail: str, keys: str | None = None) -> PydanticCustomError:
    """A problem a check across keys finds, reported at the key at fault
    (``path``, whose line the message gets) as ``keys: detail``; ``keys`` is
    the path as written, unless the problem is about several keys."""
    ctx = {"path": path, "keys": keys or key_path(path), "detail": detail}
    return PydanticCustomError("key_problem", "{keys}: {detail}", ctx)


def key_path(loc) -> str:
    """A key's path as messages print it: ('model', 'layers', 1, 'dropout') -> model.layers[1].dropout."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def type_name(value) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def show(value, limit: int = 80) -> str:
    """A value as the user wrote it: strings quoted, YAML's true / false / null;
    cut short past ``limit`` characters (an error stays one readable line)."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, (bool, dict, list)) or value is None:
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
