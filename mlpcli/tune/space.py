"""A tune's search space: --range KEY=LOW:HIGH[:log] and --choice KEY=A,B,C
parsed (with `mlp sweep`'s parsers, so its key syntax) into parameters, each
an Optuna distribution and the --set override a drawn value becomes."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from ..sweep.planning import parse_grid, parse_ranges

SCALARS = (bool, int, float, str, type(None))  # what Optuna stores as a categorical choice


@dataclass(frozen=True)
class Param:
    """One searched key. ``key`` is the dotted path as `mlp sweep` parses it
    (model.layers[0].units, model.layers[*].dropout) and the Optuna parameter's name; ``texts`` are a
    choice's values as given (each one's --set text)."""

    key: str
    kind: str  # "float", "int" or "categorical"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple = ()
    texts: tuple[str, ...] = field(default=(), compare=False)

    def record(self) -> dict:
        """The parameter as tune.json's "search" holds it."""
        record = {"key": self.key, "kind": self.kind, "low": self.low, "high": self.high, "log": self.log,
                  "choices": list(self.choices) if self.kind == "categorical" else None}
        if self.kind == "categorical":
            record["texts"] = list(self.texts)  # each choice as --set writes it
        return record

    def suggest(self, trial):
        """The trial's value for this key, drawn by the study's sampler (or fixed by an enqueued retry)."""
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high, log=self.log)
        return trial.suggest_categorical(self.key, list(self.choices))

    def override(self, value) -> str:
        """``value`` as a --set KEY=VALUE item (floats in full: repr reads back as the same float)."""
        if self.kind == "categorical":
            return f"{self.key}={self.texts[list(self.choices).index(value)]}"
        return f"{self.key}={int(value) if self.kind == 'int' else repr(float(value))}"


def parse_space(ranges=(), choices=()) -> list[Param]:
    """--range and --choice items -> parameters, in the order given; a key
    searched twice, or no key at all, is a ConfigError."""
    from ..config import parse_yaml

    params = [Param(key, "int" if isinstance(low, int) and isinstance(high, int) else "float", low, high, log)
              for key, low, high, log in parse_ranges(ranges)]
    for key, texts in _parse_choices(choices):
        values = tuple(parse_yaml(t, f"--choice {key}: the value {t!r}")[0] for t in texts)
        # Optuna keeps scalars; a list or mapping value ([64, 32]) is searched by its text.
        plain = all(isinstance(v, SCALARS) for v in values) and len({repr(v) for v in values}) == len(values)
        params.append(Param(key, "categorical", choices=values if plain else tuple(texts), texts=tuple(texts)))
    keys = [p.key for p in params]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"{twice[0]}: searched twice; give each key once (--range or --choice)")
    if not params:
        raise ConfigError("mlp tune: nothing to search; give --range KEY=LOW:HIGH[:log] or --choice KEY=A,B,C")
    return params


def _parse_choices(items) -> list[tuple[str, list[str]]]:
    """--choice has --grid's syntax (parse_grid); its messages must name --choice."""
    try:
        return parse_grid(items)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("--grid", "--choice")) from None


def sample_overrides(params: list[Param]) -> list[list[str]]:
    """--set lists that put every parameter at each of its bounds / choices
    (each config is checked before anything is written: an unknown key or a
    value out of the schema's range is refused up front)."""
    width = max(2 if p.kind != "categorical" else len(p.choices) for p in params)
    samples = []
    for i in range(width):
        items = []
        for p in params:
            values = [p.low, p.high] if p.kind != "categorical" else list(p.choices)
            items.append(p.override(values[min(i, len(values) - 1)]))
        samples.append(items)
    return samples


def overrides(params: list[Param], values: dict) -> list[str]:
    """A trial's drawn values (by key) as --set items, in the search's order."""
    return [p.override(values[p.key]) for p in params]
