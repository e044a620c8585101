"""checks.ch06: each exercise check accepts the right answer, names the usual mistakes, and says
"not written yet" for the stub."""
import pytest

from nanoinfer_lib import checks
from nanoinfer_lib.benchmark.speculative import predicted_speedup
from nanoinfer_lib.speculative import PromptLookup


def test_check_expected_tokens(capsys):
    assert checks.check_expected_tokens(sum(0.75 ** i for i in range(5))).ok is True
    assert "✓" in capsys.readouterr().out
    assert checks.check_expected_tokens(1 + 0.5 + 0.25, alpha=0.5, k=2).ok is True


@pytest.mark.parametrize("answer, hint", [
    (..., "not answered yet"),
    (5, "ceiling"),                                          # every draft kept
    (3.0, "at the first"),                                   # alpha * k
    (sum(0.75 ** i for i in range(1, 5)), "only the kept drafts"),
    (sum(0.75 ** i for i in range(4)), "one term short"),
    (4.0, "k -> infinity"),
    (2.5, "alpha^i"),
])
def test_check_expected_tokens_names_the_mistake(capsys, answer, hint):
    assert checks.check_expected_tokens(answer).ok is False
    out = capsys.readouterr().out
    assert hint in out and "✓" not in out


def test_check_expected_tokens_wants_a_number():
    with pytest.raises(TypeError, match="answer"):
        checks.check_expected_tokens("3")


def _best(alpha, c, costs):
    return max(costs, key=lambda k: predicted_speedup(alpha, k, c, costs[k]))


def test_check_best_num_draft_tokens(capsys):
    assert checks.check_best_num_draft_tokens(_best).ok is True
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda a, c, v: None, "not written yet"),
    (lambda a, c, v: max(v, key=lambda k: predicted_speedup(a, k, c)), "v_k = 1"),       # ignores v_k
    (lambda a, c, v: max(v, key=lambda k: predicted_speedup(a, k, 0.0, v[k])), "free"),  # ignores c
    (lambda a, c, v: max(predicted_speedup(a, k, c, v[k]) for k in v), "speedup, not a k"),
    (lambda a, c, v: 1 / 0, "ZeroDivisionError"),
    (lambda a, c, v: 3, "largest"),
])
def test_check_best_num_draft_tokens_names_the_mistake(capsys, wrong, hint):
    assert checks.check_best_num_draft_tokens(wrong).ok is False
    out = capsys.readouterr().out
    assert hint in out and "✓" not in out


def test_check_best_num_draft_tokens_needs_a_function():
    with pytest.raises(TypeError, match="fn"):
        checks.check_best_num_draft_tokens(3)


def test_check_prompt_lookup(capsys):
    assert checks.check_prompt_lookup(lambda t, k, n: PromptLookup(max_ngram=n).propose(t, k)).ok is True
    assert "✓" in capsys.readouterr().out


def _lookup(latest=True, shorter=True, self_match=False, cap=True):
    def fn(tokens, num, max_ngram):
        for n in range(min(max_ngram, len(tokens) - 1), 0, -1):
            tail = tokens[-n:]
            end = len(tokens) - n + (1 if self_match else 0)
            starts = [i for i in range(end) if tokens[i:i + n] == tail]
            if starts:
                i = starts[-1] if latest else starts[0]
                return tokens[i + n:i + n + (num if cap else num + 1)]
            if not shorter:
                return []
        return []
    return fn


@pytest.mark.parametrize("wrong, hint", [
    (lambda t, k, n: None, "not written yet"),
    (_lookup(latest=False), "most recent"),
    (_lookup(shorter=False), "try n - 1"),
    (_lookup(self_match=True), "matches itself"),
    (_lookup(cap=False), "at most"),
    (lambda t, k, n: t[0], "list"),
    (lambda t, k, n: [][1], "IndexError"),
])
def test_check_prompt_lookup_names_the_mistake(capsys, wrong, hint):
    assert checks.check_prompt_lookup(wrong).ok is False
    out = capsys.readouterr().out
    assert hint in out and "✓" not in out
