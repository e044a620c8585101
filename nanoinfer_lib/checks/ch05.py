"""Exercises of chapter 05 (evaluation). Each check prints a friendly verdict and returns a bool."""
from __future__ import annotations

import math

from ..metrics import bleu_stats, brevity_penalty, corpus_bleu, lcs_table, ngrams, words
from ._common import Verdict, learner_int, number_answer, require_callable, self_check


@self_check
def check_bleu_by_hand(answer, hypothesis: str, reference: str, max_n: int = 2) -> Verdict:
    """Exercise (chapter 05): your BLEU-``max_n`` of one pair, worked out by hand (within 0.001).
    Hints recognise the usual slips: no clipping, no brevity penalty, an arithmetic mean."""
    value = number_answer(answer, "BLEU (a number between 0 and 1)")
    if value is None:
        return False
    want = corpus_bleu([hypothesis], [reference], max_n=max_n)
    if abs(value - want) <= 1e-3:
        print(f"✓ BLEU-{max_n} = {want:.4f}: right")
        return True
    s = bleu_stats(hypothesis, reference, max_n)
    bp = brevity_penalty(s["hyp_len"], s["ref_len"])
    precisions = [m / t if t else 0.0 for m, t in zip(s["matches"], s["totals"])]
    unclipped = [sum(c for g, c in ngrams(words(hypothesis), n).items() if g in ngrams(words(reference), n)) / t
                 if t else 0.0 for n, t in zip(range(1, max_n + 1), s["totals"])]
    geo = lambda ps: math.exp(sum(map(math.log, ps)) / len(ps)) if all(ps) else 0.0
    slips = {
        "you left out the brevity penalty": geo(precisions),
        "clip each n-gram's count at its count in the reference": bp * geo(unclipped),
        "BLEU takes the geometric mean of the precisions, not the arithmetic mean": bp * sum(precisions) / max_n,
        "that is on sacrebleu's 0-100 scale; this course uses 0-1": want * 100,
    }
    hint = next((h for h, v in slips.items() if abs(value - v) <= 1e-3), "count the clipped n-gram matches "
                "for each n, divide by the hypothesis's n-grams, take the geometric mean, times the brevity penalty")
    print(f"✗ {value:.4f} is not right; hint: {hint}")
    return False


@self_check
def check_uniform_perplexity(answer, vocab_size: int) -> Verdict:
    """Exercise (chapter 05): the perplexity of a model that gives every one of ``vocab_size`` tokens
    the same probability."""
    value = number_answer(answer, "perplexity")
    if value is None:
        return False
    if abs(value - vocab_size) <= 1e-4 * vocab_size:
        print(f"✓ {value:g}: a uniform model is as unsure as a fair choice among all {vocab_size} tokens")
        return True
    hints = {math.log(vocab_size): "that is the loss in nats, log(V); perplexity is exp(loss)",
             math.log2(vocab_size): "that is the loss in bits, log2(V); perplexity is 2 ** bits",
             1 / vocab_size: "that is each token's probability; perplexity is 1 / (geometric mean probability)"}
    hint = next((h for v, h in hints.items() if abs(value - v) <= 1e-3 * max(v, 1e-9)),
                "every token has probability 1/V, so the mean NLL is log(V)")
    print(f"✗ {value:g} is not right; hint: {hint}")
    return False


@self_check
def check_lcs(fn) -> Verdict:
    """Exercise (chapter 05): ``fn(a, b) -> int``, the length of the longest common subsequence of two
    word lists (the heart of ROUGE-L)."""
    require_callable(fn, "fn")
    cases = [([], ["a"]), (["a"], ["a"]), (["a", "b"], ["b", "a"]), (list("abcbdab"), list("bdcaba")),
             ("the cat sat on the mat".split(), "the cat is on the mat".split()),
             ("police killed the gunman".split(), "the gunman kill police".split())]
    for a, b in cases:
        want = lcs_table(a, b)[-1][-1]
        ok, got = learner_int(fn, a, b)
        if not ok:
            return False
        if got != want:
            hint = " (a subsequence keeps order but may skip words; a substring may not)" if got < want else ""
            print(f"✗ fn({a}, {b}) = {got}, expected {want}{hint}")
            return False
    print(f"✓ all {len(cases)} cases right")
    return True
