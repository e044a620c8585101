"""widgets: the explorers driven without a browser: set slider values from code and check what they show."""

import pytest

from _helpers import FakeModel, FakeTokenizer
from nanoinfer_lib.explorer import ExplorerResult, explore_sampling
from nanoinfer_lib.widgets import SamplingExplorer, interact_sampling, sampling_explorer


def test_sliders_extremes_never_fail(fake):
    for w in (fake.temperature, fake.top_k, fake.top_p, fake.min_p, fake.repetition_penalty):
        for v in (w.min, w.max, w.min):
            w.value = v
            assert fake.error is None and fake.result is not None
    assert fake.top_k.max == 4                           # top-k reaches the vocabulary size


def test_empty_prompt_shows_a_message_and_recovers(fake):
    fake.prompt.value = ""
    assert fake.error is not None and "prompt" in fake.summary.value and fake.chart.value == ""
    fake.prompt.value = "ab"
    assert fake.error is None and fake.summary.value.startswith("<b>kept 4 of 4")


def test_every_control_has_a_description(fake):
    descriptions = [w.description for w in fake.controls]
    assert descriptions == ["prompt", "temperature", "top-k", "top-p", "min-p", "repetition penalty", "seed",
                            "new tokens"]
    assert all(w.continuous_update is False for w in fake.controls if hasattr(w, "continuous_update"))


def test_display_bundle_has_the_widget_and_a_text_fallback(fake):
    bundle = fake._bundle()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == fake.model_id
    assert bundle["text/plain"] == fake.result.as_text()
    assert bundle["text/plain"].startswith("kept 4 of 4 tokens")


@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(top_p=1.5), ValueError, "top_p"), (dict(temperature=-1.0), ValueError, "temperature"),
    (dict(top_k=-2), ValueError, "top_k"), (dict(min_p=2.0), ValueError, "min_p"),
    (dict(repetition_penalty=0.0), ValueError, "repetition_penalty"), (dict(seed="x"), TypeError, "seed"),
    (dict(n_show=0), ValueError, "n_show"), (dict(max_new_tokens=-1), ValueError, "max_new_tokens"),
])
def test_bad_arguments_name_themselves(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        explore_sampling(FakeModel(), FakeTokenizer(), "a", **{"max_new_tokens": 0, **kwargs})


def test_moving_a_slider_changes_what_is_shown(real):
    real.temperature.value, real.top_k.value, real.top_p.value, real.min_p.value = 1.0, 0, 1.0, 0.0
    before = (real.summary.value, real.chart.value)
    real.top_p.value = 0.5
    assert real.summary.value != before[0] and real.chart.value != before[1]
    assert real.result.n_kept < 2048


def test_real_sliders_extremes(real):
    for w in real.controls[1:]:
        for v in (w.min, w.max, w.value):
            w.value = v
            assert real.error is None
    assert real.max_new_tokens.max == 100 and len(real.result.continuation) > 0


def test_seed_makes_the_continuation_reproducible(real):
    real.temperature.value, real.top_k.value, real.top_p.value, real.min_p.value = 1.0, 0, 1.0, 0.0
    texts = {}
    for seed in (0, 1, 2, 3, 0):
        real.seed.value = seed
        texts.setdefault(seed, real.result.continuation)
        assert texts[seed] == real.result.continuation       # the same seed, the same text
    assert len(set(texts.values())) > 1                      # different seeds, different texts
    real.seed.value = 0


def test_changing_the_prompt_recomputes(real, bundled):
    model, tokenizer = bundled
    real.prompt.value = "JULIET:\nO Romeo"
    fresh = explore_sampling(model, tokenizer, "JULIET:\nO Romeo", max_new_tokens=8, n_show=10,
                             **{k: getattr(real, k).value for k in ("temperature", "top_k", "top_p", "min_p", "seed")})
    assert real.result.model_probs == pytest.approx(fresh.model_probs)
    assert real.result.continuation == fresh.continuation
    real.prompt.value = "ROMEO:\nWhat light"


def test_interact_version(bundled):
    model, tokenizer = bundled
    w = interact_sampling(model, tokenizer, prompt="ROMEO:\n", max_new_tokens=4)
    temperature, top_k, top_p, min_p = w.children[:4]
    assert [c.description for c in w.children[:4]] == ["temperature", "top-k", "top-p", "min-p"]
    assert isinstance(w.result, ExplorerResult) and w.result.n_kept == 2048
    top_k.value = 5
    assert w.result.n_kept == 5
    temperature.value = 0.0
    assert w.result.n_kept == 1
    top_k.value = top_k.max
    temperature.value = 1.0
    top_p.value = 0.0
    assert w.result.n_kept == 1


def test_plain_function_fallback(bundled, capsys):
    model, tokenizer = bundled
    r = sampling_explorer(model, tokenizer, "ROMEO:\n", widgets=False, top_k=3, max_new_tokens=4, n_show=5)
    assert isinstance(r, ExplorerResult) and r.n_kept == 3
    out = capsys.readouterr().out
    assert out.startswith("kept 3 of 2048 tokens") and out.strip() == r.as_text()
    assert isinstance(sampling_explorer(model, tokenizer, "ROMEO:\n", max_new_tokens=0), SamplingExplorer)


def test_displaying_publishes_the_widget_and_the_text_report(fake):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display
    from IPython.utils.capture import capture_output
    InteractiveShell.instance()
    with capture_output() as captured:
        display(fake)
    (out,) = captured.outputs
    assert out.data["application/vnd.jupyter.widget-view+json"]["model_id"] == fake.model_id
    assert out.data["text/plain"] == fake.result.as_text()
    assert repr(fake) == fake.result.as_text()
