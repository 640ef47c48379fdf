"""The scikit-learn estimators' parameters and the config they stand for.

``estimator_config`` turns an estimator's parameters (``get_params()``) into
the config (before defaults) its ``fit`` trains with; ``params_from_config``
goes back, from a weights file's resolved config. scikit-learn's own names
(``random_state``, ``max_iter``, ``learning_rate_init``,
``validation_fraction``) are accepted next to the config's (``seed``,
``epochs``, ``lr``, ``val_size``): ``resolve_aliases`` says which one counts.
"""
from __future__ import annotations

import numpy as np

# scikit-learn's name -> (the estimator's config-named parameter, the config key both set).
ALIASES = {
    "random_state": ("seed", "seed"),
    "max_iter": ("epochs", "train.epochs"),
    "learning_rate_init": ("lr", "train.optimizer.lr"),
    "validation_fraction": ("val_size", "data.val_size"),
}
# The config-named parameters' defaults (the config's own): one left at it yields to its scikit-learn name.
ALIASED_DEFAULTS = {"seed": 0, "epochs": 50, "lr": 0.001, "val_size": 0.1}
# MLPClassifier's batch_size='auto': min(200, n_samples).
AUTO_BATCH = 200
IN_MEMORY_DATASET = "in-memory.npz"


def resolve_aliases(params: dict, owner: str) -> dict:
    """``params`` with each scikit-learn name folded into its config name and
    removed. A scikit-learn name left at None defers to the config name; one
    that is set wins over a config name left at its default; both set and
    disagreeing is a ValueError naming the two and the config key."""
    params = dict(params)
    for sk_name, (name, key) in ALIASES.items():
        given = params.pop(sk_name, None)
        if given is None:
            continue
        if sk_name == "random_state":
            given = _seed(given, owner)
        ours = params[name]
        if ours != ALIASED_DEFAULTS[name] and ours != given:
            raise ValueError(
                f"{owner}: {name}={ours!r} and {sk_name}={given!r} are two names for one setting ({key}); "
                "give one of them, or the same value to both"
            )
        params[name] = given
    return params


def mirror_aliases(current: dict, params: dict) -> dict:
    """set_params' ``params`` with each setting named by one of its two names
    also given to the other (when that one holds a value), so the last value
    set counts: set_params(max_iter=100) on MLPNetClassifier(epochs=20) trains
    100 epochs, as scikit-learn's tools expect. A call naming both is left as it is."""
    params = dict(params)
    for sk_name, (name, _) in ALIASES.items():
        if (sk_name in params) == (name in params) or sk_name not in current:
            continue
        if sk_name in params:
            value = params[sk_name]
            if value is not None and (sk_name != "random_state" or _is_int(value)):
                params[name] = value
        elif current[sk_name] is not None and (sk_name != "random_state" or _is_int(current[sk_name])):
            params[sk_name] = params[name]
    return params


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _seed(random_state, owner: str) -> int:
    """An int seed from scikit-learn's random_state: an int, or a RandomState (an int drawn from it)."""
    if _is_int(random_state):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    raise ValueError(
        f"{owner}: random_state must be an int, a numpy RandomState or None (use seed), got {random_state!r}"
    )


def _layers(params: dict) -> list[dict]:
    sizes = params["hidden_layer_sizes"]
    if sizes is None:
        sizes = ()
    elif isinstance(sizes, (int, np.integer, dict)):
        sizes = (sizes,)
    layers = []
    for size in sizes:
        shared = {"activation": params["activation"], "dropout": params["dropout"]}
        # a model.layers entry as a dict, as in a config file; an int is its units
        layers.append({**shared, **size} if isinstance(size, dict) else {"units": size, **shared})
        if params["batch_norm"] and "batch_norm" not in layers[-1]:
            layers[-1]["batch_norm"] = True
    return layers


def estimator_config(params: dict, task: str, n_samples: int) -> dict:
    """The config (before defaults are filled in) an estimator's resolved
    parameters (resolve_aliases) describe, for ``task`` on ``n_samples`` rows."""
    p = params
    optimizer = dict(p["optimizer"]) if isinstance(p["optimizer"], dict) else {"name": p["optimizer"]}
    if p["lr"] is not None and optimizer.get("name", "adam") != "lbfgs":
        optimizer.setdefault("lr", p["lr"])
    schedule = dict(p["schedule"]) if isinstance(p["schedule"], dict) else {"name": p["schedule"]}
    stop = None
    if p["early_stopping"]:
        stop = {"monitor": p["monitor"], "patience": p["patience"], "min_delta": p["min_delta"]}
    batch_size = min(AUTO_BATCH, n_samples) if p["batch_size"] == "auto" else p["batch_size"]
    train = {
        "epochs": p["epochs"],
        "batch_size": batch_size,
        "optimizer": optimizer,
        "schedule": schedule,
        "weight_decay": p["weight_decay"],
        "l1": p["l1"],
        "l2": p["l2"],
        "clip_norm": p["clip_norm"],
        "early_stopping": stop,
        "shuffle": p["shuffle"],
        "max_seconds": p["max_seconds"],
    }
    for key in ("class_weight", "label_smoothing"):  # the classifier's only
        if key in p:
            train[key] = p[key]
    return {
        "seed": p["seed"],
        "data": {"dataset": IN_MEMORY_DATASET, "val_size": p["val_size"], "scale": p["scale"]},
        "model": {"task": task, "layers": _layers(p), "init": p["init"], "dtype": p["dtype"]},
        "train": train,
        "output": {"plots": False},
    }


def params_from_config(config: dict, names) -> dict:
    """Estimator parameters (those of ``names`` an estimator takes) from a
    resolved config (from_weights)."""
    train, model = config["train"], config["model"]
    stop = train["early_stopping"]
    optimizer = dict(train["optimizer"])
    lr = optimizer.pop("lr", None)
    schedule = dict(train["schedule"])
    params = {
        "hidden_layer_sizes": tuple(dict(layer) for layer in model["layers"]),
        "optimizer": optimizer if len(optimizer) > 1 else optimizer["name"],
        "lr": lr,
        "batch_size": train["batch_size"],
        "epochs": train["epochs"],
        "schedule": schedule if len(schedule) > 1 else schedule["name"],
        "weight_decay": train["weight_decay"],
        "l1": train["l1"],
        "l2": train["l2"],
        "clip_norm": train["clip_norm"],
        "early_stopping": bool(stop),
        "val_size": config["data"]["val_size"],
        "scale": config["data"]["scale"],
        "init": model["init"],
        "dtype": model["dtype"],
        "shuffle": train["shuffle"],
        "max_seconds": train["max_seconds"],
        "seed": config["seed"],
        "class_weight": train.get("class_weight"),
        "label_smoothing": train.get("label_smoothing", 0.0),
    }
    if stop:
        params.update(monitor=stop["monitor"], patience=stop["patience"], min_delta=stop["min_delta"])
    return {k: v for k, v in params.items() if k in names}
