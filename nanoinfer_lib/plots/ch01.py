"""Figures of chapter 01 (autoregressive generation). Each function returns the Figure it draws on."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt

from ._axes import error_bars
from ._common import tail_words


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
    ctx = f" after {tail_words(context, 32)!r}" if context else ""
    ax.set_title(f"Top {len(tokens)} next tokens{ctx}\n({device}, {dtype})", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_naive_cost(positions: Sequence[int], ms_per_step: Mapping[str, Sequence[float]],
                    flops_per_step: Mapping[str, Sequence[float]], dtype: str = "float32",
                    ms_range: Mapping[str, Sequence[tuple[float, float]]] | None = None,
                    reference: Mapping[str, tuple[Sequence[int], Sequence[float]]] | None = None,
                    checked: str | None = None, runs: int | None = None,
                    fit: Mapping[str, Sequence[float]] | None = None):
    """Cost of one step of the naive (cache-free) loop against the position it generates (chapter 01).

    Left: measured milliseconds per step, one line per device (the mapping's keys name them), with
    error bars from ``ms_range`` (low, high) per position where given, and dashed ``reference``
    lines (label -> (positions, ms)) measured elsewhere, e.g. a GPU results file, and dotted ``fit``
    lines (label -> ms per position), e.g. a model of the time fitted to the measurements.
    Right: floating-point operations per step from a formula, stacked by part of the model (the keys
    name the parts); ``checked``: one line saying what the formula was checked against, for the title.
    """
    n = len(positions)
    if n == 0:
        raise ValueError("positions must not be empty")
    for name, series in (("ms_per_step", ms_per_step), ("flops_per_step", flops_per_step)):
        if not series or any(len(v) != n for v in series.values()):
            raise ValueError(f"{name} must map each name to one value per position ({n} positions)")
    if ms_range is not None and any(name not in ms_per_step or len(r) != n for name, r in ms_range.items()):
        raise ValueError(f"ms_range must map names of ms_per_step to one (low, high) per position ({n} positions)")
    if fit is not None and any(len(v) != n for v in fit.values()):
        raise ValueError(f"fit must map each label to one value per position ({n} positions)")
    for label, (ref_pos, ref_ms) in (reference or {}).items():
        if not ref_pos or len(ref_pos) != len(ref_ms):
            raise ValueError(f"reference {label!r} must hold equally long, non-empty positions and ms")
    fig, (ax_t, ax_f) = plt.subplots(1, 2, figsize=(11.5, 5.0))
    for name, ms in ms_per_step.items():
        if ms_range and name in ms_range:
            ax_t.errorbar(positions, ms, yerr=error_bars(ms, ms_range[name], "ms_range"), fmt="o-", capsize=3, label=f"measured here: {name}")
        else:
            ax_t.plot(positions, ms, "o-", label=f"measured here: {name}")
    for label, ms in (fit or {}).items():
        ax_t.plot(positions, ms, ":", color="black", lw=1.2, label=label)
    for label, (ref_pos, ref_ms) in (reference or {}).items():
        ax_t.plot(ref_pos, ref_ms, "s--", color="tab:green", label=label)
    ax_t.set_xlabel("tokens in the context (position being generated)")
    ax_t.set_ylabel("time per generated token (ms)")
    spread = f"median, bars: fastest to slowest of {runs} runs" if runs else "median of runs"
    ax_t.set_title(f"Naive loop: time per step\n({dtype}, {spread})", fontsize=10)
    ax_t.set_ylim(bottom=0)
    ax_t.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8)   # below the axes: covers no data
    ax_f.stackplot(positions, *[[f / 1e9 for f in v] for v in flops_per_step.values()],
                   labels=list(flops_per_step), alpha=0.8)
    ax_f.set_xlabel("tokens in the context (position being generated)")
    ax_f.set_ylabel("GFLOP per generated token")
    ax_f.set_title("Naive loop: work per step, from the formula" + (f"\n({checked})" if checked else ""), fontsize=10)
    ax_f.legend(loc="upper left", fontsize=8)       # FLOPs grow with T: the upper left of the stack is empty
    fig.tight_layout()
    return fig
