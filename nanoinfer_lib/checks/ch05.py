"""Exercises of chapter 05 (evaluation). Each check prints a friendly verdict and returns a bool."""
from __future__ import annotations

import math
from collections import Counter

from ..metrics import bleu_stats, brevity_penalty, corpus_bleu, lcs_table, ngrams, words
from ._common import Verdict, call_learner, number_answer, require_callable, self_check


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


def _is_subsequence(sub, seq) -> bool:
    it = iter(seq)
    return all(any(w == x for x in it) for w in sub)        # each word found after the previous one


@self_check
def check_lcs(fn) -> Verdict:
    """Exercise (chapter 05): ``fn(a, b) -> list``, one longest common subsequence of two word lists
    (the words ROUGE-L matches), found by walking back through the LCS table."""
    require_callable(fn, "fn")
    cases = [([], ["a"]), (["a"], ["a"]), (["a", "b"], ["b", "a"]), (list("abcbdab"), list("bdcaba")),
             ("the cat sat on the mat".split(), "the cat is on the mat".split()),
             ("police killed the gunman".split(), "the gunman kill police".split())]
    for a, b in cases:
        want = lcs_table(a, b)[-1][-1]
        ok, got = call_learner(fn, (list(a), list(b)), f"fn({a}, {b})", "return the list of words")
        if not ok:
            return False
        if isinstance(got, int) and not isinstance(got, bool):
            print(f"✗ fn({a}, {b}) returned {got}, a length; return the words themselves (a list): walk back "
                  "from the table's last cell, taking a word where the two match")
            return False
        if not isinstance(got, (list, tuple)):
            print(f"✗ fn({a}, {b}) returned a {type(got).__name__}; return a list of words")
            return False
        got = list(got)
        if len(got) == want and _is_subsequence(got, a) and _is_subsequence(got, b):
            continue
        if len(got) == want and _is_subsequence(got[::-1], a) and _is_subsequence(got[::-1], b):
            hint = "the words are in reverse order: walking back collects them from the end, so reverse the list"
        elif not (_is_subsequence(got, a) and _is_subsequence(got, b)):
            hint = "it is not a subsequence of both lists (same order in each, gaps allowed)"
        else:
            hint = (f"a longer common subsequence exists ({want} words): a subsequence may skip words, a "
                    "substring may not" if len(got) < want else f"the longest has {want} words")
        print(f"✗ fn({a}, {b}) = {got}: {hint}")
        return False
    print(f"✓ all {len(cases)} cases right: each answer is common to both lists and as long as the table says")
    return True


def unigram_perplexity(train_ids, test_ids, vocab_size: int) -> float:
    """Perplexity on ``test_ids`` of a model that knows only token frequencies: p(t) = (count of t in
    ``train_ids`` + 1) / (len(train_ids) + vocab_size), add-one (Laplace) smoothing."""
    counts = Counter(train_ids)
    total = len(train_ids) + vocab_size
    return math.exp(-sum(math.log((counts[t] + 1) / total) for t in test_ids) / len(test_ids))


@self_check
def check_unigram_perplexity(fn) -> Verdict:
    """Exercise (chapter 05): ``fn(train_ids, test_ids, vocab_size) -> float``, the perplexity on
    ``test_ids`` of a unigram model counted on ``train_ids`` with add-one smoothing (within 1e-6)."""
    require_callable(fn, "fn")
    cases = [([0, 0, 1], [0, 1], 3), ([0, 1, 1, 1, 2], [1, 1, 3, 0], 5), ([4, 4, 4, 4], [2, 4], 6)]
    for train, test, V in cases:
        want = unigram_perplexity(train, test, V)
        ok, got = call_learner(fn, (list(train), list(test), V), f"fn({train}, {test}, {V})", "return the perplexity",
                               " (a test token never seen in training gets count 0: add one to every count)")
        if not ok:
            return False
        if isinstance(got, bool) or not isinstance(got, (int, float)) and not hasattr(got, "item"):
            print(f"✗ fn({train}, {test}, {V}) returned a {type(got).__name__}; return a number")
            return False
        got = float(got)
        if math.isclose(got, want, rel_tol=1e-6):
            continue
        counts = Counter(train)
        nll = [-math.log((counts[t] + 1) / (len(train) + V)) for t in test]
        slips = {math.log(want): "that is the mean NLL (the loss); perplexity is exp of it",
                 2 ** (sum(nll) / len(nll)):
                     "perplexity is exp(mean NLL in nats), not 2 ** (mean NLL in nats)",
                 math.exp(-sum(math.log((counts[t] + 1) / len(train)) for t in test) / len(test)):
                     "with one added to every count, the total grows by vocab_size: divide by len(train_ids) + vocab_size",
                 unigram_perplexity(train, train, V): "score the test tokens, not the training ones"}
        if all(counts[t] for t in test):                              # no smoothing is finite here
            slips[math.exp(-sum(math.log(counts[t] / len(train)) for t in test) / len(test))] = \
                "add one to every count (seen tokens too) and vocab_size to the total"
        hint = next((h for v, h in slips.items() if math.isfinite(got) and math.isclose(got, v, rel_tol=1e-6)),
                    "p(t) = (count of t in train_ids + 1) / (len(train_ids) + vocab_size); perplexity = "
                    "exp(mean of -log p over the test tokens)")
        if not math.isfinite(got) or got == 0:
            hint = "a test token never seen in training got probability 0: add one to every count"
        print(f"✗ fn({train}, {test}, {V}) = {got:.6g}, expected {want:.6g}; hint: {hint}")
        return False
    print(f"✓ right on {len(cases)} cases, unseen test tokens included "
          f"(e.g. train {cases[1][0]}, test {cases[1][1]}, V = {cases[1][2]}: {unigram_perplexity(*cases[1]):.4f})")
    return True
