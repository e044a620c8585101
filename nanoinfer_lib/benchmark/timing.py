"""Honest timing: synchronised timers, latency statistics, and ``compare``, which times two
conditions interleaved and says how sure the ratio is, and ``verdict``, which turns that into
"holds", "does not hold" or "inconclusive".

``compare`` runs ABBA rounds (a, b, b, a), so slow drifts of a shared machine hit both conditions
alike. Each sample is a block of calls long enough to sit well above the timer's resolution, timed
with ``torch.utils.benchmark.Timer`` (which synchronises CUDA) at the thread count already set.
The ratio median(a) / median(b) gets a bootstrap 95% interval over rounds, and the two samples of
``a`` inside each round give an A/A ratio: the noise floor of this machine, right now.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.utils.benchmark as tbench

from .. import validate

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued GPU work so a wall-clock timer measures it (no-op on CPU)."""
    device = torch.device(device) if device is not None else None
    if torch.cuda.is_available() and (device is None or device.type == "cuda"):
        torch.cuda.synchronize(device)
    elif device is not None and device.type == "mps":
        torch.mps.synchronize()


def time_fn(fn: Callable[[], object], num_runs: int = 5, warmup: int = 1,
            device: torch.device | str | None = None) -> list[float]:
    """Run ``fn`` ``warmup`` times untimed, then ``num_runs`` times; return the wall times in seconds."""
    num_runs = validate.integer("num_runs", num_runs, 1)
    for _ in range(validate.integer("warmup", warmup, 0)):
        fn()
    times = []
    for _ in range(num_runs):
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return times


def time_fn_unsynced(fn: Callable[[], object], num_runs: int) -> list[float]:
    """The wrong way to time GPU code, kept to show it: no warm-up and no synchronisation, so the
    timer stops when the kernels are queued, not when they finish."""
    times = []
    for _ in range(validate.integer("num_runs", num_runs, 1)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def latency_stats(times_s: list[float]) -> dict:
    """Median, mean, spread, min and max (milliseconds) of wall times given in seconds."""
    ms = [t * 1e3 for t in times_s]
    return {"median_latency_ms": statistics.median(ms), "avg_latency_ms": statistics.fmean(ms),
            "std_latency_ms": statistics.stdev(ms) if len(ms) > 1 else 0.0,
            "min_latency_ms": min(ms), "max_latency_ms": max(ms)}


def bootstrap_interval(stat: Callable[[np.ndarray], float], n: int, resamples: int = 2000,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(indices)`` over ``n`` paired samples (resampled by index)."""
    rng = np.random.default_rng(seed)
    values = np.array([stat(rng.integers(0, n, n)) for _ in range(resamples)])
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


@dataclass
class Comparison:
    """Two conditions timed interleaved. Times are seconds per call, one per sample."""
    names: tuple[str, str]
    a: list[float]
    b: list[float]
    ratio: float                         # median(a) / median(b): > 1 means b is faster
    interval: tuple[float, float]        # bootstrap 95% interval of the ratio
    noise: tuple[float, float]           # A/A: 95% interval of a's own ratio inside a round
    calls_per_sample: tuple[int, int]
    meta: dict = field(default_factory=dict)

    @property
    def median_a(self) -> float:
        return statistics.median(self.a)

    @property
    def median_b(self) -> float:
        return statistics.median(self.b)

    def verdict(self, low: float | None = 1.0, high: float | None = None) -> str:
        return verdict(self.interval, low, high, self.noise)

    def as_dict(self) -> dict:
        return {"names": list(self.names), "a_s": self.a, "b_s": self.b, "ratio": self.ratio,
                "interval": list(self.interval), "noise": list(self.noise),
                "calls_per_sample": list(self.calls_per_sample), **self.meta}

    def __str__(self) -> str:
        a, b = self.names
        return (f"{a}: {_ms(self.median_a)}, {b}: {_ms(self.median_b)}, {a}/{b} = {self.ratio:.2f}x "
                f"[95% {self.interval[0]:.2f}-{self.interval[1]:.2f}], A/A noise "
                f"{self.noise[0]:.2f}-{self.noise[1]:.2f} ({len(self.a) // 2} ABBA rounds)")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-4 else f"{seconds * 1e6:.3g} us"


def _block_timer(fn: Callable[[], object]) -> tbench.Timer:
    return tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())


def compare(a: Callable[[], object], b: Callable[[], object], names: tuple[str, str] = ("a", "b"),
            rounds: int = 5, warmup: int = 1, min_sample_s: float = 0.02, seed: int = 0,
            device: torch.device | str | None = None) -> Comparison:
    """Time ``a`` and ``b`` in ``rounds`` ABBA rounds after ``warmup`` calls of each.

    Each sample repeats a call as often as needed to last about ``min_sample_s`` (measured on the
    warm-up), so timer resolution and per-sample overhead do not matter. Returns a ``Comparison``.
    """
    rounds = validate.integer("rounds", rounds, 2)
    warmup = validate.integer("warmup", warmup, 0)
    min_sample_s = validate.number("min_sample_s", min_sample_s, 0.0)
    timers, numbers = [], []
    for fn in (a, b):
        for _ in range(warmup):
            fn()
        one = time_fn(fn, num_runs=1, warmup=0, device=device)[0]
        numbers.append(max(1, math.ceil(min_sample_s / max(one, 1e-9))))
        timers.append(_block_timer(fn))
    samples: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(rounds):
        for which in (0, 1, 1, 0):
            samples[which].append(timers[which].timeit(numbers[which]).median)
    ta, tb_ = np.array(samples[0]), np.array(samples[1])
    first, second = ta[0::2], ta[1::2]                       # a's two samples in each round
    ratio = lambda idx: np.median(np.r_[first[idx], second[idx]]) / np.median(tb_.reshape(rounds, 2)[idx])
    aa = lambda idx: np.median(first[idx]) / np.median(second[idx])
    return Comparison(names=tuple(names), a=ta.tolist(), b=tb_.tolist(),
                      ratio=float(np.median(ta) / np.median(tb_)),
                      interval=bootstrap_interval(ratio, rounds, seed=seed),
                      noise=bootstrap_interval(aa, rounds, seed=seed + 1),
                      calls_per_sample=(numbers[0], numbers[1]),
                      meta={"rounds": rounds, "threads": torch.get_num_threads()})


def verdict(interval: tuple[float, float], low: float | None = 1.0, high: float | None = None,
            noise: tuple[float, float] | None = None) -> str:
    """Decide a claim "the ratio lies in [low, high]" (either end may be None) from a 95% interval.

    With ``noise`` (an A/A interval), the interval is first widened by it: a ratio must clear the
    claim by more than the machine's own run-to-run wobble. "holds": the widened interval lies inside
    the claim; "does not hold": it lies wholly outside; otherwise "inconclusive".
    """
    lo, hi = (float(v) for v in interval)
    if noise is not None:
        n_lo, n_hi = (float(v) for v in noise)
        lo, hi = lo * min(n_lo, 1 / n_hi, 1.0), hi * max(n_hi, 1 / n_lo, 1.0)
    if (low is None or lo >= low) and (high is None or hi <= high):
        return HOLDS
    if (low is not None and hi < low) or (high is not None and lo > high):
        return FAILS
    return INCONCLUSIVE
