"""Arrays reused from one training step to the next.

A training step at a fixed batch size needs the same intermediate arrays every
time; allocating them afresh costs page faults and allocator work that, for
small models, rivals the arithmetic. Each layer keeps a Scratch and asks it for
named arrays; a request for fewer rows (the last, partial batch of an epoch)
gets the first rows of the existing array, which are still contiguous.
"""
from __future__ import annotations

import numpy as np


class Scratch:
    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple, dtype) -> np.ndarray:
        """An uninitialised array of ``shape``, the same memory on every call."""
        array = self._arrays.get(name)
        if array is None or array.shape[1:] != shape[1:] or array.dtype != dtype or len(array) < shape[0]:
            array = self._arrays[name] = np.empty(shape, dtype)
        return array if len(array) == shape[0] else array[: shape[0]]


_ZEROS: dict = {}


def zeros_row(width: int, dtype) -> np.ndarray:
    """A read-only row of zeros to broadcast against: NumPy's maximum is several
    times faster against an array than against the scalar 0."""
    key = (width, dtype)
    row = _ZEROS.get(key)
    if row is None:
        row = _ZEROS[key] = np.zeros(width, dtype)
        row.flags.writeable = False
    return row


_ONES: dict = {}


def ones(n: int, dtype) -> np.ndarray:
    """A read-only vector of n ones (ones @ g sums the rows of g, through BLAS)."""
    vector = _ONES.get(dtype)
    if vector is None or len(vector) < n:
        vector = _ONES[dtype] = np.ones(max(n, 2 * len(vector) if vector is not None else n), dtype)
        vector.flags.writeable = False
    return vector[:n]
