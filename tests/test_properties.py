"""Hypothesis property tests: configs, weights files and layer gradients.

- Any valid config (drawn from the schema's keys and ranges) validates, and
  its resolved form survives config.yaml (written as the runner writes it,
  read back as `mlp train` reads it) unchanged.
- Any mutation of a valid weights file (truncation, bit flips, a member
  removed, a dtype or shape changed, meta edited) either still loads or is a
  WeightsError (exit 2): never another exception, so never a traceback.
- Dense -> norm -> activation layers of any shape pass the float64 gradient check.
"""
from __future__ import annotations

import io
import json
import warnings

import numpy as np
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mlpcli.artifacts import write_yaml
from mlpcli.trained import load_weights
from mlpcli.config import load_config, parse_config
from mlpcli.engine import ACTIVATIONS, LayerSpec
from mlpcli.errors import WeightsError

from .conftest import ROOT, assert_refused, run_mlp
from .test_engine_gradients import check_network_gradient, make_problem, min_abs_preactivation

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
VALID = ROOT / "tests" / "corpus" / "weights" / "valid.npz"

# --------------------------------------------------------------------------- configs

unit_interval = st.floats(0, 0.95, exclude_max=True)
positive = st.floats(1e-6, 10)


@st.composite
def layers(draw):
    activation = draw(st.sampled_from(sorted(ACTIVATIONS)))
    layer = {"units": draw(st.integers(1, 512)), "activation": activation, "dropout": draw(unit_interval)}
    if activation == "leaky_relu" and draw(st.booleans()):
        layer["negative_slope"] = draw(st.floats(0, 1))
    if activation == "elu" and draw(st.booleans()):
        layer["alpha"] = draw(st.floats(0, 3))
    if activation == "gelu":
        layer["approximate"] = draw(st.sampled_from(["none", "tanh"]))
    if activation == "softplus" and draw(st.booleans()):
        layer["beta"], layer["threshold"] = draw(positive), draw(st.floats(-30, 30))
    layer[draw(st.sampled_from(["batch_norm", "layer_norm"]))] = draw(st.booleans())
    return layer


OPTIMIZERS = {
    "adam": {"lr": positive, "beta1": unit_interval, "beta2": unit_interval, "eps": positive},
    "adamw": {"lr": positive, "beta1": unit_interval, "eps": positive},
    "sgd": {"lr": positive, "momentum": unit_interval},
    "rmsprop": {"lr": positive, "alpha": unit_interval, "momentum": unit_interval, "centered": st.booleans()},
    "adagrad": {"lr": positive, "initial_accumulator_value": st.floats(0, 1)},
}
SCHEDULES = {
    "constant": {},
    "step": {"step_size": st.integers(1, 50), "gamma": positive},
    "exponential": {"gamma": positive},
    "one_cycle": {"pct_start": st.floats(0.05, 0.95), "div_factor": positive},
}


@st.composite
def configs(draw):
    name = draw(st.sampled_from(sorted(OPTIMIZERS)))
    optimizer = {"name": name, **{k: draw(s) for k, s in OPTIMIZERS[name].items() if draw(st.booleans())}}
    schedule_name = draw(st.sampled_from(sorted(SCHEDULES)))
    schedule = {"name": schedule_name, **{k: draw(s) for k, s in SCHEDULES[schedule_name].items()}}
    val_size = draw(st.sampled_from([0.0, 0.1, 0.25]))
    train = {
        "epochs": draw(st.integers(1, 1000)),
        "batch_size": draw(st.integers(2, 4096)),
        "optimizer": optimizer,
        "schedule": schedule,
        "l1": draw(st.floats(0, 1)),
        "l2": draw(st.floats(0, 1)),
        "shuffle": draw(st.booleans()),
        "label_smoothing": draw(unit_interval),
        draw(st.sampled_from(["clip_norm", "clip_value", "max_norm"])): draw(st.none() | positive),
    }
    if draw(st.booleans()):
        train["early_stopping"] = {
            "monitor": "val_loss" if val_size else "train_loss",
            "patience": draw(st.integers(1, 50)),
            "min_delta": draw(st.floats(0, 1)),
            "restore_best": draw(st.booleans()),
        }
    return {
        "seed": draw(st.integers(0, 2**63)),
        "data": {
            "dataset": draw(st.sampled_from(["iris", "digits", "moons", "blobs", "classification"])),
            "test_size": draw(st.floats(0.05, 0.5)),
            "val_size": val_size,
            "scale": draw(st.sampled_from(["standard", "minmax", "robust", "none"])),
        },
        "model": {
            "layers": draw(st.lists(layers(), max_size=4)),
            "init": draw(st.sampled_from(["auto", "he_normal", "glorot_uniform", "lecun_normal", "pytorch"])),
            "dtype": draw(st.sampled_from(["float32", "float64"])),
        },
        "train": train,
        "output": {"dir": draw(st.none() | st.text("abcdef/_-.", min_size=1, max_size=12))},
    }


@settings(SETTINGS, max_examples=60)
@given(raw=configs())
def test_valid_configs_validate_and_round_trip_through_config_yaml(raw, tmp_path):
    for layer in raw["model"]["layers"]:  # one normalisation per layer (the schema refuses both)
        assume(not (layer.get("batch_norm") and layer.get("layer_norm")))
    resolved = parse_config(raw).to_dict()
    write_yaml(tmp_path / "config.yaml", resolved)  # as the runner writes it
    assert load_config(tmp_path / "config.yaml").to_dict() == resolved
    # The raw config from a file (line numbers recorded) gives the same config as from a dict.
    write_yaml(tmp_path / "raw.yaml", raw)
    assert load_config(tmp_path / "raw.yaml").to_dict() == resolved


# --------------------------------------------------------------------------- weights files


def _members(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _savez(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
META_KEYS = ["format", "format_version", "task", "classes", "n_features", "config", "metrics", "encoder"]
DTYPES = ["<f8", "<f4", ">f4", "<f2", "<i8", "<u1", "|b1", "<c8", "<U3", "|S2"]


@st.composite
def mutations(draw):
    """A valid weights file changed in one or two ways; returns the new bytes."""
    data = VALID.read_bytes()
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["truncate", "flip", "remove", "dtype", "shape", "meta", "meta_config"]))
        if kind == "truncate" and data:
            data = data[: draw(st.integers(0, len(data) - 1))]
        elif kind == "flip" and data:
            buffer = bytearray(data)
            for _ in range(draw(st.integers(1, 8))):
                buffer[draw(st.integers(0, len(buffer) - 1))] ^= 1 << draw(st.integers(0, 7))
            data = bytes(buffer)
        elif kind not in ("truncate", "flip"):
            try:
                arrays = _members(data)
            except Exception:  # an earlier mutation broke the zip: keep the broken bytes
                continue
            name = draw(st.sampled_from(sorted(arrays)))
            if kind == "remove":
                del arrays[name]
            elif kind == "dtype":
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # complex -> real, on purpose
                        arrays[name] = arrays[name].astype(draw(st.sampled_from(DTYPES)))
                except (ValueError, TypeError):
                    continue
            elif kind == "shape":
                grow = draw(st.integers(-2, 2))
                flat = arrays[name].reshape(-1)
                arrays[name] = np.resize(flat, max(flat.size + grow, 0)).reshape(
                    draw(st.sampled_from([(-1,), (1, -1), (-1, 1)]))
                ) if flat.size + grow > 0 else flat[:0]
            else:
                try:
                    meta = json.loads(str(arrays["meta"]))
                    assert isinstance(meta, dict) and isinstance(meta.get("config"), dict)
                except (KeyError, ValueError, AssertionError):  # an earlier mutation broke meta
                    continue
                if kind == "meta":
                    key = draw(st.sampled_from(META_KEYS))
                    if draw(st.booleans()):
                        meta.pop(key, None)
                    else:
                        meta[key] = draw(JSON)
                else:
                    section = draw(st.sampled_from(["data", "model", "train"]))
                    meta["config"][section] = {**meta["config"].get(section, {}), draw(st.text(max_size=8)): draw(JSON)}
                arrays["meta"] = np.array(json.dumps(meta))
            data = _savez(arrays)
    return data


@settings(SETTINGS, max_examples=150)
@given(data=mutations())
def test_a_mutated_weights_file_loads_or_is_a_weights_error(data, tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(data)
    try:
        model = load_weights(path)
    except WeightsError as exc:
        assert str(path) in str(exc)
        return
    # Still a usable model: the same inputs give predictions of the right shape.
    assert model.output(np.zeros((2, model.n_features))).shape[0] == 2


def test_mutated_weights_files_through_the_cli(tmp_path):
    # A few mutations through the real command: exit 2 with one Error: line, or a clean load.
    rng = np.random.default_rng(0)
    original = VALID.read_bytes()
    cases = {
        "truncated.npz": original[: int(rng.integers(1, len(original)))],
        "flipped.npz": bytes(b ^ (1 << int(rng.integers(8))) if i in set(rng.integers(0, len(original), 4)) else b
                             for i, b in enumerate(original)),
        "no-bias.npz": _savez({k: v for k, v in _members(original).items() if k != "dense.1.bias"}),
        "float64.npz": _savez({k: (v.astype("<f8") if k == "dense.1.weight" else v) for k, v in _members(original).items()}),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        result = run_mlp("info", name, cwd=tmp_path)
        if result.returncode != 0:
            assert_refused(result, name)


# --------------------------------------------------------------------------- layer gradients


@settings(SETTINGS, max_examples=40)
@given(
    n_in=st.integers(1, 6),
    units=st.integers(1, 6),
    batch=st.integers(1, 5),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    options=st.fixed_dictionaries({}, optional={
        "negative_slope": st.floats(0, 1), "alpha": st.floats(0.1, 2), "approximate": st.sampled_from(["none", "tanh"]),
        "beta": st.floats(0.5, 3), "threshold": st.floats(-2, 20),
    }),
    layer_norm=st.booleans(),
    loss=st.sampled_from(["cross_entropy", "binary_cross_entropy", "mse"]),
    seed=st.integers(0, 2**32 - 1),
)
# Layer norm over 2 units, batch 1: its output is +-1 whatever the dense layer below
# gives it (up to eps), so that layer's true gradient is ~1e-6..1e-8, down at the
# noise of central differences; a fixed 1e-9 floor failed it.
@example(n_in=6, units=2, batch=1, activation="identity", options={}, layer_norm=True, loss="mse", seed=17)
def test_random_layer_shapes_pass_the_gradient_check(n_in, units, batch, activation, options, layer_norm, loss, seed):
    from mlpcli.engine.activations import ACTIVATION_OPTIONS

    options = {k: v for k, v in options.items() if k in ACTIVATION_OPTIONS.get(activation, {})}
    if activation == "softplus" and "beta" in options and "threshold" in options:
        options["threshold"] = abs(options["threshold"]) + 0.5  # keep each step away from the switch point
    n_outputs = {"cross_entropy": 3, "binary_cross_entropy": 1, "mse": 2}[loss]
    hidden = [LayerSpec(units, activation, activation_options=options, norm="layer_norm" if layer_norm else None)]
    network, x, y = make_problem(loss, n_in, hidden, n_outputs, batch, seed)
    assume(min_abs_preactivation(network, x) > 1e-3)
    check_network_gradient(network, x, y)


def test_the_unmutated_file_loads():
    # The property above starts from a valid file, so a refusal is the mutation's doing.
    assert load_weights(VALID).n_features == 4
