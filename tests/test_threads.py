"""When an optimizer update runs on two threads (mlpcli.threads): a large
model, with OpenBLAS's threads told to sleep soon after a product."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from mlpcli import threads
from mlpcli.engine import MLP, LayerSpec, get_optimizer
from mlpcli.training import FitOptions, fit

TIMEOUT_VARIABLES = (threads.BLAS_TIMEOUT_VARIABLE, "GOTO_THREAD_TIMEOUT")


def _env_without_timeouts(**extra):
    return {**{k: v for k, v in os.environ.items() if k not in TIMEOUT_VARIABLES}, **extra}


def _openblas(num_threads, api="openblas"):
    return lambda: [{"user_api": "blas", "internal_api": api, "num_threads": num_threads}]


@pytest.mark.parametrize(
    "n_params, timeout, pools, expected",
    [
        (threads.SPLIT_UPDATE_SIZE, "17", _openblas(2), 2),
        (threads.SPLIT_UPDATE_SIZE - 1, "17", _openblas(2), 1),  # too small to gain from the hand-over
        (threads.SPLIT_UPDATE_SIZE, None, _openblas(2), 1),  # OpenBLAS's threads spin ~0.1 s: the second core is taken
        (threads.SPLIT_UPDATE_SIZE, "20", _openblas(2), 1),
        (threads.SPLIT_UPDATE_SIZE, "4", _openblas(4), 2),
        (threads.SPLIT_UPDATE_SIZE, "17", _openblas(1), 1),  # a sweep's worker with one BLAS thread
        (threads.SPLIT_UPDATE_SIZE, "17", _openblas(2, "mkl"), 1),  # another BLAS: its own spinning rules
        (threads.SPLIT_UPDATE_SIZE, "x", _openblas(2), 1),
        (threads.SPLIT_UPDATE_SIZE, "0", _openblas(2), 1),  # OpenBLAS keeps its default for 0 or less
        (threads.SPLIT_UPDATE_SIZE, "-1", _openblas(2), 1),
        (threads.SPLIT_UPDATE_SIZE, "GOTO_THREAD_TIMEOUT=17", _openblas(2), 1),  # a name OpenBLAS no longer reads
    ],
)
def test_update_threads(monkeypatch, n_params, timeout, pools, expected):
    import threadpoolctl

    for name in TIMEOUT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if timeout is not None:
        name, _, value = timeout.rpartition("=")
        monkeypatch.setenv(name or "OPENBLAS_THREAD_TIMEOUT", value)
    monkeypatch.setattr(threadpoolctl, "threadpool_info", pools)
    assert threads.update_threads(n_params) == expected


def test_the_real_thread_pools_give_the_answer(monkeypatch):
    """threadpoolctl's own records (not the mocks above): two threads where
    NumPy's BLAS is OpenBLAS with two or more, one when limited as a sweep's
    worker limits them."""
    from threadpoolctl import threadpool_info, threadpool_limits

    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "17")
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    two = bool(blas) and all(lib["internal_api"] == "openblas" and lib["num_threads"] >= 2 for lib in blas)
    assert threads.update_threads(1 << 20) == (2 if two else 1)
    with threadpool_limits(1):
        assert threads.update_threads(1 << 20) == 1


def test_fit_splits_a_large_models_update_and_trains_the_same_numbers(monkeypatch):
    """fit asks update_threads for the model's size: a large model's update runs
    on two threads, a small one's on one, and the trained parameters are
    those of a one-thread update."""
    import threadpoolctl

    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "17")
    monkeypatch.setattr(threadpoolctl, "threadpool_info", _openblas(2))
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((256, 784)).astype(np.float32), rng.integers(0, 10, 256)
    small = MLP(64, [LayerSpec(32)], 10, "cross_entropy", rng=np.random.default_rng(1))
    small.init_params(np.random.default_rng(2))
    optimizer = get_optimizer("adam")
    fit(small, optimizer, X[:, :64], y, FitOptions(epochs=1, task="classification", batch_size=64),
        rng=np.random.default_rng(3))
    assert optimizer.threads == 1

    trained = []
    for split in (True, False):
        if not split:
            monkeypatch.setattr("mlpcli.training.update_threads", lambda n_params: 1)
        network = MLP(784, [LayerSpec(384, "relu", 0.2)], 10, "cross_entropy", rng=np.random.default_rng(1))
        assert network.n_params >= threads.SPLIT_UPDATE_SIZE
        network.init_params(np.random.default_rng(2))
        optimizer = get_optimizer("adamw", lr=1e-3, decay_size=network.n_weights)
        fit(network, optimizer, X, y, FitOptions(epochs=2, task="classification", batch_size=64),
            rng=np.random.default_rng(3))
        assert optimizer.threads == (2 if split else 1)
        trained.append(network.params.copy())
    assert np.array_equal(*trained)


def test_run_json_records_the_blas_thread_timeout(tmp_path):
    """A real `mlp` process: run.json's thread_env shows the timeout its BLAS ran with."""
    config = {"seed": 0, "data": {"dataset": "iris"}, "model": {"layers": [{"units": 8}]},
              "train": {"epochs": 2}, "output": {"plots": False}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    for timeout in (None, "18"):
        env = _env_without_timeouts(**({"OPENBLAS_THREAD_TIMEOUT": timeout} if timeout else {}))
        done = subprocess.run([sys.executable, "-m", "mlpcli", "train", "c.yaml", "--out", f"run{timeout}", "--quiet"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        record = json.loads((tmp_path / f"run{timeout}" / "run.json").read_text())
        assert record["thread_env"].get("OPENBLAS_THREAD_TIMEOUT") == timeout
