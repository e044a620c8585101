"""Figures of chapter 04 (performance). Each function returns the Figure it draws on; timings carry
their intervals as error bars (95%, or the range of the runs where too few ran for that, as the
legend says), and the roofline names the roof that bounds each point."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, NullFormatter

from ..benchmark.stats import median_interval, median_label
from ._axes import error_bars


def _number(v: float) -> str:
    """A bar or tick label without e-notation: 13,613 / 412 / 2.08 / 0.031."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def plot_run_times(runs: Mapping[str, Sequence[float]], title: str, device: str = "cpu", dtype: str = "float32"):
    """Every timed run as a dot, one row per method, with its median and the median's 95% interval
    (chapter 04). runs: method name -> wall times in milliseconds, in the order they ran."""
    if not runs or any(len(v) == 0 for v in runs.values()):
        raise ValueError("runs must map each method name to a non-empty list of times (ms)")
    fig, ax = plt.subplots(figsize=(8.5, 0.8 * len(runs) + 1.9))
    for i, (name, ms) in enumerate(runs.items()):
        ax.scatter(ms, [i] * len(ms), alpha=0.6, color=f"C{i}", zorder=3)
        med = float(np.median(ms))
        ax.errorbar([med], [i + 0.25], xerr=error_bars([med], [median_interval(list(ms))]), fmt="|", color=f"C{i}", ms=14, capsize=4,
                    label=f"median, {median_label(len(ms))}")
    ax.set_yticks(range(len(runs)), list(runs))
    ax.set_ylim(-0.6, len(runs) - 0.2)
    ax.set_xlabel("wall time of one run (ms)")
    ax.set_title(f"{title}\n({device}, {dtype}; dots: each run)", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.3), frameon=False, ncol=1)
    fig.tight_layout()
    return fig


def plot_bar_panels(panels: Mapping[str, Mapping[str, float]], title: str, device: str = "cpu",
                    intervals: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
                    baseline: float | None = None):
    """One bar chart per panel, side by side (chapter 04): panel label (with unit) -> {bar name:
    value}; ``intervals`` (same keys, where known) -> {bar name: (low, high)}, drawn as error bars;
    ``baseline``: a dashed line at that value (e.g. 1 for ratios). The bars are named on the x axis,
    so no legend sits over them."""
    if not panels or any(not bars for bars in panels.values()):
        raise ValueError("panels must map each panel label to a non-empty {bar name: value} mapping")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.7 * len(panels), 3.6), squeeze=False)
    for ax, (label, bars) in zip(axes[0], panels.items()):
        names, values = list(bars), [float(v) for v in bars.values()]
        ivs = (intervals or {}).get(label)
        err = error_bars(values, [ivs.get(n, (v, v)) for n, v in zip(names, values)]) if ivs else None
        ax.bar(names, values, yerr=err, capsize=4, color=[f"C{i}" for i in range(len(names))])
        ends = [v + (err[1][i] if err is not None else 0) for i, v in enumerate(values)]   # bar or error bar top
        top = max(ends + ([baseline] if baseline is not None else []))
        if baseline is not None:
            ax.axhline(baseline, color="black", ls="--", lw=1)
        ax.set_ylim(0, top * 1.15)
        for x, (v, end) in enumerate(zip(values, ends)):
            if v >= 0.12 * top:         # inside a bar tall enough to hold its value
                ax.text(x, v / 2, _number(v), ha="center", va="center", fontsize=8.5, color="white", fontweight="bold")
            else:                       # above a short bar and its error bar
                ax.text(x, end + 0.01 * top, _number(v), ha="center", va="bottom", fontsize=8.5, fontweight="bold")
        ax.set_ylabel(label)
        ax.set_title(label + (" (95% interval)" if err is not None else ""), fontsize=9)
        ax.tick_params(axis="x", labelsize=8.5, rotation=15)
    fig.suptitle(f"{title} ({device})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_batching(panels: Mapping[str, Mapping[str, Mapping[str, Sequence]]], title: str = "Batching"):
    """Panels of a quantity against batch size (chapter 04), log2 batch axis (ticks at the batch
    sizes), linear y axis from 0.

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
            h = ax.errorbar(c["batch_size"], c["value"], yerr=error_bars(c["value"], c.get("interval")),
                            ls="--" if "reference" in name else "-", marker="o", ms=4, capsize=3,
                            color=f"C{list(handles).index(name) if name in handles else len(handles)}")
            handles.setdefault(name, h)
        sizes = sorted({b for c in curves.values() for b in c["batch_size"]})
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(int(b)) for b in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(0, None)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _number(v)))
        ax.set_xlabel("batch size (prompts decoded together)")
        ax.set_ylabel(label)
        ax.set_title(label, fontsize=9.5)
        ax.grid(alpha=0.3, which="both")
    fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(2, len(handles)), fontsize=8.5, frameon=False)
    fig.suptitle(title, fontsize=10.5)
    fig.tight_layout()
    return fig


def plot_roofline(roofs: Mapping[str, float], points: Sequence[Mapping], title: str = "Roofline",
                  batch_marks: Mapping[str, Mapping[int, float]] | None = None, device: str = "cpu"):
    """The roofline (chapter 04): attainable GFLOP/s against arithmetic intensity (FLOPs per byte),
    log-log. Roofs: ``roofs`` from ``benchmark.roofline.roofline_roofs`` (compute, cache read, DRAM
    read). points: {"label", "intensity", "achieved_GFLOPs", "interval" (low, high) or None,
    "bound" (the roof that bounds it)}, drawn with error bars and named in the legend with their
    bound. batch_marks: {model: {batch size: intensity}}, one row of ticks per model along the
    bottom: where a larger batch moves that model's decode step."""
    for key in ("compute_GFLOPs", "cache_GBps", "dram_GBps"):
        if not isinstance(roofs.get(key), (int, float)) or roofs[key] <= 0:
            raise ValueError(f"roofs must hold a positive {key!r} (from roofline_roofs), got {roofs.get(key)!r}")
    if not points:
        raise ValueError("points must hold at least one measured point")
    compute = roofs["compute_GFLOPs"]
    xs = [p["intensity"] for p in points] + [v for m in (batch_marks or {}).values() for v in m.values()]
    x = np.geomspace(min(min(xs) / 3, 0.05), max(max(xs) * 3, 4 * compute / roofs["dram_GBps"]), 200)
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    for key, name, color in (("cache_GBps", "cache read roof", "C2"), ("dram_GBps", "DRAM read roof", "C3")):
        bw = roofs[key]
        ax.plot(x, np.minimum(compute, x * bw), color=color, lw=2, label=f"{name}: {bw:.0f} GB/s x intensity")
    ax.axhline(compute, color="black", lw=1.5, ls=":", label=f"compute roof: {compute:.0f} GFLOP/s (matmul)")
    for i, p in enumerate(points):
        y = p["achieved_GFLOPs"]
        iv = p.get("interval")
        err = None if iv is None else error_bars([y], [iv])
        ax.errorbar([p["intensity"]], [y], yerr=err, fmt="os^Dv"[i % 5], ms=8, capsize=4, color=f"C{5 + i}",
                    label=f"{p['label']} (bound: {p['bound']})")
    ymin = min(p["achieved_GFLOPs"] for p in points) / 6
    for j, (model, marks) in enumerate((batch_marks or {}).items()):
        y = ymin * 1.5 ** (j + 1)                                    # one row of batch ticks per model
        ax.plot(list(marks.values()), [y] * len(marks), "|-", color=f"C{j}", ms=10, lw=0.8,
                label=f"{model} decode at batch B (ticks)")
        for b, xi in marks.items():
            ax.text(xi, y * 1.12, f"B={b}", fontsize=7, ha="center", va="bottom", color=f"C{j}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(ymin, compute * 2.5)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _number(v)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _number(v)))
    ax.set_xlabel("arithmetic intensity (FLOPs per byte read)")
    ax.set_ylabel("GFLOP/s (attainable, or achieved by a decode step)")
    ax.set_title(f"{title}\n({device}; error bars: 95% intervals of the step time)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
