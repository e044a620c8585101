"""Figures of chapter 02 (the KV cache). Each function returns the Figure it draws on."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from .. import validate
from ..benchmark.hardware import describe
from ..benchmark.kv_sweep import predicted_speedups, speedup_intervals, speedups
from ..benchmark.timing import median_interval, median_label
from ..kv_cache import kv_cache_bytes
from ._axes import error_bars, log_axis

_MODE_COLOR = {"cached": "tab:blue", "uncached": "tab:orange"}


def plot_attention_reuse(T: int = 6):
    """Chapter 02: the attention scores step T needs, without and with a KV cache.

    Left: without a cache all T queries are computed against all T keys, T-1 rows of them again.
    Right: with a cache only the new query row is computed; its scores use the keys and values of
    the earlier positions (the K/V columns), read back from the cache. Old query rows are not
    needed at all: no queries are cached.
    """
    if not isinstance(T, int) or isinstance(T, bool) or not 2 <= T <= 16:
        raise ValueError(f"T must be an int in [2, 16], got {T!r}")
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.8))
    causal = np.tril(np.ones((T, T)))
    for ax, cached in zip(axes, (False, True)):
        img = np.ones((T + 1, T))                                   # last row: the K/V strip
        img[:T] = np.where(causal == 1, 0.55, 1.0)                 # recomputed this step
        img[T - 1] = np.where(causal[-1] == 1, 0.2, 1.0)          # the new query's row
        if cached:
            img[:T - 1] = 1.0                                        # old query rows: not computed, not needed
            img[T] = [0.75] * (T - 1) + [0.2]                        # K/V of old positions: from the cache
        else:
            img[T] = 0.55                                            # every K/V recomputed
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.axhline(T - 0.5, color="black", lw=1.5)
        for i in range(T):
            for j in range(i + 1, T):
                ax.text(j, i, "×", ha="center", va="center", color="tab:red", fontsize=9)
        if cached:
            for j in range(T - 1):
                ax.add_patch(plt.Rectangle((j - 0.5, -0.5), 1, T + 1, fill=False, ec="tab:blue", lw=1.2))
        ax.set_xticks(range(T), [f"k{j + 1}" for j in range(T)])
        ax.set_yticks(range(T + 1), [f"q{i + 1}" for i in range(T)] + ["K, V"])
        ax.set_xlabel("keys / values of positions 1..T (columns)")
        ax.set_ylabel("queries (rows); bottom strip: this step's K, V")
        ax.set_title("with KV cache: 1 new row; K/V columns read from the cache" if cached
                     else "without cache: all T rows and all K, V recomputed", fontsize=9.5)
    fig.legend(handles=[Patch(color="0.2", label="computed this step for the new token"),
                        Patch(color="0.55", label="recomputed this step (repeated work)"),
                        Patch(facecolor="0.75", edgecolor="tab:blue", label="K, V of old positions, read from the cache"),
                        Patch(facecolor="white", edgecolor="0.6", label="not computed (old queries are not needed)"),
                        Patch(facecolor="white", edgecolor="tab:red", label="× masked (a future key)")],
               loc="lower center", ncol=2, fontsize=8.5, frameon=False)
    fig.suptitle(f"What step T={T} computes: the cache holds the K/V columns, not query rows "
                 "(diagram, no measurement)", fontsize=10.5)
    fig.tight_layout(rect=(0, 0.15, 1, 1))
    return fig


def _sweep_label(meta: dict) -> str:
    """"CPU <model>, N threads, float32" for a CPU run; the card's name for a GPU run."""
    if str(meta.get("device", "cpu")).startswith("cpu"):
        where = describe(meta, features=False)
    else:
        where = meta.get("gpu") or meta.get("device_name") or meta.get("device")
    return f"{where}, {meta.get('dtype')}"


def _plain_log(ax, axis: str = "y", base: int = 10) -> None:
    """``log_axis`` with every tick label a plain number at its own precision (0.1, 0.2, 0.5, 1, 2, ...)."""
    log_axis(ax, axis, base)
    target = ax.yaxis if axis == "y" else ax.xaxis
    for set_formatter in (target.set_major_formatter, target.set_minor_formatter):
        set_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _err(values: list[float], times: list[list[float]], scale: float = 1.0) -> np.ndarray | None:
    """(2, n) error bars of medians from their repeats (``median_interval``), None without repeats."""
    if not all(len(t) > 1 for t in times):
        return None
    return error_bars(values, [(a * scale, b * scale) for a, b in map(median_interval, times)])


def _runs_of(times: list) -> int:
    return min((len(t) for t in times), default=0)


def _sweep_row(axes, runs: list[dict], live: bool) -> list:
    """Draw one machine's runs on (total time, step time, speedup); returns the legend's handles."""
    ax1, ax2, ax3 = axes
    colors = ["tab:purple", "tab:brown", "tab:olive", "tab:cyan"]
    handles = []
    for i, run in enumerate(runs):
        batch = run["records"][0].get("batch_size", 1) if run["records"] else 1
        name = run["model"].replace("gpt2-random", "GPT-2 shape") + (f", batch {batch}" if batch != 1 else "")
        for mode, ls in (("uncached", "-"), ("cached", "--")):
            color = _MODE_COLOR[mode] if live else colors[i % len(colors)]
            rec = sorted((r for r in run["records"] if r["mode"] == mode), key=lambda r: r["new_tokens"])
            y = [r["seconds"] for r in rec]
            line = ax1.errorbar([r["new_tokens"] for r in rec], y, yerr=_err(y, [r.get("times") or [] for r in rec]),
                                ls=ls, marker="o", ms=4, capsize=2, color=color, label=f"{mode}: {name}")
            lat = sorted((r for r in run.get("latency", []) if r["mode"] == mode), key=lambda r: r["position"])
            y = [1e3 * r["seconds"] for r in lat]
            ax2.errorbar([r["position"] for r in lat], y, yerr=_err(y, [r.get("times") or [] for r in lat], 1e3),
                         ls=ls, marker="o", ms=4, capsize=2, color=color)
            if live:
                handles.append(line)
        sp, iv = speedups(run["records"]), speedup_intervals(run["records"])
        n = list(sp)
        yerr = error_bars(list(sp.values()), [iv[k] for k in n])
        color = "tab:green" if live else colors[i % len(colors)]
        sl = ax3.errorbar(n, list(sp.values()), yerr=yerr if yerr.any() else None, marker="o", ms=4, capsize=3,
                          color=color, label=f"measured speedup: {name}" if live else name)
        handles.append(sl)
        if live and run.get("latency"):
            pred = predicted_speedups(run["latency"], run["records"][0].get("prompt_tokens", 16), n)
            handles.append(ax3.plot(n, list(pred.values()), ls=":", marker="x", color="0.3",
                                    label="predicted from one-step latencies")[0])
    if not live:
        handles += [Line2D([], [], color="0.3", ls="-", label="uncached"),
                    Line2D([], [], color="0.3", ls="--", label="cached")]
    handles.append(ax3.axhspan(2, 4, color="tab:red", alpha=0.12, label="tutorial's claim: 2-4x"))
    ax3.axhline(1, color="0.4", lw=0.8, ls=":")
    for ax in (ax1, ax3):
        _plain_log(ax, "x", base=2)
        ax.set_xlabel("new tokens generated (after a 16-token prompt, log scale)")
    _plain_log(ax1)
    ax1.set_ylabel("total generation time (s, log scale)")
    ax1.set_title("Total time vs new tokens", fontsize=10)
    _plain_log(ax2)
    ax2.set_xlabel("position L (tokens already in the sequence)")
    ax2.set_ylabel("time of one step (ms, log scale)")
    ax2.set_title("One step vs position (uncached step = prefill of L tokens)", fontsize=10)
    _plain_log(ax3)
    ax3.set_ylabel("speedup = uncached / cached time (log scale)")
    ax3.set_title("Speedup of the KV cache (1x: no gain, dotted)", fontsize=10)
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    return handles


def plot_kv_sweep(live: dict, reference: dict | None = None, reference_models=("bundled", "gpt2-random")):
    """Chapter 02: cached vs uncached generation; one row of three panels per machine.

    (1) total time vs new tokens, (2) time of one step vs position, (3) speedup (uncached / cached)
    vs new tokens beside the tutorial's 2-4x claim (shaded). Live rows (this session's
    measurements; ``live`` is a ``kv-sweep`` result dict, or a list of them, e.g. CPU and GPU) draw
    uncached solid orange, cached dashed blue, error bars from the repeats (``median_interval``: the
    range of the runs below 6, labelled so), the speedup's 95% t interval over the rounds
    (``speedup_intervals``) and the speedup predicted from the one-step latencies. A ``reference``
    (another machine's results file) gets its own row, one colour per run, labelled with its device
    and date.
    """
    lives = [live] if isinstance(live, dict) else list(live)
    if not lives or not all(isinstance(d, dict) and "runs" in d and "meta" in d for d in lives):
        raise TypeError("live must be a kv-sweep result dict (or a list of them) with 'meta' and 'runs'")
    rows = [(d["runs"], d["meta"], True) for d in lives]
    if reference is not None:
        ref_runs = [r for r in reference["runs"] if reference_models is None or r["model"] in reference_models]
        rows.append((ref_runs, reference["meta"], False))
    fig = plt.figure(figsize=(15, 5.6 * len(rows)), layout="constrained")
    subfigs = fig.subfigures(len(rows), 1, squeeze=False)[:, 0]
    for sf, (runs, meta, is_live) in zip(subfigs, rows):
        handles = _sweep_row(sf.subplots(1, 3), runs, is_live)
        recs = [r for run in runs for r in run["records"]]
        lat = [r for run in runs for r in run.get("latency", [])]
        n_rec, n_lat = _runs_of([r.get("times") or [] for r in recs]), _runs_of([r.get("times") or [] for r in lat])
        rounds = f"{n_rec} interleaved rounds" if n_rec > 1 else "one round"
        spread = (median_label(n_rec) if n_rec == n_lat else
                  f"{median_label(n_rec)} for totals, {median_label(n_lat)} for steps")
        bars = (f"bars: {spread}; speedup: 95% t interval over {rounds}" if n_rec > 1 else
                "one median per point, no bars")
        note = (f"Live on {_sweep_label(meta)}\n{bars}" if is_live else
                f"Reference file, not measured here: {_sweep_label(meta)}, {meta.get('date', '?')}, commit "
                f"{meta.get('library_commit', '?')}\n{bars}")
        sf.suptitle(note, fontsize=10.5)
        sf.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=8.5,
                  frameon=False)
    fig.suptitle("KV cache: cached vs uncached greedy generation", fontsize=12)
    return fig


_FLOAT_OF_SIZE = {8: torch.float64, 4: torch.float32, 2: torch.float16, 1: torch.float8_e4m3fn}


def plot_cache_memory(models: Mapping[str, tuple], max_len: int = 1024, dtype_bytes: int = 4,
                      batch_sizes: Sequence[int] = (1, 8), dtype: str = "float32"):
    """Chapter 02: KV cache size vs context length beside the weights' size.

    models: {name: (config, n_params)}; the cache is ``kv_cache_bytes`` at the floating-point dtype
    of ``dtype_bytes`` bytes, the weights n_params * dtype_bytes. One colour per model, one line
    style per batch size.
    """
    if not models:
        raise ValueError("models must name at least one (config, n_params) pair")
    item = _FLOAT_OF_SIZE.get(validate.integer("dtype_bytes", dtype_bytes, 1, 8))
    if item is None:
        raise ValueError(f"dtype_bytes must be one of {sorted(_FLOAT_OF_SIZE)}, got {dtype_bytes}")
    fig, ax = plt.subplots(figsize=(10.5, 4.8))
    colors = ["tab:blue", "tab:green", "tab:purple", "tab:brown"]
    styles = ["-", "-.", ":", (0, (5, 1))]
    for c, (name, (config, n_params)) in zip(colors, models.items()):
        T = np.arange(1, min(max_len, config.block_size) + 1)
        for s, B in zip(styles, batch_sizes):
            cache = np.array([kv_cache_bytes(config, B, int(t), item) for t in T])
            ax.plot(T, cache / 2**20, ls=s, color=c, label=f"{name}: KV cache, batch {B}")
        w = n_params * dtype_bytes / 2**20
        ax.axhline(w, color=c, lw=2, alpha=0.5, label=f"{name}: weights ({w:,.1f} MiB)")
        ax.axhline(w / 2, color=c, lw=1, ls="--", alpha=0.5, label=f"{name}: 50% of weights")
    _plain_log(ax)
    ax.set_ylim(bottom=0.1)
    ax.set_xlabel("context length T (tokens in the cache)")
    ax.set_ylabel("memory (MiB, log scale)")
    ax.set_title(f"KV cache size vs context length, beside the weights ({dtype}; formula, no measurement)",
                 fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
