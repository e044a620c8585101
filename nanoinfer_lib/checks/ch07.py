"""Exercises of chapter 07 (serving many requests). Each check prints a friendly verdict (what is
right, or a hint that names the likely mistake) and returns a Verdict. The answers are compared
with the library's own ``BlockManager`` and ``Scheduler``."""
from __future__ import annotations

import random

from ..kv_cache import kv_cache_bytes
from ..serving.block_manager import BlockManager
from ..serving.params import SamplingParams
from ..serving.scheduler import Scheduler
from ..serving.sequence import Sequence, Status
from ._common import Verdict, call_learner, number_answer, require_callable, self_check


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


# ---- exercise: blocks a request holds at its peak ------------------------------------------------

# (prompt tokens, max_new_tokens, block_size): the boundaries where the usual mistakes differ
_BLOCK_CASES = [(15, 2, 16), (16, 1, 16), (16, 2, 16), (100, 29, 16), (5, 60, 8), (1, 1, 16), (31, 10, 4),
                (33, 1, 32), (7, 1, 1), (40, 25, 16), (12, 5, 16)]


def blocks_needed_reference(prompt_tokens: int, max_new_tokens: int, block_size: int) -> int:
    """The most blocks a request holds: the Engine's own count (``BlockManager.blocks_needed``) of the
    tokens whose keys/values are stored, every token but the last one sampled."""
    return BlockManager(1, block_size, enable_prefix_caching=False).blocks_needed(prompt_tokens + max_new_tokens - 1)


# the usual mistakes, each as the formula it computes, and what to say about it
_BLOCK_MISTAKES = [
    (lambda p, n, bs: _ceil(p + n, bs), "the last token is sampled but never fed back to the model, so its keys "
                                        "and values are never stored: count prompt + max_new_tokens - 1 tokens"),
    (lambda p, n, bs: (p + n - 1) // bs, "a block that is only partly filled is still held: round up, not down"),
    (lambda p, n, bs: _ceil(p, bs), "the output's keys and values need blocks too, not only the prompt's"),
    (lambda p, n, bs: _ceil(p, bs) + _ceil(n, bs), "the output continues in the block where the prompt ends: "
                                                   "count prompt and output tokens together, then divide"),
    (lambda p, n, bs: p + n - 1, "that counts tokens: divide by block_size"),
]


def _blocks_hint(answers: dict) -> str:
    """The mistake whose formula gives every answer."""
    return next((h for f, h in _BLOCK_MISTAKES if all(f(*case) == a for case, a in answers.items())),
                "token i lives in block i // block_size; which tokens have keys and values stored?")


@self_check
def check_blocks_needed(fn) -> Verdict:
    """Exercise (chapter 07): ``fn(prompt_tokens, max_new_tokens, block_size) -> int``, the number of
    KV blocks a request holds once it has generated all its tokens (its peak)."""
    require_callable(fn, "fn")
    answers = {}
    for p, n, bs in _BLOCK_CASES:
        ok, got = call_learner(fn, (p, n, bs), f"fn({p}, {n}, {bs})", "return the number of blocks (an int)")
        if not ok:
            return False
        if isinstance(got, bool) or not isinstance(got, int):
            print(f"✗ return an int (whole blocks), got {got!r}")
            return False
        answers[p, n, bs] = got
    for (p, n, bs), got in answers.items():          # every answer first, so the hint fits them all
        want = blocks_needed_reference(p, n, bs)
        if got != want:
            print(f"✗ prompt {p} tokens, max_new_tokens {n}, block_size {bs}: got {got}, expected {want} "
                  f"({_blocks_hint(answers)})")
            return False
    print(f"✓ blocks right for {len(_BLOCK_CASES)} requests, the block boundaries included")
    return True


# ---- exercise: which requests a decode step runs, and which it preempts ---------------------------

def preemption_reference(running: list[tuple[str, int]], free_blocks: int, block_size: int) -> tuple[list[str], list[str]]:
    """What the library's ``Scheduler`` does in a decode step: ``running`` is [(request id, tokens
    cached), ...] oldest first, each holding ceil(cached / block_size) blocks, each about to compute one
    token; returns (ids that decode, ids preempted, in order)."""
    held = [_ceil(t, block_size) for _, t in running]
    bm = BlockManager(sum(held) + free_blocks, block_size, enable_prefix_caching=False)
    scheduler = Scheduler(bm, max_num_seqs=max(1, len(running)), max_num_batched_tokens=1)
    for rid, tokens in running:
        seq = Sequence(rid, [0] * tokens, SamplingParams(max_new_tokens=1))
        if not bm.allocate(seq):
            raise AssertionError("the pool was sized to hold every running request")
        seq.num_cached = tokens              # every token so far has its keys/values stored
        seq.token_ids.append(0)              # the token sampled last step: this step computes it
        seq.status = Status.RUNNING
        scheduler.running.append(seq)
    kind, batch = scheduler.schedule()
    if kind != "decode":
        raise AssertionError(f"expected a decode step, got {kind}")
    return [s.request_id for s, _ in batch], list(scheduler.last_preempted)


def _preemption_variant(running, free, bs, victim="newest", frees=True, every_step=False):
    """The rule with one usual mistake, to name it in a hint."""
    live, blocks, decoded, preempted = [r for r, _ in running], {r: _ceil(t, bs) for r, t in running}, [], []
    tokens = dict(running)
    for rid, _ in running:
        if rid not in live:
            continue
        needs = every_step or tokens[rid] % bs == 0
        while needs and free == 0:
            out = {"newest": live[-1], "oldest": live[0], "self": rid}[victim]
            live.remove(out)
            preempted.append(out)
            free += blocks[out] if frees else 0
            if out == rid:
                break
        else:
            free -= 1 if needs else 0
            decoded.append(rid)
    return decoded, preempted


def _preemption_cases() -> list[tuple[list[tuple[str, int]], int, int]]:
    cases = [([("a", 5), ("b", 3)], 0, 4),                 # nobody needs a block
             ([("a", 4), ("b", 3)], 1, 4),                 # one needs one, and one is free
             ([("a", 8), ("b", 3), ("c", 6)], 0, 4),       # the oldest needs one: the newest gives its two back
             ([("a", 3), ("b", 4)], 0, 4),                 # the newest needs one: it preempts itself
             ([("a", 4), ("b", 4), ("c", 1)], 0, 4),       # c's one block serves a; b then preempts itself
             ([("a", 8), ("b", 8), ("c", 12)], 0, 4),      # c's three blocks serve a and b
             ([("a", 16), ("b", 2), ("c", 7), ("d", 5)], 0, 8)]
    rng = random.Random(0)
    for _ in range(200):
        bs = rng.choice([2, 4, 8])
        running = [(f"r{i}", rng.choice([bs, 2 * bs, rng.randint(1, 5 * bs)])) for i in range(rng.randint(1, 6))]
        cases.append((running, rng.choice([0, 0, 1, 2]), bs))
    return cases


_PREEMPTION_MISTAKES = (
    ({"victim": "oldest"}, "preempt the newest running request (the last to arrive), not the oldest: the oldest "
                           "have done the most work"),
    ({"victim": "self"}, "the request that needs a block is preempted only when it is itself the newest; "
                         "otherwise the newest one gives its blocks back"),
    ({"frees": False}, "a preempted request gives back all its blocks: add them to the free count"),
    ({"every_step": True}, "a request needs a new block only when its last one is full (cached % block_size == 0)"),
)


def _preemption_hint(answers: list, got: tuple[list, list]) -> str:
    """The mistake that gives every answer (``answers``: [(case, answer), ...]); else a hint from ``got``,
    the first wrong one."""
    for kwargs, hint in _PREEMPTION_MISTAKES:
        if all(a == _preemption_variant(*case, **kwargs) for case, a in answers):
            return hint
    decoded, preempted = got
    if set(decoded) & set(preempted):
        return "a preempted request computes nothing this step: leave it out of the decoded list"
    return "go through the running requests oldest first; skip the ones already preempted"


@self_check
def check_preemption(fn) -> Verdict:
    """Exercise (chapter 07): ``fn(running, free_blocks, block_size) -> (decoded, preempted)`` for one
    decode step (see ``preemption_reference``); compared with the library's ``Scheduler`` on 7
    hand-made and 200 random cases."""
    require_callable(fn, "fn")
    cases, answers = _preemption_cases(), []
    for running, free, bs in cases:
        ok, got = call_learner(fn, ([tuple(r) for r in running], free, bs),
                               f"running={running}, free_blocks={free}, block_size={bs}:",
                               "return the pair (decoded ids, preempted ids)")
        if not ok:
            return False
        if not (isinstance(got, (tuple, list)) and len(got) == 2 and all(isinstance(g, (list, tuple)) for g in got)):
            print(f"✗ return a pair of lists (decoded ids, preempted ids), got {got!r}")
            return False
        got = (list(got[0]), list(got[1]))
        answers.append(((running, free, bs), got))
    for (running, free, bs), got in answers:         # every answer first, so the hint fits them all
        want = preemption_reference(running, free, bs)
        if got != want:
            print(f"✗ running={running}, free_blocks={free}, block_size={bs}:\n  got decoded={got[0]}, "
                  f"preempted={got[1]}\n  expected decoded={want[0]}, preempted={want[1]}\n  "
                  f"({_preemption_hint(answers, got)})")
            return False
    print(f"✓ your decode step runs and preempts what the library's Scheduler does in {len(cases)} cases")
    return True


# ---- exercise: KV bytes that prefix sharing saves -------------------------------------------------

def prefix_sharing_bytes(config, num_requests: int, prefix_tokens: int, block_size: int) -> int:
    """Bytes not stored when ``num_requests`` requests that begin with the same ``prefix_tokens``
    tokens share its full blocks (one copy instead of one per request; float32)."""
    return (num_requests - 1) * (prefix_tokens // block_size) * kv_cache_bytes(config, 1, block_size)


@self_check
def check_prefix_sharing_bytes(answer, config, num_requests: int = 8, prefix_tokens: int = 130,
                               block_size: int = 16) -> Verdict:
    """Exercise (chapter 07): the KV bytes (float32) that prefix caching saves when ``num_requests``
    requests whose first ``prefix_tokens`` tokens are equal all hold their blocks at once."""
    got = number_answer(answer, "number of bytes")
    if got is None:
        return False
    want = prefix_sharing_bytes(config, num_requests, prefix_tokens, block_size)
    per_token = kv_cache_bytes(config, 1, 1)
    full = prefix_tokens // block_size
    if got == want:
        print(f"✓ {want:,} bytes ({want / 2**20:.2f} MiB): {num_requests - 1} copies of {full} full blocks "
              f"x {block_size} tokens x {per_token:,} bytes per token")
        return True
    mistakes = [
        (num_requests * full * block_size * per_token, "one copy is still stored: sharing saves num_requests - 1"),
        ((num_requests - 1) * prefix_tokens * per_token, f"only full blocks are shared: the block holding the last "
                                                        f"{prefix_tokens % block_size} prefix tokens also holds "
                                                        "each request's own tokens"),
        (want / 2, "keys AND values, 4 bytes each in float32: 2 tensors per layer"),
        (want / config.n_layer, "every layer stores its own keys and values"),
        (full * block_size * per_token, "that is one copy of the prefix; without sharing there are num_requests"),
        (want / 2**20, "give the answer in bytes, not MiB"),
        (want * 8, "give the answer in bytes, not bits"),
    ]
    hint = next((h for value, h in mistakes if abs(got - value) <= 1e-6 * max(value, 1)),
                "bytes per token = 2 x n_layer x n_embd x 4; how many full blocks does the prefix fill?")
    print(f"✗ {got:,.0f} is not it ({hint})")
    return False
