"""Weights files written by an earlier format version keep loading."""
import json

import numpy as np

import mlpcli

from .conftest import ROOT

V1_FILE = ROOT / "tests" / "data" / "weights_v1_iris.npz"  # written by mlpcli before format version 2


def test_a_version_1_weights_file_loads_and_scores_as_it_did():
    with np.load(V1_FILE, allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"]))
    assert meta["format_version"] == 1
    model = mlpcli.load(V1_FILE)
    from mlpcli.runner import evaluate

    scored = evaluate(V1_FILE)
    # The test metrics recorded when it was trained are reproduced exactly from the file.
    for name in ("loss", "accuracy", "balanced_accuracy", "f1_macro"):
        assert scored[name] == meta["metrics"]["test"][name], name
    assert model.predict(np.zeros((1, 4))).shape == (1,)
