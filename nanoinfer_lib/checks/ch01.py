"""Exercises of chapter 01 (autoregressive generation). Each check prints a friendly verdict and returns a bool."""
from __future__ import annotations

import torch

from ..checkpoint import load_model
from ..generation import generate
from ._common import Verdict, learner_int, require_callable, self_check


def naive_forward_tokens(prompt_len: int, n_new: int, block_size: int) -> int:
    """Tokens that the cache-free loop feeds through the model to generate ``n_new`` tokens after a
    prompt of ``prompt_len``: step i sees the whole sequence so far, cropped to the last ``block_size``."""
    return sum(min(prompt_len + i, block_size) for i in range(n_new))


@self_check
def check_forward_tokens(fn) -> Verdict:
    """Exercise (chapter 01): ``fn(prompt_len, n_new, block_size) -> int`` counts the tokens that the
    naive loop processes. Prints a verdict and returns True when every case is right."""
    require_callable(fn, "fn")
    cases = [(5, 0, 512), (1, 1, 512), (10, 4, 512), (100, 100, 512), (500, 20, 512), (600, 3, 512),
             (1, 1000, 512), (7, 9, 8)]
    for P, n, bs in cases:
        want = naive_forward_tokens(P, n, bs)
        ok, got = learner_int(fn, P, n, bs)
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


@self_check
def check_greedy_with_stop(fn, model=None) -> Verdict:
    """Exercise (chapter 01): ``fn(model, ids, stop_token, max_new_tokens) -> LongTensor (1, T + n)``,
    a greedy loop that keeps the prompt, stops after emitting ``stop_token`` (kept) and crops its
    input to the last ``block_size`` tokens. Compared with ``generate(temperature=0, stop_tokens=...)``."""
    require_callable(fn, "fn")
    if model is None:
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
