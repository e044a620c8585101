"""Self-checks for the notebooks' exercises: each prints a friendly verdict and returns a bool."""
from __future__ import annotations

import torch

# ---- chapter 01 -----------------------------------------------------------------------------


def _require_callable(fn, name: str) -> None:
    if not callable(fn):
        raise TypeError(f"{name} must be a function, got {type(fn).__name__}")


def _learner_int(fn, *args) -> tuple[bool, object]:
    """Call a learner's function; report (instead of a traceback) when it raises or returns None."""
    try:
        got = fn(*args)
    except Exception as e:  # a learner's bug: report it instead of a traceback
        print(f"✗ fn{args!r} raised {type(e).__name__}: {e}".replace(",)", ")"))
        return False, None
    if got is None:
        print("✗ your function returned None: fill it in and return an int")
        return False, None
    return True, got


def naive_forward_tokens(prompt_len: int, n_new: int, block_size: int) -> int:
    """Tokens that the cache-free loop feeds through the model to generate ``n_new`` tokens after a
    prompt of ``prompt_len``: step i sees the whole sequence so far, cropped to the last ``block_size``."""
    return sum(min(prompt_len + i, block_size) for i in range(n_new))


def check_forward_tokens(fn) -> bool:
    """Exercise (chapter 01): ``fn(prompt_len, n_new, block_size) -> int`` counts the tokens that the
    naive loop processes. Prints a verdict and returns True when every case is right."""
    _require_callable(fn, "fn")
    cases = [(5, 0, 512), (1, 1, 512), (10, 4, 512), (100, 100, 512), (500, 20, 512), (600, 3, 512),
             (1, 1000, 512), (7, 9, 8)]
    for P, n, bs in cases:
        want = naive_forward_tokens(P, n, bs)
        ok, got = _learner_int(fn, P, n, bs)
        if not ok:
            return False
        if got != want:
            hint = ""
            if P + n > bs:
                hint = " (hint: once the sequence is longer than block_size, each step sees only block_size tokens)"
            elif n and got == sum(P + i + 1 for i in range(n)):
                hint = " (hint: step i sees the prompt plus the i tokens generated before it, not i + 1)"
            print(f"✗ prompt_len={P}, n_new={n}, block_size={bs}: you said {got}, the loop processes {want}{hint}")
            return False
    print(f"✓ all {len(cases)} cases right: without a cache the work grows with the square of the length")
    return True


def check_greedy_with_stop(fn, model=None) -> bool:
    """Exercise (chapter 01): ``fn(model, ids, stop_token, max_new_tokens) -> LongTensor (1, T + n)``,
    a greedy loop that keeps the prompt, stops after emitting ``stop_token`` (kept) and crops its
    input to the last ``block_size`` tokens. Compared with ``generate(temperature=0, stop_tokens=...)``."""
    from .generation import generate
    _require_callable(fn, "fn")
    if model is None:
        from .checkpoint import load_model
        model, _ = load_model()
    V, bs = model.config.vocab_size, model.config.block_size
    g = torch.Generator().manual_seed(0)
    cases = []
    for T, n in ((1, 12), (6, 12), (bs - 3, 6)):                  # the last one crosses the context window
        ids = torch.randint(0, V, (1, T), generator=g)
        free = generate(model, ids, max_new_tokens=n, temperature=0)[0, T:].tolist()
        unused = next(t for t in range(V) if t not in free)
        cases += [(ids, free[n // 2], n), (ids, unused, n)]         # a stop that is hit, one that is not
    cases.append((cases[0][0], cases[0][1], 0))                    # max_new_tokens=0 returns the prompt
    for ids, stop, n in cases:
        want = generate(model, ids, max_new_tokens=n, temperature=0, stop_tokens=[stop]).cpu()
        where = f"(prompt of {ids.shape[1]} tokens, stop_token={stop}, max_new_tokens={n})"
        try:
            got = fn(model, ids.to(model.device), stop, n)
        except Exception as e:
            print(f"✗ {where}: your function raised {type(e).__name__}: {e}")
            if ids.shape[1] + n > bs:
                print(f"  hint: the model sees at most block_size={bs} tokens: crop with ids[:, -block_size:]")
            return False
        if got is None:
            print("✗ your function returned None: fill it in and return the ids (prompt included)")
            return False
        if not isinstance(got, torch.Tensor) or got.dim() != 2:
            print(f"✗ {where}: return a 2-D LongTensor (1, T + n), got {type(got).__name__}"
                  + (f" of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else ""))
            return False
        got = got.cpu()
        if got.shape[1] < ids.shape[1] or not torch.equal(got[:1, :ids.shape[1]], ids):
            only_new = got.shape == want[:, ids.shape[1]:].shape and torch.equal(got, want[:, ids.shape[1]:])
            print(f"✗ {where}: " + ("you returned only the new tokens: " if only_new else "")
                  + "the output must start with the prompt, then the new tokens")
            return False
        if got.shape != want.shape:
            n_got, n_want = got.shape[1] - ids.shape[1], want.shape[1] - ids.shape[1]
            hint = ""
            if n_got == n_want - 1 and want[0, -1].item() == stop:
                hint = " (keep the stop token in the output, then stop)"
            elif n_got > n_want:
                hint = " (stop right after the step that emits stop_token, and never exceed max_new_tokens)"
            print(f"✗ {where}: you generated {n_got} tokens, expected {n_want}{hint}")
            return False
        if not torch.equal(got, want):
            i = int((got != want).nonzero()[0, 1])
            print(f"✗ {where}: token {i} is {int(got[0, i])}, expected {int(want[0, i])} "
                  "(greedy = argmax of the last position's logits)")
            return False
    print(f"✓ all {len(cases)} cases match generate(temperature=0, stop_tokens=[...]) token for token")
    return True


# ---- chapter 02 -----------------------------------------------------------------------------
def check_cache_update(fn) -> bool:
    """Exercise (chapter 02): ``fn(past, k, v) -> (k_all, v_all)`` appends one layer's new keys and
    values (B, nh, T, hs) to ``past`` (None, or a pair of (B, nh, S, hs) tensors) along the time axis."""
    _require_callable(fn, "fn")
    g = torch.Generator().manual_seed(0)
    cases = [(None, 1, 3), ((2, 5), 2, 1), ((2, 7), 2, 3)]      # (past shape (B, S) or None, B, T)
    for past_shape, B, T in cases:
        nh, hs = 3, 4
        k, v = torch.randn(B, nh, T, hs, generator=g), torch.randn(B, nh, T, hs, generator=g)
        past = None
        if past_shape is not None:
            S = past_shape[1]
            past = (torch.randn(B, nh, S, hs, generator=g), torch.randn(B, nh, S, hs, generator=g))
        want = (k, v) if past is None else (torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2))
        try:
            got = fn(past, k, v)
        except NotImplementedError:
            print("… not written yet: replace the raise NotImplementedError with your code")
            return False
        except Exception as e:  # a learner's bug: report it instead of a traceback
            print(f"✗ with past={'None' if past is None else 'S=' + str(past_shape[1])} and T={T}: "
                  f"raised {type(e).__name__}")
            return False
        if not (isinstance(got, tuple) and len(got) == 2 and all(isinstance(t, torch.Tensor) for t in got)):
            print("✗ return a pair (k_all, v_all) of tensors")
            return False
        for name, g_t, w_t in (("k_all", got[0], want[0]), ("v_all", got[1], want[1])):
            if g_t.shape != w_t.shape:
                print(f"✗ {name} has shape {tuple(g_t.shape)}, expected {tuple(w_t.shape)} "
                      "(B, nh, S + T, hs): concatenate on the time axis, dim=2")
                return False
            if not torch.equal(g_t, w_t):
                print(f"✗ {name} has the right shape but wrong values: old positions first, then the new ones")
                return False
    print(f"✓ cache update correct for {len(cases)} cases (time axis is dim 2 of (B, nh, T, hs))")
    return True


def check_causal_mask(fn) -> bool:
    """Exercise (chapter 02): ``fn(T, past) -> bool tensor (T, past + T)``, True where query i (the
    (past + i)-th position) may attend to key j, i.e. j <= past + i."""
    _require_callable(fn, "fn")
    cases = [(1, 0), (4, 0), (1, 5), (3, 4), (5, 2)]
    for T, past in cases:
        want = torch.ones(T, past + T, dtype=torch.bool).tril(diagonal=past)
        try:
            got = fn(T, past)
        except NotImplementedError:
            print("… not written yet: replace the raise NotImplementedError with your code")
            return False
        except Exception as e:  # a learner's bug: report it instead of a traceback
            print(f"✗ fn(T={T}, past={past}) raised {type(e).__name__}")
            return False
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            print(f"✗ fn(T={T}, past={past}) gave {shape}, expected a tensor of shape {tuple(want.shape)} "
                  "(queries x keys; a square T x T mask is the tutorial's bug)")
            return False
        if not torch.equal(got.bool(), want):
            print(f"✗ fn(T={T}, past={past}): wrong entries; query i sits at position past + i "
                  "and may see keys 0..past + i")
            return False
    print(f"✓ causal mask with a cache offset correct for {len(cases)} (T, past) cases")
    return True


def check_cache_size(answer_bytes, config, batch_size: int, seq_len: int, dtype: torch.dtype) -> bool:
    """Exercise (chapter 02): your prediction, in bytes, of the KV cache of ``config`` holding
    ``seq_len`` positions for ``batch_size`` sequences in ``dtype`` (within 1%)."""
    from .benchmark import kv_cache_bytes
    if answer_bytes is None or answer_bytes is ...:
        print("… not answered yet: replace the ... with your prediction in bytes")
        return False
    if isinstance(answer_bytes, bool) or not isinstance(answer_bytes, (int, float)):
        raise TypeError(f"answer_bytes must be a number of bytes, got {type(answer_bytes).__name__}")
    want = kv_cache_bytes(config, batch_size, seq_len, dtype)
    if abs(answer_bytes - want) <= 0.01 * want:
        print(f"✓ {answer_bytes:,.0f} bytes = {answer_bytes / 2**20:,.1f} MiB is right")
        return True
    ratio = answer_bytes / want if want else float("inf")
    hint = ("off by 2: k AND v" if abs(ratio - 0.5) < 0.01 or abs(ratio - 2) < 0.02 else
            "off by the dtype's bytes per number" if any(abs(ratio - r) < 0.01 for r in (0.25, 0.5, 2, 4)) else
            "count 2 (k, v) x n_layer x batch x positions x n_embd x bytes per number")
    print(f"✗ {answer_bytes:,.0f} bytes is {ratio:.3g}x the right size; hint: {hint}")
    return False


# ---- chapter 03 -----------------------------------------------------------------------------
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
    import math
    from .sampling import process_logits
    words = list(SURVIVOR_PROBS)
    logits = torch.tensor([math.log(p) for p in SURVIVOR_PROBS.values()])
    kept = torch.isfinite(process_logits(logits, **SURVIVOR_SETTINGS[setting]))
    return {w for w, k in zip(words, kept.tolist()) if k}


def check_survivors(answers) -> bool:
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


def check_top_p(fn) -> bool:
    """Exercise (chapter 03): ``fn(logits (..., V), top_p) -> logits`` with removed entries ``-inf``,
    compared with ``nanoinfer_lib.sampling.top_p_filter`` on hand-made and random logits. It must
    work on unsorted logits and batches, keep the token that crosses ``top_p``, and not modify its input."""
    import math
    from .sampling import top_p_filter
    _require_callable(fn, "fn")
    g = torch.Generator().manual_seed(0)
    hand = torch.tensor([math.log(p) for p in (0.1, 0.4, 0.2, 0.3)])      # unsorted on purpose
    cases = [(hand, 0.6), (hand, 0.35), (hand, 0.0), (hand, 0.95)]
    for V, scale in ((8, 1.0), (50, 3.0), (2048, 2.0)):
        x = torch.randn(4, V, generator=g) * scale                         # (B, V)
        cases += [(x, p) for p in (0.1, 0.5, 0.9)]
    for logits, p in cases:
        where = f"(logits shape {tuple(logits.shape)}, top_p={p})"
        before = logits.clone()
        try:
            got = fn(logits, p)
        except Exception as e:
            print(f"✗ {where}: your function raised {type(e).__name__}: {e}")
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


def check_distinct_n(fn) -> bool:
    """Exercise (chapter 03): ``fn(samples: list[list[int]], n) -> float``, distinct-n = unique n-grams
    over all samples divided by the number of n-grams (0.0 when there are none)."""
    _require_callable(fn, "fn")

    def ref(samples, n):
        grams = [tuple(s[i:i + n]) for s in samples for i in range(len(s) - n + 1)]
        return len(set(grams)) / len(grams) if grams else 0.0

    cases = [([[1, 2, 3, 4]], 1), ([[1, 1, 1, 1]], 1), ([[1, 2, 1, 2, 1, 2]], 2), ([[1, 2], [1, 2]], 2),
             ([[5, 6, 7], [7, 6, 5]], 2), ([[1]], 2), ([[3, 4, 3, 4]], 3), ([], 1)]
    for samples, n in cases:
        want = ref(samples, n)
        try:
            got = fn([list(s) for s in samples], n)
        except Exception as e:
            print(f"✗ fn({samples}, {n}) raised {type(e).__name__}: {e}")
            return False
        if got is None or abs(float(got) - want) > 1e-9:
            hint = " (n-grams must not cross from one sample into the next)" if len(samples) > 1 else ""
            print(f"✗ fn({samples}, {n}) = {got}, expected {want:.4f}{hint}")
            return False
    print(f"✓ all {len(cases)} cases right")
    return True


# ---- chapter 04 -----------------------------------------------------------------------------


def check_timer(fn) -> bool:
    """Exercise (chapter 04): ``fn(work, num_runs) -> float`` times ``work()`` honestly and returns the
    typical time of one call in seconds. Checked with a function whose first call is slow (a cold
    start of 0.2 s) and whose later calls take about 10 ms, with one 0.1 s hiccup among them."""
    import time
    _require_callable(fn, "fn")
    calls = []

    def work():
        calls.append(None)
        time.sleep(0.2 if len(calls) == 1 else 0.1 if len(calls) == 4 else 0.01)

    got = fn(work, 7)
    if not isinstance(got, (int, float)):
        print(f"✗ the timer must return a number of seconds, got {type(got).__name__}")
        return False
    if len(calls) < 8:
        print(f"✗ work() ran {len(calls)} times for num_runs=7: run it once untimed first (warm-up)")
        return False
    if not 0.009 <= got < 0.05:
        hint = "the cold first call is in it: warm up first" if got >= 0.05 else "is it in seconds?"
        print(f"✗ got {got * 1e3:.1f} ms, but a typical call takes about 10 ms ({hint}; a median ignores the hiccup)")
        return False
    print("✓ about 10 ms per call: the warm-up skipped the cold start and the median ignored the hiccup")
    return True


def check_decode_bytes(fn, model) -> bool:
    """Exercise (chapter 04): ``fn(model, batch_size, context_len) -> int``, the bytes one decode step
    reads: every weight once (tied embedding once, position table left out) plus the KV cache."""
    from .benchmark import decode_bytes_per_step
    _require_callable(fn, "fn")
    for B, S in ((1, 1), (1, 300), (8, 64)):
        want, got = decode_bytes_per_step(model, B, S), fn(model, B, S)
        if got != want["total"]:
            print(f"✗ batch_size={B}, context_len={S}: got {got:,} bytes, expected {want['total']:,} "
                  f"(weights {want['weights']:,} + KV cache {want['kv_cache']:,})")
            return False
    print("✓ bytes per decode step match for 3 cases (weights + KV cache)")
    return True



# ---- chapter 05 -----------------------------------------------------------------------------

def _number_answer(answer, name: str) -> float | None:
    if answer is None or answer is ...:
        print(f"… not answered yet: replace the ... with your {name}")
        return None
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise TypeError(f"answer must be a number, got {type(answer).__name__}")
    return float(answer)


def check_bleu_by_hand(answer, hypothesis: str, reference: str, max_n: int = 2) -> bool:
    """Exercise (chapter 05): your BLEU-``max_n`` of one pair, worked out by hand (within 0.001).
    Hints recognise the usual slips: no clipping, no brevity penalty, an arithmetic mean."""
    import math
    from .metrics import bleu_stats, brevity_penalty, corpus_bleu, ngrams, words
    value = _number_answer(answer, "BLEU (a number between 0 and 1)")
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


def check_uniform_perplexity(answer, vocab_size: int) -> bool:
    """Exercise (chapter 05): the perplexity of a model that gives every one of ``vocab_size`` tokens
    the same probability."""
    import math
    value = _number_answer(answer, "perplexity")
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


def check_lcs(fn) -> bool:
    """Exercise (chapter 05): ``fn(a, b) -> int``, the length of the longest common subsequence of two
    word lists (the heart of ROUGE-L)."""
    from .metrics import lcs_table
    _require_callable(fn, "fn")
    cases = [([], ["a"]), (["a"], ["a"]), (["a", "b"], ["b", "a"]), (list("abcbdab"), list("bdcaba")),
             ("the cat sat on the mat".split(), "the cat is on the mat".split()),
             ("police killed the gunman".split(), "the gunman kill police".split())]
    for a, b in cases:
        want = lcs_table(a, b)[-1][-1]
        ok, got = _learner_int(fn, a, b)
        if not ok:
            return False
        if got != want:
            hint = " (a subsequence keeps order but may skip words; a substring may not)" if got < want else ""
            print(f"✗ fn({a}, {b}) = {got}, expected {want}{hint}")
            return False
    print(f"✓ all {len(cases)} cases right")
    return True
