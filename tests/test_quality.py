"""The shipped configs reach their quality bars (fixed seeds, full training)."""
import pytest

import mlpcli

from .conftest import CONFIGS

BARS = {
    "digits": ("accuracy", 0.97),
    "breast_cancer": ("accuracy", 0.95),
    "diabetes": ("r2", 0.4),
    "iris": ("accuracy", 0.9),
    "moons": ("accuracy", 0.9),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BARS))
def test_shipped_config_reaches_its_bar(name, tmp_path):
    metric, bar = BARS[name]
    result = mlpcli.train(CONFIGS / f"{name}.yaml", tmp_path / name)
    score = result.metrics["test"][metric]
    assert score >= bar, f"{name}: test {metric} {score:.4f} < {bar}"
