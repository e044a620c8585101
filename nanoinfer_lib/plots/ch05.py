"""Figures of chapter 05 (evaluation). Each function returns the Figure it draws on."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt


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
    fig, ax = plt.subplots(figsize=(9.5, 4))
    for name, ppl in perplexities.items():
        ax.plot(x, ppl, "o-", label=name)
    if uniform is not None:
        ax.axhline(uniform, color="gray", ls="--", label=f"uniform model (perplexity = {uniform:g})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("tokens of context before the predicted token (log scale)")
    ax.set_ylabel("perplexity (log scale)")
    ax.set_title(f"How much the model uses its context ({device}, {dtype})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))     # outside: the curves span the axes
    fig.tight_layout()
    return fig


def plot_decoding_sweep(labels: Sequence[str], scores: Mapping[str, Sequence[float]],
                        generated_perplexity: Sequence[float], n_examples: int, device: str = "cpu",
                        dtype: str = "float32", score_errors: Mapping[str, Sequence[float]] | None = None,
                        perplexity_range: Sequence[tuple[float, float]] | None = None, n_seeds: int = 1):
    """Metrics of generated text across decoding settings (chapter 05).

    Left: scores in [0, 1] (e.g. BLEU-2, ROUGE-L, distinct-2), one line per metric, with error bars
    of ``score_errors[name]`` (half-widths, e.g. 1.96 standard errors) where given; right: the
    model's perplexity of its own samples (log scale), with ``perplexity_range`` (low, high) bars,
    e.g. over seeds. One x position per setting, named by ``labels``.
    """
    n = len(labels)
    if n == 0 or len(generated_perplexity) != n or any(len(v) != n for v in scores.values()):
        raise ValueError("labels, generated_perplexity and every score list must have the same non-zero length")
    if score_errors is not None and any(k not in scores or len(v) != n for k, v in score_errors.items()):
        raise ValueError("score_errors must map names of scores to one half-width per setting")
    if perplexity_range is not None and len(perplexity_range) != n:
        raise ValueError("perplexity_range must hold one (low, high) per setting")
    fig, (ax_s, ax_p) = plt.subplots(1, 2, figsize=(12, 4.4))
    x = list(range(n))
    for name, values in scores.items():
        err = (score_errors or {}).get(name)
        ax_s.errorbar(x, values, yerr=err, fmt="o-", capsize=3, label=name)
    ax_s.set_ylim(0, 1)
    ax_s.set_ylabel("score (0 to 1)")
    seeds = f", mean of {n_seeds} seeds" if n_seeds > 1 else ""
    ax_s.set_title(f"Overlap with the reference and diversity\n(n = {n_examples} prompts{seeds}; bars: 95% "
                   "from the standard error)" if score_errors else
                   f"Overlap with the reference and diversity\n(n = {n_examples} prompts{seeds})", fontsize=10)
    ax_s.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    q = [float(v) for v in generated_perplexity]
    yerr = None if perplexity_range is None else [[v - lo for v, (lo, _) in zip(q, perplexity_range)],
                                                  [hi - v for v, (_, hi) in zip(q, perplexity_range)]]
    ax_p.errorbar(x, q, yerr=yerr, fmt="s-", capsize=3, color="tab:red")     # one line: the axis label names it
    ax_p.set_yscale("log")
    ax_p.set_ylabel("model's perplexity of its own line (log scale)")
    ax_p.set_title(f"How surprising the samples are to the model\n({device}, {dtype}"
                   + ("; bars: lowest to highest seed)" if perplexity_range else ")"), fontsize=10)
    for ax in (ax_s, ax_p):
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
        ax.set_xlabel("decoding setting")
    fig.tight_layout()
    return fig
