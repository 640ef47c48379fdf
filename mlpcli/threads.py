"""The cores a training step uses: BLAS's threads, and an optimizer update's.

OpenBLAS takes every core for any matrix product above a small size, and its
threads spin on the second core between products. A step of the small models
most runs train (iris, digits, a sweep's narrow trials) gains little from that
second core (a second thread is <= ~10% faster below SMALL_STEP_MACS on a
two-core machine, benchmarks/blas_threads.py), while a picture helper drawing
beside it loses most of it to the spinning thread. So a trial with a helper
beside it (plots.worker.PictureQueue) trains a small step on one thread.

OpenBLAS's threads spin for 2**28 clock ticks (~0.1 s) after each product
before they sleep, by default: through all of a step's element-wise work,
whose passes therefore run on one core. With OPENBLAS_THREAD_TIMEOUT set to
18 or less in the environment (before NumPy loads: OpenBLAS reads it once)
they sleep within ~0.1 ms, and a large model's optimizer update runs on two
threads (``update_threads``, engine.halves). It is the user's choice, not
mlp's default, because it helps large models and costs smaller ones
(benchmarks/update_threads.py, epochs against OpenBLAS's default; timeout
18): 784-512-256-10 (535,818 parameters) 0.92-0.94 x in three runs;
784-256-128-10 (235,146, its update on one thread) 0.95-0.98 x, 1.04-1.05 x
and 1.12-1.16 x in three runs: its products wait for the threads to wake.
"""
from __future__ import annotations

import os
from contextlib import nullcontext

SMALL_STEP_MACS = 8_000_000

# OpenBLAS reads this one (atoi, once, as it loads); 0 or less keeps its default of 2**28 ticks.
BLAS_TIMEOUT_VARIABLE = "OPENBLAS_THREAD_TIMEOUT"
# A timeout of at most 2**18 ticks (~0.1 ms) frees the second core for most of a large update.
SLEEPING_TIMEOUT = 18
# Below this many parameters, handing half of an update to a second thread
# gains nothing or loses: the hand-over takes ~70-90 us on this machine.
# benchmarks/update_threads.py, Adam's step alone on two threads against one
# (timeout 18): 136,554 parameters 1.21 x, 235,146 0.99 x, 535,818 0.74 x;
# epochs with the update on two threads against OpenBLAS's default and one:
# 136,554 1.27 x, 235,146 0.94, 1.19 and 1.04 x, 535,818 0.92-0.94 x.
SPLIT_UPDATE_SIZE = 1 << 18


def blas_threads_sleep() -> bool:
    """Whether the environment tells OpenBLAS's threads to sleep within 2**SLEEPING_TIMEOUT ticks."""
    try:
        return 0 < int(os.environ.get(BLAS_TIMEOUT_VARIABLE, "")) <= SLEEPING_TIMEOUT
    except ValueError:
        return False


def update_threads(n_params: int) -> int:
    """Threads for an optimizer step over ``n_params`` parameters: 2 when there
    are at least SPLIT_UPDATE_SIZE, OpenBLAS's threads sleep soon after a
    product (blas_threads_sleep) and it has two or more of them for this
    process (a sweep's worker limited to one BLAS thread updates on one too);
    otherwise 1."""
    if n_params < SPLIT_UPDATE_SIZE or not blas_threads_sleep():
        return 1
    from threadpoolctl import threadpool_info  # installed with scikit-learn

    blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    usable = blas and all(lib.get("internal_api") == "openblas" and lib.get("num_threads", 1) >= 2 for lib in blas)
    return 2 if usable else 1


def step_macs(n_in: int, hidden: list[int], n_out: int, batch: int) -> int:
    """Multiply-adds of one training step's matrix products: the forward
    product and the backward's two (input and weight gradients) of each layer
    but the first, which needs no input gradient (engine.layers.Dense)."""
    sizes = [n_in, *hidden, n_out]
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return batch * (2 * products[0] + 3 * sum(products[1:]))


def network_step_macs(network, batch: int) -> int:
    """step_macs of a built network (its dense layers' widths)."""
    dense = [layer for layer in network.layers if hasattr(layer, "input_grad")]
    return step_macs(dense[0].n_in, [layer.n_out for layer in dense[:-1]], dense[-1].n_out, batch)


def leave_a_core(network, batch: int | None):
    """One BLAS thread while this context is open when a step of ``network``
    on ``batch`` rows (None: the whole data, as L-BFGS) is small; otherwise
    nothing changes."""
    if batch is None or network_step_macs(network, batch) >= SMALL_STEP_MACS:
        return nullcontext()
    from threadpoolctl import threadpool_limits  # installed with scikit-learn; loaded by run.json's record already

    return threadpool_limits(1)
