"""Figures of chapter 05 (evaluation). Each function returns the Figure it draws on."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from ._axes import error_bars


def _plain_log_y(ax, minor: bool = True) -> None:
    """A log y axis whose ticks print as plain numbers (20, 50, 100, 200, ...), not powers of ten."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if minor:
        ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2, 5)))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.yaxis.set_minor_locator(NullLocator())


def plot_context_curve(context_bins: Sequence[tuple[int, int]], perplexities: Mapping[str, Sequence[float]],
                       uniform: float | None = None, device: str = "cpu", dtype: str = "float32",
                       intervals: Mapping[str, Sequence[tuple[float, float]]] | None = None,
                       interval_label: str = "95% interval"):
    """Perplexity against the number of tokens the model sees before the token it predicts (chapter 05).

    context_bins: (low, high) context lengths of each point, inclusive (drawn at their geometric middle);
    perplexities: one line per text (the mapping's keys name them); intervals: optional (low, high)
    per bin for some texts, drawn as shaded bands and named by ``interval_label``; uniform: a dashed
    line for a model that spreads its probability evenly (perplexity = vocabulary size).
    """
    n = len(context_bins)
    if n == 0 or not perplexities or any(len(v) != n for v in perplexities.values()):
        raise ValueError("perplexities must map each text's name to one value per context bin")
    if intervals is not None and any(k not in perplexities or len(v) != n for k, v in intervals.items()):
        raise ValueError("intervals must map names of perplexities to one (low, high) per context bin")
    x = [math.sqrt(lo * hi) for lo, hi in context_bins]
    fig, ax = plt.subplots(figsize=(10, 5.2))
    for name, ppl in perplexities.items():
        line, = ax.plot(x, ppl, "o-", label=name)
        if intervals is not None and name in intervals:
            ax.fill_between(x, [lo for lo, _ in intervals[name]], [hi for _, hi in intervals[name]],
                            color=line.get_color(), alpha=0.2, lw=0, label=f"{name}: {interval_label}")
    if uniform is not None:
        ax.axhline(uniform, color="gray", ls="--", label=f"uniform model (perplexity = {uniform:g})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [f"{lo}-{hi}" if hi > lo else str(lo) for lo, hi in context_bins], fontsize=8, rotation=30)
    ax.xaxis.set_minor_locator(NullLocator())
    _plain_log_y(ax)
    ax.set_xlabel("tokens of context before the predicted token (bins that double, log scale)")
    ax.set_ylabel("perplexity (log scale)")
    ax.set_title(f"How much the model uses its context ({device}, {dtype})", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False)   # below the axes
    fig.tight_layout()
    return fig


def plot_decoding_sweep(labels: Sequence[str], scores: Mapping[str, Sequence[float]],
                        generated_perplexity: Sequence[float], n_examples: int, device: str = "cpu",
                        dtype: str = "float32", score_errors: Mapping[str, Sequence[float]] | None = None,
                        perplexity_range: Sequence[tuple[float, float]] | None = None, n_seeds: int = 1,
                        error_label: str = "95% from the standard error"):
    """Metrics of generated text across decoding settings (chapter 05), one panel per metric.

    One panel per score (e.g. BLEU-2, ROUGE-L, distinct-2), each on its own scale so that small
    differences show, with error bars of ``score_errors[name]`` (half-widths, described by
    ``error_label``) where given; last, the model's perplexity of its own samples (log scale), with
    ``perplexity_range`` (low, high) bars, e.g. over seeds. One x position per setting, named by
    ``labels``; settings are categories, so points are not joined by lines. Score bars are clipped
    to [0, 1], where scores lie.
    """
    n = len(labels)
    if n == 0 or len(generated_perplexity) != n or not scores or any(len(v) != n for v in scores.values()):
        raise ValueError("labels, generated_perplexity and every score list must have the same non-zero length")
    if score_errors is not None and any(k not in scores or len(v) != n for k, v in score_errors.items()):
        raise ValueError("score_errors must map names of scores to one half-width per setting")
    if perplexity_range is not None and len(perplexity_range) != n:
        raise ValueError("perplexity_range must hold one (low, high) per setting")
    fig, axes = plt.subplots(1, len(scores) + 1, figsize=(3.6 * (len(scores) + 1), 4.4))
    x = list(range(n))
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown"]
    for ax, color, (name, values) in zip(axes, colors, scores.items()):
        err = (score_errors or {}).get(name)
        if err is not None:                                  # a score lies in [0, 1]: so do its bars
            err = [[min(e, v) for e, v in zip(err, values)], [min(e, 1 - v) for e, v in zip(err, values)]]
        ax.errorbar(x, values, yerr=err, fmt="o", capsize=3, color=color)
        ax.set_ylabel(f"{name} (0 to 1; axis zoomed)")
        ax.set_title(name + ("" if err is not None else " (no bars)"), fontsize=10)
    q = [float(v) for v in generated_perplexity]
    yerr = error_bars(q, perplexity_range, "perplexity_range")
    ax_p = axes[-1]
    ax_p.errorbar(x, q, yerr=yerr, fmt="s", capsize=3, color="tab:red")
    _plain_log_y(ax_p)
    ax_p.set_ylabel("perplexity of its own line (log scale)")
    ax_p.set_title("The model's surprise at its samples" + (" (bars: seeds' range)" if perplexity_range else ""),
                   fontsize=10)
    for ax in axes:
        ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
        ax.set_xlabel("decoding setting")
        ax.set_xlim(-0.5, n - 0.5)
        ax.grid(alpha=0.3, axis="y")
    seeds = f", sampled settings: mean of {n_seeds} seeds" if n_seeds > 1 else ""
    bars = f"; score bars: {error_label}" if score_errors else ""
    fig.suptitle(f"Generated text across decoding settings: {n_examples} prompts{seeds} ({device}, {dtype}){bars}",
                 fontsize=11)
    fig.tight_layout()
    return fig
