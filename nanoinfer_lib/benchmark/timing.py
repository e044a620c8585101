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
from contextlib import contextmanager
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


def ratio_interval(num: list[float], den: list[float], resamples: int = 2000, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of median(num) / median(den) for two samples that were not
    taken in pairs (each resampled on its own)."""
    x, y = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if x.size == 0 or y.size == 0:
        raise ValueError("num and den must be non-empty lists of times")
    rng = np.random.default_rng(seed)
    values = [np.median(rng.choice(x, x.size)) / np.median(rng.choice(y, y.size)) for _ in range(resamples)]
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def median_interval(times: list[float], seed: int = 1) -> tuple[float, float]:
    """Bootstrap 95% interval of the median of ``times`` (the error bar of a median timing)."""
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"times must be a non-empty list of numbers, got {times!r}")
    return bootstrap_interval(lambda idx: float(np.median(t[idx])), t.size, seed=seed)


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

    def verdict(self, low: float | None = 1.0, high: float | None = None, scale: float = 1.0) -> str:
        """``verdict`` of the claim "``scale`` x ratio lies in [low, high]", widened by this run's noise."""
        return verdict(self.scaled_interval(scale), low, high, self.noise)

    def scaled_interval(self, scale: float = 1.0) -> tuple[float, float]:
        """The ratio's interval times ``scale`` (e.g. the batch size, to turn a time ratio into a
        throughput gain)."""
        return self.interval[0] * scale, self.interval[1] * scale

    def spread(self, which: str = "a") -> tuple[float, float]:
        """Bootstrap 95% interval of the median time per call of condition ``which`` ("a" or "b")."""
        return median_interval(self.a if validate.choice("which", which, ("a", "b")) == "a" else self.b)

    def as_dict(self) -> dict:
        return {"names": list(self.names), "a_s": self.a, "b_s": self.b, "ratio": self.ratio,
                "interval": list(self.interval), "noise": list(self.noise),
                "calls_per_sample": list(self.calls_per_sample), **self.meta}

    def __str__(self) -> str:
        a, b = self.names
        return (f"{a}: {_ms(self.median_a)}, {b}: {_ms(self.median_b)}, {a}/{b} = {self.ratio:.2f}x "
                f"[95% {self.interval[0]:.2f}-{self.interval[1]:.2f}], A/A noise "
                f"{self.noise[0]:.3f}-{self.noise[1]:.3f} ({len(self.a) // 2} ABBA rounds)")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-4 else f"{seconds * 1e6:.3g} us"


@contextmanager
def _threads(n: int | None):
    saved = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def compare(a: Callable[[], object], b: Callable[[], object], names: tuple[str, str] = ("a", "b"),
            rounds: int = 5, warmup: int = 1, min_sample_s: float = 0.02, seed: int = 0,
            device: torch.device | str | None = None, threads: tuple[int, int] | None = None) -> Comparison:
    """Time ``a`` and ``b`` in ``rounds`` ABBA rounds after ``warmup`` calls of each.

    Each sample repeats a call as often as needed to last about ``min_sample_s`` (measured on the
    warm-up), so timer resolution and per-sample overhead do not matter. Samples run at the thread
    count already set, or at ``threads = (threads for a, threads for b)``. Returns a ``Comparison``.
    """
    for name, fn in (("a", a), ("b", b)):
        if not callable(fn):
            raise TypeError(f"{name} must be a function of no arguments, got {type(fn).__name__}")
    if not (isinstance(names, (tuple, list)) and len(names) == 2 and all(isinstance(n, str) for n in names)):
        raise TypeError(f"names must be a pair of strings, got {names!r}")
    rounds = validate.integer("rounds", rounds, 2)
    warmup = validate.integer("warmup", warmup, 0)
    min_sample_s = validate.number("min_sample_s", min_sample_s, 0.0)
    if threads is None:
        threads = (torch.get_num_threads(),) * 2
    if not (isinstance(threads, (tuple, list)) and len(threads) == 2):
        raise TypeError(f"threads must be None or a pair of ints (threads for a, for b), got {threads!r}")
    threads = tuple(validate.integer("threads[i]", n, 1) for n in threads)
    timers, numbers = [], []
    for fn, n_threads in zip((a, b), threads):
        with _threads(n_threads):
            for _ in range(warmup):
                fn()
            one = time_fn(fn, num_runs=1, warmup=0, device=device)[0]
        numbers.append(max(1, math.ceil(min_sample_s / max(one, 1e-9))))
        # Timer sets this thread count while it times (its default would be 1 thread)
        timers.append(tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=n_threads))
    samples: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(rounds):
        for which in (0, 1, 1, 0):
            samples[which].append(timers[which].timeit(numbers[which]).median)
    ta, tb_ = np.array(samples[0]), np.array(samples[1])
    first, second = ta[0::2], ta[1::2]                       # a's two samples in each round
    pairs_b = tb_.reshape(rounds, 2)
    ratio = lambda idx: np.median(np.r_[first[idx], second[idx]]) / np.median(pairs_b[idx])   # noqa: E731
    aa = lambda idx: np.median(first[idx]) / np.median(second[idx])                          # noqa: E731
    return Comparison(names=tuple(names), a=ta.tolist(), b=tb_.tolist(),
                      ratio=float(np.median(ta) / np.median(tb_)),
                      interval=bootstrap_interval(ratio, rounds, seed=seed),
                      noise=bootstrap_interval(aa, rounds, seed=seed + 1),
                      calls_per_sample=(numbers[0], numbers[1]),
                      meta={"rounds": rounds, "threads": list(threads)})


def verdict(interval: tuple[float, float], low: float | None = 1.0, high: float | None = None,
            noise: tuple[float, float] | None = None, floor: float = 0.0) -> str:
    """Decide a claim "the ratio lies in [low, high]" (either end may be None) from a 95% interval.

    With ``noise`` (an A/A interval), the interval is first widened by it: a ratio must clear the
    claim by more than the machine's own run-to-run wobble. ``floor`` widens it by at least that
    fraction either way (drifts between runs that one run's A/A cannot see). "holds": the widened
    interval lies inside the claim; "does not hold": it lies wholly outside; otherwise "inconclusive".
    """
    lo, hi = (validate.number("interval[i]", v) for v in interval)
    if lo > hi:
        raise ValueError(f"interval must be (low, high) with low <= high, got {tuple(interval)}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"low must be <= high, got low={low}, high={high}")
    floor = validate.number("floor", floor, 0.0, 1.0, high_open=True)
    down, up = 1.0 - floor, 1.0 / (1.0 - floor)
    if noise is not None:
        n_lo, n_hi = (validate.number("noise[i]", v, 0.0, low_open=True) for v in noise)
        down, up = min(down, n_lo, 1 / n_hi), max(up, n_hi, 1 / n_lo)
    lo, hi = lo * down, hi * up
    if (low is None or lo >= low) and (high is None or hi <= high):
        return HOLDS
    if (low is not None and hi < low) or (high is not None and lo > high):
        return FAILS
    return INCONCLUSIVE
