"""Exercises of chapter 06 (speculative decoding). Each check prints a friendly verdict and returns a
Verdict."""
from __future__ import annotations

import random

from ..benchmark.speculative import best_num_draft_tokens, expected_tokens_per_call, predicted_speedup
from ..speculative import PromptLookup
from ._common import Verdict, call_learner, number_answer, require_callable, self_check


@self_check
def check_expected_tokens(answer, alpha: float = 0.75, k: int = 4) -> Verdict:
    """Exercise (chapter 06): the expected number of new tokens one verification pass emits when
    each of ``k`` drafts is kept with probability ``alpha`` (independently, stopping at the first
    rejection), the model's own token included."""
    got = number_answer(answer, "expected tokens per call")
    if got is None:
        return False
    want = expected_tokens_per_call(alpha, k)
    if abs(got - want) <= 0.005 * want:
        print(f"✓ {want:.4f} tokens per target pass: 1 + {alpha} + {alpha}^2 + ... + {alpha}^{k}; "
              f"plain decoding makes 1, and at most {k + 1}")
        return True
    hints = {
        k + 1: "that is the ceiling, when every draft is kept",
        alpha * k: "that counts the drafts kept on average as if each were checked; a round stops at the first "
                   "rejection, and the model always adds one token of its own",
        expected_tokens_per_call(alpha, k) - 1: "that counts only the kept drafts: add the token the model itself "
                                                "emits every round (at a rejection, or the bonus token)",
        expected_tokens_per_call(alpha, k - 1): "one term short: the sum runs from alpha^0 to alpha^k",
        1 / (1 - alpha): "that is the limit for k -> infinity: with k drafts the sum stops at alpha^k",
    }
    hint = next((h for value, h in hints.items() if abs(got - value) <= 0.005 * max(abs(value), 1e-9)),
                f"the chance that round i happens at all is alpha^i; add them up for i = 0..{k}")
    print(f"✗ {got:g} is not it ({hint})")
    return False


# (alpha, c, v_k for k = 1..8) cases whose best k differs from what the usual mistakes give
_BEST_K_CASES = [
    (0.8, 0.15, {k: 1.0 for k in range(1, 9)}),
    (0.9, 0.02, {k: 1.0 + 0.01 * k for k in range(1, 9)}),
    (0.69, 0.245, {1: 1.49, 2: 1.87, 3: 2.07, 4: 2.44, 5: 2.54, 6: 3.0, 7: 2.68, 8: 3.14}),
    (0.75, 0.1, {1: 1.0, 2: 1.02, 3: 1.05, 4: 1.3, 5: 1.6, 6: 1.9, 7: 2.2, 8: 2.5}),
    (0.6, 0.3, {k: 1.0 for k in range(1, 9)}),
]


@self_check
def check_best_num_draft_tokens(fn) -> Verdict:
    """Exercise (chapter 06): ``fn(alpha, c, verify_costs) -> int``, the k in ``verify_costs`` ({k:
    v_k}, k = 1..8) whose predicted speedup ``E(alpha, k) / (k*c + v_k)`` is highest."""
    require_callable(fn, "fn")
    for alpha, c, costs in _BEST_K_CASES:
        want = best_num_draft_tokens(alpha, c, max_k=max(costs), verify_costs=costs)
        ok, got = call_learner(fn, (alpha, c, dict(costs)), f"alpha={alpha}, c={c}:", "return the best k (an int)")
        if not ok:
            return False
        if isinstance(got, bool) or not isinstance(got, int):
            print(f"✗ return k, an int from 1 to {max(costs)}, got {got!r}"
                  + (" (that looks like a speedup, not a k)" if isinstance(got, float) else ""))
            return False
        if got != want:
            hint = ("that is the best k with v_k = 1 for every k: use the measured verify_costs"
                    if got == best_num_draft_tokens(alpha, c, max_k=max(costs)) else
                    "that is the best k if drafting were free: the k drafts cost k*c" if got == best_num_draft_tokens(
                        alpha, 0.0, max_k=max(costs), verify_costs=costs) else
                    "compute E(alpha, k) / (k*c + v_k) for every k and keep the largest")
            print(f"✗ alpha={alpha}, c={c}: got k={got} (predicted {predicted_speedup(alpha, got, c, costs[got]) if got in costs else float('nan'):.3f}x), "
                  f"but k={want} predicts {predicted_speedup(alpha, want, c, costs[want]):.3f}x ({hint})")
            return False
    print(f"✓ best k right for {len(_BEST_K_CASES)} cases (one with v_k as a small model measures it on a CPU, "
          "where the best k is 1)")
    return True


def _lookup_cases() -> list[tuple[list[int], int, int]]:
    cases = [([1, 2, 3, 9, 9, 7, 1, 2, 3], 2, 3), ([5, 2, 3, 8, 1, 2, 3, 6, 0, 2, 3], 3, 3),
             ([4, 1, 2, 3, 7, 7, 2, 3], 2, 3), ([1, 2, 3, 4], 3, 3), ([7, 7, 7], 4, 3), ([3, 1, 4, 1], 2, 2)]
    rng = random.Random(0)
    for _ in range(300):
        n = rng.randint(2, 30)
        cases.append(([rng.randrange(4) for _ in range(n)], rng.randint(1, 6), rng.randint(1, 4)))
    return cases


@self_check
def check_prompt_lookup(fn) -> Verdict:
    """Exercise (chapter 06): ``fn(tokens, num_tokens, max_ngram) -> list[int]``, prompt lookup's
    proposal: for n from ``max_ngram`` down to 1, find the most recent earlier occurrence of the last
    n tokens and return up to ``num_tokens`` tokens that followed it ([] when no n-gram recurs).
    Compared with ``PromptLookup(max_ngram).propose`` on hand-made and 300 random sequences."""
    require_callable(fn, "fn")
    cases = _lookup_cases()
    for tokens, num, n in cases:
        want = PromptLookup(max_ngram=n).propose(list(tokens), num)
        ok, got = call_learner(fn, (list(tokens), num, n), f"tokens={tokens}, num_tokens={num}, max_ngram={n}:",
                               "return the list of proposed token ids")
        if not ok:
            return False
        got = list(got) if isinstance(got, (list, tuple)) else got
        if got != want:
            print(f"✗ tokens={tokens}, num_tokens={num}, max_ngram={n}: got {got!r}, expected {want!r} "
                  f"({_lookup_hint(tokens, num, n, got)})")
            return False
    print(f"✓ your lookup proposes what PromptLookup does on {len(cases)} sequences")
    return True


def _lookup_hint(tokens: list[int], num: int, n: int, got) -> str:
    if not isinstance(got, list):
        return "return a list of token ids"
    if len(got) > num:
        return f"propose at most num_tokens={num} tokens"
    earliest = _lookup_variant(tokens, num, n, latest=False)
    if got == earliest:
        return "take the most recent earlier match, not the first one"
    if got == _lookup_variant(tokens, num, n, longest_only=True):
        return "when the longest n-gram has no earlier match, try n - 1, down to 1"
    return "the match must start before the tail itself: the tail always matches itself"


def _lookup_variant(tokens, num, n, latest=True, longest_only=False):
    for size in range(min(n, len(tokens) - 1), 0, -1):
        tail = tokens[-size:]
        starts = [i for i in range(len(tokens) - size) if tokens[i:i + size] == tail]
        if starts:
            i = starts[-1] if latest else starts[0]
            return tokens[i + size:i + size + num]
        if longest_only:
            return []
    return []
