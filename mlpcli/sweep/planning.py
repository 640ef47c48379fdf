"""A sweep's plan: --grid, --range / --random and --seeds parsed and expanded
into trials (each a name, its values and its --set overrides), every trial's
config checked, the ranking metric, and `--print-commands`."""
from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import artifacts
from ..errors import ConfigError
from .naming import short_keys, trial_name, value_name

# The random draws' stream: one past prepare.STREAMS, so it never repeats a training stream.
_RANDOM_STREAM = 5


@dataclass(frozen=True)
class Trial:
    name: str  # the trial's folder under the sweep folder
    params: dict  # swept key (as given: model.layers[*].dropout) -> value (parsed YAML), seed included with --seeds
    overrides: tuple[str, ...]  # the sweep's --set, then this trial's KEY=VALUE
    seed: int = 0  # the trial's resolved seed
    group: str = ""  # the name without the seed: trials that differ only in seed


@dataclass
class Plan:
    config: Path | str  # absolute, or "-": read from standard input (then ``raw`` holds it)
    sweep_dir: Path
    trials: list[Trial]
    base_sha256: str  # the resolved base config (with --set): a re-run must match it
    metric: str  # the figure that ranks trials ("main": the task's main metric)
    split: str  # "val" or "test": where that figure comes from
    swept: list[str] = field(default_factory=list)  # the keys as given, in the order given
    raw: dict | None = None  # a config read from standard input, as parsed: read once, given to every trial


def _key(text: str, option: str) -> str:
    """A swept key, checked as --set reads it and kept as given (results,
    plots and the leaderboard show it so): model.layers[*].dropout."""
    from ..config import parse_key

    parse_key(text, option)
    return text.strip()


def split_values(text: str) -> list[str]:
    """``0.1,0.01`` -> ['0.1', '0.01']; commas inside [], {} or quotes stay
    (``[64, 32],[128]`` is two values)."""
    values, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append(text[start:i].strip())
            start = i + 1
    values.append(text[start:].strip())
    return values


def _yaml_value(text: str, option: str):
    """A value as --set reads it (the config's YAML loader: 1e-3 is a float)."""
    from ..config import parse_yaml

    return parse_yaml(text, f"{option}: the value {text!r}")[0]


def parse_grid(items) -> list[tuple[str, list[str]]]:
    """--grid KEY=V1,V2 ... -> [(key, [text, ...])], values checked as YAML."""
    grid = []
    for item in items:
        key, sep, text = item.partition("=")
        option = f"--grid {item}"
        if not sep:
            raise ConfigError(f"{option}: expected KEY=V1,V2,..., e.g. --grid train.optimizer.lr=0.01,0.001")
        values = split_values(text)
        if any(v == "" for v in values):
            raise ConfigError(f"{option}: an empty value; separate the values with single commas")
        for v in values:
            _yaml_value(v, option)
        if len(set(values)) != len(values):
            raise ConfigError(f"{option}: a value is listed twice")
        grid.append((_key(key, option), values))
    return grid


def parse_ranges(items) -> list[tuple[str, float, float, bool]]:
    """--range KEY=LOW:HIGH[:log] -> [(key, low, high, log)]; integers when LOW and HIGH both are."""
    ranges = []
    for item in items:
        key, sep, text = item.partition("=")
        option = f"--range {item}"
        parts = text.split(":")
        if not sep or len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise ConfigError(f"{option}: expected KEY=LOW:HIGH or KEY=LOW:HIGH:log, e.g. train.optimizer.lr=1e-4:1e-1:log")
        bounds = [_yaml_value(p, option) for p in parts[:2]]
        if not all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in bounds):
            raise ConfigError(f"{option}: LOW and HIGH must be numbers")
        low, high = bounds
        log = len(parts) == 3
        if not low < high:
            raise ConfigError(f"{option}: LOW must be below HIGH, got {low} and {high}")
        if log and low <= 0:
            raise ConfigError(f"{option}: a log range needs LOW > 0, got {low}")
        ranges.append((_key(key, option), low, high, log))
    return ranges


def draw(ranges, n: int, seed: int) -> list[list[str]]:
    """``n`` points, one value text per range: uniform in [LOW, HIGH], or
    log-uniform with ``log``; integers (HIGH included) when both bounds are
    integers. Reproducible from ``seed``; floats kept to 6 significant digits."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_RANDOM_STREAM,)))
    points = []
    for _ in range(n):
        point = []
        for _, low, high, log in ranges:
            integer = isinstance(low, int) and isinstance(high, int)
            top = high + 1 if integer else high  # an integer range includes HIGH
            u = rng.uniform(math.log(low), math.log(top)) if log else rng.uniform(low, top)
            value = math.exp(u) if log else u
            point.append(str(min(int(math.floor(value)), high)) if integer else f"{value:.6g}")
        points.append(point)
    return points


def expand(grid, ranges, n_random: int, seeds: int | None, base_seed: int, sets=()) -> list[Trial]:
    """The trials: every grid point x every random point (draws shared by the
    grid points) x seeds base_seed, base_seed + 1, ... (``seeds`` K; None:
    the config's own seed). Names are ``key=value,...`` with the shortest
    distinguishing key suffix, filesystem-safe, stable across runs (naming.py)."""
    from ..config import with_swept

    keys = [k for k, _ in grid] + [k for k, *_ in ranges]
    if seeds is not None:
        keys.append("seed")
    _check_keys(keys, seeds is not None)
    short, order = short_keys(keys), _in_order(keys)
    grid_points = [[]]
    for _, values in grid:
        grid_points = [p + [v] for p in grid_points for v in values]
    random_points = draw(ranges, n_random, base_seed) if ranges else [[]]
    seed_values = [[str(base_seed + i)] for i in range(seeds)] if seeds is not None else [[]]
    trials, names, groups = [], {}, {}
    for g in grid_points:
        for r in random_points:
            for s in seed_values:
                texts = dict(zip(keys, g + r + s))
                params = {k: _yaml_value(v, "--grid") for k, v in texts.items()}
                parts = {k: f"{short[k]}={value_name(v, params[k])}" for k, v in texts.items()}
                group_parts = [part for k, part in parts.items() if k != "seed"]
                overrides = tuple(with_swept(sets, [f"{k}={texts[k]}" for k in order]))
                name = _unique(names, list(parts.values()), overrides)
                group = _unique(groups, group_parts, tuple(o for o in overrides if not o.startswith("seed=")))
                trials.append(Trial(name, params, overrides, group=group))
    return trials


def _unique(taken: dict, parts: list[str], what: tuple) -> str:
    """The name of ``parts``, with a hash when another ``what`` already has
    it (two values alike once made safe: a/b and a_b)."""
    name = trial_name(parts)
    if taken.get(name, what) != what:
        name = trial_name(parts, force_hash=True)
    taken[name] = what
    return name


def _check_keys(keys: list[str], seeds: bool) -> None:
    """Each key once, however written (model.layers.0.units is model.layers[0].units),
    and no [*] beside an index of the same list (which would set that item twice)."""
    from ..config import parse_key

    paths = [parse_key(k) for k in keys]
    for i, (key, path) in enumerate(zip(keys, paths)):
        for other, seen in zip(keys[:i], paths[:i]):
            if seen == path:
                what = "seed is swept by --seeds" if seeds and path == ("seed",) else f"swept twice ({other})"
                raise ConfigError(f"{key}: {what}; give each key once")
            if len(seen) == len(path) and all(a == b or "*" in (a, b) for a, b in zip(seen, path)):
                raise ConfigError(f"{key}: also set by {other}; sweep one of them")


def _in_order(keys: list[str]) -> list[str]:
    """The keys in the order their overrides apply: after any swept key that
    holds them (model.layers before model.layers[*].dropout, which the new
    list would replace), else as given."""
    from ..config import holds, parse_key

    paths = {k: parse_key(k) for k in keys}
    return sorted(keys, key=lambda k: sum(holds(paths[o], paths[k]) for o in keys))


def plan(config_path, *, grid=(), ranges=(), n_random: int = 0, seeds: int | None = None, sets=(),
         out=None) -> Plan:
    """Parse and check everything a sweep needs, writing nothing: the base
    config with --set, every trial's config (an unknown key or bad value is a
    ConfigError naming the trial), the ranking metric and the sweep folder."""
    from ..config import STDIN, read_stdin_config

    raw = read_stdin_config(sets) if str(config_path) == STDIN else None
    source = raw if raw is not None else config_path
    grid, ranges = parse_grid(grid), parse_ranges(ranges)
    if ranges and n_random < 1:
        raise ConfigError("--range: give the number of random draws with --random N")
    if n_random and not ranges:
        raise ConfigError(f"--random {n_random}: give the ranges to draw from with --range KEY=LOW:HIGH[:log]")
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds {seeds}: must be 1 or more")
    base, stem = _resolve(source, sets)
    resolved = base.to_dict()
    trials = expand(grid, ranges, n_random, seeds, resolved["seed"], sets)
    _check_paths(source, sets, grid, ranges)
    checked = []
    for trial in trials:
        try:
            cfg, _ = _resolve(source, trial.overrides)
        except ConfigError as exc:
            raise ConfigError(f"trial {trial.name}: {exc}") from None
        checked.append(Trial(trial.name, trial.params, trial.overrides, cfg.seed, trial.group))
    metric, split = _ranking(resolved)
    sweep_dir = Path(out) if out else Path("sweeps") / stem
    return Plan(
        STDIN if raw is not None else Path(config_path).resolve(), sweep_dir.resolve(), checked,
        artifacts.config_hash(resolved), metric, split,
        [k for k, _ in grid] + [k for k, *_ in ranges] + (["seed"] if seeds is not None else []), raw,
    )


def _check_paths(source, sets, grid, ranges) -> None:
    """Each swept key set (to its first value, in the order they apply) in the
    base config: a path it cannot take ([*] on a missing or empty list or on a
    mapping, an index past a list's end) is refused naming the option."""
    from ..config import apply_overrides, parse_yaml, read_text, set_value

    name = "<stdin>" if isinstance(source, dict) else str(source)
    raw = source if isinstance(source, dict) else parse_yaml(read_text(Path(source)), name)[0]
    raw = apply_overrides(raw or {}, sets, source=name)
    first = {key: (f"--grid {key}", values[0]) for key, values in grid}
    first.update({key: (f"--range {key}", str(low)) for key, low, *_ in ranges})
    for key in _in_order(list(first)):
        option, text = first[key]
        set_value(raw, key, _yaml_value(text, option), source=name, option=option)


def _resolve(source, overrides):
    """A config path or (stdin) parsed data with overrides -> (Config, name), as runner.resolve_config;
    an error in stdin's data names <stdin>."""
    from ..runner import resolve_config

    if not isinstance(source, dict):
        return resolve_config(source, overrides)
    try:
        cfg, _ = resolve_config(source, overrides)
    except ConfigError as exc:
        message = str(exc)  # parse_config names data "config"
        raise ConfigError("<stdin>" + message[len("config"):] if message.startswith("config") else message) from None
    return cfg, "stdin"


def _ranking(resolved: dict) -> tuple[str, str]:
    """(metric, split) that ranks the trials: early stopping's monitor when it
    watches a validation figure (val_accuracy -> accuracy on the validation
    split), else the task's main metric ("main": accuracy, subset_accuracy or
    r2, known once a trial has run), on the validation split if there is one."""
    stopping = resolved["train"]["early_stopping"]
    if stopping and stopping["monitor"].startswith("val_"):
        return stopping["monitor"].removeprefix("val_"), "val"
    return "main", "val" if resolved["data"]["val_size"] > 0 else "test"


def commands(p: Plan, program: str = "mlp") -> list[str]:
    """One shell-quoted `mlp train` line per trial (for GNU parallel or a Slurm array)."""
    if p.raw is not None:
        raise ConfigError("--print-commands: needs a config file, not - (standard input): each command reads its config")
    lines = []
    for t in p.trials:
        args = [program, "train", str(p.config), "--out", str(p.sweep_dir / t.name), "--quiet"]
        for item in t.overrides:
            args += ["--set", item]
        lines.append(" ".join(shlex.quote(a) for a in args))
    return lines
