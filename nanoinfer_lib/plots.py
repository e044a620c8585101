"""Matplotlib figures used by the notebooks. Each function returns the Figure it draws on.

Every plot has a title, labelled axes with units, a legend where there are several lines, and the
device/dtype it was measured on in the title or caption.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

# ---- chapter 01: autoregressive generation --------------------------------------------------


def plot_next_token_probs(tokens: Sequence[str], probs: Sequence[float], context: str = "",
                          device: str = "cpu", dtype: str = "float32"):
    """Horizontal bars of the most likely next tokens, the most likely on top (chapter 01).

    tokens: the candidates' text (shown with ``repr`` so spaces and newlines are visible);
    probs: their probabilities in [0, 1], same length; context: the prompt's last words, for the title.
    """
    probs = [float(p) for p in probs]
    if len(tokens) != len(probs) or not tokens:
        raise ValueError(f"tokens and probs must be non-empty and of equal length, got {len(tokens)} and {len(probs)}")
    if any(not 0.0 <= p <= 1.0 for p in probs):
        raise ValueError("probs must lie in [0, 1]")
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(tokens) + 1.4))
    y = range(len(tokens))[::-1]                                   # most likely at the top
    ax.barh(list(y), probs, color="tab:blue", label="P(next token | context)")
    ax.set_yticks(list(y), [repr(t) for t in tokens], fontfamily="monospace")
    for yi, p in zip(y, probs):
        ax.text(p, yi, f" {p:.3f}", va="center", fontsize=8)
    ax.set_xlim(0, min(1.0, max(probs) * 1.25 + 0.02))
    ax.set_xlabel("probability (softmax of the last position's logits)")
    ax.set_ylabel("candidate next token")
    ctx = f" after {(context if len(context) <= 32 else '…' + context[-30:])!r}" if context else ""
    ax.set_title(f"Top {len(tokens)} next tokens{ctx}\n({device}, {dtype})", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_naive_cost(positions: Sequence[int], ms_per_step: Mapping[str, Sequence[float]],
                    flops_per_step: Mapping[str, Sequence[float]], dtype: str = "float32"):
    """Cost of one step of the naive (cache-free) loop against the position it generates (chapter 01).

    Left: measured milliseconds per step, one line per device (the mapping's keys name them).
    Right: floating-point operations per step, stacked by part of the model (the keys name the parts).
    """
    n = len(positions)
    if n == 0:
        raise ValueError("positions must not be empty")
    for name, series in (("ms_per_step", ms_per_step), ("flops_per_step", flops_per_step)):
        if not series or any(len(v) != n for v in series.values()):
            raise ValueError(f"{name} must map each name to one value per position ({n} positions)")
    fig, (ax_t, ax_f) = plt.subplots(1, 2, figsize=(11, 4))
    for name, ms in ms_per_step.items():
        ax_t.plot(positions, ms, "o-", label=f"measured on {name}")
    ax_t.set_xlabel("tokens in the context (position being generated)")
    ax_t.set_ylabel("time per generated token (ms)")
    ax_t.set_title(f"Naive loop: time per step ({dtype}, median of runs)", fontsize=10)
    ax_t.set_ylim(bottom=0)
    ax_t.legend(fontsize=8)
    ax_f.stackplot(positions, *[[f / 1e9 for f in v] for v in flops_per_step.values()],
                   labels=list(flops_per_step), alpha=0.8)
    ax_f.set_xlabel("tokens in the context (position being generated)")
    ax_f.set_ylabel("GFLOP per generated token")
    ax_f.set_title("Naive loop: work per step (counted)", fontsize=10)
    ax_f.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


# ---- chapter 02: KV cache -------------------------------------------------------------------
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
    from matplotlib.patches import Patch
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
    from .benchmark import speedups
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


# ---- chapter 03: sampling -------------------------------------------------------------------
_KEPT, _REMOVED = "tab:blue", "#c8c8c8"


def plot_distribution(tokens: Sequence[str], probs: Sequence[float], kept: Sequence[bool] | None = None,
                      title: str = "Next-token distribution", cumulative: bool = True, ax=None,
                      device: str = "cpu", dtype: str = "float32"):
    """Bars of candidate tokens (most likely first, left to right), kept ones in colour and removed ones
    grey, with the cumulative probability as a line on a second axis (chapter 03). Returns the Figure."""
    probs = [float(p) for p in probs]
    if len(tokens) != len(probs) or not tokens:
        raise ValueError(f"tokens and probs must be non-empty and of equal length, got {len(tokens)} and {len(probs)}")
    kept = [True] * len(probs) if kept is None else [bool(k) for k in kept]
    if len(kept) != len(probs):
        raise ValueError("kept must have one entry per token")
    fig = ax.figure if ax is not None else plt.subplots(figsize=(9, 3.6))[0]
    ax = ax if ax is not None else fig.axes[0]
    x = list(range(len(tokens)))
    ax.bar(x, probs, color=[_KEPT if k else _REMOVED for k in kept])
    ax.bar([], [], color=_KEPT, label="kept")
    if not all(kept):
        ax.bar([], [], color=_REMOVED, label="removed")
    ax.set_xticks(x, [repr(t)[1:-1] or "''" for t in tokens], rotation=60, fontfamily="monospace", fontsize=8)
    ax.set_xlabel("candidate next token (most likely first)")
    ax.set_ylabel("probability")
    ax.set_title(f"{title}\n({device}, {dtype})", fontsize=10)
    if cumulative:
        ax2 = ax.twinx()
        running, acc = [], 0.0
        for p in probs:
            acc += p
            running.append(acc)
        ax2.plot(x, running, "o-", color="tab:orange", ms=3, label="cumulative probability")
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("cumulative probability")
        ax2.legend(loc="center right", fontsize=8)
    ax.legend(loc="upper right" if not cumulative else "upper center", fontsize=8)
    fig.tight_layout()
    return fig


def plot_temperature_grid(tokens: Sequence[str], probs_by_temperature: Mapping[float, Sequence[float]],
                          context: str = "", device: str = "cpu", dtype: str = "float32"):
    """One panel per temperature: the same candidates' probabilities after ``softmax(logits / T)``."""
    if not probs_by_temperature:
        raise ValueError("probs_by_temperature must map at least one temperature to probabilities")
    n = len(probs_by_temperature)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), sharey=True)
    axes = [axes] if n == 1 else list(axes)
    labels = [repr(t)[1:-1] or "''" for t in tokens]
    for ax, (T, probs) in zip(axes, probs_by_temperature.items()):
        ax.bar(range(len(tokens)), [float(p) for p in probs], color=_KEPT, label=f"T = {T}")
        ax.set_xticks(range(len(tokens)), labels, rotation=70, fontfamily="monospace", fontsize=7)
        ax.set_title(f"temperature {T}", fontsize=10)
        ax.set_xlabel("candidate (most likely first)")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("probability")
    ctx = f" after {context[-25:]!r}" if context else ""
    fig.suptitle(f"The same logits at four temperatures{ctx} ({device}, {dtype})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_entropy_vs_temperature(temperatures: Sequence[float], entropies: Mapping[str, Sequence[float]],
                                vocab_size: int | None = None, device: str = "cpu", dtype: str = "float32"):
    """Entropy (bits) of ``softmax(logits / T)`` against T, one line per context (chapter 03)."""
    if not entropies or any(len(v) != len(temperatures) for v in entropies.values()):
        raise ValueError("entropies must map each label to one value per temperature")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, h in entropies.items():
        ax.plot(temperatures, h, "o-", ms=3, label=name)
    if vocab_size:
        ax.axhline(math.log2(vocab_size), color="grey", ls="--", label=f"uniform over {vocab_size} tokens")
    ax.set_xlabel("temperature T")
    ax.set_ylabel("entropy of the next-token distribution (bits)")
    ax.set_title(f"Higher temperature, flatter distribution ({device}, {dtype})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_top_p_survivors(ps: Sequence[float], counts: Mapping[str, Sequence[float]], top_ks: Sequence[int] = (),
                         n_positions: int | None = None, device: str = "cpu", dtype: str = "float32"):
    """How many tokens survive top-p as p grows (log scale), one line per statistic or context;
    dashed lines show fixed top-k values for comparison (chapter 03)."""
    if not counts or any(len(v) != len(ps) for v in counts.values()):
        raise ValueError("counts must map each label to one count per p")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, c in counts.items():
        ax.plot(ps, c, "o-", ms=3, label=name)
    for k in top_ks:
        ax.axhline(k, ls="--", lw=1, color="grey")
        ax.text(ps[0], k, f" top-k = {k}", va="bottom", fontsize=8, color="grey")
    ax.set_yscale("log")
    ax.set_xlabel("top-p threshold p")
    ax.set_ylabel("tokens kept (log scale)")
    where = f" over {n_positions} positions of real text" if n_positions else ""
    ax.set_title(f"Top-p keeps a different number of tokens at each step{where}\n({device}, {dtype})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_kept_by_rank(probs, masks: Mapping[str, object], title: str = "", device: str = "cpu",
                      dtype: str = "float32"):
    """One panel per mask: every vocabulary token's probability against its rank (both log scales),
    kept tokens in colour, removed ones grey. Shows at a glance whether a filter keeps the head."""
    import torch
    probs = torch.as_tensor(probs, dtype=torch.float32).flatten()
    order = torch.argsort(probs, descending=True)
    ranks = torch.arange(1, probs.numel() + 1)
    n = len(masks)
    if n == 0:
        raise ValueError("masks must hold at least one named mask")
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.6), sharey=True)
    axes = [axes] if n == 1 else list(axes)
    for ax, (name, mask) in zip(axes, masks.items()):
        mask = torch.as_tensor(mask, dtype=torch.bool).flatten()
        if mask.numel() != probs.numel():
            raise ValueError(f"mask {name!r} has {mask.numel()} entries, expected {probs.numel()}")
        m = mask[order]
        p = probs[order].clamp(min=1e-12)
        ax.scatter(ranks[m], p[m], s=8, color="tab:red" if "bug" in name.lower() else _KEPT,
                   label=f"kept: {int(m.sum())} tokens, {float(probs[mask].sum()):.1%} of the probability")
        ax.scatter(ranks[~m], p[~m], s=10, marker="x", lw=0.8, color="dimgrey", zorder=3,
                   label=f"removed: {int((~m).sum())} tokens")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("rank of the token (1 = most likely)")
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("probability")
    fig.suptitle(f"{title} ({device}, {dtype})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_quality_vs_diversity(names: Sequence[str], diversity: Sequence[float], perplexity: Sequence[float],
                              repetition: Sequence[float] | None = None, device: str = "cpu", dtype: str = "float32"):
    """Each sampling setting as a point: diversity (distinct-2) against the model's own perplexity of
    its samples; marker size grows with the repetition rate (chapter 03)."""
    if not (len(names) == len(diversity) == len(perplexity)) or not names:
        raise ValueError("names, diversity and perplexity must be non-empty and of equal length")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sizes = [30 + 400 * float(r) for r in repetition] if repetition is not None else 40
    ax.scatter(diversity, perplexity, s=sizes, color=_KEPT, alpha=0.7,
               label="sampling setting (bigger = more repetition)" if repetition is not None else "sampling setting")
    by_x = sorted(range(len(names)), key=lambda i: float(diversity[i]))
    for j, i in enumerate(by_x):                      # labels alternate above/below so neighbours do not collide
        ax.annotate(names[i], (diversity[i], perplexity[i]), textcoords="offset points",
                    xytext=(6, 5) if j % 2 == 0 else (6, -12), fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("diversity: distinct-2 over all samples (higher = more varied)")
    ax.set_ylabel("model's perplexity of its own samples (log scale)")
    ax.set_title(f"Quality vs diversity of the sampling settings ({device}, {dtype})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


# ---- chapter 04: performance ----------------------------------------------------------------


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


# ---- chapter 05: evaluation -----------------------------------------------------------------


def plot_context_curve(context_bins: Sequence[tuple[int, int]], perplexities: Mapping[str, Sequence[float]],
                       uniform: float | None = None, device: str = "cpu", dtype: str = "float32"):
    """Perplexity against the number of tokens the model sees before the token it predicts (chapter 05).

    context_bins: (low, high) context lengths of each point, inclusive (drawn at their geometric middle);
    perplexities: one line per text (the mapping's keys name them); uniform: a dashed line for a model
    that spreads its probability evenly (perplexity = vocabulary size).
    """
    n = len(context_bins)
    if n == 0 or not perplexities or any(len(v) != n for v in perplexities.values()):
        raise ValueError("perplexities must map each text's name to one value per context bin")
    x = [math.sqrt(lo * hi) for lo, hi in context_bins]
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, ppl in perplexities.items():
        ax.plot(x, ppl, "o-", label=name)
    if uniform is not None:
        ax.axhline(uniform, color="gray", ls="--", label=f"uniform model (perplexity = {uniform:g})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("tokens of context before the predicted token (log scale)")
    ax.set_ylabel("perplexity (log scale)")
    ax.set_title(f"How much the model uses its context ({device}, {dtype})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_decoding_sweep(labels: Sequence[str], scores: Mapping[str, Sequence[float]],
                        generated_perplexity: Sequence[float], n_examples: int, device: str = "cpu",
                        dtype: str = "float32"):
    """Metrics of generated text across decoding settings (chapter 05).

    Left: scores in [0, 1] (e.g. BLEU-4, ROUGE-L, distinct-2), one line per metric; right: the model's
    perplexity of its own samples (log scale). One x position per setting, named by ``labels``.
    """
    n = len(labels)
    if n == 0 or len(generated_perplexity) != n or any(len(v) != n for v in scores.values()):
        raise ValueError("labels, generated_perplexity and every score list must have the same non-zero length")
    fig, (ax_s, ax_p) = plt.subplots(1, 2, figsize=(11, 4))
    x = list(range(n))
    for name, values in scores.items():
        ax_s.plot(x, values, "o-", label=name)
    ax_s.set_ylim(0, 1)
    ax_s.set_ylabel("score (0 to 1)")
    ax_s.set_title(f"Overlap with the reference vs diversity (n = {n_examples} prompts)", fontsize=10)
    ax_s.legend(fontsize=8)
    ax_p.plot(x, generated_perplexity, "s-", color="tab:red", label="model's perplexity of its own text")
    ax_p.set_yscale("log")
    ax_p.set_ylabel("perplexity of the generated line (log scale)")
    ax_p.set_title(f"How surprising the samples are to the model ({device}, {dtype})", fontsize=10)
    ax_p.legend(fontsize=8)
    for ax in (ax_s, ax_p):
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
        ax.set_xlabel("decoding setting")
    fig.tight_layout()
    return fig
