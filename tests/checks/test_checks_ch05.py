"""checks.ch05: BLEU by hand, one longest common subsequence, a unigram model's
perplexity; each check fails for the stub and names the usual mistakes."""
import math
from collections import Counter

import pytest

from nanoinfer_lib import checks
from nanoinfer_lib.checks.ch05 import unigram_perplexity
from nanoinfer_lib.metrics import lcs_table


def test_check_bleu_by_hand(capsys):
    hyp, ref = "foul is fair and fair is foul", "Fair is foul, and foul is fair"
    right = math.exp(1 - 8 / 7) * math.sqrt(4 / 6)
    assert checks.check_bleu_by_hand(right, hyp, ref, max_n=2)
    assert not checks.check_bleu_by_hand(math.sqrt(4 / 6), hyp, ref, max_n=2)
    assert "brevity penalty" in capsys.readouterr().out
    assert not checks.check_bleu_by_hand(..., hyp, ref, max_n=2)
    assert "not answered yet" in capsys.readouterr().out


def _lcs_words(a, b):
    t = lcs_table(a, b)
    i, j, out = len(a), len(b), []
    while i and j:
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            i, j = i - 1, j - 1
        elif t[i - 1][j] >= t[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return out[::-1]


def test_check_lcs_wants_the_words(capsys):
    assert checks.check_lcs(_lcs_words)
    assert "✓" in capsys.readouterr().out
    def greedy(a, b):                                          # takes the first match it sees: too short
        out, j = [], 0
        for w in a:
            if w in b[j:]:
                j = b.index(w, j) + 1
                out.append(w)
        return out
    for wrong, hint in ((lambda a, b: None, "not written yet"),
                        (lambda a, b: lcs_table(a, b)[-1][-1], "a length"),
                        (lambda a, b: _lcs_words(a, b)[::-1], "reverse order"),
                        (lambda a, b: sorted(set(a) & set(b)), "not a subsequence"),
                        (greedy, "longer common subsequence"),
                        (lambda a, b: "".join(a), "return a list"),
                        (lambda a, b: a[5], "raised IndexError")):
        assert not checks.check_lcs(wrong)
        assert hint in capsys.readouterr().out


def test_unigram_perplexity_reference_values():
    assert unigram_perplexity([0, 0, 1], [0, 1], 3) == pytest.approx(math.exp(-(math.log(3 / 6) + math.log(2 / 6)) / 2))
    assert unigram_perplexity([], [0, 1], 4) == pytest.approx(4.0)               # no counts: the uniform model


def test_check_unigram_perplexity(capsys):
    def mine(train, test, V):
        c = Counter(train)
        return math.exp(-sum(math.log((c[t] + 1) / (len(train) + V)) for t in test) / len(test))

    assert checks.check_unigram_perplexity(mine)
    assert "✓" in capsys.readouterr().out
    def no_smoothing(train, test, V):
        c = Counter(train)
        return math.exp(-sum(math.log(c[t] / len(train)) for t in test) / len(test))
    for wrong, hint in ((lambda tr, te, V: None, "not written yet"),
                        (no_smoothing, "add one"),
                        (lambda tr, te, V: math.log(mine(tr, te, V)), "the loss"),
                        (lambda tr, te, V: mine(tr, tr, V), "test tokens"),
                        (lambda tr, te, V: 2 ** math.log(mine(tr, te, V)), "not 2 **"),
                        (lambda tr, te, V: math.exp(-sum(math.log((Counter(tr)[t] + 1) / len(tr)) for t in te) / len(te)),
                         "vocab_size"),
                        (lambda tr, te, V: "12", "return a number")):
        assert not checks.check_unigram_perplexity(wrong)
        assert hint in capsys.readouterr().out
    with pytest.raises(TypeError, match="fn"):
        checks.check_unigram_perplexity(3.0)
