"""Chapter 07's workload and the three ways to serve it, one timed run each (``serving`` compares
them over interleaved rounds).

The workload (``make_workload``, seeded): held-out prompts; output lengths from a geometric
distribution (a reply ends at every token with the same chance: most are short, a few long), capped
by the context window; arrivals from a Poisson process at ``rate`` requests per second, faster than
any of the three can serve, so each builds a queue and what is measured is how fast it drains it.
All three see the same requests at the same times, on a clock that starts with the run; with nothing
to do, a system sleeps until the next arrival.

- one at a time: ``generate`` for each request in arrival order;
- static batching: when free, ``generate_batch`` over up to ``max_num_seqs`` requests that have
  arrived, for as many steps as the longest of them needs (the others keep computing padding); its
  tokens are timed at the end of each forward pass (a forward hook), as if it streamed them;
- the Engine with the same ``max_num_seqs``.

A run's records are (arrival, first token, last token, output tokens) per request, in seconds on the
run's clock; ``summarize`` turns them into throughput, TTFT and TPOT.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import validate
from ..generation import generate, generate_batch
from ..serving import Engine, SamplingParams


@dataclass
class Request:
    prompt: str
    ids: list[int]
    max_new_tokens: int
    arrival: float              # seconds after the run starts


def make_workload(eval_set, tokenizer, num_requests: int, rate: float, mean_output: float, seed: int = 0,
                  window: int = 512, system_prompt: str = "") -> list[Request]:
    """``num_requests`` requests in arrival order (see the module's docstring); ``system_prompt`` is
    put before every prompt (prefix caching shares it). Prompts that leave under 16 tokens (a
    quarter of a small window) for the output are left out."""
    num_requests = validate.integer("num_requests", num_requests, 1)
    rate = validate.number("rate", rate, 0.0, low_open=True)
    mean_output = validate.number("mean_output", mean_output, 1.0)
    prompts = [system_prompt + item["prompt"] for item in eval_set]
    room = min(16, window // 4)
    prompts = [(p, ids) for p in prompts if len(ids := tokenizer.encode(p)) <= window - room]
    if not prompts:
        raise ValueError(f"no prompt leaves {room} tokens of the window ({window}) for its output: "
                         f"shorten system_prompt")
    rng = np.random.default_rng(seed)
    picks = rng.permutation(len(prompts) * -(-num_requests // len(prompts)))[:num_requests] % len(prompts)
    arrivals = np.cumsum(rng.exponential(1 / rate, num_requests))
    lengths = rng.geometric(1 / mean_output, num_requests)            # 1, 2, ... with mean ``mean_output``
    return [Request(prompts[i][0], prompts[i][1], int(min(n, window - len(prompts[i][1]))), float(t))
            for i, t, n in zip(picks, arrivals, lengths)]


class Clock:
    def __init__(self):
        self.t0 = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def wait(self, t: float) -> None:
        time.sleep(max(0.0, t - self.now()))


def serve_one_at_a_time(model, workload: list[Request]) -> dict:
    clock, records, tokens = Clock(), [], []
    for r in workload:
        clock.wait(r.arrival)
        first, out = None, []
        for token in generate(model, torch.tensor([r.ids]), max_new_tokens=r.max_new_tokens, temperature=0,
                              stream=True):
            out.append(int(token[0]))
            first = first or clock.now()
        records.append((r.arrival, first, clock.now(), r.max_new_tokens))
        tokens.append(out)
    return {"records": records, "tokens": tokens, "seconds": clock.now()}


def serve_static(model, tokenizer, workload: list[Request], batch_size: int) -> dict:
    """Static batching (see the module's docstring); also the KV slots its caches reserve and use."""
    clock, queue, records = Clock(), list(workload), []
    kv = {"reserved": 0, "used": 0, "peak_bytes": 0}
    occupancy, batch, times = [], [], []

    def on_forward(module, args, kwargs, output):
        times.append(clock.now())
        cache, s = kwargs["kv_cache"], len(times) - 1            # s = 0: the prefill
        kv["reserved"] += cache.batch_size * cache.max_len
        kv["used"] += sum(len(r.ids) + min(s, r.max_new_tokens - 1) for r in batch)
        kv["peak_bytes"] = max(kv["peak_bytes"], cache.nbytes)
        wanted = sum(s < r.max_new_tokens for r in batch)         # rows still computing a token asked for
        occupancy.append(("decode" if s else "prefill", len(batch), wanted))
    hook = model.register_forward_hook(on_forward, with_kwargs=True)
    try:
        while queue:
            clock.wait(queue[0].arrival)
            batch = static_batch(queue, batch_size, clock.now(), model.config.block_size)
            del queue[:len(batch)]
            times.clear()
            generate_batch(model, [r.prompt for r in batch], tokenizer, batch_size=len(batch), temperature=0,
                           max_new_tokens=max(r.max_new_tokens for r in batch))
            records += [(r.arrival, times[0], times[r.max_new_tokens - 1], r.max_new_tokens) for r in batch]
    finally:
        hook.remove()
    return {"records": records, "kv": kv, "occupancy": occupancy, "seconds": clock.now()}


def static_batch(queue: list[Request], batch_size: int, now: float, window: int) -> list[Request]:
    """The next static batch: requests that have arrived, in order, at most ``batch_size``, while the
    padded batch (longest prompt + longest output) fits the context window (one that does not would
    make ``generate_batch`` crop its input and recompute, which no static server does)."""
    batch: list[Request] = []
    for r in queue[:batch_size]:
        if r.arrival > now or (batch and max(len(q.ids) for q in batch + [r])
                               + max(q.max_new_tokens for q in batch + [r]) > window):
            break
        batch.append(r)
    return batch


def serve_engine(model, tokenizer, workload: list[Request], **engine_kwargs) -> dict:
    engine = Engine(model, tokenizer, **engine_kwargs)
    clock, pending, first, done, occupancy = Clock(), list(workload), {}, {}, []
    while pending or engine.has_unfinished_requests():
        while pending and pending[0].arrival <= clock.now():
            r = pending.pop(0)
            engine.add_request(r.ids, SamplingParams(max_new_tokens=r.max_new_tokens), request_id=str(id(r)))
        if not engine.has_unfinished_requests():
            clock.wait(pending[0].arrival)
            continue
        outs = engine.step()
        now = clock.now()
        occupancy.append((engine.last_step["kind"], len(engine.last_step["requests"])))
        for o in outs:
            first.setdefault(o.request_id, now)
            if o.finished:
                done[o.request_id] = (now, o.token_ids)
    seconds, keys = clock.now(), [str(id(r)) for r in workload]
    records = [(r.arrival, first[k], done[k][0], r.max_new_tokens) for r, k in zip(workload, keys)]
    return {"records": records, "tokens": [done[k][1] for k in keys], "stats": engine.stats, "occupancy": occupancy,
            "seconds": seconds}


def summarize(run: dict) -> dict:
    """Throughput (output tokens / seconds to the last token), TTFT and TPOT p50/p99 (seconds)."""
    arrival, first, last, n = (np.array(x, dtype=float) for x in zip(*run["records"]))
    ttft, tpot = first - arrival, ((last - first) / np.maximum(n - 1, 1))[n > 1]
    return {"tokens_per_s": float(n.sum() / last.max()), "ttft_p50": float(np.percentile(ttft, 50)),
            "ttft_p99": float(np.percentile(ttft, 99)), "tpot_p50": float(np.percentile(tpot, 50)),
            "tpot_p99": float(np.percentile(tpot, 99))}


def system_prompt(eval_set, tokens: int, tokenizer) -> str:
    """A shared opening of about ``tokens`` tokens: held-out references joined (text the model has not
    trained on), as a system prompt or a few-shot preamble."""
    text = "\n".join(item["reference"] for item in eval_set[-40:])
    return tokenizer.decode(tokenizer.encode(text)[:tokens]) + "\n\n"
