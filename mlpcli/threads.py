"""How many BLAS threads a training step uses when a helper process needs a core.

OpenBLAS takes every core for any matrix product above a small size, and its
threads spin on the second core between products. A step of the small models
most runs train (iris, digits, a sweep's narrow trials) gains little from that
second core (a second thread is <= ~10% faster below SMALL_STEP_MACS on a
two-core machine, benchmarks/blas_threads.py), while a picture helper drawing
beside it loses most of it to the spinning thread. So a trial with a helper
beside it (plots.worker.PictureQueue) trains a small step on one thread.
"""
from __future__ import annotations

from contextlib import nullcontext

SMALL_STEP_MACS = 8_000_000


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
