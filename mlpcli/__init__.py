"""mlpcli: train multi-layer perceptrons from a YAML spec, on NumPy.

    >>> import mlpcli
    >>> result = mlpcli.train("configs/digits.yaml", out="runs/digits")
    >>> model = mlpcli.load("runs/digits/weights.npz")
    >>> model.predict(X), model.predict_proba(X)
"""
from ._version import __version__


def train(config_or_path, out=None, **kwargs):
    """Train from a config (path, dict or Config); returns a RunResult with
    run_dir, metrics, history and model. See runner.train for the options."""
    from .runner import train as _train

    return _train(config_or_path, out, **kwargs)


def cross_validate(config_or_path, folds=5, **kwargs):
    """K-fold cross-validation, as ``mlp cv``: a dict with ``folds`` and
    ``metrics`` ({name: {mean, std, values}}). See crossval.cross_validate."""
    from .crossval import cross_validate as _cross_validate

    return _cross_validate(config_or_path, folds, **kwargs)


def load(path):
    """The TrainedModel in a weights file, with predict and predict_proba."""
    from .trained import load_weights

    return load_weights(path)


__all__ = ["__version__", "train", "cross_validate", "load"]
