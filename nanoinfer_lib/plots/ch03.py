"""Figures of chapter 03 (sampling). Each function returns the Figure it draws on."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from ..explorer import KEPT_COLOUR, REMOVED_COLOUR
from ._axes import error_bars, log_axis
from ._common import tail_words


def plot_distribution(tokens: Sequence[str], probs: Sequence[float], kept: Sequence[bool] | None = None,
                      title: str = "Next-token distribution", cumulative: bool = True, ax=None,
                      device: str = "cpu", dtype: str = "float32"):
    """Bars of candidate tokens (most likely first, left to right), kept ones in colour and removed ones
    grey, with the cumulative probability as a line on a second axis (chapter 03). Returns the Figure."""
    probs = [float(p) for p in probs]
    if len(tokens) != len(probs) or not tokens:
        raise ValueError(f"tokens and probs must be non-empty and of equal length, got {len(tokens)} and {len(probs)}")
    filtered = kept is not None
    kept = [bool(k) for k in kept] if filtered else [True] * len(probs)
    if len(kept) != len(probs):
        raise ValueError("kept must have one entry per token")
    fig = ax.figure if ax is not None else plt.subplots(figsize=(9, 3.6))[0]
    ax = ax if ax is not None else fig.axes[0]
    x = list(range(len(tokens)))
    ax.bar(x, probs, color=[KEPT_COLOUR if k else REMOVED_COLOUR for k in kept])
    ax.bar([], [], color=KEPT_COLOUR, label="kept" if filtered else "probability (no filter)")
    if not all(kept):
        ax.bar([], [], color=REMOVED_COLOUR, label="removed")
    ax.set_xticks(x, [repr(t)[1:-1] or "''" for t in tokens], rotation=60, fontfamily="monospace", fontsize=8)
    ax.set_xlabel("candidate next token (most likely first)")
    ax.set_ylabel("probability")
    ax.set_title(f"{title}\n({device}, {dtype})", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    if cumulative:
        ax2 = ax.twinx()
        running, acc = [], 0.0
        for p in probs:
            acc += p
            running.append(acc)
        ax2.plot(x, running, "o-", color="tab:orange", ms=3, label="cumulative probability")
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("cumulative probability")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    # one legend, outside the axes (to the right), so it never covers a bar or the curve
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.12 if cumulative else 1.01, 1.0), fontsize=8)
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
        ax.bar(range(len(tokens)), [float(p) for p in probs], color=KEPT_COLOUR)
        ax.set_xticks(range(len(tokens)), labels, rotation=70, fontfamily="monospace", fontsize=8)
        ax.set_title(f"temperature T = {T}", fontsize=10)
        ax.set_xlabel("candidate (most likely first)")
    axes[0].set_ylabel("probability, softmax(logits / T)")
    ctx = f" after {tail_words(context, 25)!r}" if context else ""
    fig.suptitle(f"The same logits at {n} temperatures{ctx} ({device}, {dtype})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_entropy_vs_temperature(temperatures: Sequence[float], entropies: Mapping[str, Sequence[float]],
                                vocab_size: int | None = None, device: str = "cpu", dtype: str = "float32"):
    """Entropy (bits) of ``softmax(logits / T)`` against T, one line per context (chapter 03)."""
    if not entropies or any(len(v) != len(temperatures) for v in entropies.values()):
        raise ValueError("entropies must map each label to one value per temperature")
    fig, ax = plt.subplots(figsize=(9, 4))
    for name, h in entropies.items():
        ax.plot(temperatures, h, "o-", ms=3, label=name)
    if vocab_size:
        ax.axhline(math.log2(vocab_size), color="grey", ls="--", label=f"uniform over {vocab_size} tokens")
    ax.set_xlabel("temperature T")
    ax.set_ylabel("entropy of the next-token distribution (bits)")
    ax.set_title(f"Higher temperature, flatter distribution ({device}, {dtype})", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)     # outside: the curves fill the axes
    fig.tight_layout()
    return fig


def plot_top_p_survivors(ps: Sequence[float], counts: Mapping[str, Sequence[float]], top_ks: Sequence[int] = (),
                         n_positions: int | None = None, device: str = "cpu", dtype: str = "float32"):
    """How many tokens survive top-p as p grows (log scale), one line per statistic or context;
    dashed lines show fixed top-k values for comparison (chapter 03)."""
    if not counts or any(len(v) != len(ps) for v in counts.values()):
        raise ValueError("counts must map each label to one count per p")
    fig, ax = plt.subplots(figsize=(8.5, 4))
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
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def _tokens(n: int) -> str:
    return f"{n} token" + ("" if n == 1 else "s")


def plot_kept_by_rank(probs, masks: Mapping[str, object], title: str = "", device: str = "cpu",
                      dtype: str = "float32"):
    """One panel per mask: every vocabulary token's probability against its rank (both log scales),
    kept tokens in colour, removed ones grey. Shows at a glance whether a filter keeps the head."""
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
        ax.scatter(ranks[m], p[m], s=8, color="tab:red" if "bug" in name.lower() else KEPT_COLOUR,
                   label=f"kept: {_tokens(int(m.sum()))}, {float(probs[mask].sum()):.1%} of the probability")
        ax.scatter(ranks[~m], p[~m], s=10, marker="x", lw=0.8, color="dimgrey", zorder=3,
                   label=f"removed: {_tokens(int((~m).sum()))}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("rank of the token (1 = most likely)")
        ax.legend(fontsize=8, loc="lower left")          # the low-rank, low-probability corner is empty
    axes[0].set_ylabel("probability")
    fig.suptitle(f"{title} ({device}, {dtype})", fontsize=10)
    fig.tight_layout()
    return fig


def _place_labels(ax, points, fontsize=8):
    """Write the name of each labelled point near it where the label covers no marker, no error bar
    and no other label, inside the axes. ``points``: (x, y, name or None, marker diameter in points).
    Candidate spots lie on rings of growing radius; a label placed away from its point gets a thin
    leader line. Crowded points are labelled first, so they get the nearest spots."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    px_per_pt = fig.dpi / 72
    xy = ax.transData.transform([(x, y) for x, y, _, _ in points])
    markers = [Bbox.from_bounds(px - r, py - r, 2 * r, 2 * r)
               for (px, py), r in zip(xy, (0.5 * size * px_per_pt + 1 for *_, size in points))]
    bars = []                                          # the error bars' segments, as thin boxes
    for c in ax.collections:
        for seg in c.get_segments():
            (x0, y0), (x1, y1) = ax.transData.transform(seg)[[0, -1]]
            bars.append(Bbox.from_extents(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)).padded(1))
    inside = ax.get_window_extent()
    crowd = [sum(((p - q) ** 2).sum() < (40 * px_per_pt) ** 2 for q in xy) for p in xy]
    spots = [(r, a) for r in (7, 14, 24, 36, 50, 66) for a in (20, -20, 160, 200, 90, 270, 55, 125, 235, 305)]
    placed = []
    for i in sorted((i for i, p in enumerate(points) if p[2]), key=lambda i: -crowd[i]):
        x, y, name, _ = points[i]
        for avoid_bars, (r, a) in ((b, spot) for b in (True, False) for spot in spots):
            dx, dy = r * math.cos(math.radians(a)), r * math.sin(math.radians(a))
            t = ax.annotate(name, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                            ha="left" if dx > 3 else "right" if dx < -3 else "center",
                            va="bottom" if dy > 3 else "top" if dy < -3 else "center",
                            arrowprops=dict(arrowstyle="-", lw=0.6, color="grey", shrinkA=1, shrinkB=4)
                            if r > 10 else None)
            t.update_positions(renderer)
            bb = Text.get_window_extent(t, renderer).padded(1.5)      # the text alone, not its line
            if (inside.x0 <= bb.x0 and bb.x1 <= inside.x1 and inside.y0 <= bb.y0 and bb.y1 <= inside.y1
                    and not any(bb.overlaps(b) for b in placed + markers)
                    and not (avoid_bars and any(bb.overlaps(b) for b in bars))):
                placed.append(bb)
                break
            t.remove()
        else:                                          # nowhere free: the nearest spot, overlap and all
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(7, 3), fontsize=fontsize)


def _draw_settings(ax, d, q, xerr, yerr, human):
    ax.errorbar(d, q, xerr=xerr, yerr=yerr, fmt="o", color=KEPT_COLOUR, ecolor="tab:gray", capsize=2, ms=6,
                label="sampling setting (bars: 95% interval)" if xerr is not None or yerr is not None else "sampling setting")
    if human is not None:
        ax.plot([human[0]], [human[1]], "*", color="tab:red", ms=14, label="held-out human text")
    log_axis(ax, "y")
    ax.set_xlabel("diversity: distinct-2 within a sample\n(higher = fewer repeated word pairs)")


def plot_diversity_vs_perplexity(names: Sequence[str], diversity: Sequence[float], perplexity: Sequence[float],
                                 diversity_interval: Sequence[tuple[float, float]] | None = None,
                                 perplexity_interval: Sequence[tuple[float, float]] | None = None,
                                 human: tuple[float, float] | None = None, n_samples: str = "",
                                 zoom: tuple[tuple[float, float], tuple[float, float]] | None = None,
                                 device: str = "cpu", dtype: str = "float32"):
    """Each sampling setting as a point: the diversity of its samples (x) against the model's own
    perplexity of them (y, log scale), with 95% intervals as error bars where given; ``human``:
    (diversity, perplexity) of real held-out text, drawn as a star. ``zoom``: ((x low, x high),
    (y low, y high)), a box drawn dashed on the overview and enlarged in a second panel, where the
    points inside it are labelled. The model's own perplexity says how *likely the model* finds a
    text, not how good it is: greedy text scores best by it (chapter 03)."""
    n = len(names)
    if not n or not (len(diversity) == len(perplexity) == n):
        raise ValueError("names, diversity and perplexity must be non-empty and of equal length")
    for label, iv in (("diversity_interval", diversity_interval), ("perplexity_interval", perplexity_interval)):
        if iv is not None and len(iv) != n:
            raise ValueError(f"{label} must hold one (low, high) per setting ({n})")
    if zoom is not None and not (zoom[0][0] < zoom[0][1] and 0 < zoom[1][0] < zoom[1][1]):
        raise ValueError(f"zoom must be ((x low, x high), (y low, y high)) with low < high and y > 0, got {zoom}")
    d, q = [float(v) for v in diversity], [float(v) for v in perplexity]
    xerr = error_bars(d, diversity_interval, "diversity_interval")
    yerr = error_bars(q, perplexity_interval, "perplexity_interval")
    points = [(x, y, name, 6) for x, y, name in zip(d, q, names)]
    if human is not None:
        points.append((float(human[0]), float(human[1]), "human text", 14))
    fig, axes = plt.subplots(1, 2 if zoom else 1, figsize=(12, 5.4) if zoom else (8, 5.4), squeeze=False)
    axes = list(axes[0])
    for ax in axes:
        _draw_settings(ax, d, q, xerr, yerr, human)
    axes[0].set_ylabel("model's own perplexity of the text (log scale)")
    axes[0].margins(x=0.12, y=0.15)
    in_zoom = [zoom is not None and zoom[0][0] <= x <= zoom[0][1] and zoom[1][0] <= y <= zoom[1][1]
               for x, y, *_ in points]
    if zoom:
        (x0, x1), (y0, y1) = zoom
        axes[1].set(xlim=zoom[0], ylim=zoom[1])
        axes[0].indicate_inset((x0, y0, x1 - x0, y1 - y0), inset_ax=axes[1], edgecolor="grey", linestyle="--")
        axes[0].set_title("all settings (dashed box: enlarged at right)", fontsize=9)
        axes[1].set_title("the dashed box, enlarged", fontsize=9)
        axes[1].set_ylabel("model's own perplexity (log scale)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=2)
    fig.suptitle(f"Diversity vs how likely the model finds the text{n_samples}\n"
                 f"(perplexity of the model's own samples: not a quality score; {device}, {dtype})", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    _place_labels(axes[0], [(x, y, None if z else name, size) for (x, y, name, size), z in zip(points, in_zoom)])
    if zoom:
        _place_labels(axes[1], [(x, y, name if z else None, size) for (x, y, name, size), z in zip(points, in_zoom)])
    return fig
