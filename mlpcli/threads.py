"""The cores a training step uses: BLAS's threads, and an optimizer update's.

OpenBLAS takes every core for any matrix product above a small size, and its
threads spin on the second core between products. A step of the small models
most runs train (iris, digits, a sweep's narrow trials) gains little from that
second core (a second thread is <= ~10% faster below SMALL_STEP_MACS on a
two-core machine, benchmarks/blas_threads.py), while a picture helper drawing
beside it loses most of it to the spinning thread. So a trial with a helper
beside it (plots.worker.PictureQueue) trains a small step on one thread.

By default OpenBLAS's threads spin for 2**28 clock ticks (~0.1 s) after each
product before they sleep: through all of a step's element-wise work, whose
passes then run on one core while the other spins. ``mlp`` sets
OPENBLAS_THREAD_TIMEOUT to 18 before NumPy loads: 2**18 ticks, ~0.1 ms at
2.6 GHz, so they still spin through the short gaps between a step's
products but leave the core to an optimizer update of a large model, which
then runs on two threads (``update_threads``, engine.halves). Measured with
benchmarks/update_threads.py (epochs against spinning threads and a
one-thread update): bench_train.py's large model 0.92-0.93, a 784-256-128
model 0.92-0.94; much shorter timeouts (2**15) made the 784-256-128 model's
products wait for their threads to wake (1.15-1.18), 2**20 left the large
model's update no core (0.96-1.01).
"""
from __future__ import annotations

import os
import sys
from contextlib import nullcontext

SMALL_STEP_MACS = 8_000_000

BLAS_TIMEOUT_VARIABLES = ("OPENBLAS_THREAD_TIMEOUT", "GOTO_THREAD_TIMEOUT")  # OpenBLAS reads them in this order
BLAS_TIMEOUT = 18
# A timeout of at most 2**18 ticks (~0.1 ms) frees the second core for most of a large update.
SLEEPING_TIMEOUT = 18
# Below this many parameters, handing half of an update to a second thread
# costs more than it saves: the hand-over takes ~70-90 us on this machine.
# benchmarks/update_threads.py, epochs with the update on two threads against
# one: 136,554 parameters (784-160-64-10) 1.21-1.27 x, 235,146 (784-256-128-10)
# 0.94-0.96 x, 535,818 (784-512-256-10) 0.90-0.91 x.
SPLIT_UPDATE_SIZE = 200_000


def let_blas_threads_sleep() -> None:
    """OPENBLAS_THREAD_TIMEOUT=18 for this process and its children, unless it
    (or GOTO_THREAD_TIMEOUT) is set. Only before NumPy loads: OpenBLAS reads it
    once, as it starts, so later it would change nothing but update_threads'
    answer."""
    if "numpy" not in sys.modules and not any(os.environ.get(v) for v in BLAS_TIMEOUT_VARIABLES):
        os.environ[BLAS_TIMEOUT_VARIABLES[0]] = str(BLAS_TIMEOUT)


def blas_threads_sleep() -> bool:
    """Whether the environment tells OpenBLAS's threads to sleep within 2**SLEEPING_TIMEOUT ticks."""
    value = next((os.environ[v] for v in BLAS_TIMEOUT_VARIABLES if os.environ.get(v)), None)
    try:
        return value is not None and int(value) <= SLEEPING_TIMEOUT
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
