"""Figures of chapter 06 (speculative decoding). Each function returns the Figure it draws on;
measured values carry their 95% intervals as error bars, and a curve that is predicted rather than
measured is drawn dashed and says so in its label."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ._axes import error_bars


def _curve(name: str, c: Mapping) -> tuple[list, list]:
    ks, values = list(c.get("k", [])), [float(v) for v in c.get("value", [])]
    if not len(ks) == len(values) > 0:
        raise ValueError(f"curve {name!r}: k and value need equal, non-zero lengths")
    return ks, values


def plot_verify_cost(curves: Mapping[str, Mapping[str, Sequence]], title: str = "What checking k drafts costs",
                     dtype: str = "float32"):
    """The verification cost v_k (time of one forward pass over k + 1 new tokens / time of one decode
    step) against the number of drafted tokens k, one line per model or device, beside the papers'
    assumption v_k = 1 (checking k + 1 tokens costs one step).

    curves: label (naming the model and where it ran) -> {"k": [...], "value": [...],
    "interval": [(low, high), ...] (optional: error bars)}."""
    if not curves:
        raise ValueError("curves must hold at least one {label: {'k': [...], 'value': [...]}}")
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    top, handles = 1.0, []
    for i, (name, c) in enumerate(curves.items()):
        ks, values = _curve(name, c)
        err = error_bars(values, c.get("interval"))
        handles.append(ax.errorbar(ks, values, yerr=err, marker="o", ms=4, capsize=3, color=f"C{i}", label=name))
        top = max(top, max(values) + (err[1].max() if err is not None else 0.0))
    every_k = sorted({k for c in curves.values() for k in c["k"]})
    handles += ax.plot([min(every_k), max(every_k)], [1.0, 1.0], "k--", lw=1, label="the papers' assumption: v_k = 1")
    ax.set_xticks(every_k)
    ax.set_ylim(0, top * 1.12)
    ax.set_xlabel("drafted tokens k (the pass checks k + 1 tokens)")
    ax.set_ylabel("v_k (in decode steps)")
    ax.set_title(f"{title}\n(batch 1, {dtype}; 95% intervals)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def plot_token_distribution(exact, sampled, draft=None, panel_titles: Sequence[str] | None = None,
                            title: str = "Speculative sampling vs the model's own distribution", n: int | None = None):
    """One panel per emitted position: the model's exact probability of each token beside the
    frequency measured over ``n`` seeded runs of the rule (and, when given, the draft's distribution
    q the proposals came from). exact, sampled: (positions, V); draft: (positions, V) or fewer rows."""
    exact, sampled = np.atleast_2d(np.asarray(exact, float)), np.atleast_2d(np.asarray(sampled, float))
    if exact.shape != sampled.shape or exact.size == 0:
        raise ValueError(f"exact and sampled must have one shape (positions, V), got {exact.shape} and {sampled.shape}")
    q = None if draft is None else np.atleast_2d(np.asarray(draft, float))
    if q is not None and (q.shape[1] != exact.shape[1] or q.shape[0] > exact.shape[0]):
        raise ValueError(f"draft must be (at most {exact.shape[0]}, {exact.shape[1]}), got {q.shape}")
    P, V = exact.shape
    if panel_titles is not None and len(panel_titles) != P:
        raise ValueError(f"panel_titles must give one title per position ({P}), got {len(panel_titles)}")
    fig, axes = plt.subplots(1, P, figsize=(3.6 * P + 0.6, 3.6), squeeze=False, sharey=True)
    x, w = np.arange(V), 0.38
    for j, ax in enumerate(axes[0]):
        drawn = [ax.bar(x - w / 2, exact[j], w, color="C0", label="model p (exact)"),
                 ax.bar(x + w / 2, sampled[j], w, color="C1", label="speculative sampling (measured)")]
        if q is not None and j < q.shape[0]:
            drawn += ax.step(x, q[j], where="mid", color="0.35", ls=":", lw=1.5, label="draft q (proposals)")
        if j == 0:
            handles = drawn
        ax.set_xticks(x)
        ax.set_xlabel("token id")
        ax.set_title(panel_titles[j] if panel_titles else f"emitted token {j + 1}", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel("probability / frequency")
    fig.legend(handles, [h.get_label() for h in handles], loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8.5, frameon=False)
    fig.suptitle(title + (f" ({n:,} seeded runs, CPU)" if n else ""), fontsize=10)
    fig.tight_layout()
    return fig


def plot_acceptance(ks: Sequence[int], alpha: Sequence[float], tokens_per_call: Sequence[float],
                    predicted: Sequence[float], title: str = "Draft model vs target", device: str = "cpu"):
    """Two panels against k: alpha (the share of checked drafts the model kept), and the new tokens
    per verification pass, measured beside the formula's ``(1 - alpha^(k+1)) / (1 - alpha)`` and the
    ceiling k + 1 (every draft kept)."""
    ks = list(ks)
    for name, values in (("alpha", alpha), ("tokens_per_call", tokens_per_call), ("predicted", predicted)):
        if len(values) != len(ks) or not ks:
            raise ValueError(f"{name} must give one value per k ({len(ks)}), got {len(values)}")
    fig, (ax_a, ax_t) = plt.subplots(1, 2, figsize=(10, 3.9))
    ax_a.plot(ks, alpha, "o-", color="C0", label="measured alpha")
    ax_a.set_ylim(0, 1.05)
    ax_a.set_ylabel("alpha = kept / checked drafts")
    ax_a.set_title("acceptance alpha (measured)", fontsize=9.5)
    ax_t.plot(ks, [k + 1 for k in ks], ":", color="0.4", label="ceiling k + 1 (every draft kept)")
    ax_t.plot(ks, predicted, "--", color="C2", label="formula (1 - a^(k+1)) / (1 - a), a measured")
    ax_t.plot(ks, tokens_per_call, "o-", color="C1", label="measured")
    ax_t.set_ylabel("new tokens per target pass")
    ax_t.set_title("tokens per verification pass", fontsize=9.5)
    for ax, where in ((ax_a, "lower right"), (ax_t, "upper left")):     # where the lines leave room
        ax.set_xticks(ks)
        ax.set_xlabel("drafted tokens k per round")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc=where)
    fig.suptitle(f"{title} (greedy, {device})", fontsize=10.5)
    fig.tight_layout()
    return fig


def plot_speedup(ks: Sequence[int], measured: Sequence[float], intervals: Sequence[tuple[float, float]] | None,
                 predictions: Mapping[str, Sequence[float]], title: str = "Speedup over plain greedy decoding",
                 device: str = "cpu", dtype: str = "float32"):
    """Speedup (plain decode time / speculative time) against k: the measured ratio with its 95%
    interval, each prediction of the formula as a dashed line, and the break-even line at 1."""
    ks, measured = list(ks), [float(v) for v in measured]
    if not len(ks) == len(measured) > 0:
        raise ValueError("ks and measured need equal, non-zero lengths")
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    ax.axhline(1.0, color="0.3", lw=1, label="break-even (plain decoding)")
    for i, (name, values) in enumerate(predictions.items()):
        if len(values) != len(ks):
            raise ValueError(f"prediction {name!r} must give one value per k ({len(ks)}), got {len(values)}")
        ax.plot(ks, values, "--", marker="x", color=f"C{i + 1}", label=name)
    ax.errorbar(ks, measured, yerr=error_bars(measured, intervals), fmt="o-", color="C0", capsize=3,
                label="measured (95% interval)")
    ax.set_xticks(ks)
    ax.set_ylim(0, max([*measured, *(v for vs in predictions.values() for v in vs), 1.0]) * 1.15)
    ax.set_xlabel("drafted tokens k per round")
    ax.set_ylabel("speedup (x): plain time / speculative time")
    ax.set_title(f"{title}\n({device}, {dtype}, batch 1)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
