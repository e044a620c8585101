"""Figures of chapter 02 (the KV cache). Each function returns the Figure it draws on."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from ..benchmark.hardware import describe
from ..benchmark.kv_sweep import speedup_intervals, speedups
from ..benchmark.timing import median_interval
from ._axes import log_axis

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


def _err(values: list[float], times: list[list[float]], scale: float = 1.0) -> np.ndarray:
    """(2, n) error bars of medians from their repeats (zero where a record kept one time)."""
    lo, hi = [], []
    for v, t in zip(values, times):
        a, b = median_interval(t) if len(t) > 1 else (v / scale, v / scale)
        lo.append(max(0.0, v - a * scale))
        hi.append(max(0.0, b * scale - v))
    return np.array([lo, hi])


def plot_kv_sweep(live: dict, reference: dict | None = None, reference_models=("bundled", "gpt2-random")):
    """Chapter 02: cached vs uncached generation, three panels.

    (1) total time vs new tokens, (2) time of one step vs position, (3) speedup (uncached / cached)
    vs new tokens with its bootstrap 95% interval over the interleaved rounds, beside the
    tutorial's 2-4x claim (shaded). Error bars: 95% intervals of the medians. ``live`` and
    ``reference`` are results in the ``kv-sweep`` format ({"meta", "runs": [{"model", "records",
    "latency"}]}); the reference (another machine's file) is drawn dashed and labelled with its
    device and date. ``live`` may also be a list of such results (CPU and GPU of one session).
    """
    lives = [live] if isinstance(live, dict) else list(live)
    if not lives or not all(isinstance(d, dict) and "runs" in d and "meta" in d for d in lives):
        raise TypeError("live must be a kv-sweep result dict (or a list of them) with 'meta' and 'runs'")
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 5.2))
    markers = {"bundled": "o", "gpt2-random": "s"}
    sources = [(run, d["meta"], "-", "") for d in lives for run in d["runs"]]
    if reference is not None:
        sources += [(run, reference["meta"], "--", " (reference file)") for run in reference["runs"]
                    if reference_models is None or run["model"] in reference_models]
    for run, meta, ls, tag in sources:
        batch = run["records"][0].get("batch_size", 1) if run["records"] else 1
        name = run["model"] + (f", batch {batch}" if batch != 1 else "")
        mk = markers.get(run["model"], "^") if batch == 1 else "D"
        where = f"{name}, {_sweep_label(meta)}{tag}"
        alpha = 0.95 if not tag else 0.6
        for mode in ("uncached", "cached"):
            rec = sorted((r for r in run["records"] if r["mode"] == mode), key=lambda r: r["new_tokens"])
            y = [r["seconds"] for r in rec]
            ax1.errorbar([r["new_tokens"] for r in rec], y, yerr=_err(y, [r.get("times") or [] for r in rec]),
                         ls=ls, marker=mk, ms=4, capsize=2, color=_MODE_COLOR[mode], alpha=alpha,
                         label=f"{mode}: {where}")
            lat = sorted((r for r in run.get("latency", []) if r["mode"] == mode), key=lambda r: r["position"])
            y = [1e3 * r["seconds"] for r in lat]
            ax2.errorbar([r["position"] for r in lat], y, yerr=_err(y, [r.get("times") or [] for r in lat], 1e3),
                         ls=ls, marker=mk, ms=4, capsize=2, color=_MODE_COLOR[mode], alpha=alpha,
                         label=f"{mode}: {where}")
        sp, iv = speedups(run["records"]), speedup_intervals(run["records"])
        n = list(sp)
        yerr = np.array([[sp[k] - iv[k][0] for k in n], [iv[k][1] - sp[k] for k in n]])
        ax3.errorbar(n, list(sp.values()), yerr=yerr, ls=ls, marker=mk, ms=4, capsize=3, alpha=alpha,
                     color="tab:green" if not tag else "tab:purple", label=f"speedup: {where}")
    ax3.axhspan(2, 4, color="tab:red", alpha=0.12, label="tutorial's claim: 2-4x")
    ax3.axhline(1, color="0.4", lw=0.8, ls=":", label="1x = no gain")
    for ax in (ax1, ax3):
        log_axis(ax, "x", base=2)
        ax.set_xlabel("new tokens generated (after a 16-token prompt, log scale)")
    log_axis(ax1)
    ax1.set_ylabel("total generation time (s, log scale)")
    ax1.set_title("Total time vs new tokens", fontsize=10)
    log_axis(ax2)
    ax2.set_xlabel("position L (tokens already in the sequence)")
    ax2.set_ylabel("time of one step (ms, log scale)")
    ax2.set_title("One step vs position (uncached step = prefill of L tokens)", fontsize=10)
    log_axis(ax3)
    ax3.set_ylabel("speedup = uncached time / cached time (log scale)")
    ax3.set_title("Speedup of the KV cache, 95% intervals", fontsize=10)
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3, which="both")
    handles, labels = ax1.get_legend_handles_labels()          # panels 1 and 2 share their lines
    h3, l3 = ax3.get_legend_handles_labels()
    fig.legend(handles + h3, labels + l3, loc="upper left", bbox_to_anchor=(0.0, 0.0), ncol=2, fontsize=8.5,
               frameon=False)
    fig.suptitle("KV cache, cached vs uncached greedy generation, live on "
                 + " and ".join(_sweep_label(d["meta"]) for d in lives)
                 + (f"; dashed: reference file ({reference['meta'].get('date', '?')})" if reference else ""),
                 fontsize=11)
    fig.tight_layout()
    return fig


def plot_cache_memory(models: Mapping[str, tuple], max_len: int = 1024, dtype_bytes: int = 4,
                      batch_sizes: Sequence[int] = (1, 8), dtype: str = "float32"):
    """Chapter 02: KV cache size vs context length beside the weights' size.

    models: {name: (config, n_params)}; the cache is 2 * n_layer * B * T * n_embd * dtype_bytes,
    the weights n_params * dtype_bytes. One colour per model, one line style per batch size.
    """
    if not models:
        raise ValueError("models must name at least one (config, n_params) pair")
    fig, ax = plt.subplots(figsize=(10.5, 4.8))
    colors = ["tab:blue", "tab:green", "tab:purple", "tab:brown"]
    styles = ["-", "-.", ":", (0, (5, 1))]
    for c, (name, (config, n_params)) in zip(colors, models.items()):
        T = np.arange(1, min(max_len, config.block_size) + 1)
        for s, B in zip(styles, batch_sizes):
            cache = 2 * config.n_layer * B * T * config.n_embd * dtype_bytes
            ax.plot(T, cache / 2**20, ls=s, color=c, label=f"{name}: KV cache, batch {B}")
        w = n_params * dtype_bytes / 2**20
        ax.axhline(w, color=c, lw=2, alpha=0.5, label=f"{name}: weights ({w:,.1f} MiB)")
        ax.axhline(w / 2, color=c, lw=1, ls="--", alpha=0.5, label=f"{name}: 50% of weights")
    log_axis(ax)
    ax.set_ylim(bottom=0.1)
    ax.set_xlabel("context length T (tokens in the cache)")
    ax.set_ylabel("memory (MiB, log scale)")
    ax.set_title(f"KV cache size vs context length, beside the weights ({dtype}; formula, no measurement)",
                 fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
