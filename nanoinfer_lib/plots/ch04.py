"""Figures of chapter 04 (performance). Each function returns the Figure it draws on."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt


def plot_run_times(runs: Mapping[str, Sequence[float]], title: str, device: str = "cpu", dtype: str = "float32"):
    """Every timed run as a dot, one row per method, with its median as a bar (chapter 04).

    runs: method name -> wall times in milliseconds, in the order they ran.
    """
    if not runs or any(len(v) == 0 for v in runs.values()):
        raise ValueError("runs must map each method name to a non-empty list of times (ms)")
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(runs) + 1.6))
    for i, (name, ms) in enumerate(runs.items()):
        ax.scatter(ms, [i] * len(ms), alpha=0.6, label=f"{name}: each run")
        med = sorted(ms)[len(ms) // 2]
        ax.plot([med, med], [i - 0.3, i + 0.3], color="black", lw=2, label="median" if i == 0 else None)
    ax.set_yticks(range(len(runs)), list(runs))
    ax.set_xscale("log")
    ax.set_xlabel("wall time of one run (ms, log scale)")
    ax.set_title(f"{title}\n({device}, {dtype})", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_bar_panels(panels: Mapping[str, Mapping[str, float]], title: str, device: str = "cpu"):
    """One bar chart per panel, side by side (chapter 04): panel label (with unit) -> {bar name: value}."""
    if not panels or any(not bars for bars in panels.values()):
        raise ValueError("panels must map each panel label to a non-empty {bar name: value} mapping")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, (label, bars) in zip(axes[0], panels.items()):
        names, values = list(bars), [float(v) for v in bars.values()]
        ax.bar(names, values, color=[f"C{i}" for i in range(len(names))], label=names)
        for x, v in enumerate(values):
            ax.text(x, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
        ax.set_ylabel(label)
        ax.set_title(label, fontsize=9)
        ax.tick_params(axis="x", labelsize=8, rotation=15)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{title} ({device})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_batching(curves: Mapping[str, Mapping[str, Sequence[float]]], title: str = "Batching"):
    """Throughput and latency against batch size (chapter 04), log2 batch axis.

    curves: line label (device, dtype, 'measured here' or 'reference') -> {"batch_size": [...],
    "tokens_per_second": [...], "latency_ms": [...]} (latency of one batch).
    """
    if not curves:
        raise ValueError("curves must hold at least one line")
    fig, (ax_t, ax_l) = plt.subplots(1, 2, figsize=(11, 4))
    for label, c in curves.items():
        if not (len(c["batch_size"]) == len(c["tokens_per_second"]) == len(c["latency_ms"]) > 0):
            raise ValueError(f"curve {label!r}: batch_size, tokens_per_second and latency_ms need equal lengths")
        ax_t.plot(c["batch_size"], c["tokens_per_second"], "o-", label=label)
        ax_l.plot(c["batch_size"], c["latency_ms"], "o-", label=label)
    for ax in (ax_t, ax_l):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size (prompts decoded together)")
        ax.legend(fontsize=8)
    ax_t.set_ylabel("throughput (generated tokens / s)")
    ax_t.set_title(f"{title}: throughput", fontsize=10)
    ax_l.set_ylabel("latency of one batch (ms)")
    ax_l.set_title(f"{title}: latency", fontsize=10)
    fig.tight_layout()
    return fig
