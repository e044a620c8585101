"""Figures of chapter 07 (serving many requests). Each function returns the Figure it draws on:
who runs at each step (a timeline), KV memory reserved against used, and throughput and latency
with their intervals as error bars."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from ._axes import error_bars
from .ch04 import _number

# one character per request and step in a timeline, and what it means
TIMELINE_STATES = {
    ".": ("not there (finished, or not arrived)", "white"),
    "w": ("waiting (queued, or idle while others prefill)", "0.85"),
    "p": ("prefill (its prompt computed)", "C0"),
    "d": ("decode (a token it asked for)", "C2"),
    "x": ("padding (a row computed, its token thrown away)", "C3"),
    "!": ("preempted (its blocks taken back)", "black"),
}


def _timeline_grid(name: str, rows: Sequence[str]) -> np.ndarray:
    if not rows or len({len(r) for r in rows}) != 1 or not rows[0]:
        raise ValueError(f"panel {name!r}: rows must be non-empty strings of one length (one character per step)")
    codes = list(TIMELINE_STATES)
    bad = sorted({c for r in rows for c in r} - set(codes))
    if bad:
        raise ValueError(f"panel {name!r}: unknown states {bad}; use one of {''.join(codes)!r}")
    return np.array([[codes.index(c) for c in r] for r in rows])


def plot_timeline(panels: Mapping[str, Sequence[str]], title: str = "Who runs at each step",
                  device: str = "cpu", dtype: str = "float32"):
    """One panel per way of serving: a row per request, a column per step, coloured by what the
    request did in that step (``TIMELINE_STATES``). panels: name -> one string per request, one
    character per step (all rows of a panel of one length; panels may differ in length)."""
    if not panels:
        raise ValueError("panels must map at least one name to its rows of states")
    grids = {name: _timeline_grid(name, rows) for name, rows in panels.items()}
    width = max(g.shape[1] for g in grids.values())
    fig, axes = plt.subplots(len(grids), 1, figsize=(min(13.0, 4.0 + 0.09 * width), 0.9 + sum(
        0.24 * g.shape[0] + 0.7 for g in grids.values())), squeeze=False, sharex=True)
    colours = ListedColormap([c for _, c in TIMELINE_STATES.values()])
    for ax, (name, grid) in zip(axes[:, 0], grids.items()):
        ax.imshow(grid, cmap=colours, vmin=-0.5, vmax=len(TIMELINE_STATES) - 0.5, aspect="auto",
                  interpolation="nearest", extent=(-0.5, grid.shape[1] - 0.5, grid.shape[0] - 0.5, -0.5))
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_yticks(range(grid.shape[0]))
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylabel("request")
        ax.set_title(f"{name}: {grid.shape[1]} steps", fontsize=9.5, loc="left")
    axes[-1, 0].set_xlabel("step (one forward pass of the batch)")
    used = sorted({int(v) for g in grids.values() for v in np.unique(g)})
    states = list(TIMELINE_STATES.values())
    handles = [Patch(facecolor=states[i][1], edgecolor="0.5", label=states[i][0]) for i in used]
    fig.legend(handles=handles, loc="lower center", ncol=min(3, len(handles)), fontsize=8, frameon=False)
    fig.suptitle(f"{title} ({device}, {dtype}, greedy)", fontsize=10.5)
    fig.tight_layout(rect=(0, 0.06 + 0.03 * ((len(handles) - 1) // 3), 1, 1))
    return fig


def plot_kv_usage(schemes: Mapping[str, tuple[float, float]], unit: str = "token slots x steps",
                  block_sizes: Sequence[int] | None = None, used_by_block_size: Sequence[float] | None = None,
                  title: str = "KV cache: reserved vs holding a token", device: str = "cpu", dtype: str = "float32"):
    """Left: per scheme, the KV memory reserved beside the part that holds a token's keys and values
    (the share written on the bar). Right (when ``block_sizes`` are given): the paged cache's share in
    use against its block size, beside each scheme's share as a dashed line.
    schemes: name -> (reserved, used), in ``unit``; used <= reserved."""
    if not schemes:
        raise ValueError("schemes must map at least one name to (reserved, used)")
    for name, pair in schemes.items():
        if len(pair) != 2 or not 0 <= pair[1] <= pair[0] or pair[0] <= 0:
            raise ValueError(f"schemes[{name!r}] must be (reserved, used) with 0 <= used <= reserved, reserved > 0, "
                             f"got {pair!r}")
    if (block_sizes is None) != (used_by_block_size is None) or (
            block_sizes is not None and not len(block_sizes) == len(used_by_block_size) > 0):
        raise ValueError("block_sizes and used_by_block_size must be given together, one share per block size")
    right = block_sizes is not None
    fig, axes = plt.subplots(1, 2 if right else 1, figsize=(12 if right else 7, 0.55 * len(schemes) + 2.6),
                             squeeze=False)
    ax = axes[0, 0]
    names = list(schemes)[::-1]                                          # the first scheme on top
    reserved = [schemes[n][0] for n in names]
    used = [schemes[n][1] for n in names]
    ax.barh(names, reserved, color="0.82", edgecolor="0.5", label="reserved")
    ax.barh(names, used, height=0.5, color="C0", label="holding a token's keys/values")
    for i, (r, u) in enumerate(zip(reserved, used)):
        ax.text(r, i, f" {u / r:.0%} in use", va="center", fontsize=8.5)
    ax.set_xlim(0, max(reserved) * 1.3)
    ax.set_xlabel(unit)
    ax.set_title("reserved vs used", fontsize=9.5)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    if right:
        ax = axes[0, 1]
        ax.plot(block_sizes, [100 * f for f in used_by_block_size], "o-", color="C0", label="paged cache (measured)")
        for i, n in enumerate(schemes):
            ax.axhline(100 * schemes[n][1] / schemes[n][0], ls="--", lw=1, color=f"C{i + 1}", label=n)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(block_sizes), [str(b) for b in block_sizes])
        ax.set_ylim(0, 105)
        ax.set_xlabel("block size (tokens per block)")
        ax.set_ylabel("share of reserved slots in use (%)")
        ax.set_title("the paged cache's share in use vs its block size", fontsize=9.5)
        ax.legend(fontsize=7.5, loc="lower left")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title} ({device}, {dtype})", fontsize=10.5)
    fig.tight_layout()
    return fig


SERVING_PANELS = (("tokens_per_s", "throughput", "output tokens / s", 1.0),
                  ("ttft", "time to first token", "ms", 1e3),
                  ("tpot", "time per output token", "ms", 1e3))


def _summary(name: str, s: Mapping, key: str) -> tuple[float, tuple[float, float] | None]:
    if key not in s or "median" not in s[key]:
        raise ValueError(f"systems[{name!r}] lacks {key!r}: give {{'median': ..., 'interval': (low, high)}}")
    interval = s[key].get("interval")
    return float(s[key]["median"]), (tuple(interval) if interval is not None else None)


def plot_serving(systems: Mapping[str, Mapping], title: str = "Serving one stream of requests",
                 source: str = "measured here", interval_kind: str = "95% interval", device: str = "cpu",
                 dtype: str = "float32"):
    """Throughput, time to first token (p50, p99) and time per output token (p50, p99) per way of
    serving, as bars with their intervals. systems: name -> {"tokens_per_s", "ttft_p50", "ttft_p99",
    "tpot_p50", "tpot_p99"}, each {"median": seconds or tokens/s, "interval": (low, high)} (the
    serving benchmark's ``over_runs`` format). ``source`` says where the numbers come from (this
    machine, or a results file and its hardware)."""
    if not systems:
        raise ValueError("systems must map at least one name to its summary")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    names, x = list(systems), np.arange(len(systems))
    for ax, (key, label, unit, scale) in zip(axes, SERVING_PANELS):
        if key == "tokens_per_s":
            groups = [("", key, 0.0, 0.7)]
        else:
            groups = [("p50", f"{key}_p50", -0.19, 0.38), ("p99", f"{key}_p99", 0.19, 0.38)]
        for g, (tag, k, shift, width) in enumerate(groups):
            pairs = [_summary(n, systems[n], k) for n in names]
            values = [v * scale for v, _ in pairs]
            intervals = None if any(i is None for _, i in pairs) else [(lo * scale, hi * scale) for _, (lo, hi) in pairs]
            bars = ax.bar(x + shift, values, width, yerr=error_bars(values, intervals), capsize=3, label=tag or None,
                          color=[f"C{i}" for i in range(len(names))], alpha=1.0 if g == 0 else 0.55,
                          edgecolor="0.3", hatch="" if g == 0 else "//")
            ax.bar_label(bars, [_number(v) for v in values], fontsize=7, padding=2)
        if len(groups) > 1:
            ax.legend(handles=[Patch(facecolor="0.6", edgecolor="0.3", label="p50"),
                               Patch(facecolor="0.6", alpha=0.55, edgecolor="0.3", hatch="//", label="p99")],
                      fontsize=8, loc="upper right")
        ax.set_xticks(x, names, fontsize=8)
        ax.set_ylabel(unit)
        ax.set_title(label, fontsize=9.5)
        ax.set_ylim(0, ax.get_ylim()[1] * (1.35 if len(groups) > 1 else 1.15))   # room for the p50/p99 legend
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"{title}: {source} ({device}, {dtype}; error bars: {interval_kind})", fontsize=10)
    fig.tight_layout()
    return fig
