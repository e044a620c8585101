"""Intervals that are honest at the sample sizes benchmarks have (3 to 10 runs), in plain NumPy.

- Ratios of times: a Student t interval on log times (``paired_ratio_interval`` for runs taken in
  pairs, ``ratio_interval`` for two separate series). Timing noise multiplies, so logs make it
  additive and roughly normal; the t quantile makes the interval right at small n, where a
  percentile bootstrap is too narrow (over 4 pairs it covers about 84%, not 95%).
- The median of a few runs: the distribution-free interval between two order statistics. With
  fewer than 6 runs no such 95% interval exists, so ``median_interval`` returns the range of the runs
  and ``median_label`` says so ("range of 3 runs", which covers the median 75% of the time).
- ``abba_statistics``: the ratio, its interval and the A/A noise of interleaved ABBA rounds.
- ``bootstrap_interval``: percentile bootstrap, for statistics over many samples (dozens of prompts).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np


def _t_coverage(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer ``df`` (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2 == 0:
        term = total = 1.0
        for k in range(1, df // 2):
            term *= (2 * k - 1) / (2 * k) * c2
            total += term
        return s * total
    if df == 1:
        return 2 * theta / math.pi
    term = total = 1.0
    for k in range(1, (df - 1) // 2):
        term *= (2 * k) / (2 * k + 1) * c2
        total += term
    return 2 / math.pi * (theta + s * math.cos(theta) * total)


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided critical value t with P(|T_df| <= t) = ``level`` (df an int >= 1; 12.71 for
    df=1, 3.18 for df=3, 1.96 as df grows)."""
    if not (isinstance(df, (int, np.integer)) and df >= 1):
        raise ValueError(f"df must be an int >= 1, got {df!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    lo, hi = 0.0, math.pi / 2                       # bisection on atan(t / sqrt(df))
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_coverage(math.sqrt(df) * math.tan(mid), int(df)) < level else (lo, mid)
    return math.sqrt(df) * math.tan((lo + hi) / 2)


def _positive(name: str, values) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError(f"{name} must be a non-empty list of positive times, got {values!r}")
    return x


def log_mean_interval(logs, level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """exp(mean of ``logs``) and its t interval: for per-pair log ratios, the geometric-mean ratio."""
    x = np.asarray(logs, dtype=float)
    m = float(x.mean())
    if x.size < 2:
        return math.exp(m), (math.exp(m), math.exp(m))
    half = t_quantile(x.size - 1, level) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return math.exp(m), (math.exp(m - half), math.exp(m + half))


def paired_ratio_interval(num, den, level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Ratio num/den of times taken in pairs (the i-th of each side in the same round): the geometric
    mean of the per-pair ratios and its t interval over the pairs, (ratio, (low, high))."""
    x, y = _positive("num", num), _positive("den", den)
    if x.size != y.size:
        raise ValueError(f"num and den must pair up, got {x.size} and {y.size} times")
    return log_mean_interval(np.log(x) - np.log(y), level)


def ratio_interval(num, den, level: float = 0.95) -> tuple[float, float]:
    """Interval of the ratio of two separately timed series (not taken in pairs): Welch's t interval
    on their log times, back on the ratio scale (the ratio itself: ``exp(mean log num - mean log den)``)."""
    if len(num) == 0 or len(den) == 0:
        raise ValueError("num and den must be non-empty lists of times")
    x, y = np.log(_positive("num", num)), np.log(_positive("den", den))
    d = float(x.mean() - y.mean())
    vx = x.var(ddof=1) / x.size if x.size > 1 else 0.0
    vy = y.var(ddof=1) / y.size if y.size > 1 else 0.0
    if vx + vy == 0.0:
        return math.exp(d), math.exp(d)
    dof = (vx + vy) ** 2 / ((vx ** 2 / (x.size - 1) if x.size > 1 else 0) + (vy ** 2 / (y.size - 1) if y.size > 1 else 0))
    half = t_quantile(max(1, int(dof)), level) * math.sqrt(vx + vy)   # Welch's df, rounded down
    return math.exp(d - half), math.exp(d + half)


def _binom_cdf_half(k: int, n: int) -> float:
    """P(Binomial(n, 1/2) <= k)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n


def median_order(n: int, level: float = 0.95) -> int:
    """The k of the order-statistic interval [x_(k), x_(n+1-k)] of the median of n runs (1-based),
    the narrowest that covers it with probability >= ``level``; 0 when even the range falls short."""
    k = 0
    while k + 1 <= n // 2 and 1 - 2 * _binom_cdf_half(k, n) >= level:
        k += 1
    return k


def median_coverage(n: int, level: float = 0.95) -> float:
    """How often ``median_interval`` of n runs covers the true median: at least ``level`` from 6 runs
    on (for 95%), else that of the range, 1 - 2^(1-n) (75% for 3 runs)."""
    k = max(1, median_order(n, level))
    return 1 - 2 * _binom_cdf_half(k - 1, n) if n > 1 else 0.0


def median_interval(times, level: float = 0.95) -> tuple[float, float]:
    """Interval of the median of ``times``: the order statistics [x_(k), x_(n+1-k)] that cover it
    with probability >= ``level`` whatever the distribution (needs 6 runs for 95%); with fewer runs,
    the range [min, max], which covers it less often (``median_coverage``, ``median_label``)."""
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ValueError(f"times must be a non-empty list of numbers, got {times!r}")
    t = np.sort(t)
    k = max(1, median_order(t.size, level))
    return float(t[k - 1]), float(t[t.size - k])


def median_label(n: int, level: float = 0.95) -> str:
    """What ``median_interval`` of n runs is, for a legend: "95% interval" or "range of 3 runs (75%)"."""
    if n < 2:
        return "one run: no spread"
    if median_order(n, level) == 0:
        return f"range of {n} runs (covers the median {median_coverage(n, level):.0%} of the time)"
    return f"{level:.0%} interval of the median ({n} runs)"


def bootstrap_interval(stat: Callable[[np.ndarray], float], n: int, resamples: int = 2000,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(indices)`` over ``n`` paired samples (resampled by
    index). Right for dozens of samples; at a handful it is too narrow (use the t intervals above)."""
    rng = np.random.default_rng(seed)
    values = np.array([stat(rng.integers(0, n, n)) for _ in range(resamples)])
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def abba_statistics(a, b, level: float = 0.95) -> dict:
    """The statistics of interleaved ABBA rounds. ``a``, ``b``: seconds per call, two per round in
    the order they ran (a's first and last sample of each round; b's two middle ones).

    - ratio: the geometric mean over rounds of each round's a/b (each side's two samples averaged
      in logs); interval: the t interval over the rounds' log ratios.
    - noise (the A/A): the same work compared with itself, like with like: the first half of each
      round (a, b) against its second half (b, a). Each half holds one a and one b, and one call
      that follows the other condition, so neither a difference between the conditions nor the
      carry-over from one to the next counts as noise. Same t interval; it should hold 1."""
    la, lb = np.log(_positive("a", a)), np.log(_positive("b", b))
    if la.size != lb.size or la.size % 2 or la.size < 4:
        raise ValueError(f"a and b need two samples per round and at least 2 rounds, got {len(a)} and {len(b)}")
    la, lb = la.reshape(-1, 2), lb.reshape(-1, 2)                      # (rounds, 2): [first, last], [b1, b2]
    ratio, interval = log_mean_interval(la.mean(1) - lb.mean(1), level)
    aa = (la[:, 0] + lb[:, 0] - lb[:, 1] - la[:, 1]) / 2                # (rounds,) half a,b vs half b,a
    return {"ratio": ratio, "interval": interval, "noise": log_mean_interval(aa, level)[1],
            "rounds": int(la.shape[0]), "level": level}
