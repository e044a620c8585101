"""Figures of chapter 04 (performance). Each function returns the Figure it draws on; timings carry
their 95% intervals as error bars."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..benchmark.timing import median_interval
from ._axes import log_axis


def _yerr(values: Sequence[float], intervals: Sequence[tuple[float, float]] | None) -> np.ndarray | None:
    if intervals is None:
        return None
    if len(intervals) != len(values):
        raise ValueError(f"intervals must give one (low, high) per value, got {len(intervals)} for {len(values)}")
    return np.array([[max(0.0, v - lo) for v, (lo, _) in zip(values, intervals)],
                     [max(0.0, hi - v) for v, (_, hi) in zip(values, intervals)]])


def plot_run_times(runs: Mapping[str, Sequence[float]], title: str, device: str = "cpu", dtype: str = "float32"):
    """Every timed run as a dot, one row per method, with its median and the median's 95% interval
    (chapter 04). runs: method name -> wall times in milliseconds, in the order they ran."""
    if not runs or any(len(v) == 0 for v in runs.values()):
        raise ValueError("runs must map each method name to a non-empty list of times (ms)")
    fig, ax = plt.subplots(figsize=(8.5, 0.8 * len(runs) + 1.9))
    for i, (name, ms) in enumerate(runs.items()):
        ax.scatter(ms, [i] * len(ms), alpha=0.6, color=f"C{i}", zorder=3)
        med = float(np.median(ms))
        lo, hi = median_interval(list(ms)) if len(ms) > 1 else (med, med)
        ax.errorbar([med], [i + 0.25], xerr=[[med - lo], [hi - med]], fmt="|", color="black", ms=14, capsize=4,
                    label="median, 95% interval" if i == 0 else None)
    ax.set_yticks(range(len(runs)), list(runs))
    ax.set_ylim(-0.6, len(runs) - 0.2)
    ax.set_xlabel("wall time of one run (ms)")
    ax.set_title(f"{title}\n({device}, {dtype}; dots: each run)", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.3), frameon=False)
    fig.tight_layout()
    return fig


def plot_bar_panels(panels: Mapping[str, Mapping[str, float]], title: str, device: str = "cpu",
                    intervals: Mapping[str, Mapping[str, tuple[float, float]]] | None = None):
    """One bar chart per panel, side by side (chapter 04): panel label (with unit) -> {bar name:
    value}; ``intervals`` (same keys, where known) -> {bar name: (low, high)}, drawn as error bars.
    The bars are named on the x axis, so no legend sits over them."""
    if not panels or any(not bars for bars in panels.values()):
        raise ValueError("panels must map each panel label to a non-empty {bar name: value} mapping")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.7 * len(panels), 3.6), squeeze=False)
    for ax, (label, bars) in zip(axes[0], panels.items()):
        names, values = list(bars), [float(v) for v in bars.values()]
        ivs = (intervals or {}).get(label)
        err = _yerr(values, [ivs.get(n, (v, v)) for n, v in zip(names, values)]) if ivs else None
        ax.bar(names, values, yerr=err, capsize=4, color=[f"C{i}" for i in range(len(names))])
        top = max(v + (err[1][i] if err is not None else 0) for i, v in enumerate(values))
        for x, v in enumerate(values):
            ax.text(x, v / 2, f"{v:.3g}", ha="center", va="center", fontsize=8.5, color="white", fontweight="bold")
        ax.set_ylim(0, top * 1.1)
        ax.set_ylabel(label)
        ax.set_title(label + (" (95% interval)" if err is not None else ""), fontsize=9)
        ax.tick_params(axis="x", labelsize=8.5, rotation=15)
    fig.suptitle(f"{title} ({device})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_batching(panels: Mapping[str, Mapping[str, Mapping[str, Sequence]]], title: str = "Batching"):
    """Panels of a quantity against batch size (chapter 04), log2 batch axis, log y axis.

    panels: panel label (the y axis, with unit) -> {curve label: {"batch_size": [...], "value": [...],
    "interval": [(low, high), ...] (optional: error bars)}}; a label containing "reference" is drawn
    dashed. The legend sits below the panels."""
    if not panels or any(not curves for curves in panels.values()):
        raise ValueError("panels must hold at least one panel with at least one curve")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 4.3), squeeze=False)
    handles = {}
    for ax, (label, curves) in zip(axes[0], panels.items()):
        for i, (name, c) in enumerate(curves.items()):
            if not len(c["batch_size"]) == len(c["value"]) > 0:
                raise ValueError(f"curve {name!r}: batch_size and value need equal, non-zero lengths")
            h = ax.errorbar(c["batch_size"], c["value"], yerr=_yerr(c["value"], c.get("interval")),
                            ls="--" if "reference" in name else "-", marker="o", ms=4, capsize=3,
                            color=f"C{list(handles).index(name) if name in handles else len(handles)}")
            handles.setdefault(name, h)
        log_axis(ax, "x", base=2)
        log_axis(ax)
        ax.set_xlabel("batch size (prompts decoded together)")
        ax.set_ylabel(label)
        ax.set_title(label, fontsize=9.5)
        ax.grid(alpha=0.3, which="both")
    fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(2, len(handles)), fontsize=8.5, frameon=False)
    fig.suptitle(title, fontsize=10.5)
    fig.tight_layout()
    return fig
