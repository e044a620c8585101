"""metrics.text: BLEU, ROUGE-L and distinct-n by hand, and against sacrebleu and rouge-score."""
import math
import random

import pytest

from nanoinfer_lib.metrics import (bleu_stats, brevity_penalty, corpus_bleu, distinct_n, lcs_table, load_eval_set,
                                   rouge_l, sentence_bleu, words)

HYP, REF = "the cat sat on the mat", "the cat is on the mat"


def _eval_set_pairs():
    """Real lines with punctuation and apostrophes: each reference against its neighbour's, and against
    itself with its first half dropped."""
    refs = [ex["reference"] for ex in load_eval_set()]
    half = [" ".join(r.split()[len(r.split()) // 2:]) for r in refs]
    return refs[1:] + half, refs[:-1] + refs


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


def test_words_rule():
    assert words("Ne'er look, Caesar! 'Em to-day--so") == [
        "ne'er", "look", ",", "caesar", "!", "'", "em", "to", "-", "day", "-", "-", "so"]
    assert words("") == [] and words("  \n ") == []


def test_words_is_idempotent_on_joined_output():
    """Joining the words with spaces and splitting again gives the same words (what makes the
    comparison with sacrebleu's tokenize='none' exact)."""
    for ex in load_eval_set()[:50]:
        w = words(ex["prompt"] + ex["reference"])
        assert words(" ".join(w)) == w


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
