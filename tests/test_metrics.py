"""Metrics: hand-computed values, agreement with sacrebleu / rouge-score, and perplexity checked
against direct computations (single forward, nanoGPT-style disjoint windows, one window per token)."""
import json
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nanoinfer_lib import GPT, generate
from nanoinfer_lib.metrics import (ASSETS_EVAL_SET, bits_per_byte, bleu_stats, brevity_penalty, compute_metrics,
                                   continuation_nll, corpus_bleu, distinct_n, lcs_table, load_eval_set, perplexity,
                                   rouge_l, sentence_bleu, token_nll, words)
from _helpers import tiny_config

HYP, REF = "the cat sat on the mat", "the cat is on the mat"


# ---- words ----------------------------------------------------------------------------------------

def test_words_rule():
    assert words("Ne'er look, Caesar! 'Em to-day--so") == [
        "ne'er", "look", ",", "caesar", "!", "'", "em", "to", "-", "day", "-", "-", "so"]
    assert words("") == [] and words("  \n ") == []


def test_words_is_idempotent_on_joined_output():
    """Joining the words with spaces and splitting again gives the same words (what makes the
    comparison with sacrebleu's tokenize='none' exact)."""
    for ex in json.loads(ASSETS_EVAL_SET.read_text())[:50]:
        w = words(ex["prompt"] + ex["reference"])
        assert words(" ".join(w)) == w


# ---- BLEU by hand ---------------------------------------------------------------------------------

def test_bleu_stats_by_hand():
    s = bleu_stats(HYP, REF)
    # 1-grams: the x2 (ref has 2), cat, on, mat match, sat does not -> 5/6; 2-grams: the cat, on the,
    # the mat -> 3/5; 3-grams: on the mat -> 1/4; 4-grams: none of 3
    assert s == {"matches": [5, 3, 1, 0], "totals": [6, 5, 4, 3], "hyp_len": 6, "ref_len": 6}


def test_corpus_bleu_no_smoothing_is_zero_without_4gram_match():
    assert corpus_bleu([HYP], [REF]) == 0.0
    assert corpus_bleu([HYP], [REF], max_n=3) == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3))


def test_sentence_bleu_exp_smoothing_by_hand():
    # the first order without a match gets precision 1 / (2 * total) = 1/6
    assert sentence_bleu(HYP, REF) == pytest.approx((5 / 6 * 3 / 5 * 1 / 4 * 1 / 6) ** 0.25)
    assert sentence_bleu(HYP, REF) == pytest.approx((1 / 48) ** 0.25)
    # two orders without a match: 1/(2*t3) and 1/(4*t4)
    s = bleu_stats("the cat on a mat", REF)
    assert s["matches"][2:] == [0, 0]
    p = [s["matches"][0] / 5, s["matches"][1] / 4, 1 / (2 * 3), 1 / (4 * 2)]
    assert sentence_bleu("the cat on a mat", REF) == pytest.approx(
        brevity_penalty(5, 6) * math.exp(sum(map(math.log, p)) / 4))


def test_bleu_clipping():
    # 'the' occurs 7 times in the hypothesis but only 2 times in the reference
    assert corpus_bleu(["the the the the the the the"], [REF], max_n=1) == pytest.approx(2 / 7)


def test_brevity_penalty():
    assert corpus_bleu(["the cat"], [REF], max_n=2) == pytest.approx(math.exp(1 - 6 / 2))
    assert brevity_penalty(6, 6) == 1.0 and brevity_penalty(9, 6) == 1.0 and brevity_penalty(0, 6) == 0.0
    assert brevity_penalty(3, 6) == pytest.approx(math.exp(-1))


def test_bleu_identical_zero_overlap_empty_short():
    assert corpus_bleu([REF], [REF]) == pytest.approx(1.0)
    assert sentence_bleu(REF, REF) == pytest.approx(1.0)
    assert corpus_bleu(["dogs bark loudly tonight"], [REF]) == 0.0
    assert sentence_bleu("dogs bark loudly tonight", REF) == 0.0
    assert corpus_bleu([""], [REF]) == 0.0 and sentence_bleu("", REF) == 0.0
    assert corpus_bleu([REF], [""]) == 0.0 and sentence_bleu(REF, "") == 0.0
    # a 2-word hypothesis has no 3- or 4-grams: sentence BLEU uses the orders it has (effective order)
    assert sentence_bleu("the cat", "the cat") == pytest.approx(1.0)
    assert sentence_bleu("the cat", REF) == pytest.approx(math.exp(1 - 6 / 2))
    assert corpus_bleu(["the cat"], ["the cat"]) == 0.0      # no 3-grams at all: precision 0, no smoothing


def test_corpus_bleu_pools_counts_not_scores():
    hyps, refs = [HYP, REF], [REF, REF]
    # summed over both pairs: 1-grams (5+6)/12, 2-grams (3+5)/10, 3-grams (1+4)/8, 4-grams (0+3)/6
    expected = ((11 / 12) * (8 / 10) * (5 / 8) * (3 / 6)) ** 0.25
    assert corpus_bleu(hyps, refs) == pytest.approx(expected)
    assert corpus_bleu(hyps, refs) != pytest.approx((sentence_bleu(*hyps[:1], REF) + 1.0) / 2)


def test_bleu_errors():
    with pytest.raises(ValueError, match="same length"):
        corpus_bleu(["a"], ["a", "b"])
    with pytest.raises(TypeError, match="hypotheses must be a list"):
        corpus_bleu("a b", ["a b"])
    with pytest.raises(TypeError, match=r"references\[1\]"):
        corpus_bleu(["a", "b"], ["a", 3])
    with pytest.raises(ValueError, match="max_n"):
        corpus_bleu(["a"], ["a"], max_n=0)


# ---- ROUGE-L and distinct-n by hand ---------------------------------------------------------------

def test_lcs_table_small():
    t = lcs_table("abcbdab", "bdcaba")        # the textbook example (CLRS): LCS length 4 ("bcba")
    assert t[-1][-1] == 4 and len(t) == 8 and len(t[0]) == 7


def test_rouge_l_by_hand():
    r = rouge_l(HYP, REF)          # LCS: the cat on the mat (5 words)
    assert r == pytest.approx({"precision": 5 / 6, "recall": 5 / 6, "fmeasure": 5 / 6})
    # Lin (2004): "police killed the gunman" vs reference "police kill the gunman": LCS 3 of 4
    assert rouge_l("police killed the gunman", "police kill the gunman")["fmeasure"] == pytest.approx(0.75)
    # order matters: "the gunman kill police" shares only "the gunman" in order
    assert rouge_l("the gunman kill police", "police killed the gunman")["fmeasure"] == pytest.approx(0.5)
    r = rouge_l("the cat", REF)    # short hypothesis: precise but low recall
    assert r["precision"] == 1.0 and r["recall"] == pytest.approx(2 / 6)
    assert r["fmeasure"] == pytest.approx(2 * (1 * 1 / 3) / (1 + 1 / 3))


def test_rouge_l_identical_zero_empty():
    assert rouge_l(REF, REF) == {"precision": 1.0, "recall": 1.0, "fmeasure": 1.0}
    assert rouge_l("dogs bark", REF)["fmeasure"] == 0.0
    assert rouge_l("", REF) == {"precision": 0.0, "recall": 0.0, "fmeasure": 0.0}
    assert rouge_l(REF, "") == {"precision": 0.0, "recall": 0.0, "fmeasure": 0.0}


def test_distinct_n_by_hand():
    assert distinct_n(["a b a b"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)           # ab, ba, ab
    assert distinct_n(["a b", "a b"], 2) == pytest.approx(1 / 2)        # across texts too
    assert distinct_n(["a b c", "d e"], 2) == 1.0
    assert distinct_n(["", "a"], 2) == 0.0 and distinct_n([], 1) == 0.0


# ---- agreement with the reference packages --------------------------------------------------------

def _generated_pairs(n=300, seed=0):
    """Reference sentences from a small vocabulary and hypotheses made from them by random edits,
    so that every n-gram order has some matches and some misses; a few empty ones too."""
    rng = random.Random(seed)
    vocab = "the a of to and my lord is in thou thee i , . ! ? ' that with be not".split()
    hyps, refs = [], []
    for _ in range(n):
        ref = [rng.choice(vocab) for _ in range(rng.randint(0, 15))]
        hyp = list(ref)
        for _ in range(rng.randint(0, 6)):
            op = rng.random()
            if op < 0.3 and hyp:
                hyp.pop(rng.randrange(len(hyp)))
            elif op < 0.6:
                hyp.insert(rng.randint(0, len(hyp)), rng.choice(vocab))
            elif hyp:
                hyp[rng.randrange(len(hyp))] = rng.choice(vocab)
        hyps.append(" ".join(hyp))
        refs.append(" ".join(ref))
    return hyps, refs


def _eval_set_pairs():
    """Real lines with punctuation and apostrophes: each reference against its neighbour's, and against
    itself with its first half dropped."""
    refs = [ex["reference"] for ex in load_eval_set()]
    half = [" ".join(r.split()[len(r.split()) // 2:]) for r in refs]
    return refs[1:] + half, refs[:-1] + refs


@pytest.mark.parametrize("pairs", [_generated_pairs, _eval_set_pairs])
def test_bleu_matches_sacrebleu(pairs):
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps, refs = pairs()
    tok = [" ".join(words(h)) for h in hyps], [" ".join(words(r)) for r in refs]
    corpus = sacrebleu.metrics.BLEU(tokenize="none", smooth_method="none", force=True)
    ours = corpus_bleu(hyps, refs)
    theirs = corpus.corpus_score(tok[0], [tok[1]]).score / 100
    assert ours == pytest.approx(theirs, abs=1e-12)
    sent = sacrebleu.metrics.BLEU(tokenize="none", effective_order=True, force=True)   # smooth 'exp'
    for h, r, th, tr in zip(hyps, refs, *tok):
        assert sentence_bleu(h, r) == pytest.approx(sent.sentence_score(th, [tr]).score / 100, abs=1e-12), (h, r)


def test_bleu_is_nonzero_on_generated_pairs():
    """The comparison above is not only between zeros."""
    hyps, refs = _generated_pairs()
    assert 0.2 < corpus_bleu(hyps, refs) < 0.9
    assert sum(sentence_bleu(h, r) > 0 for h, r in zip(hyps, refs)) > len(hyps) // 2


@pytest.mark.parametrize("pairs", [_generated_pairs, _eval_set_pairs])
def test_rouge_l_matches_rouge_score(pairs):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

    class Words:                      # rouge-score's own tokenizer drops punctuation: give it ours
        def tokenize(self, text):
            return words(text)

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=Words())
    hyps, refs = pairs()
    nonzero = 0
    for h, r in zip(hyps, refs):
        s = scorer.score(r, h)["rougeL"]          # rouge-score takes (target, prediction)
        ours = rouge_l(h, r)
        assert (ours["precision"], ours["recall"], ours["fmeasure"]) == pytest.approx(
            (s.precision, s.recall, s.fmeasure), abs=1e-12)
        nonzero += s.fmeasure > 0
    assert nonzero > len(hyps) // 2


# ---- perplexity -----------------------------------------------------------------------------------

def _uniform_model(**kw) -> GPT:
    """Zero embeddings (tied to lm_head) -> every logit is 0 -> probability 1/V for every token."""
    torch.manual_seed(0)
    model = GPT(tiny_config(**kw)).eval()
    with torch.no_grad():
        model.transformer.wte.weight.zero_()
    return model


@pytest.mark.parametrize("stride", [None, 1, 5, 16])
def test_uniform_model_perplexity_is_vocab_size(stride):
    model = _uniform_model()
    ids = torch.randint(0, 50, (40,), generator=torch.Generator().manual_seed(0))
    assert perplexity(model, ids, stride=stride) == pytest.approx(50.0, rel=1e-5)


def test_perplexity_matches_one_forward_within_context(tiny_model):
    ids = torch.randint(0, 50, (1, 16), generator=torch.Generator().manual_seed(1))
    loss = F.cross_entropy(tiny_model(ids)[0, :-1], ids[0, 1:])
    assert perplexity(tiny_model, ids) == pytest.approx(math.exp(loss.item()), rel=1e-5)
    assert perplexity(tiny_model, ids[0].tolist()) == pytest.approx(math.exp(loss.item()), rel=1e-5)


def test_stride_block_size_equals_disjoint_windows(tiny_model):
    """stride=block_size scores every token once in disjoint windows, like nanoGPT's evaluation."""
    from nanoinfer_lib.train import evaluate
    data = np.random.default_rng(2).integers(0, 50, size=16 * 4 + 1).astype(np.uint16)
    expected = evaluate(tiny_model, data, block_size=16)
    tiny_model.eval()                                     # evaluate() leaves the model in train mode
    nll = token_nll(tiny_model, torch.from_numpy(data.astype(np.int64)), stride=16)
    assert nll.shape == (64,)
    assert nll.mean().item() == pytest.approx(expected, rel=1e-5)


def test_stride_one_gives_each_token_the_full_window(tiny_model):
    """With stride 1, token p is predicted from the min(p, block_size) tokens before it."""
    ids = torch.randint(0, 50, (40,), generator=torch.Generator().manual_seed(3))
    nll = token_nll(tiny_model, ids, stride=1)
    with torch.no_grad():
        for p in range(1, 40):
            ctx = ids[max(0, p - 16):p]
            expected = F.cross_entropy(tiny_model(ctx[None])[0, -1], ids[p])
            assert nll[p - 1].item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-5)


def test_default_stride_context_bounds(tiny_model):
    """Default stride = block_size // 2: every token after the first window sees 8..16 tokens."""
    ids = torch.randint(0, 50, (45,), generator=torch.Generator().manual_seed(4))
    nll = token_nll(tiny_model, ids)
    full = token_nll(tiny_model, ids, stride=1)
    assert torch.allclose(nll[:16], full[:16], atol=1e-5)          # first window: identical
    assert not torch.allclose(nll, full, atol=1e-4)                # later: less context, other values
    with torch.no_grad():                                          # token 17 is in the window ids[8:24]
        expected = F.cross_entropy(tiny_model(ids[None, 8:17])[0, -1], ids[17])
    assert nll[16].item() == pytest.approx(expected.item(), rel=1e-4)


def test_bits_per_byte_of_uniform_model(bundled):
    _, tokenizer = bundled
    model = _uniform_model(vocab_size=tokenizer.vocab_size, block_size=32)
    text = "Is this a dagger which I see before me,\nThe handle toward my hand?"
    ids = tokenizer.encode(text)
    n_bytes = len(text.encode()) - len(tokenizer.token_bytes(ids[:1])[0])
    expected = (len(ids) - 1) * math.log2(tokenizer.vocab_size) / n_bytes
    assert bits_per_byte(model, tokenizer, text) == pytest.approx(expected, rel=1e-5)
    assert perplexity(model, text, tokenizer=tokenizer) == pytest.approx(tokenizer.vocab_size, rel=1e-5)


def test_perplexity_errors(tiny_model):
    with pytest.raises(ValueError, match="stride"):
        perplexity(tiny_model, [1, 2, 3], stride=0)
    with pytest.raises(ValueError, match="stride"):
        perplexity(tiny_model, [1, 2, 3], stride=17)
    with pytest.raises(TypeError, match="stride"):
        perplexity(tiny_model, [1, 2, 3], stride=2.5)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        perplexity(tiny_model, [1])
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        perplexity(tiny_model, [1, 50])
    with pytest.raises(ValueError, match="one sequence"):
        perplexity(tiny_model, torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="tokenizer"):
        perplexity(tiny_model, "some text")
    with pytest.raises(TypeError, match="input_ids"):
        perplexity(tiny_model, torch.zeros(5))


def test_continuation_nll_batched_equals_single(tiny_model):
    g = torch.Generator().manual_seed(5)
    ctxs = [torch.randint(0, 50, (n,), generator=g).tolist() for n in (3, 9, 1, 14)]
    conts = [torch.randint(0, 50, (n,), generator=g).tolist() for n in (4, 2, 6, 5)]
    batched = continuation_nll(tiny_model, ctxs, conts, batch_size=3)
    for c, x, b in zip(ctxs, conts, batched):
        ids = torch.tensor((c + x)[-16:])
        single = token_nll(tiny_model, ids)[-len(x):]
        assert torch.allclose(b, single, atol=1e-5)


# ---- compute_metrics ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_eval():
    return load_eval_set()[:5]


def test_compute_metrics_agrees_with_its_parts(bundled, small_eval):
    model, tokenizer = bundled
    r = compute_metrics(model, tokenizer, small_eval, max_new_tokens=8, batch_size=2, return_hypotheses=True)
    assert r["n_examples"] == 5 and len(r["hypotheses"]) == 5
    refs = [ex["reference"] for ex in small_eval]
    assert r["bleu_4"] == corpus_bleu(r["hypotheses"], refs)
    assert r["rougeL"] == pytest.approx(sum(rouge_l(h, x)["fmeasure"] for h, x in zip(r["hypotheses"], refs)) / 5)
    assert r["distinct_2"] == distinct_n(r["hypotheses"], 2)
    # greedy continuations equal generating each prompt alone, cut at the first newline
    for ex, hyp in zip(small_eval, r["hypotheses"]):
        out = generate(model, tokenizer.encode(ex["prompt"], return_tensors="pt"), max_new_tokens=8, temperature=0)
        text = tokenizer.decode(out[0, out.shape[1] - 8:]).split("<|endoftext|>")[0]
        assert hyp == text.split("\n")[0].strip()
    # perplexity: all reference tokens pooled, each given its prompt
    nll = torch.cat([token_nll(model, tokenizer.encode(ex["prompt"]) + tokenizer.encode(ex["reference"]))
                     [-len(tokenizer.encode(ex["reference"])):] for ex in small_eval])
    assert r["perplexity"] == pytest.approx(math.exp(nll.mean().item()), rel=1e-4)


def test_compute_metrics_sampling_is_seeded(bundled, small_eval):
    model, tokenizer = bundled
    kw = dict(max_new_tokens=6, temperature=1.0, top_p=0.9, seed=3, return_hypotheses=True)
    a = compute_metrics(model, tokenizer, small_eval, **kw)
    assert a == compute_metrics(model, tokenizer, small_eval, **kw)


def test_compute_metrics_progress_bar(bundled, small_eval, capsys):
    model, tokenizer = bundled
    compute_metrics(model, tokenizer, small_eval[:2], max_new_tokens=2, progress=True)
    assert "generating" in capsys.readouterr().err
    compute_metrics(model, tokenizer, small_eval[:2], max_new_tokens=2)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("bad, err, msg", [
    ("prompt", TypeError, "eval_data must be a list"),
    ({"prompt": "a", "reference": "b"}, TypeError, "eval_data must be a list"),
    ([], ValueError, "eval_data is empty"),
    ([{"prompt": "a", "reference": "b"}, "x"], TypeError, r"eval_data\[1\] must be a dict"),
    ([{"prompt": "a", "reference": "b"}, {"prompt": "a"}], ValueError, r"eval_data\[1\] has no 'reference'"),
    ([{"prompt": 3, "reference": "b"}], TypeError, r"eval_data\[0\]\['prompt'\] must be a str"),
    ([{"prompt": "a", "reference": " "}], ValueError, r"eval_data\[0\]\['reference'\] is empty"),
])
def test_compute_metrics_rejects_malformed_eval_data(bundled, bad, err, msg):
    model, tokenizer = bundled
    with pytest.raises(err, match=msg):
        compute_metrics(model, tokenizer, bad)


def test_compute_metrics_argument_errors(bundled, small_eval):
    model, tokenizer = bundled
    with pytest.raises(ValueError, match="max_new_tokens"):
        compute_metrics(model, tokenizer, small_eval, max_new_tokens=0)
    with pytest.raises(ValueError, match="batch_size"):
        compute_metrics(model, tokenizer, small_eval, batch_size=0)
    with pytest.raises(ValueError, match="temperature"):
        compute_metrics(model, tokenizer, small_eval, temperature=-1)
    with pytest.raises(TypeError, match="model"):
        compute_metrics("gpt2", tokenizer, small_eval)


def test_bundled_eval_set_shape():
    data = load_eval_set()
    assert len(data) == 100
    assert all(ex["prompt"].endswith("\n") and "\n" not in ex["reference"] for ex in data)
