"""Figures of chapter 08 (memory and quantization). Each function returns the Figure it draws on:
where the memory of a generation goes step by step, what each format costs in quality against the
bytes it saves, and the bytes of each format split into their parts."""
from __future__ import annotations

import numbers
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.transforms import Bbox

from ._axes import log_axis
from .ch04 import _number

TIMELINE_PARTS = (("weights_bytes", "weights", "C0"), ("kv_cache_bytes", "KV cache (allocated)", "C1"),
                  ("other_bytes", "activations and temporaries (peak of the step)", "C2"))


def byte_unit(nbytes: float) -> tuple[str, float]:
    """The binary unit that suits ``nbytes``: ("KiB", 1024), ("MiB", 2**20), ..."""
    for name, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return name, size
    return "bytes", 1


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number of bytes, got {value!r}")
    return float(value)


def plot_memory_timeline(rows: Sequence[Mapping], title: str = "Where the memory of a generation goes",
                         device: str = "cpu", dtype: str = "float32"):
    """Stacked bars per step of a generation (``memory.memory_timeline``'s rows): weights, the KV
    cache, and the step's activations and temporaries; the bytes of the cache's positions filled so
    far (``kv_used_bytes``) on top of the weights as a dashed line; the process's RSS and, on a GPU, the allocator's reserve on a
    second axis (they include everything else the process holds)."""
    if not rows:
        raise ValueError("rows must hold at least one step of memory_timeline")
    for i, r in enumerate(rows):
        missing = [k for k, _, _ in TIMELINE_PARTS if k not in r] + [k for k in ("step", "kv_used_bytes") if k not in r]
        if missing:
            raise ValueError(f"rows[{i}] lacks {missing}: give memory.memory_timeline's rows")
    steps = np.array([r["step"] for r in rows])
    top = max(sum(r[k] for k, _, _ in TIMELINE_PARTS) for r in rows)
    unit, size = byte_unit(top)
    fig, ax = plt.subplots(figsize=(10, 4.8))
    bottom = np.zeros(len(rows))
    for key, label, colour in TIMELINE_PARTS:
        values = np.array([r[key] for r in rows], dtype=float) / size
        ax.bar(steps, values, bottom=bottom, color=colour, label=label, width=0.8)
        bottom += values
    weights = np.array([r["weights_bytes"] for r in rows], dtype=float) / size
    ax.plot(steps, weights + np.array([r["kv_used_bytes"] for r in rows]) / size, "k--", lw=1.2,
            label="weights + the cache's filled positions")
    ax.set_xlabel("step (0: the prompt's prefill, then one token each)")
    ax.set_ylabel(f"tensor memory ({unit})")
    ax.set_ylim(0, top / size * 1.25)
    handles, labels = ax.get_legend_handles_labels()
    process = [(k, lab, c) for k, lab, c in (("rss_bytes", "process RSS (psutil)", "C3"),
                                            ("reserved_bytes", "CUDA allocator reserved", "C4"))
               if all(r.get(k) is not None for r in rows)]
    if process:
        right = ax.twinx()
        top_right = max(r[k] for k, _, _ in process for r in rows)
        unit_r, size_r = byte_unit(top_right)
        for key, label, colour in process:
            right.plot(steps, [r[key] / size_r for r in rows], "o-", ms=3, color=colour, label=label)
        right.set_ylim(0, top_right / size_r * 1.25)
        right.set_ylabel(f"process memory ({unit_r})")
        h, lab = right.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    ax.legend(handles, labels, fontsize=8, loc="upper left", ncol=2)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(f"{title} ({device}, {dtype})", fontsize=10.5)
    fig.tight_layout()
    return fig


def plot_quality_vs_bytes(points: Mapping[str, Mapping], x_label: str = "weight bytes",
                          y_label: str = "perplexity change vs float32 (%)", interval_kind: str = "95% paired bootstrap",
                          title: str = "What each format costs in quality for the bytes it saves", device: str = "cpu"):
    """One point per format: its quality change against the reference (``delta``, with its
    ``interval`` as error bars) against its ``bytes`` (per token or of the weights: ``x_label`` says),
    a line at zero (no change), each format's name beside its point (placed so that no two names
    overlap, however close the points) and its ``verdict`` in the legend.
    points: format -> {"bytes", "delta", "interval": (low, high), "verdict": str}."""
    if not points:
        raise ValueError("points must map at least one format to {bytes, delta, interval, verdict}")
    for name, p in points.items():
        missing = [k for k in ("bytes", "delta", "interval", "verdict") if k not in p]
        if missing:
            raise ValueError(f"points[{name!r}] lacks {missing}: give {{bytes, delta, interval, verdict}}")
        _positive(f"points[{name!r}]['bytes']", p["bytes"])
        if len(p["interval"]) != 2 or not p["interval"][0] <= p["delta"] <= p["interval"][1]:
            raise ValueError(f"points[{name!r}]: the interval {tuple(p['interval'])} must hold delta {p['delta']}")
    unit, size = byte_unit(max(p["bytes"] for p in points.values()))
    fig, ax = plt.subplots(figsize=(9, 5))
    ax.axhline(0, color="0.3", lw=1, ls="--", label="no change")
    for i, (name, p) in enumerate(points.items()):
        lo, hi = p["interval"]
        ax.errorbar([p["bytes"] / size], [p["delta"]], yerr=[[p["delta"] - lo], [hi - p["delta"]]], fmt="o",
                    capsize=4, color=f"C{i}", label=f"{name}: {p['verdict']}")
    xs = [p["bytes"] / size for p in points.values()]
    if max(xs) / min(xs) > 1.5:
        log_axis(ax, "x", base=2)
        ax.set_xlim(min(xs) / 1.4, max(xs) * 1.4)
    ax.set_xlabel(f"{x_label} ({unit})")
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3)
    ax.set_title(f"{title} ({device}; error bars: {interval_kind})", fontsize=10.5)
    fig.tight_layout()
    _place_labels(ax, list(points), xs, [p["delta"] for p in points.values()],
                  [tuple(p["interval"]) for p in points.values()])
    ax.legend(fontsize=8, loc="best")                    # "best" keeps clear of the labels too
    return fig


def _place_labels(ax, names, xs, ys, intervals, fontsize: float = 8.5, gap: float = 6.0) -> None:
    """Name each point (xs[i], ys[i]) beside it, in its colour C{i}, so that no two names overlap. In the points' order,
    each name takes the first free place among: right of its point, left of it, then one line
    higher or lower at a time, on either side. A place is free when it overlaps no name placed
    before; among free places the first that also keeps off the other points' error bars, the line
    at zero and inside the axes wins. Right and above/below of n points give 2n + 1 rows on one side, and a placed name
    (one line high, rows a line and a gap apart) blocks at most two of them: a free place always exists."""
    ax.autoscale_view()                                                      # the limits the points are drawn in
    to_px = ax.figure.dpi / 72                                               # points -> pixels
    bars = [ax.transData.transform([(x, lo), (x, hi)]) for x, (lo, hi) in zip(xs, intervals)]
    bars = [Bbox([[a[0] - 4 * to_px, min(a[1], b[1]) - 4 * to_px], [a[0] + 4 * to_px, max(a[1], b[1]) + 4 * to_px]])
            for a, b in bars]                                                # each error bar with its caps and marker
    frame, placed = ax.get_window_extent(), []
    zero = ax.transData.transform((xs[0], 0.0))[1]                           # the "no change" line
    bars.append(Bbox([[frame.x0, zero - 2 * to_px], [frame.x1, zero + 2 * to_px]]))
    for i, (name, x, y) in enumerate(zip(names, xs, ys)):
        text = ax.annotate(name, (x, y), xytext=(gap, 0), textcoords="offset points", ha="left", va="center",
                           fontsize=fontsize, color=f"C{i}")                    # the colour of its point
        line = text.get_window_extent().height / to_px + 2                  # one row, in points
        rows = [0] + [k * s for k in range(1, 2 * len(names) + 2) for s in (1, -1)]
        places = [(side * gap, row * line, "left" if side > 0 else "right") for row in rows for side in (1, -1)]
        free = []
        for dx, dy, ha in places:
            box = _move(text, dx, dy, ha)
            if any(_overlap(box, other) for other in placed):
                continue
            clear = not any(_overlap(box, b) for j, b in enumerate(bars) if j != i)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            free.append((not (clear and inside), not inside, dx, dy, ha))
            if clear and inside:
                break
        _, _, dx, dy, ha = min(free, key=lambda f: f[:2])                     # the first of the best kind
        placed.append(_move(text, dx, dy, ha))


def _move(text, dx: float, dy: float, ha: str):
    """Put an annotation's text (dx, dy) points from its point, aligned ``ha``; its display box."""
    text.xyann = (dx, dy)
    text.set_ha(ha)
    return text.get_window_extent()


def _overlap(a, b) -> bool:
    """Whether two display boxes share any area (touching edges do not count)."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def plot_bytes_by_format(formats: Mapping[str, float | Mapping[str, float]],
                         title: str = "Bytes of the weights by format", what: str = "weights", device: str = "cpu"):
    """One bar per format, split into its parts when a format maps part -> bytes (for example the
    int4 values, their scales, and the tensors left unquantized); the total and its size relative
    to the first format on each bar. formats: name -> bytes, or name -> {part: bytes}."""
    if not formats:
        raise ValueError("formats must map at least one format to its bytes")
    parts = {name: dict(v) if isinstance(v, Mapping) else {what: v} for name, v in formats.items()}
    for name, p in parts.items():
        if not p:
            raise ValueError(f"formats[{name!r}] must give at least one part")
        for part, b in p.items():
            if isinstance(b, bool) or not isinstance(b, numbers.Real) or b < 0:
                raise ValueError(f"formats[{name!r}][{part!r}] must be a number of bytes >= 0, got {b!r}")
    totals = [sum(p.values()) for p in parts.values()]
    for name, t in zip(parts, totals):
        _positive(f"the total of formats[{name!r}]", t)
    unit, size = byte_unit(max(totals))
    names, x = list(parts), np.arange(len(parts))
    kinds = list(dict.fromkeys(k for p in parts.values() for k in p))           # every part, first seen first
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(names) + 3), 4.6))
    bottom = np.zeros(len(names))
    for j, kind in enumerate(kinds):
        values = np.array([parts[n].get(kind, 0) for n in names], dtype=float) / size
        ax.bar(x, values, 0.6, bottom=bottom, color=f"C{j}", label=kind, edgecolor="0.3")
        bottom += values
    for i, t in enumerate(totals):
        ax.text(i, t / size, f"{_number(t / size)} {unit}\n{t / totals[0]:.3g}x", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names, fontsize=8.5)
    ax.set_ylim(0, max(totals) / size * 1.25)
    ax.set_ylabel(f"{what} ({unit})")
    if len(kinds) > 1:
        ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(f"{title} ({device}; ratios against {names[0]})", fontsize=10.5)
    fig.tight_layout()
    return fig
