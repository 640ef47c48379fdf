#!/usr/bin/env python
"""Each matrix product of a large-workload training step (784-512-256-10,
batch 128, float32), timed in both memory layouts of its result and on one
and two BLAS threads, against the float32 GEMM peak measured in the same run.

    python benchmarks/gemm_layouts.py              # 4096^2 peak, 200 timings per product
    python benchmarks/gemm_layouts.py --quick

It answers two questions of the performance issue on the machine at hand:
whether NumPy's BLAS uses both cores for every product (the "2 threads /
1 thread" column: about 1.0 means the product ran on one thread), and which
orientation the BLAS favours: ``y = x @ W`` writes a row-major (C) result,
``(W.T @ x.T).T`` the same numbers column-major (F), which gives the BLAS the
other operand order. Each figure is the median of interleaved timings (both
layouts alternate), so load from other processes hits both alike; "best" is
the fastest timing, the figure least disturbed by them.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

BATCH = 128
LAYERS = [(784, 512), (512, 256), (256, 10)]


def products(rng) -> dict[str, tuple[int, dict]]:
    """name -> (FLOPs, {layout: function}) for every product of one training step."""
    out = {}
    for fan_in, fan_out in LAYERS:
        x = rng.standard_normal((BATCH, fan_in), dtype=np.float32)
        g = rng.standard_normal((BATCH, fan_out), dtype=np.float32)
        W = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
        dW = np.empty_like(W)
        flops = 2 * BATCH * fan_in * fan_out
        shape = f"{fan_in}x{fan_out}"
        out[f"forward  y = x @ W        {shape}"] = (flops, {
            "C": lambda x=x, W=W: x @ W, "F": lambda x=x, W=W: np.matmul(W.T, x.T).T})
        out[f"backward dW = x.T @ g     {shape}"] = (flops, {
            "C": lambda x=x, g=g, dW=dW: np.matmul(x.T, g, out=dW),
            "F": lambda x=x, g=g, dW=dW: np.matmul(g.T, x, out=dW.T)})
        if fan_in != 784:  # the first layer skips the gradient of the data
            out[f"backward dx = g @ W.T     {shape}"] = (flops, {
                "C": lambda g=g, W=W: g @ W.T, "F": lambda g=g, W=W: np.matmul(W, g.T).T})
    return out


def timed(fn, reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def peak(n: int, reps: int) -> tuple[float, float]:
    """Median and best GFLOP/s of np.matmul on float32 n x n."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty_like(a)
    np.matmul(a, b, out=c)
    times = timed(lambda: np.matmul(a, b, out=c), reps)
    return 2 * n**3 / statistics.median(times) / 1e9, 2 * n**3 / min(times) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2048^2 peak, 40 timings per product")
    args = parser.parse_args()
    n, reps, rounds = (2048, 10, 4) if args.quick else (4096, 50, 4)
    blas = [f"{p['internal_api']} {p['version']} ({p.get('architecture')}, {p['num_threads']} threads)"
            for p in threadpool_info() if p["user_api"] == "blas"]
    print(f"{os.cpu_count()} cores; BLAS: {', '.join(blas)}; batch {BATCH}; median of {reps * rounds} timings")
    with threadpool_limits(2):
        top, top_best = peak(n, 5)
    print(f"float32 GEMM peak ({n}^2, 2 threads): median {top:.0f}, best {top_best:.0f} GFLOP/s\n")
    print("| product | threads | C GFLOP/s | F GFLOP/s | best C / F | F / C | % of peak (median, faster) |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(1)
    table = products(rng)
    single = {}
    for threads in (1, 2):
        with threadpool_limits(threads):
            for name, (flops, layouts) in table.items():
                times = {layout: [] for layout in layouts}
                for r in range(rounds):  # interleaved: C, F, C, F ...
                    for layout in (("C", "F") if r % 2 == 0 else ("F", "C")):
                        fn = layouts[layout]
                        fn()
                        times[layout] += timed(fn, reps)
                gf = {k: flops / statistics.median(v) / 1e9 for k, v in times.items()}
                best = {k: flops / min(v) / 1e9 for k, v in times.items()}
                if threads == 1:
                    single[name] = gf
                speedup = "" if threads == 1 else f" ({max(gf.values()) / max(single[name].values()):.2f} x 1 thread)"
                print(f"| {name} | {threads}{speedup} | {gf['C']:.0f} | {gf['F']:.0f} | {best['C']:.0f} / {best['F']:.0f} "
                      f"| {gf['F'] / gf['C']:.2f} | {max(gf.values()) / top:.0%} |")


if __name__ == "__main__":
    main()
