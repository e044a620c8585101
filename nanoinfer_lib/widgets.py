"""Interactive sampling explorers (chapter 03) for ipywidgets 7 (Colab) and 8 (JupyterLab 4): the UI
only; what they show is computed by ``explorer.explore_sampling``.

- ``SamplingExplorer(model, tokenizer, prompt)``: sliders for temperature, top-k, top-p, min-p and
  the repetition penalty, a prompt box, a seed and a length; every change redraws the filtered
  distribution (kept tokens in colour, removed ones greyed) and a sampled continuation in HTML widgets.
- ``interact_sampling(...)``: a compact ``ipywidgets.interactive`` version for classrooms.
- ``sampling_explorer(...)``: the widget, or with ``widgets=False`` a plain printed report.
"""
from __future__ import annotations

import html

import ipywidgets as W
from IPython.display import display

from . import validate
from .explorer import KEPT_COLOUR, ExplorerResult, explore_sampling, settings
from .model import check_model_like
from .tokenizer import check_tokenizer

SEED_MAX = 2**31 - 1       # the seed box's largest value


def _slider_style() -> dict:
    return dict(style={"description_width": "150px"}, layout=W.Layout(width="400px"), continuous_update=False)


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
        s = settings(temperature, top_k, top_p, min_p, repetition_penalty, seed, max_new_tokens)
        validate.integer("seed", seed, 0, SEED_MAX)               # the seed box holds what JavaScript can
        self.model, self.tokenizer = check_model_like("model", model), check_tokenizer("tokenizer", tokenizer)
        validate.text("prompt", prompt)
        self.n_show = validate.integer("n_show", n_show, 1)
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
        self.seed = W.BoundedIntText(value=s["seed"], min=0, max=SEED_MAX, description="seed",
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


def interact_sampling(model, tokenizer, prompt: str = "ROMEO:\n", seed: int = 0, max_new_tokens: int = 20,
                      n_show: int = 8):
    """A compact explorer built with ``ipywidgets.interactive``: four sliders (temperature, top-k,
    top-p, min-p) and a printed report. Returns the ``interactive`` widget; ``.result`` holds the
    latest ``ExplorerResult`` and ``.children[:4]`` are the sliders."""
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


def sampling_explorer(model, tokenizer, prompt: str = "ROMEO:\n", widgets: bool = True, **knobs):
    """The ``SamplingExplorer`` widget, or, with ``widgets=False`` (a plain terminal, a notebook
    viewer, a broken widget install), the same computation as a printed text report (returns its
    ``ExplorerResult``)."""
    if widgets:
        return SamplingExplorer(model, tokenizer, prompt, **knobs)
    r = explore_sampling(model, tokenizer, prompt, **knobs)
    print(r.as_text())
    return r
