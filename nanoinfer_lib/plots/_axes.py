"""Axis helpers the chapters' figures share."""
from __future__ import annotations

from matplotlib.ticker import LogLocator, ScalarFormatter


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
