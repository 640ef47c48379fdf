#!/usr/bin/env python
"""What a data-parallel training step would gain on the large workload: a
measured direction for the performance issue, not part of mlpcli.

    python benchmarks/parallel_step.py [--rounds 9] [--steps 100]

The engine runs a step serially, with OpenBLAS on both cores for each matrix
product; its element-wise half (Adam's passes, dropout masks, activations,
about 45% of a large-workload step, see profile_epoch.py) runs on one core.
This script times, interleaved, the engine's step (784-512-256-10, ReLU,
dropout 0.2, batch 128, Adam) against a sketch of the same step run on two
Python threads with one-thread BLAS: each thread takes half of the batch
through the forward pass, the loss gradient and the backward's masks and
activations; the weight gradients are split by rows after one barrier per
layer, and Adam by halves of the parameters. NumPy releases the GIL in
every one of these calls. The masks are drawn on the main thread inside the
timed step, from the engine's own Dropout layers (pooled draws, as a step of
the engine draws them), then copied into the sketch's buffers. Before
timing, the sketch's gradients are checked against a float64 NumPy
reference of the same step (same masks).
"""
from __future__ import annotations

import argparse
import math
import statistics
import threading
import time

import numpy as np
from threadpoolctl import threadpool_limits

from mlpcli.engine import MLP, LayerSpec, get_optimizer
from mlpcli.engine.layers import Dropout

BATCH, SIZES, RATE, LR = 128, (784, 512, 256, 10), 0.2, 1e-3


class ParallelStep:
    """The sketch: two threads (this one and a helper), one-thread BLAS."""

    def __init__(self, rng: np.random.Generator):
        n = sum(a * b + b for a, b in zip(SIZES[:-1], SIZES[1:]))
        self.params = np.empty(n, np.float32)
        self.grads = np.zeros(n, np.float32)
        self.optimizers = [get_optimizer("adam", lr=LR) for _ in range(2)]
        self.W, self.b, self.dW, self.db, offset = [], [], [], [], 0
        for a, b in zip(SIZES[:-1], SIZES[1:]):
            bound = 1 / math.sqrt(a)
            self.params[offset: offset + a * b + b] = rng.uniform(-bound, bound, a * b + b)
            self.W.append(self.params[offset: offset + a * b].reshape(a, b))
            self.dW.append(self.grads[offset: offset + a * b].reshape(a, b))
            offset += a * b
            self.b.append(self.params[offset: offset + b])
            self.db.append(self.grads[offset: offset + b])
            offset += b
        self.H = [np.empty((BATCH, s), np.float32) for s in SIZES]  # activations, masks applied
        self.G = [np.empty((BATCH, s), np.float32) for s in SIZES]  # gradients of the layers' outputs
        self.masks = [None] + [np.empty((BATCH, s), np.float32) for s in SIZES[1:-1]]
        # the engine's own dropout layers, to draw the masks as a step of the engine does (pooled)
        self.dropouts = [Dropout(RATE, np.random.default_rng(3)) for _ in SIZES[1:-1]]
        self.x, self.y, self.adam = None, None, True
        self.barrier, self.go, self.done = threading.Barrier(2), threading.Barrier(2), threading.Barrier(2)
        threading.Thread(target=self._helper, daemon=True).start()

    def _helper(self):
        while True:
            self.go.wait()
            self._work(1)
            self.done.wait()

    def step(self, x, y, masks=None) -> None:
        """One step; ``masks`` given (the gradient check) or drawn here, on this
        thread, from the engine's Dropout layers, as the engine's step draws them."""
        self.x, self.y = x, y
        if masks is None:
            masks = [d._next_mask(m.shape, m.size, m.dtype) for d, m in zip(self.dropouts, self.masks[1:])]
        for target, mask in zip(self.masks[1:], masks):
            np.copyto(target, mask)
        self.go.wait()
        self._work(0)
        self.done.wait()

    def _work(self, w: int) -> None:
        rows = slice(0, BATCH // 2) if w == 0 else slice(BATCH // 2, BATCH)
        H, G = self.H, self.G
        H[0][rows] = self.x[rows]
        for layer in range(3):
            z = np.matmul(H[layer][rows], self.W[layer], out=H[layer + 1][rows])
            z += self.b[layer]
            if layer < 2:
                np.maximum(z, 0, out=z)
                z *= self.masks[layer + 1][rows]
        z = H[3][rows]  # softmax cross-entropy's gradient, the mean over the batch
        g = np.subtract(z, z.max(axis=1, keepdims=True), out=G[3][rows])
        np.exp(g, out=g)
        g /= g.sum(axis=1, keepdims=True)
        g[np.arange(len(g)), self.y[rows]] -= 1
        g /= BATCH
        for layer in (2, 1, 0):
            self.barrier.wait()  # G[layer + 1] is whole
            n_in = SIZES[layer]
            part = slice(0, n_in // 2) if w == 0 else slice(n_in // 2, n_in)
            np.matmul(H[layer][:, part].T, G[layer + 1], out=self.dW[layer][part])
            if w == 0:
                np.sum(G[layer + 1], axis=0, out=self.db[layer])
            if layer > 0:
                gx = np.matmul(G[layer + 1][rows], self.W[layer].T, out=G[layer][rows])
                gx *= self.masks[layer][rows]
                gx *= H[layer][rows] > 0
        self.barrier.wait()
        if self.adam:  # the engine's own Adam, one instance (and state) per half of the parameters
            n = len(self.params)
            half = slice(0, n // 2) if w == 0 else slice(n // 2, n)
            self.optimizers[w].step(self.params[half], self.grads[half])


def check(sketch: ParallelStep, x, y, masks) -> float:
    """The largest gradient error of one sketched step against float64 NumPy,
    relative to the largest gradient of its layer."""
    sketch.adam = False
    with threadpool_limits(1):
        sketch.step(x, y, masks)
    sketch.adam = True
    W = [w.astype(np.float64) for w in sketch.W]
    h = [x.astype(np.float64)]
    for layer in range(3):
        z = h[layer] @ W[layer] + sketch.b[layer]
        h.append(np.maximum(z, 0) * masks[layer] if layer < 2 else z)
    p = np.exp(h[3] - h[3].max(axis=1, keepdims=True))
    g = p / p.sum(axis=1, keepdims=True)
    g[np.arange(BATCH), y] -= 1
    g /= BATCH
    worst = 0.0
    for layer in (2, 1, 0):
        for got, want in ((sketch.dW[layer], h[layer].T @ g), (sketch.db[layer], g.sum(axis=0))):
            worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
        if layer:
            g = (g @ W[layer].T) * masks[layer - 1] * (h[layer] > 0)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    masks = [((rng.random((BATCH, s)) >= RATE) / (1 - RATE)).astype(np.float32) for s in SIZES[1:-1]]

    sketch = ParallelStep(np.random.default_rng(1))
    error = check(sketch, x, y, masks)
    network = MLP(SIZES[0], [LayerSpec(s, "relu", RATE) for s in SIZES[1:-1]], SIZES[-1], "cross_entropy",
                  rng=np.random.default_rng(1))
    network.init_params(np.random.default_rng(2))
    optimizer = get_optimizer("adam", lr=LR)

    def engine():
        network.train_step(x, y)
        optimizer.step(network.params, network.grads)

    def parallel():
        sketch.step(x, y)

    runs = {"engine step (serial, two-thread BLAS)": engine, "data-parallel sketch (two threads, one-thread BLAS)": parallel}
    times = {name: [] for name in runs}
    blas = {engine: None, parallel: 1}  # the sketch's BLAS threads, set around its timed steps
    for fn in runs.values():  # warm-up
        with threadpool_limits(blas[fn]):
            for _ in range(10):
                fn()
    for r in range(args.rounds):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            fn = runs[name]
            with threadpool_limits(blas[fn]):
                start = time.perf_counter()
                for _ in range(args.steps):
                    fn()
                times[name].append((time.perf_counter() - start) / args.steps * 1e3)
    base = statistics.median(times[list(times)[0]])
    print(f"sketch's gradients against float64 NumPy: largest error {error:.1e} of its layer's largest gradient")
    print(f"median of {args.rounds} rounds x {args.steps} steps, interleaved\n")
    print("| step | ms | of the engine's |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
