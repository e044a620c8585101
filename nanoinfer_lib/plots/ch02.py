"""Figures of chapter 02 (the KV cache). Each function returns the Figure it draws on."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.patches import Patch
import numpy as np

from ..benchmark.kv_sweep import speedups

_MODE_COLOR = {"cached": "tab:blue", "uncached": "tab:orange"}


def plot_attention_reuse(T: int = 6):
    """Chapter 02: the causal attention scores of step T, without and with a KV cache.

    Left: without a cache every row (query) and every column (key) is recomputed. Right: with a
    cache only the newest row is computed; the keys/values of earlier columns are read back.
    """
    if not isinstance(T, int) or not 2 <= T <= 16:
        raise ValueError(f"T must be an int in [2, 16], got {T!r}")
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    causal = np.tril(np.ones((T, T)))
    for ax, cached in zip(axes, (False, True)):
        img = np.where(causal == 1, 0.55, 1.0)                     # grey: computed, white: masked
        if cached:
            img[:-1] = np.where(causal[:-1] == 1, 0.85, 1.0)       # light: done in earlier steps
        img[-1] = 0.2                                               # dark: this step's new row
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        for i in range(T):
            for j in range(T):
                if j > i:
                    ax.text(j, i, "×", ha="center", va="center", color="tab:red", fontsize=9)
        ax.set_xticks(range(T), [f"k{j + 1}" for j in range(T)])
        ax.set_yticks(range(T), [f"q{i + 1}" for i in range(T)])
        ax.set_xlabel("keys / values of positions 1..T")
        ax.set_ylabel("queries (positions)")
        ax.set_title("with KV cache: 1 new row, old K/V reused" if cached
                     else "without cache: all T rows recomputed", fontsize=10)
    fig.legend(handles=[Patch(color="0.2", label="computed this step (new token)"),
                        Patch(color="0.55", label="recomputed this step (repeated work)"),
                        Patch(color="0.85", label="computed in earlier steps (cached K, V)"),
                        Patch(facecolor="white", edgecolor="tab:red", label="× masked (future)")],
               loc="lower center", ncol=2, fontsize=8)
    fig.suptitle(f"Causal attention at step T={T} (diagram, no measurement)", fontsize=11)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def _sweep_label(meta: dict) -> str:
    return f"{meta.get('device_name') or meta.get('device')}, {meta.get('dtype')}"


def _sweep_runs(data: dict | None, models) -> list[dict]:
    if data is None:
        return []
    return [r for r in data["runs"] if models is None or r["model"] in models]


def plot_kv_sweep(live: dict, reference: dict | None = None, reference_models=("bundled", "gpt2-random")):
    """Chapter 02: cached vs uncached generation, three panels.

    (1) total time vs new tokens, (2) time of one step vs position, (3) speedup (uncached / cached)
    vs new tokens, with the tutorial's 2-4x claim shaded. ``live`` and ``reference`` are results in the
    ``kv-sweep`` file format ({"meta", "runs": [{"model", "records", "latency"}]}); the reference
    (another machine's file) is drawn dashed and labelled with its device, dtype and date.
    ``live`` may also be a list of such results (e.g. CPU and GPU measured in one session).
    """
    lives = [live] if isinstance(live, dict) else list(live)
    if not lives or not all(isinstance(d, dict) and "runs" in d and "meta" in d for d in lives):
        raise TypeError("live must be a kv-sweep result dict (or a list of them) with 'meta' and 'runs'")
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 6.2))
    markers = {"bundled": "o", "gpt2-random": "s"}
    sources = [(run, d["meta"], "-", "") for d in lives for run in d["runs"]]
    if reference is not None:
        ref = reference["meta"]
        sources += [(run, ref, "--", " (reference)") for run in _sweep_runs(reference, reference_models)]
    for run, meta, ls, tag in sources:
        name, mk = run["model"], markers.get(run["model"], "^")
        batch = run["records"][0].get("batch_size", 1) if run["records"] else 1
        name += f", batch {batch}" if batch != 1 else ""
        mk = mk if batch == 1 else "D"
        where = f"{name}, {_sweep_label(meta)}{tag}"
        for mode in ("uncached", "cached"):
            rec = sorted((r for r in run["records"] if r["mode"] == mode), key=lambda r: r["new_tokens"])
            ax1.plot([r["new_tokens"] for r in rec], [r["seconds"] for r in rec], ls, marker=mk, ms=4,
                     color=_MODE_COLOR[mode], alpha=0.95 if not tag else 0.6, label=f"{mode}: {where}")
            lat = sorted((r for r in run.get("latency", []) if r["mode"] == mode), key=lambda r: r["position"])
            ax2.plot([r["position"] for r in lat], [1e3 * r["seconds"] for r in lat], ls, marker=mk, ms=4,
                     color=_MODE_COLOR[mode], alpha=0.95 if not tag else 0.6, label=f"{mode}: {where}")
        sp = speedups(run["records"])
        ax3.plot(list(sp), list(sp.values()), ls, marker=mk, ms=4, color="tab:green" if not tag else "tab:purple",
                 alpha=0.95 if not tag else 0.7, label=where)
    ax3.axhspan(2, 4, color="tab:red", alpha=0.12, label="tutorial's claim: 2-4x")
    ax3.axhline(1, color="0.4", lw=0.8, ls=":", label="1x = no gain")
    for ax in (ax1, ax3):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("new tokens generated (after a 16-token prompt)")
    ax1.set_yscale("log")
    ax1.set_ylabel("total generation time (s, log scale)")
    ax1.set_title("Total time vs new tokens", fontsize=10)
    ax2.set_yscale("log")
    ax2.set_xlabel("position L (tokens already in the sequence)")
    ax2.set_ylabel("time of one step (ms, log scale)")
    ax2.set_title("Per-token latency vs position\n(uncached step = prefill of L tokens)", fontsize=10)
    ax3.set_ylabel("speedup = uncached time / cached time")
    ax3.set_title("Speedup of the KV cache", fontsize=10)
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3, which="both")
    ax3.legend(fontsize=7, loc="upper left")
    handles, labels = ax1.get_legend_handles_labels()          # panels 1 and 2 share their lines
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7.5, frameon=False)
    fig.suptitle("KV cache: cached vs uncached greedy generation, live on "
                 + " and ".join(_sweep_label(d["meta"]) for d in lives)
                 + (f"; dashed: reference file ({reference['meta'].get('date', '?')})" if reference else ""),
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.04 + 0.024 * math.ceil(len(labels) / 2), 1, 1))
    return fig


def plot_cache_memory(models: Mapping[str, tuple], max_len: int = 1024, dtype_bytes: int = 4,
                      batch_sizes: Sequence[int] = (1, 8), dtype: str = "float32"):
    """Chapter 02: KV cache size vs context length beside the weights' size.

    models: {name: (config, n_params)}; the cache is 2 * n_layer * B * T * n_embd * dtype_bytes,
    the weights n_params * dtype_bytes. One colour per model, one line style per batch size.
    """
    if not models:
        raise ValueError("models must name at least one (config, n_params) pair")
    fig, ax = plt.subplots(figsize=(8, 4.8))
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
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.1)
    ax.set_xlabel("context length T (tokens in the cache)")
    ax.set_ylabel("memory (MiB, log scale)")
    ax.set_title(f"KV cache size vs context length, beside the weights ({dtype}; formula, no measurement)",
                 fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
