"""Honest timing: synchronised timers, latency statistics, and ``compare``, which times two
conditions interleaved and says how sure the ratio is, and ``verdict``, which turns that into
"holds", "does not hold" or "inconclusive".

``compare`` runs ABBA rounds (a, b, b, a), so slow drifts of a shared machine hit both conditions
alike. Each sample is a block of calls long enough to sit well above the timer's resolution, timed
with ``torch.utils.benchmark.Timer`` (which synchronises CUDA) at the thread count already set.
Each round gives one ratio a/b; the ratio reported is their geometric mean, with a Student t 95%
interval over the rounds (honest with a handful of rounds, see ``stats``). The A/A noise compares
the same work with itself, like with like: each round's first half (a, b) with its second (b, a).
"""
from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.utils.benchmark as tbench

from .. import validate
from .stats import (abba_statistics, bootstrap_interval, median_interval, median_label,  # noqa: F401
                    paired_ratio_interval, ratio_interval)

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


@dataclass
class Comparison:
    """Two conditions timed interleaved. Times are seconds per call, one per sample, in the order
    they ran (``a``: the first and last sample of each ABBA round; ``b``: the two middle ones)."""
    names: tuple[str, str]
    a: list[float]
    b: list[float]
    ratio: float                         # a / b, geometric mean over rounds: > 1 means b is faster
    interval: tuple[float, float]        # t 95% interval of the ratio over the rounds
    noise: tuple[float, float]           # A/A: 95% interval, rounds' halves (a, b) vs (b, a)
    calls_per_sample: tuple[int, int]
    meta: dict = field(default_factory=dict)

    @property
    def median_a(self) -> float:
        return statistics.median(self.a)

    @property
    def median_b(self) -> float:
        return statistics.median(self.b)

    @property
    def rounds(self) -> int:
        return len(self.a) // 2

    def verdict(self, low: float | None = 1.0, high: float | None = None, scale: float = 1.0,
                floor: float = 0.0) -> str:
        """``verdict`` of the claim "``scale`` x ratio lies in [low, high]", widened by this run's
        A/A noise, and by at least ``floor``."""
        return verdict(self.scaled_interval(scale), low, high, self.noise, floor)

    def scaled_interval(self, scale: float = 1.0) -> tuple[float, float]:
        """The ratio's interval times ``scale`` (e.g. the batch size, to turn a time ratio into a
        throughput gain)."""
        return self.interval[0] * scale, self.interval[1] * scale

    def spread(self, which: str = "a") -> tuple[float, float]:
        """Interval of the median time per call of condition ``which`` ("a" or "b") over its
        ``2 * rounds`` samples (``stats.median_interval``: the range of the runs below 6 samples)."""
        return median_interval(self.a if validate.choice("which", which, ("a", "b")) == "a" else self.b)

    def as_dict(self) -> dict:
        return {"names": list(self.names), "a_s": self.a, "b_s": self.b, "ratio": self.ratio,
                "interval": list(self.interval), "noise": list(self.noise),
                "calls_per_sample": list(self.calls_per_sample), **self.meta}

    def __str__(self) -> str:
        a, b = self.names
        return (f"{a}: {_ms(self.median_a)}, {b}: {_ms(self.median_b)}, {a}/{b} = {self.ratio:.2f}x "
                f"[95% {self.interval[0]:.2f}-{self.interval[1]:.2f}], A/A noise "
                f"{self.noise[0]:.3f}-{self.noise[1]:.3f} ({self.rounds} ABBA rounds)")


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
            rounds: int = 5, warmup: int = 1, min_sample_s: float = 0.02,
            device: torch.device | str | None = None, threads: tuple[int, int] | None = None) -> Comparison:
    """Time ``a`` and ``b`` in ``rounds`` ABBA rounds after ``warmup`` calls of each.

    Each sample repeats a call as often as needed to last about ``min_sample_s`` (measured on the
    warm-up), so timer resolution and per-sample overhead do not matter. Samples run at the thread
    count already set, or at ``threads = (threads for a, threads for b)``. Returns a ``Comparison``
    whose ratio, interval and A/A noise come from ``stats.abba_statistics``.
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
    st = abba_statistics(samples[0], samples[1])
    return Comparison(names=tuple(names), a=samples[0], b=samples[1], ratio=st["ratio"], interval=st["interval"],
                      noise=st["noise"], calls_per_sample=(numbers[0], numbers[1]),
                      meta={"rounds": rounds, "threads": list(threads)})


def verdict(interval: tuple[float, float], low: float | None = 1.0, high: float | None = None,
            noise: tuple[float, float] | None = None, floor: float = 0.0, kind: str = "ratio") -> str:
    """Decide a claim "the value lies in [low, high]" (either end may be None) from its 95% interval.

    First the interval is widened either way by the larger of ``floor`` and how far the ``noise``
    interval (an A/A run's) reaches from "no difference": a value must clear the claim by more than
    the machine's own wobble, and by more than the drift between runs that one run cannot see.
    ``kind="ratio"``: a positive ratio (no difference: 1), widened by factors, ``floor`` a fraction
    (0.05: 5% either way). ``kind="difference"``: a difference that may cross 0 (no difference: 0),
    widened by adding, ``floor`` in its units. "holds": the widened interval lies inside the claim;
    "does not hold": wholly outside it; otherwise "inconclusive".
    """
    lo, hi = (validate.number("interval[i]", v) for v in interval)
    if lo > hi:
        raise ValueError(f"interval must be (low, high) with low <= high, got {tuple(interval)}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"low must be <= high, got low={low}, high={high}")
    if validate.choice("kind", kind, ("ratio", "difference")) == "ratio":
        reach = -math.log1p(-validate.number("floor", floor, 0.0, 1.0, high_open=True))   # in logs
        if noise is not None:
            n_lo, n_hi = (validate.number("noise[i]", v, 0.0, low_open=True) for v in noise)
            reach = max(reach, -math.log(n_lo), math.log(n_hi))
        if reach > 0 and lo <= 0:
            raise ValueError(f"interval must be positive for kind='ratio', got {tuple(interval)}; "
                             "an interval of a difference needs kind='difference'")
        lo, hi = lo * math.exp(-reach), hi * math.exp(reach)
    else:
        reach = validate.number("floor", floor, 0.0)
        if noise is not None:
            reach = max(reach, *(abs(validate.number("noise[i]", v)) for v in noise))
        lo, hi = lo - reach, hi + reach
    if (low is None or lo >= low) and (high is None or hi <= high):
        return HOLDS
    if (low is not None and hi < low) or (high is not None and lo > high):
        return FAILS
    return INCONCLUSIVE
