"""Axis helpers the chapters' figures share."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.ticker import LogLocator, ScalarFormatter


def error_bars(values: Sequence[float], intervals: Sequence[tuple[float, float]] | None,
               name: str = "intervals") -> np.ndarray | None:
    """Intervals as matplotlib's ``xerr``/``yerr`` want them: a (2, n) array, the distance from each
    value down to its interval's low end and up to its high end (never negative); None without
    intervals."""
    if intervals is None:
        return None
    if len(intervals) != len(values):
        raise ValueError(f"{name} must give one (low, high) per value, got {len(intervals)} for {len(values)}")
    return np.array([[max(0.0, v - lo) for v, (lo, _) in zip(values, intervals)],
                     [max(0.0, hi - v) for v, (_, hi) in zip(values, intervals)]])


def log_axis(ax, axis: str = "y", base: int = 10) -> None:
    """A log axis with labelled major and minor ticks (plain numbers, not 10^x)."""
    getattr(ax, f"set_{axis}scale")("log", base=base)
    target = ax.yaxis if axis == "y" else ax.xaxis
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    target.set_major_formatter(fmt)
    if base == 10:
        target.set_minor_locator(LogLocator(base=10, subs=(2, 5)))
        minor = ScalarFormatter()
        minor.set_scientific(False)
        target.set_minor_formatter(minor)
    target.set_tick_params(which="minor", labelsize=7)
