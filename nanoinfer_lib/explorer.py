"""The sampling explorer's computation (chapter 03), without any widget: for a prompt and one setting
of the sampling knobs, the model's next-token distribution, what the settings keep of it and a
seeded continuation, as an ``ExplorerResult`` (``.as_text()``, ``.as_html()``). The widgets in
``widgets.py`` only draw what this computes.

Conventions follow ``nanoinfer_lib.sampling``: temperature 0 is greedy, top-k 0 is off (k >=
vocabulary keeps everything), top-p 1.0 is off (0 keeps only the top token), min-p 0 is off,
repetition penalty 1.0 is off.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from . import validate
from .generation import generate
from .model import check_model_like
from .sampling import MAX_SEED, SamplingSettings, apply_repetition_penalty, process_logits
from .tokenizer import check_encoded, check_tokenizer

KEPT_COLOUR, REMOVED_COLOUR = "#1f77b4", "#c8c8c8"     # kept / removed tokens, in every view of the course


@dataclass
class ExplorerResult:
    """What the explorer shows for one prompt and one setting of the sliders.

    The rows are the ``n_show`` most likely next tokens (after the repetition penalty), most likely
    first. ``model_probs``: softmax of the model's logits; ``scaled_probs``: after the repetition
    penalty and temperature (a one-hot at temperature 0); ``final_probs``: what sampling draws from
    (kept tokens renormalised, removed ones 0). ``kept_mass``: the share of ``scaled_probs`` kept.
    """
    prompt: str
    settings: dict
    vocab_size: int
    token_ids: list[int]
    tokens: list[str]
    model_probs: list[float]
    scaled_probs: list[float]
    final_probs: list[float]
    kept: list[bool]
    n_kept: int
    kept_mass: float
    continuation: str = ""
    kept_ids: list[int] = field(default_factory=list, repr=False)   # every kept id, most likely first

    def summary(self) -> str:
        s = self.settings
        parts = [f"temperature {s['temperature']:.2f}" + (" (greedy)" if s["temperature"] == 0 else ""),
                 f"top-k {s['top_k']}" if s["top_k"] else "top-k off",
                 f"top-p {s['top_p']:.2f}" if s["top_p"] < 1 else "top-p off",
                 f"min-p {s['min_p']:.2f}" if s["min_p"] else "min-p off",
                 f"repetition penalty {s['repetition_penalty']:.2f}" if s["repetition_penalty"] != 1
                 else "repetition penalty off", f"seed {s['seed']}"]
        return (f"kept {self.n_kept} of {self.vocab_size} tokens ({100 * self.kept_mass:.1f}% of the "
                f"probability) | " + ", ".join(parts))

    def as_text(self) -> str:
        """A plain-text report: the summary, one line per candidate, the continuation."""
        lines = [self.summary(), f"{'token':>16}  {'model p':>8}  {'scaled p':>8}  {'sampled p':>9}  kept"]
        for tok, p0, p1, p2, k in zip(self.tokens, self.model_probs, self.scaled_probs, self.final_probs, self.kept):
            lines.append(f"{repr(tok):>16}  {p0:8.4f}  {p1:8.4f}  {p2:9.4f}  {'yes' if k else '-'}")
        hidden = self.n_kept - sum(self.kept)
        if hidden > 0:
            lines.append(f"{'':>16}  ... and {hidden} more kept tokens below these")
        lines.append(f"continuation ({self.settings['max_new_tokens']} tokens, seed {self.settings['seed']}): "
                     f"{self.continuation!r}")
        return "\n".join(lines)

    def chart_html(self) -> str:
        """An HTML bar chart of the candidates: kept tokens in colour, removed ones greyed and struck out."""
        top = max(max(self.scaled_probs), max(self.final_probs), 1e-12)
        rows = []
        for tok, p1, p2, k in zip(self.tokens, self.scaled_probs, self.final_probs, self.kept):
            colour = KEPT_COLOUR if k else REMOVED_COLOUR
            style = "" if k else "text-decoration:line-through;color:#888;"
            rows.append(
                f'<tr class="{"kept" if k else "removed"}">'
                f'<td style="font-family:monospace;white-space:pre;{style}">{html.escape(repr(tok))}</td>'
                f'<td style="width:260px"><div style="background:{colour};height:12px;'
                f'width:{max(1.0, 250 * p1 / top):.1f}px"></div></td>'
                f'<td style="text-align:right">{p1:.4f}</td><td style="text-align:right">{p2:.4f}</td></tr>')
        head = ('<tr><th>token</th><th>probability after temperature (bar)</th><th>p</th>'
                '<th>p sampled from</th></tr>')
        return f'<table style="border-collapse:collapse;font-size:12px">{head}{"".join(rows)}</table>'

    def as_html(self) -> str:
        return (f"<b>{html.escape(self.summary())}</b>{self.chart_html()}"
                f"<p>{html.escape(self.prompt)}<b>{html.escape(self.continuation)}</b></p>")


def settings(temperature, top_k, top_p, min_p, repetition_penalty, seed, max_new_tokens) -> dict:
    """The settings checked the way the library checks them; 'off' values normalised to 0 / 1.0."""
    s = SamplingSettings(temperature, top_k, top_p, min_p, repetition_penalty)
    return dict(temperature=s.temperature, top_k=s.top_k or 0,
                top_p=1.0 if s.top_p is None else s.top_p, min_p=s.min_p or 0.0,
                repetition_penalty=1.0 if s.repetition_penalty is None else s.repetition_penalty,
                seed=validate.integer("seed", seed, 0, MAX_SEED),
                max_new_tokens=validate.integer("max_new_tokens", max_new_tokens, 0))


def next_token_logits(model, tokenizer, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids (1, T), logits (V,))``: the prompt's ids and the model's logits for the next token
    (the prompt cropped to the last ``block_size`` tokens, as ``generate`` does)."""
    check_model_like("model", model)
    check_tokenizer("tokenizer", tokenizer)
    ids = check_encoded("prompt", tokenizer.encode(validate.text("prompt", prompt)), model.config.vocab_size)
    ids = torch.tensor([ids], device=model.device)                                    # (1, T)
    with torch.inference_mode():
        logits = model(ids[:, -model.config.block_size:], last_only=True)[0, -1].float()   # (V,)
    return ids, logits


def explore_sampling(model, tokenizer, prompt: str, temperature: float = 1.0, top_k: int | None = 0,
                     top_p: float | None = 1.0, min_p: float | None = 0.0, repetition_penalty: float | None = 1.0,
                     seed: int = 0, max_new_tokens: int = 30, n_show: int = 15,
                     _cache: dict | None = None) -> ExplorerResult:
    """The explorer's computation without widgets: the next-token distribution after ``prompt``, which
    tokens the settings keep (``process_logits`` of ``nanoinfer_lib.sampling``, after the repetition
    penalty on the prompt's tokens), and a continuation of ``max_new_tokens`` sampled with ``seed``
    by ``generate`` with the same settings."""
    check_model_like("model", model)
    check_tokenizer("tokenizer", tokenizer)
    s = settings(temperature, top_k, top_p, min_p, repetition_penalty, seed, max_new_tokens)
    n_show = validate.integer("n_show", n_show, 1)
    if _cache is not None and _cache.get("prompt") == prompt:
        ids, logits = _cache["ids"], _cache["logits"]
    else:
        ids, logits = next_token_logits(model, tokenizer, prompt)
        if _cache is not None:
            _cache.update(prompt=prompt, ids=ids, logits=logits)
    V = logits.shape[-1]
    model_probs = F.softmax(logits, -1)                                              # (V,)
    penalised = apply_repetition_penalty(logits, ids[0], s["repetition_penalty"])   # (V,)
    scaled = process_logits(penalised, s["temperature"])                             # temperature only
    final = process_logits(penalised, s["temperature"], s["top_k"], s["top_p"], s["min_p"])
    scaled_probs, final_probs = F.softmax(scaled, -1), F.softmax(final, -1)
    kept_mask = torch.isfinite(final)
    order = torch.sort(penalised, descending=True, stable=True).indices              # most likely first
    show = order[:min(n_show, V)]
    continuation = ""
    if s["max_new_tokens"] > 0:
        out = generate(model, ids, max_new_tokens=s["max_new_tokens"], temperature=s["temperature"],
                       top_k=s["top_k"], top_p=s["top_p"], min_p=s["min_p"],
                       repetition_penalty=s["repetition_penalty"], seed=s["seed"])
        continuation = tokenizer.decode(out[0, ids.shape[1]:].cpu())
    return ExplorerResult(
        prompt=prompt, settings=s, vocab_size=V, token_ids=show.tolist(),
        tokens=[tokenizer.decode([i]) for i in show.tolist()],
        model_probs=model_probs[show].tolist(), scaled_probs=scaled_probs[show].tolist(),
        final_probs=final_probs[show].tolist(), kept=kept_mask[show].tolist(),
        n_kept=int(kept_mask.sum()), kept_mass=float(scaled_probs[kept_mask].sum()),
        continuation=continuation, kept_ids=order[kept_mask[order]].tolist())
