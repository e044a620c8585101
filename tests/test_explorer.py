"""explorer: what the sampling explorer computes, on a stand-in model with a hand-made distribution and on the bundled model."""
from types import SimpleNamespace
import html
import math

import pytest
import torch

from nanoinfer_lib import generate
from nanoinfer_lib.sampling import apply_repetition_penalty, process_logits
from nanoinfer_lib.explorer import explore_sampling
from nanoinfer_lib.widgets import SamplingExplorer


PROBS = [0.2, 0.4, 0.1, 0.3]          # by token id: 'a' 0.2, 'b' 0.4, 'c' 0.1, 'd' 0.3


class FakeModel:
    """Always predicts PROBS, whatever the context (enough for the explorer's distribution panel)."""

    def __init__(self, probs=PROBS):
        self.logits = torch.tensor(probs).log()
        self.config = SimpleNamespace(vocab_size=len(probs), block_size=8)
        self.device = torch.device("cpu")

    def __call__(self, idx, last_only=False):
        return self.logits.expand(idx.shape[0], 1, -1)        # (B, 1, V)


class FakeTokenizer:
    eot_token = 3                 # a tokenizer has encode, decode and an int eot_token (validate.tokenizer)

    def encode(self, text, return_tensors=None):
        ids = [ord(c) - ord("a") for c in text]
        return torch.tensor([ids], dtype=torch.long).reshape(1, -1) if return_tensors == "pt" else ids

    def decode(self, ids):
        return "".join(chr(ord("a") + int(i)) for i in ids)


def kept_tokens(w):
    return {tok for tok, k in zip(w.result.tokens, w.result.kept) if k}


@pytest.fixture
def fake():
    return SamplingExplorer(FakeModel(), FakeTokenizer(), prompt="a", max_new_tokens=0, n_show=4)


def test_rows_are_most_likely_first_and_everything_kept_by_default(fake):
    r = fake.result
    assert r.tokens == ["b", "d", "a", "c"]
    assert r.model_probs == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert r.final_probs == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert r.n_kept == 4 and all(r.kept) and r.kept_mass == pytest.approx(1.0)
    assert fake.summary.value.startswith("<b>kept 4 of 4 tokens (100.0% of the probability)")


@pytest.mark.parametrize("slider, value, want", [
    ("top_p", 0.6, {"b", "d"}),            # 0.4 < 0.6, 0.4 + 0.3 >= 0.6: the crossing token is kept
    ("top_p", 0.4, {"b"}),                 # the top token alone already has 0.4
    ("top_p", 0.0, {"b"}),                 # at least one token survives
    ("top_p", 1.0, {"a", "b", "c", "d"}),  # 1.0 = off
    ("top_p", 0.95, {"a", "b", "c", "d"}),
    ("top_k", 1, {"b"}),
    ("top_k", 3, {"b", "d", "a"}),
    ("top_k", 4, {"a", "b", "c", "d"}),    # k >= vocabulary: no-op (the slider's maximum)
    ("top_k", 0, {"a", "b", "c", "d"}),    # 0 = off
    ("min_p", 0.45, {"b", "d", "a"}),      # keep p >= 0.45 * 0.4 = 0.18
    ("min_p", 0.6, {"b", "d"}),            # keep p >= 0.24
    ("min_p", 1.0, {"b"}),
    ("temperature", 0.0, {"b"}),           # greedy
])
def test_each_slider_keeps_the_hand_computed_set(fake, slider, value, want):
    getattr(fake, slider).value = value
    assert kept_tokens(fake) == want
    assert fake.result.n_kept == len(want)
    assert f"kept {len(want)} of 4 tokens" in fake.summary.value
    kept_p = sum(p for p, t in zip(PROBS, "abcd") if t in want)
    if slider != "temperature":
        assert fake.result.kept_mass == pytest.approx(kept_p)
        want_final = [p / kept_p if k else 0.0 for p, k in zip(fake.result.model_probs, fake.result.kept)]
        assert fake.result.final_probs == pytest.approx(want_final)
    assert fake.chart.value.count('class="kept"') == len(want)
    assert fake.chart.value.count('class="removed"') == 4 - len(want)


def test_temperature_reshapes_the_shown_distribution(fake):
    fake.temperature.value = 0.5                        # p ** 2, renormalised
    sq = [p * p for p in (0.4, 0.3, 0.2, 0.1)]
    assert fake.result.scaled_probs == pytest.approx([x / sum(sq) for x in sq])
    fake.temperature.value = 2.0                        # sqrt(p), renormalised
    rt = [math.sqrt(p) for p in (0.4, 0.3, 0.2, 0.1)]
    assert fake.result.scaled_probs == pytest.approx([x / sum(rt) for x in rt])
    fake.temperature.value = 0.0
    assert fake.result.scaled_probs == pytest.approx([1.0, 0.0, 0.0, 0.0])
    assert "(greedy)" in fake.summary.value


def test_filters_combine_in_order(fake):
    fake.top_k.value = 3                                 # b d a
    fake.top_p.value = 0.5                               # of the original distribution: b d
    assert kept_tokens(fake) == {"b", "d"}
    fake.min_p.value = 0.8                               # p >= 0.32: b
    assert kept_tokens(fake) == {"b"}


def test_repetition_penalty_uses_the_prompt(fake):
    fake.prompt.value = "b"                              # 'b' (id 1) is in the prompt
    fake.repetition_penalty.value = 2.0                  # log 0.4 < 0: multiplied -> 0.4 ** 2 = 0.16
    w = [0.2, 0.16, 0.1, 0.3]
    assert fake.result.tokens == ["d", "a", "b", "c"]
    assert fake.result.scaled_probs == pytest.approx(sorted([x / sum(w) for x in w], reverse=True))
    assert "repetition penalty 2.00" in fake.summary.value


@pytest.fixture(scope="module")
def real(bundled):
    model, tokenizer = bundled
    return SamplingExplorer(model, tokenizer, prompt="ROMEO:\nWhat light", max_new_tokens=8, n_show=10)


@pytest.mark.parametrize("settings", [
    dict(temperature=1.0, top_k=0, top_p=0.9, min_p=0.0), dict(temperature=0.7, top_k=40, top_p=1.0, min_p=0.0),
    dict(temperature=1.3, top_k=0, top_p=1.0, min_p=0.05), dict(temperature=0.5, top_k=100, top_p=0.8, min_p=0.02),
    dict(temperature=1.0, top_k=2048, top_p=1.0, min_p=0.0), dict(temperature=1.0, top_k=0, top_p=0.0, min_p=0.0),
])
def test_kept_set_and_text_match_the_library(real, bundled, settings):
    model, tokenizer = bundled
    for name, value in settings.items():
        getattr(real, name).value = value
    r = real.result
    ids = tokenizer.encode(real.prompt.value, return_tensors="pt")
    with torch.inference_mode():
        logits = model(ids)[0, -1]
    final = process_logits(apply_repetition_penalty(logits, ids[0], real.repetition_penalty.value), **settings)
    want = set(torch.isfinite(final).nonzero().flatten().tolist())
    assert set(r.kept_ids) == want and r.n_kept == len(want)
    assert f"kept {len(want)} of 2048 tokens" in real.summary.value
    probs = torch.softmax(final, -1)
    assert r.final_probs == pytest.approx(probs[r.token_ids].tolist(), abs=1e-5)   # two matmul paths, float rounding
    out = generate(model, ids, max_new_tokens=8, seed=real.seed.value, **settings)
    assert r.continuation == tokenizer.decode(out[0, ids.shape[1]:])
    assert html.escape(r.continuation) in real.text.value


def test_edge_values_on_real_logits(real, bundled):
    model, tokenizer = bundled
    real.top_k.value, real.top_p.value, real.min_p.value = 0, 1.0, 0.0
    real.temperature.value = 1.0
    assert real.result.n_kept == 2048                          # nothing filtered
    real.top_k.value = real.top_k.max                          # k = vocabulary: still everything
    assert real.top_k.max == 2048 and real.result.n_kept == 2048
    real.top_k.value = 0
    real.temperature.value = 0.0                               # greedy: one token, the greedy text
    ids = tokenizer.encode(real.prompt.value, return_tensors="pt")
    greedy = generate(model, ids, max_new_tokens=8, temperature=0)
    assert real.result.n_kept == 1 and real.result.kept[0]
    assert real.result.continuation == tokenizer.decode(greedy[0, ids.shape[1]:])
    real.temperature.value = 1.0
    real.top_p.value = 0.0                                     # top-p 0: the top token only
    assert real.result.n_kept == 1 and real.result.kept_ids == [real.result.token_ids[0]]
    real.top_p.value = 1.0


def test_prompt_outside_the_vocabulary_is_a_clear_error():
    with pytest.raises(ValueError, match="vocabulary"):
        explore_sampling(FakeModel(), FakeTokenizer(), "az", max_new_tokens=0)    # 'z' is id 25 >= 4
