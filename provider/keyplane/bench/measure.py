"""How every bench mode measures: a call repeated for a time, and one printed line per result."""
from __future__ import annotations

import statistics
import time


def measure(fn, seconds: float, settle=None) -> dict:
    """Call fn repeatedly for `seconds`; ops/s and latency percentiles (µs), and ops per CPU-second
    of this process (all threads), counting `settle()` after the loop — e.g. the audit flush — so
    the figure includes work done in the background and holds on a busy machine too."""
    for _ in range(50):
        fn()
    if settle:
        settle()
    samples = []
    clock = time.perf_counter
    cpu0 = time.process_time()
    end = clock() + seconds
    start = clock()
    while True:
        t0 = clock()
        fn()
        t1 = clock()
        samples.append(t1 - t0)
        if t1 >= end:
            break
    elapsed = clock() - start
    if settle:
        settle()
    cpu = time.process_time() - cpu0
    samples.sort()
    return {"ops": len(samples) / elapsed, "p50": samples[len(samples) // 2] * 1e6,
            "p99": samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1e6,
            "mean": statistics.fmean(samples) * 1e6, "n": len(samples),
            "cpu_ops": len(samples) / cpu if cpu > 0 else float("inf")}


def line(label: str, r: dict) -> str:
    text = f"{label:<44} {r['ops']:>10,.0f} ops/s   p50 {r['p50']:>8.1f} µs   p99 {r['p99']:>8.1f} µs"
    if "cpu_ops" in r:   # results measured in another process (over HTTP) carry their own CPU figures
        text += f"   {r['cpu_ops']:>10,.0f} ops/CPU-s"
    return text
