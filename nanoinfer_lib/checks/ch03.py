"""Exercises of chapter 03 (sampling). Each check prints a friendly verdict and returns a Verdict.
(Over 300 lines: five exercises' checks, each with the hints that name its usual mistakes.)"""
from __future__ import annotations

import math

import torch

from .. import validate
from ..checkpoint import load_model
from ..sampling import process_logits, top_k_filter, top_p_filter
from ._common import Verdict, call_learner, require_callable, self_check


# The distribution and the settings of the "which tokens survive?" exercise.
SURVIVOR_PROBS = {"the": 0.35, "a": 0.25, "my": 0.15, "thy": 0.12, "his": 0.08, "our": 0.05}
SURVIVOR_SETTINGS = {
    "top_k=2": dict(top_k=2),
    "top_p=0.7": dict(top_p=0.7),
    "min_p=0.3": dict(min_p=0.3),
    "top_k=3, top_p=0.75": dict(top_k=3, top_p=0.75),
    "temperature=2.0, top_p=0.7": dict(temperature=2.0, top_p=0.7),
    "temperature=0": dict(temperature=0.0),
}


def survivors(setting: str) -> set[str]:
    """The words of ``SURVIVOR_PROBS`` that ``process_logits`` keeps under ``SURVIVOR_SETTINGS[setting]``."""
    words = list(SURVIVOR_PROBS)
    logits = torch.tensor([math.log(p) for p in SURVIVOR_PROBS.values()])
    kept = torch.isfinite(process_logits(logits, **SURVIVOR_SETTINGS[setting]))
    return {w for w, k in zip(words, kept.tolist()) if k}


@self_check
def check_survivors(answers) -> Verdict:
    """Exercise (chapter 03): ``answers`` maps each setting of ``SURVIVOR_SETTINGS`` to the set of words
    of ``SURVIVOR_PROBS`` that survive it. Prints a verdict per setting; True when all are right."""
    if not isinstance(answers, dict):
        raise TypeError(f"answers must be a dict {{setting: set of words}}, got {type(answers).__name__}")
    hints = {
        "top_p=0.7": "add probabilities from the top until the sum reaches 0.7; the token that crosses it stays",
        "min_p=0.3": "the threshold is 0.3 times the top probability (0.35), not 0.3",
        "top_k=3, top_p=0.75": "top-p runs after top-k, on the 3 survivors renormalised to sum to 1",
        "temperature=2.0, top_p=0.7": "temperature first: p ** (1/T), renormalised, then the top-p rule",
        "temperature=0": "temperature 0 means greedy",
        "top_k=2": "the two most likely words",
    }
    right = 0
    for setting in SURVIVOR_SETTINGS:
        want = survivors(setting)
        got = answers.get(setting)
        if got is None or got is ...:
            print(f"… {setting}: no answer yet")
            continue
        got = {got} if isinstance(got, str) else set(got)
        unknown = got - set(SURVIVOR_PROBS)
        if unknown:
            print(f"✗ {setting}: {sorted(unknown)} are not in the distribution (use the words of SURVIVOR_PROBS)")
        elif got == want:
            right += 1
            print(f"✓ {setting}: {len(want)} survive")
        else:
            print(f"✗ {setting}: not quite (you kept {len(got)}, the rule keeps {len(want)}); hint: {hints[setting]}")
    ok = right == len(SURVIVOR_SETTINGS)
    print(f"{right}/{len(SURVIVOR_SETTINGS)} right" + (": you can predict every filter by hand" if ok else ""))
    return ok


@self_check
def check_top_p(fn) -> Verdict:
    """Exercise (chapter 03): ``fn(logits (..., V), top_p) -> logits`` with removed entries ``-inf``,
    compared with ``nanoinfer_lib.sampling.top_p_filter`` on hand-made and random logits. It must
    work on unsorted logits and batches, keep the token that crosses ``top_p``, and not modify its input."""
    require_callable(fn, "fn")
    g = torch.Generator().manual_seed(0)
    hand = torch.tensor([math.log(p) for p in (0.1, 0.4, 0.2, 0.3)])      # unsorted on purpose
    cases = [(hand, 0.6), (hand, 0.35), (hand, 0.0), (hand, 0.95)]
    for V, scale in ((8, 1.0), (50, 3.0), (2048, 2.0)):
        x = torch.randn(4, V, generator=g) * scale                         # (B, V)
        cases += [(x, p) for p in (0.1, 0.5, 0.9)]
    for logits, p in cases:
        where = f"(logits shape {tuple(logits.shape)}, top_p={p})"
        before = logits.clone()
        ok, got = call_learner(fn, (logits, p), f"{where}: your function")
        if not ok:
            return False
        if not torch.equal(logits, before):
            print(f"✗ {where}: your function changed its input in place; work on a copy (masked_fill, not [...] =)")
            return False
        if not isinstance(got, torch.Tensor) or got.shape != logits.shape:
            print(f"✗ {where}: return logits of the same shape, got "
                  f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
            return False
        want = top_p_filter(logits, p)
        keep_got, keep_want = torch.isfinite(got), torch.isfinite(want)
        if not torch.equal(keep_got, keep_want):
            hint = "compare the kept set with the library's top_p_filter"
            n_got, n_want = keep_got.sum(-1), keep_want.sum(-1)
            if torch.equal(n_got, n_want):
                hint = "you keep the right number of tokens but the wrong ones: scatter the sorted mask back to vocabulary order"
            elif bool((n_got == n_want - 1).any()):
                hint = "keep the token whose probability crosses top_p (shift the mask right by one)"
            elif not bool(keep_got.any(-1).all()):
                hint = "at least one token must survive"
            print(f"✗ {where}: kept {n_got.tolist()} tokens per row, expected {n_want.tolist()}; {hint}")
            return False
        if not torch.allclose(got[keep_got], logits[keep_got]):
            print(f"✗ {where}: kept logits must be unchanged (only removed ones become -inf)")
            return False
    print(f"✓ all {len(cases)} cases match top_p_filter (hand-made, unsorted, batched, vocabulary of 2048)")
    return True


def typical_p_reference(logits: torch.Tensor, typical_p: float) -> torch.Tensor:
    """Locally typical sampling's filter (Meister et al., 2023; ``typical_p`` in Hugging Face): rank the
    tokens by how far their surprisal ``-log p`` lies from the distribution's entropy ``H`` (most
    typical first) and keep the fewest from the top of that ranking whose probabilities sum to at
    least ``typical_p``; the token that crosses it is kept, and so is the most typical one."""
    logits = validate.tensor("logits", logits, floating=True)
    typical_p = validate.number("typical_p", typical_p, 0.0, 1.0)
    logp = torch.log_softmax(logits.double(), dim=-1)                  # (..., V)
    p = logp.exp()
    entropy = -(p * logp).nansum(-1, keepdim=True)                     # (..., 1), nats
    order = (-logp - entropy).abs().argsort(dim=-1, stable=True)      # (..., V) most typical first
    p_sorted = p.gather(-1, order)
    remove_sorted = p_sorted.cumsum(-1) - p_sorted >= typical_p        # enough mass ranked above it
    remove_sorted[..., 0] = False
    return logits.masked_fill(remove_sorted.scatter(-1, order, remove_sorted), float("-inf"))


def _typical_mistakes(logits: torch.Tensor, p: float) -> dict[str, torch.Tensor]:
    """Kept masks of the usual wrong typical-p filters, each with the hint that names its mistake."""
    logp = torch.log_softmax(logits.double(), dim=-1)
    probs = logp.exp()
    entropy = -(probs * logp).nansum(-1, keepdim=True)

    def keep(score, crossing=True, scatter=True, weights=probs):
        order = score.argsort(dim=-1, stable=True)
        w = weights.gather(-1, order)
        remove = (w.cumsum(-1) - w >= p) if crossing else (w.cumsum(-1) >= p)
        remove[..., 0] = False
        return ~(remove.scatter(-1, order, remove) if scatter else remove)

    raw = logits.double()                                                  # the logits taken as log p
    raw_h = -(raw.exp() * raw).nansum(-1, keepdim=True)
    distance = (-logp - entropy).abs()
    return {
        "you kept the most likely tokens, as top-p does: rank by the distance |-log p - H| (absolute value), "
        "with log p from log_softmax (raw logits are not log-probabilities)": keep(-logp),
        "take log-probabilities (log_softmax) for the surprisal and the entropy, not the raw logits":
            keep((-raw - raw_h).abs()),
        "most typical first: sort the distances in ascending order": keep(-distance),
        "keep the token whose probability crosses typical_p (shift the mask right by one)": keep(distance, crossing=False),
        "you keep the right number of tokens but the wrong ones: scatter the sorted mask back to vocabulary order":
            keep(distance, scatter=False),
    }


def _typical_cases() -> list[tuple[torch.Tensor, float]]:
    g = torch.Generator().manual_seed(0)
    hand = torch.tensor([math.log(q) + 2.0 for q in (0.1, 0.5, 0.05, 0.2, 0.15)])   # unsorted, not normalised
    cases = [(hand, q) for q in (0.3, 0.0, 0.6, 0.9)]
    for V, scale in ((8, 1.0), (50, 3.0), (2048, 2.0)):
        x = torch.randn(4, V, generator=g) * scale                           # (B, V)
        cases += [(x, q) for q in (0.2, 0.5, 0.9)]
    return cases


def _learner_output(fn, logits, q, where, quiet=False):
    """The learner's filtered logits, or None after saying (unless quiet) what is wrong with them."""
    before = logits.clone()
    try:
        got = fn(logits, q)
    except Exception as e:
        message = f"✗ {where}: your function raised {type(e).__name__}: {e}"
        got = None
    else:
        if got is None:
            message = "… not written yet: fill in the function and return the filtered logits"
        elif not torch.equal(logits, before):
            message = f"✗ {where}: your function changed its input in place; work on a copy (masked_fill, not [...] =)"
            got = None
        elif not isinstance(got, torch.Tensor) or got.shape != logits.shape:
            message = (f"✗ {where}: return logits of the same shape, got "
                       f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
            got = None
    if got is None and not quiet:
        print(message)
    return got


def _tokens(kept: torch.Tensor) -> str:
    n = kept.sum(-1).tolist()
    return f"{n} token{'' if n == 1 else 's'}" if kept.dim() == 1 else f"{n} tokens per row"


def _which_mistake(fn, cases, failed: int) -> str | None:
    """The hint of the usual mistake that explains the learner's output best: one that reproduces the
    failed case and, among those, the most other cases."""
    scores = {}
    for j, (logits, q) in enumerate(cases):
        got = _learner_output(fn, logits, q, "", quiet=True)
        if got is None:
            continue
        for hint, kept in _typical_mistakes(logits, q).items():
            if torch.equal(torch.isfinite(got), kept):
                scores[hint] = scores.get(hint, 0) + (1000 if j == failed else 1)
    best = max(scores, key=scores.get, default=None)       # on a tie, the first (the commoner mistake)
    return best if best is not None and scores[best] >= 1000 else None


@self_check
def check_typical_p(fn) -> Verdict:
    """Exercise (chapter 03): ``fn(logits (..., V), typical_p) -> logits`` with the tokens that locally
    typical sampling removes set to ``-inf`` (see ``typical_p_reference``), on hand-made, unsorted,
    batched and random logits. It must not modify its input; a hint names the usual mistake."""
    require_callable(fn, "fn")
    cases = _typical_cases()
    for i, (logits, q) in enumerate(cases):
        where = f"(logits shape {tuple(logits.shape)}, typical_p={q})"
        got = _learner_output(fn, logits, q, where)
        if got is None:
            return False
        keep_got, keep_want = torch.isfinite(got), torch.isfinite(typical_p_reference(logits, q))
        if not torch.equal(keep_got, keep_want):
            hint = _which_mistake(fn, cases, i) or (
                "at least one token must survive" if not bool(keep_got.any(-1).all())
                else "compare your kept set with checks.typical_p_reference(logits, typical_p) on this case")
            print(f"✗ {where}: kept {_tokens(keep_got)}, expected {_tokens(keep_want)}; {hint}")
            return False
        if not torch.equal(got[keep_got], logits[keep_got]):
            print(f"✗ {where}: kept logits must be unchanged (only removed ones become -inf)")
            return False
    print(f"✓ all {len(cases)} cases match locally typical sampling (hand-made, unsorted, batched, vocabulary of 2048)")
    return True


@self_check
def check_distinct_n(fn) -> Verdict:
    """Exercise (chapter 03): ``fn(samples: list[list[int]], n) -> float``, distinct-n = unique n-grams
    over all samples divided by the number of n-grams (0.0 when there are none)."""
    require_callable(fn, "fn")

    def ref(samples, n):
        grams = [tuple(s[i:i + n]) for s in samples for i in range(len(s) - n + 1)]
        return len(set(grams)) / len(grams) if grams else 0.0

    cases = [([[1, 2, 3, 4]], 1), ([[1, 1, 1, 1]], 1), ([[1, 2, 1, 2, 1, 2]], 2), ([[1, 2], [1, 2]], 2),
             ([[5, 6, 7], [7, 6, 5]], 2), ([[1]], 2), ([[3, 4, 3, 4]], 3), ([], 1)]
    for samples, n in cases:
        want = ref(samples, n)
        ok, got = call_learner(fn, ([list(s) for s in samples], n), f"fn({samples}, {n})")
        if not ok:
            return False
        if got is None or abs(float(got) - want) > 1e-9:
            hint = " (n-grams must not cross from one sample into the next)" if len(samples) > 1 else ""
            print(f"✗ fn({samples}, {n}) = {got}, expected {want:.4f}{hint}")
            return False
    print(f"✓ all {len(cases)} cases right")
    return True


def top_k_mass(model, tokenizer, prompt: str, k: int) -> float:
    """The share of the next-token probability after ``prompt`` that top-k with this ``k`` keeps."""
    ids = tokenizer.encode(prompt, return_tensors="pt").to(model.device)[:, -model.config.block_size:]
    with torch.inference_mode():
        probs = torch.softmax(model(ids)[0, -1].float(), dim=-1)
    return float(torch.isfinite(top_k_filter(probs.log(), k)).float().mul(probs).sum())


@self_check
def check_top_k_mass(k, confident_prompt, uncertain_prompt, model=None, tokenizer=None) -> Verdict:
    """Exercise (chapter 03): one ``k`` and two prompts such that top-k keeps more than 99% of the
    next-token probability after ``confident_prompt`` and less than 50% after ``uncertain_prompt``
    (the bundled model unless ``model`` and ``tokenizer`` are given)."""
    answers = {"k": k, "confident_prompt": confident_prompt, "uncertain_prompt": uncertain_prompt}
    missing = [name for name, v in answers.items() if v is None or v is ...]
    if missing:
        print(f"… not answered yet: replace the ... of {', '.join(missing)}")
        return False
    k = validate.integer("k", k, 1)
    for name in ("confident_prompt", "uncertain_prompt"):
        if not validate.text(name, answers[name]):
            raise ValueError(f"{name} must be a non-empty str, got ''")
    if model is None or tokenizer is None:
        model, tokenizer = load_model()
    V = model.config.vocab_size
    if not 1 <= k < V:
        print(f"✗ k={k}: choose 1 <= k < {V} (k >= the vocabulary keeps everything at every step)")
        return False
    high = top_k_mass(model, tokenizer, confident_prompt, k)
    low = top_k_mass(model, tokenizer, uncertain_prompt, k)
    ok = high > 0.99 and low < 0.5
    print(f"{'✓' if high > 0.99 else '✗'} after confident_prompt, top-{k} keeps {high:.1%} (want > 99%)")
    print(f"{'✓' if low < 0.5 else '✗'} after uncertain_prompt, top-{k} keeps {low:.1%} (want < 50%)")
    if not ok:
        print("  hint: the model is surest where the text's form decides the next token (after a speaker's "
              "name and its full stop comes a newline); least sure at the start of a new sentence or speech")
    else:
        print(f"  the same k={k} keeps almost everything at one step and under half at another: one k cannot "
              "suit every step, which is what top-p and min-p adapt to")
    return ok
