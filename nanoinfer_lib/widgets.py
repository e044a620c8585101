"""Interactive sampling explorers (chapter 03), for ipywidgets 7 (Colab) and 8 (JupyterLab 4).

- ``explore_sampling(model, tokenizer, prompt, ...)``: the computation behind every explorer, no
  widgets: the model's next-token distribution, what the sampling settings keep of it, and a
  seeded continuation, as an ``ExplorerResult`` (``.as_text()``, ``.as_html()``).
- ``SamplingExplorer(model, tokenizer, prompt)``: sliders for temperature, top-k, top-p, min-p and
  the repetition penalty, a prompt box, a seed and a length; every change redraws the filtered
  distribution (kept tokens in colour, removed ones greyed) and a sampled continuation in HTML
  widgets. In a frontend that cannot show widgets it displays its text report instead.
- ``interact_sampling(...)``: a compact ``ipywidgets.interactive`` version for classrooms.
- ``sampling_explorer(...)``: the widget when ipywidgets is there, else a plain printed report.

Slider conventions follow ``nanoinfer_lib.sampling``: temperature 0 is greedy, top-k 0 is off
(k >= vocabulary keeps everything), top-p 1.0 is off (0 keeps only the top token), min-p 0 is off,
repetition penalty 1.0 is off.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .generation import generate
from .sampling import (apply_repetition_penalty, check_min_p, check_repetition_penalty, check_temperature,
                       check_top_k, check_top_p, process_logits)

try:
    import ipywidgets as W
    from IPython.display import display
except ImportError:  # pragma: no cover - ipywidgets is a dependency; this keeps the text path alive
    W = None

KEPT_COLOUR, REMOVED_COLOUR = "#1f77b4", "#c8c8c8"


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


def _settings(temperature, top_k, top_p, min_p, repetition_penalty, seed, max_new_tokens) -> dict:
    """Validate the settings the way the library does; 'off' values are normalised to 0 / 1.0."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    top_p = check_top_p(top_p)
    min_p = check_min_p(min_p)
    penalty = check_repetition_penalty(repetition_penalty)
    return dict(temperature=check_temperature(temperature), top_k=check_top_k(top_k) or 0,
                top_p=1.0 if top_p is None else top_p, min_p=min_p or 0.0,
                repetition_penalty=1.0 if penalty is None else penalty, seed=seed, max_new_tokens=max_new_tokens)


def next_token_logits(model, tokenizer, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids (1, T), logits (V,))``: the prompt's ids and the model's logits for the next token
    (the prompt cropped to the last ``block_size`` tokens, as ``generate`` does)."""
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    ids = tokenizer.encode(prompt, return_tensors="pt")
    if ids.shape[1] == 0:
        raise ValueError("prompt is empty: type at least one character")
    if int(ids.max()) >= model.config.vocab_size:
        raise ValueError(f"the prompt's token ids must lie in [0, {model.config.vocab_size}) (the model's "
                         f"vocabulary), got {int(ids.max())}: use the model's own tokenizer")
    ids = ids.to(model.device)
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
    s = _settings(temperature, top_k, top_p, min_p, repetition_penalty, seed, max_new_tokens)
    if isinstance(n_show, bool) or not isinstance(n_show, int) or n_show < 1:
        raise ValueError(f"n_show must be an int >= 1, got {n_show!r}")
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


def _require_widgets() -> None:
    if W is None:
        raise ImportError("the interactive explorer needs ipywidgets: pip install ipywidgets "
                          "(or call explore_sampling(...) for a plain report)")


def _slider_style() -> dict:
    return dict(style={"description_width": "150px"}, layout=W.Layout(width="400px"), continuous_update=False)


if W is not None:
    class SamplingExplorer(W.VBox):
        """Sliders for the sampling settings; each change redraws the distribution and the continuation.

        Controls (their ``description`` is the label a learner sees): ``prompt`` (text, applied on
        Enter or when it loses focus), ``temperature`` (0-2), ``top-k`` (0 = off .. vocabulary size),
        ``top-p`` (0-1, 1 = off), ``min-p`` (0-1, 0 = off), ``repetition penalty`` (0.5-2, 1 = off),
        ``seed``, ``new tokens``. Outputs: ``summary`` (HTML, starts with "kept N of V tokens"),
        ``chart`` (HTML table of the candidates) and ``text`` (the prompt and its sampled
        continuation); ``result`` is the latest ``ExplorerResult``.
        """

        def __init__(self, model, tokenizer, prompt: str = "ROMEO:\n", temperature: float = 1.0, top_k: int = 0,
                     top_p: float = 1.0, min_p: float = 0.0, repetition_penalty: float = 1.0, seed: int = 0,
                     max_new_tokens: int = 30, n_show: int = 15):
            s = _settings(temperature, top_k, top_p, min_p, repetition_penalty, seed, max_new_tokens)
            self.model, self.tokenizer, self.n_show = model, tokenizer, n_show
            V = model.config.vocab_size
            st = _slider_style()
            self.prompt = W.Text(value=prompt, description="prompt", continuous_update=False,
                                 style=st["style"], layout=W.Layout(width="700px"))
            self.temperature = W.FloatSlider(value=s["temperature"], min=0.0, max=2.0, step=0.05,
                                             description="temperature", readout_format=".2f", **st)
            self.top_k = W.IntSlider(value=min(s["top_k"], V), min=0, max=V, step=1, description="top-k", **st)
            self.top_p = W.FloatSlider(value=s["top_p"], min=0.0, max=1.0, step=0.01, description="top-p",
                                       readout_format=".2f", **st)
            self.min_p = W.FloatSlider(value=s["min_p"], min=0.0, max=1.0, step=0.01, description="min-p",
                                       readout_format=".2f", **st)
            self.repetition_penalty = W.FloatSlider(value=s["repetition_penalty"], min=0.5, max=2.0, step=0.05,
                                                    description="repetition penalty", readout_format=".2f", **st)
            self.seed = W.BoundedIntText(value=s["seed"], min=0, max=2**31 - 1, description="seed",
                                         style=st["style"], layout=W.Layout(width="260px"))
            self.max_new_tokens = W.IntSlider(value=s["max_new_tokens"], min=0, max=100, step=1,
                                              description="new tokens", **st)
            self.summary, self.chart, self.text = W.HTML(), W.HTML(), W.HTML()
            for w, cls in ((self, "nanoinfer-explorer"), (self.summary, "nanoinfer-summary"),
                           (self.chart, "nanoinfer-chart"), (self.text, "nanoinfer-continuation")):
                w.add_class(cls)
            self.controls = [self.prompt, self.temperature, self.top_k, self.top_p, self.min_p,
                             self.repetition_penalty, self.seed, self.max_new_tokens]
            hint = W.HTML("<small>temperature 0 = greedy &middot; top-k 0 = off &middot; top-p 1 = off "
                          "&middot; min-p 0 = off &middot; repetition penalty 1 = off</small>")
            super().__init__(children=[self.prompt, W.HBox([W.VBox(self.controls[1:4]), W.VBox(self.controls[4:])],
                                                                 layout=W.Layout(flex_flow="row wrap")),
                                       hint, self.summary, self.chart, self.text])
            self._cache: dict = {}
            self.result: ExplorerResult | None = None
            self.error: str | None = None
            for w in self.controls:
                w.observe(self._on_change, names="value")
            self.update()

        def _on_change(self, change) -> None:
            self.update()

        def update(self) -> ExplorerResult | None:
            """Recompute from the controls' current values and redraw (called on every change)."""
            try:
                self.result = explore_sampling(
                    self.model, self.tokenizer, self.prompt.value, temperature=self.temperature.value,
                    top_k=self.top_k.value, top_p=self.top_p.value, min_p=self.min_p.value,
                    repetition_penalty=self.repetition_penalty.value, seed=self.seed.value,
                    max_new_tokens=self.max_new_tokens.value, n_show=self.n_show, _cache=self._cache)
            except Exception as e:      # e.g. an empty prompt: say so in the widget and keep it alive
                self.error = str(e) if isinstance(e, (ValueError, TypeError)) else f"{type(e).__name__}: {e}"
                self.summary.value = f'<b style="color:#b00">{html.escape(self.error)}</b>'
                self.chart.value = self.text.value = ""
                return None
            self.error = None
            r = self.result
            self.summary.value = f"<b>{html.escape(r.summary())}</b>"
            self.chart.value = r.chart_html()
            self.text.value = (f'<p style="white-space:pre-wrap;font-family:monospace">{html.escape(r.prompt)}'
                               f'<b style="color:{KEPT_COLOUR}">{html.escape(r.continuation)}</b></p>')
            return r

        def __repr__(self) -> str:                                # a plain terminal shows the report
            return self._bundle()["text/plain"]

        def _bundle(self) -> dict:
            text = self.result.as_text() if self.result is not None else (self.error or "")
            return {"text/plain": text, "application/vnd.jupyter.widget-view+json":
                    {"version_major": 2, "version_minor": 0, "model_id": self.model_id}}

        if hasattr(W.Widget, "_repr_mimebundle_"):               # ipywidgets 8
            def _repr_mimebundle_(self, **kwargs):
                return self._bundle()
        else:                                                     # ipywidgets 7
            def _ipython_display_(self, **kwargs):
                display(self._bundle(), raw=True)
                self._handle_displayed(**kwargs)
else:  # pragma: no cover
    class SamplingExplorer:  # type: ignore[no-redef]
        def __init__(self, *args, **kwargs):
            _require_widgets()


def interact_sampling(model, tokenizer, prompt: str = "ROMEO:\n", seed: int = 0, max_new_tokens: int = 20,
                      n_show: int = 8):
    """A compact explorer built with ``ipywidgets.interactive``: four sliders (temperature, top-k,
    top-p, min-p) and a printed report. Returns the ``interactive`` widget; ``.result`` holds the
    latest ``ExplorerResult`` and ``.children[:4]`` are the sliders."""
    _require_widgets()
    st = _slider_style()
    V = model.config.vocab_size
    cache: dict = {}

    def show(temperature, top_k, top_p, min_p):
        r = explore_sampling(model, tokenizer, prompt, temperature=temperature, top_k=top_k, top_p=top_p,
                             min_p=min_p, seed=seed, max_new_tokens=max_new_tokens, n_show=n_show, _cache=cache)
        print(r.as_text())
        return r

    w = W.interactive(show,
                      temperature=W.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05, description="temperature",
                                                readout_format=".2f", **st),
                      top_k=W.IntSlider(value=0, min=0, max=V, description="top-k", **st),
                      top_p=W.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.01, description="top-p",
                                          readout_format=".2f", **st),
                      min_p=W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01, description="min-p",
                                          readout_format=".2f", **st))
    if getattr(w, "result", None) is None:      # ipywidgets 7 runs the function only when displayed
        w.update()
    w.add_class("nanoinfer-interact")
    return w


def sampling_explorer(model, tokenizer, prompt: str = "ROMEO:\n", widgets: bool = True, **settings):
    """The ``SamplingExplorer`` widget, or, with ``widgets=False`` or without ipywidgets, the same
    computation as a printed text report (returns its ``ExplorerResult``)."""
    if widgets and W is not None:
        return SamplingExplorer(model, tokenizer, prompt, **settings)
    r = explore_sampling(model, tokenizer, prompt, **settings)
    print(r.as_text())
    return r
