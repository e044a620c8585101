"""Text metrics: BLEU and ROUGE-L (how much generated text overlaps a reference) and distinct-n (how
varied generated text is). No model needed.

Text is split into words by one rule for all of them (``words``): lowercase, then runs of
letters/digits (an apostrophe inside a word keeps it whole: ``deck'd``, ``ne'er``) and each other
non-space character on its own (``,`` ``.`` ``--`` -> ``-`` ``-``). Scores are in [0, 1].
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

from .. import validate

WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def words(text: str) -> list[str]:
    """Lowercased words and punctuation marks: ``"Ne'er look, Caesar!"`` -> ``["ne'er", "look", ",", "caesar", "!"]``."""
    return WORD_RE.findall(validate.text("text", text).lower())


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    """Counts of the n-grams (tuples of n consecutive tokens) of ``tokens``."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))



# ---- BLEU ---------------------------------------------------------------------------------------

def bleu_stats(hypothesis: str, reference: str, max_n: int = 4) -> dict:
    """The counts BLEU is made of, for one pair: ``matches[n-1]`` (clipped: an n-gram counts at most as
    often as it occurs in the reference) and ``totals[n-1]`` (n-grams in the hypothesis), and the two
    lengths in words. Corpus BLEU adds these up over all pairs before dividing."""
    max_n = validate.integer("max_n", max_n, 1)
    hyp, ref = words(hypothesis), words(reference)
    matches, totals = [], []
    for n in range(1, max_n + 1):
        h, r = ngrams(hyp, n), ngrams(ref, n)
        matches.append(sum(min(c, r[g]) for g, c in h.items()))
        totals.append(max(len(hyp) - n + 1, 0))
    return {"matches": matches, "totals": totals, "hyp_len": len(hyp), "ref_len": len(ref)}


def brevity_penalty(hyp_len: int, ref_len: int) -> float:
    """1 when the hypothesis is at least as long as the reference, else ``exp(1 - ref_len / hyp_len)``
    (0 for an empty hypothesis): it stops a system from scoring high precision with a few safe words."""
    if hyp_len >= ref_len:
        return 1.0
    return math.exp(1 - ref_len / hyp_len) if hyp_len > 0 else 0.0


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], max_n: int = 4) -> float:
    """Corpus BLEU-``max_n`` in [0, 1] (Papineni et al., 2002), one reference per hypothesis.

    Clipped n-gram matches and n-gram totals are summed over the corpus; the score is the brevity
    penalty (on the summed lengths) times the geometric mean of the ``max_n`` precisions. No
    smoothing: if some order has no match, the score is 0. Equals ``sacrebleu``'s corpus BLEU / 100
    with ``tokenize="none"`` and ``smooth_method="none"`` on text split by ``words``.
    """
    hypotheses, references = validate.texts("hypotheses", hypotheses), validate.texts("references", references)
    if len(hypotheses) != len(references):
        raise ValueError(f"hypotheses and references must have the same length, got {len(hypotheses)} and {len(references)}")
    max_n = validate.integer("max_n", max_n, 1)
    matches, totals, hyp_len, ref_len = [0] * max_n, [0] * max_n, 0, 0
    for h, r in zip(hypotheses, references):
        s = bleu_stats(h, r, max_n)
        matches = [a + b for a, b in zip(matches, s["matches"])]
        totals = [a + b for a, b in zip(totals, s["totals"])]
        hyp_len, ref_len = hyp_len + s["hyp_len"], ref_len + s["ref_len"]
    if any(m == 0 for m in matches):
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    return brevity_penalty(hyp_len, ref_len) * math.exp(log_p)


def sentence_bleu(hypothesis: str, reference: str, max_n: int = 4) -> float:
    """BLEU-``max_n`` of one sentence, in [0, 1], smoothed so a short or partly matching sentence
    does not score exactly 0.

    Smoothing ("exp", NIST's; method 3 of Chen & Cherry, 2014): the k-th order with no match gets
    precision ``1 / (2**k * total)`` instead of 0. Effective order: orders longer than the hypothesis
    (no n-grams at all) are left out of the mean. No match at all scores 0. Equals ``sacrebleu``'s
    ``sentence_bleu`` / 100 (its defaults) on text split by ``words`` with ``tokenize="none"``.
    """
    validate.text("hypothesis", hypothesis), validate.text("reference", reference)
    s = bleu_stats(hypothesis, reference, max_n)
    if sum(s["matches"]) == 0:
        return 0.0
    log_ps, k = [], 0
    for m, t in zip(s["matches"], s["totals"]):
        if t == 0:               # effective order: the hypothesis is shorter than n
            break
        if m == 0:
            k += 1
            log_ps.append(math.log(1 / (2 ** k * t)))
        else:
            log_ps.append(math.log(m / t))
    return brevity_penalty(s["hyp_len"], s["ref_len"]) * math.exp(sum(log_ps) / len(log_ps))


# ---- ROUGE-L and distinct-n ---------------------------------------------------------------------

def lcs_table(a: Sequence[str], b: Sequence[str]) -> list[list[int]]:
    """Dynamic-programming table: ``table[i][j]`` = length of the longest common subsequence of
    ``a[:i]`` and ``b[:j]``; ``table[-1][-1]`` is the LCS of the whole sequences."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1][j], table[i][j - 1])
    return table


def rouge_l(hypothesis: str, reference: str) -> dict:
    """ROUGE-L (Lin, 2004) from the longest common subsequence (LCS) of the two word lists:
    precision = LCS / hypothesis words, recall = LCS / reference words, fmeasure = their harmonic
    mean (all 0 when either text has no words). Equals ``rouge-score``'s ``rougeL`` with ``words`` as
    its tokenizer."""
    validate.text("hypothesis", hypothesis), validate.text("reference", reference)
    hyp, ref = words(hypothesis), words(reference)
    if not hyp or not ref:
        return {"precision": 0.0, "recall": 0.0, "fmeasure": 0.0}
    lcs = lcs_table(hyp, ref)[-1][-1]
    p, r = lcs / len(hyp), lcs / len(ref)
    return {"precision": p, "recall": r, "fmeasure": 2 * p * r / (p + r) if p + r > 0 else 0.0}


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct n-grams / all n-grams over all ``texts`` (Li et al., 2016), in [0, 1]: low means the
    texts repeat themselves or each other. 0 when the texts hold no n-gram."""
    texts = validate.texts("texts", texts)
    n = validate.integer("n", n, 1)
    seen: Counter = Counter()
    for t in texts:
        seen.update(ngrams(words(t), n))
    total = sum(seen.values())
    return len(seen) / total if total else 0.0


