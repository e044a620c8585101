"""speculative: greedy output equal to generate's, the accept/resample rule exact in distribution
(with the power to catch a wrong rule), PromptLookup, the counts, and bad input."""
import itertools

import pytest
import torch
import torch.nn.functional as F

from _helpers import tiny_config
from nanoinfer_lib import GPT, generate, load_model
from nanoinfer_lib.metrics import load_eval_set
from nanoinfer_lib.sampling import SamplingSettings
from nanoinfer_lib.speculative import PromptLookup, SpeculativeOutput, accept_drafts, speculative_generate


def random_gpt(seed: int, std: float | None = None, **kw) -> GPT:
    """A random GPT of ``tiny_config(**kw)``; ``std`` rescales every weight, for peaked distributions."""
    torch.manual_seed(seed)
    model = GPT(tiny_config(**kw)).eval()
    if std is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, std)
    return model


@pytest.fixture(scope="module")
def draft_model():
    return load_model(name="draft")[0]


@pytest.fixture(scope="module")
def heldout(bundled):
    _, tok = bundled
    return [torch.tensor([tok.encode(item["prompt"])]) for item in load_eval_set()[:3]]


# ---------------------------------------------------------------- greedy: the same tokens as generate

@pytest.mark.parametrize("drafter", ["bundled draft", "prompt lookup", "random draft", "the model itself"])
def test_greedy_equals_generate_on_heldout_prompts(bundled, draft_model, heldout, drafter):
    model, _ = bundled
    draft = {"bundled draft": draft_model, "prompt lookup": PromptLookup(),
             "random draft": random_gpt(1, n_layer=1, n_embd=32, n_head=1, vocab_size=model.config.vocab_size,
                                        block_size=model.config.block_size),
             "the model itself": model}[drafter]
    for ids in heldout:
        want = generate(model, ids, max_new_tokens=40, temperature=0)
        for k in (1, 3, 6):
            out = speculative_generate(model, ids, draft, max_new_tokens=40, num_draft_tokens=k, temperature=0)
            assert torch.equal(out.sequences, want), (drafter, k)
            if drafter == "the model itself":
                assert out.acceptance_rate == 1.0 and out.proposed > 0


def test_alpha_counts_only_the_drafts_that_were_checked(bundled, draft_model, heldout):
    model, _ = bundled
    out = speculative_generate(model, heldout[0], draft_model, 40, 4, temperature=0)
    assert 0 < out.rejected <= out.rounds and out.accepted + out.rejected <= out.proposed
    assert out.alpha == out.accepted / (out.accepted + out.rejected) > out.acceptance_rate


def test_the_bundled_draft_is_accepted_more_often_than_a_random_one(bundled, draft_model, heldout):
    model, _ = bundled
    rand = random_gpt(1, n_layer=1, n_embd=32, n_head=1, vocab_size=model.config.vocab_size,
                      block_size=model.config.block_size)
    rate = lambda d: speculative_generate(model, heldout[0], d, 40, 4, temperature=0).acceptance_rate  # noqa: E731
    assert rate(draft_model) > 0.3 > rate(rand)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_equals_generate_on_tiny_models(seed):
    model, draft = random_gpt(seed, std=0.3), random_gpt(seed + 10, std=0.3, n_layer=1)
    ids = torch.randint(0, 50, (1, 4), generator=torch.Generator().manual_seed(seed))
    want = generate(model, ids, max_new_tokens=12, temperature=0)
    for d, k in itertools.product([draft, PromptLookup(2), model], [1, 2, 5, 20]):
        assert torch.equal(speculative_generate(model, ids, d, 12, k, temperature=0).sequences, want)


def test_stop_tokens_end_the_output_as_generate_does(bundled, heldout):
    model, _ = bundled
    ids = heldout[0]
    free = generate(model, ids, max_new_tokens=40, temperature=0)[0, ids.shape[1]:].tolist()
    stop = free[len(free) // 2]                               # a token the greedy text does emit
    want = generate(model, ids, max_new_tokens=40, temperature=0, stop_tokens=[stop])
    for draft in (PromptLookup(), model):
        out = speculative_generate(model, ids, draft, 40, 4, temperature=0, stop_tokens=[stop])
        assert torch.equal(out.sequences, want) and out.sequences[0, -1] == stop
        assert out.new_tokens == free.index(stop) + 1


def test_counts_add_up(tiny_model):
    ids = torch.tensor([[1, 2, 3]])
    out = speculative_generate(tiny_model, ids, tiny_model, max_new_tokens=10, num_draft_tokens=3, temperature=0)
    assert isinstance(out, SpeculativeOutput) and out.sequences.shape == (1, 13) and out.new_tokens == 10
    assert out.target_calls == out.rounds + 1                      # the prefill + one pass per round
    assert out.rounds == 3 and out.tokens_per_call == 10 / 3       # 4 + 4 + 2 (the last round drafts 1)
    assert out.proposed == 3 + 3 + 1 == out.accepted and out.draft_calls == 7
    assert out.rejected == 0 and out.alpha == 1.0
    one = speculative_generate(tiny_model, [5], PromptLookup(), max_new_tokens=4, temperature=0)
    assert one.target_calls == one.rounds and one.draft_calls == 0  # a one-token prompt needs no prefill
    none = speculative_generate(tiny_model, ids, PromptLookup(), max_new_tokens=0)
    assert torch.equal(none.sequences, ids)
    assert (none.rounds, none.acceptance_rate, none.tokens_per_call) == (0, 0.0, 0.0)


def test_the_context_window_rule(tiny_model):
    ids = torch.arange(1, 11)[None]                                # 10 tokens, block_size 16
    want = generate(tiny_model, ids, max_new_tokens=6, temperature=0)
    assert torch.equal(speculative_generate(tiny_model, ids, PromptLookup(), 6, temperature=0).sequences, want)
    with pytest.raises(ValueError, match="max_new_tokens.*block_size=16"):
        speculative_generate(tiny_model, ids, PromptLookup(), 7, temperature=0)
    short = random_gpt(3, block_size=12)
    with pytest.raises(ValueError, match="max_new_tokens.*draft's block_size=12"):
        speculative_generate(tiny_model, ids, short, 6, temperature=0)


# ---------------------------------------------------------------- PromptLookup

def test_prompt_lookup_copies_what_followed_the_latest_longest_match():
    lookup = PromptLookup(max_ngram=3)
    assert lookup.propose([1, 2, 3, 9, 9, 7, 1, 2, 3], 2) == [9, 9]              # 3-gram match
    assert lookup.propose([5, 2, 3, 8, 1, 2, 3, 6, 0, 2, 3], 3) == [6, 0, 2]     # latest of two 2-gram matches
    assert lookup.propose([4, 1, 2, 3, 7, 7, 2, 3], 2) == [7, 7]                 # 3-gram 7 2 3 absent: the 2-gram
    assert lookup.propose([1, 2, 3, 4], 3) == []                                   # no earlier match
    assert lookup.propose([7, 7, 7], 4) == [7]                                      # a match may run into the tail
    assert PromptLookup(max_ngram=3, min_ngram=2).propose([3, 1, 4, 1], 2) == []   # 1-grams not allowed


def test_prompt_lookup_wins_on_text_that_repeats_its_prompt(bundled, heldout):
    model, _ = bundled
    free = heldout[0]
    echoed = generate(model, free, max_new_tokens=32, temperature=0)     # its own greedy text, which loops
    runs = {name: speculative_generate(model, ids, PromptLookup(), 40, 4, temperature=0)
            for name, ids in (("free", free), ("echoed", echoed))}
    assert torch.equal(runs["echoed"].sequences, generate(model, echoed, max_new_tokens=40, temperature=0))
    assert runs["echoed"].tokens_per_call > runs["free"].tokens_per_call > 1
    assert runs["echoed"].acceptance_rate > 0.5


@pytest.mark.parametrize("kw, err, match", [
    (dict(max_ngram=0), ValueError, "max_ngram"), (dict(max_ngram=2.5), TypeError, "max_ngram"),
    (dict(max_ngram=2, min_ngram=3), ValueError, "min_ngram"), (dict(min_ngram=0), ValueError, "min_ngram"),
])
def test_prompt_lookup_bad_arguments(kw, err, match):
    with pytest.raises(err, match=match):
        PromptLookup(**kw)


# ---------------------------------------------------------------- sampling: exact in distribution

def chi2_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """p-value of Pearson's chi-square test of ``counts`` against ``probs`` (cells of probability 0
    must stay empty: a count there gives 0)."""
    n = counts.sum()
    support = probs > 0
    if counts[~support].sum() > 0:
        return 0.0
    expected = n * probs[support]
    stat = ((counts[support] - expected) ** 2 / expected).sum()
    return float(torch.special.gammaincc((support.sum() - 1).double() / 2, stat.double() / 2))


def rule_pvalues(rule, p: torch.Tensor, q: torch.Tensor | None, n: int = 20000, seed: int = 0) -> list[float]:
    """Run one round of ``rule`` ``n`` times, drafts drawn from ``q`` (point masses at argmax q when
    q is None); return, for each position j, the p-value of "the j-th emitted token, among rounds
    that kept drafts 1..j-1, is distributed as p[j]". Exactness means every position passes."""
    k, V = p.shape[0] - 1, p.shape[1]
    g = torch.Generator().manual_seed(seed)
    counts = torch.zeros(k + 1, V)
    for _ in range(n):
        drafts = [1] * k if q is None else torch.multinomial(q, 1, generator=g)[:, 0].tolist()
        kept, token = rule(p, drafts, q, g)
        for j, t in enumerate(drafts[:kept] + [token]):
            counts[j, t] += 1
    return [chi2_pvalue(counts[j], p[j]) for j in range(k + 1)]


P = torch.tensor([[0.5, 0.1, 0.3, 0.1, 0.0], [0.1, 0.2, 0.0, 0.3, 0.4], [0.25, 0.25, 0.2, 0.2, 0.1]])
Q = torch.tensor([[0.1, 0.5, 0.1, 0.1, 0.2], [0.3, 0.3, 0.2, 0.1, 0.1]])


def always_accept(p, drafts, q, g):                 # the draft's distribution, not the model's
    return len(drafts), int(torch.multinomial(p[-1], 1, generator=g))


def resample_from_p(p, drafts, q, g):               # a rejection redrawn from p instead of the residual
    n, _ = accept_drafts(p, drafts, q, g)
    return n, int(torch.multinomial(p[min(n, len(drafts))], 1, generator=g))


def bonus_from_q(p, drafts, q, g):                  # the extra token from the draft, not the model
    n, t = accept_drafts(p, drafts, q, g)
    return (n, int(torch.multinomial(q[-1], 1, generator=g))) if n == len(drafts) else (n, t)


@pytest.mark.parametrize("q", [Q, None], ids=["draft model", "certain drafts"])
def test_accept_drafts_keeps_every_position_distributed_as_the_model(q):
    assert min(rule_pvalues(accept_drafts, P, q)) > 1e-3


@pytest.mark.parametrize("wrong", [always_accept, resample_from_p, bonus_from_q])
def test_the_distribution_test_catches_a_wrong_rule(wrong):
    assert min(rule_pvalues(wrong, P, Q)) < 1e-6


@pytest.mark.parametrize("rule", ["exact", "wrong"])
def test_sampled_continuations_follow_the_models_distribution(rule, monkeypatch):
    """Two sampled tokens from a tiny-vocabulary model with processors on, over 2000 seeds, against
    the exact distribution of the model alone, enumerated; with a wrong rule plugged in, the same
    test fails."""
    import nanoinfer_lib.speculative as spec
    if rule == "wrong":
        monkeypatch.setattr(spec, "accept_drafts", resample_from_p)
    V = 6
    model, draft = random_gpt(0, std=0.2, vocab_size=V), random_gpt(7, std=0.2, vocab_size=V, n_layer=1)
    settings = SamplingSettings(temperature=0.8, top_k=4, top_p=0.95)
    ids = torch.tensor([[2, 5]])
    probs = lambda seq: F.softmax(settings.process(model(torch.tensor([seq]))[0, -1]), -1)  # noqa: E731
    with torch.inference_mode():
        first = probs([2, 5])
        exact = torch.stack([first[a] * probs([2, 5, a]) for a in range(V)]).flatten()   # (V * V,)
    assert (exact > 0.02).sum() >= 6                                   # several outcomes, not one
    counts = torch.zeros(V * V)
    for seed in range(2000):
        out = speculative_generate(model, ids, draft, max_new_tokens=2, num_draft_tokens=2, temperature=0.8,
                                   top_k=4, top_p=0.95, seed=seed)
        a, b = out.sequences[0, 2:].tolist()
        counts[a * V + b] += 1
    pvalue = chi2_pvalue(counts, exact)
    assert pvalue > 1e-3 if rule == "exact" else pvalue < 1e-6


def test_sampling_is_reproducible_and_self_drafts_are_always_kept(tiny_model):
    draft = random_gpt(5, n_layer=1)
    run = lambda seed, d=draft: speculative_generate(tiny_model, [1, 2], d, 12, 3, temperature=1.0,  # noqa: E731
                                                     top_p=0.9, seed=seed)
    assert torch.equal(run(0).sequences, run(0).sequences)
    assert not all(torch.equal(run(0).sequences, run(s).sequences) for s in (1, 2, 3))
    assert run(0, tiny_model).acceptance_rate == 1.0               # q == p: min(1, p/q) = 1


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("kw, err, match", [
    (dict(input_ids=torch.ones(2, 3, dtype=torch.long)), ValueError, "input_ids"),
    (dict(input_ids=[]), ValueError, "input_ids"),
    (dict(input_ids=[[60]]), ValueError, r"\[0, 50\)"),
    (dict(draft=random_gpt(0, vocab_size=40)), ValueError, "draft"),
    (dict(draft="gpt2"), TypeError, "draft"),
    (dict(draft=None), TypeError, "draft"),
    (dict(num_draft_tokens=0), ValueError, "num_draft_tokens"),
    (dict(num_draft_tokens=2.5), TypeError, "num_draft_tokens"),
    (dict(max_new_tokens=-1), ValueError, "max_new_tokens"),
    (dict(temperature=-1.0), ValueError, "temperature"),
    (dict(temperature=float("nan")), ValueError, "temperature"),
    (dict(top_k=-1), ValueError, "top_k"),
    (dict(top_p=1.5), ValueError, "top_p"),
    (dict(min_p=2.0), ValueError, "min_p"),
    (dict(stop_tokens=[99]), ValueError, "stop_tokens"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(model="gpt2"), TypeError, "model"),
])
def test_bad_input_names_the_argument(tiny_model, kw, err, match):
    args = dict(model=tiny_model, input_ids=[[1, 2]], draft=PromptLookup(), max_new_tokens=4, num_draft_tokens=2)
    args.update(kw)
    with pytest.raises(err, match=match):
        speculative_generate(**args)
