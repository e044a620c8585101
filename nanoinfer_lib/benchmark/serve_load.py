"""The HTTP server under load: what continuous batching does for real clients.

    python -m nanoinfer_lib.benchmark serve-load --out serve_load.json [--quick]

Starts ``python -m nanoinfer_lib.serve`` in a process of its own on a free port of 127.0.0.1 (the only
address it talks to), then, from this process, sends the same ``--requests`` streamed greedy
requests (held-out prompts, ``--max-tokens`` each) with at most 1, 8 and 32 in flight at a time
(``--concurrency``), and stops the server. Each level runs ``--rounds`` times, the levels in order
and back (1 8 32 32 8 1), so slow drifts hit all alike; one warm-up run first.

Per run: throughput (output tokens / seconds from the first request sent to the last token
received), and over its requests the p50/p99 of TTFT (time to first token: request sent to first
text received) and TPOT (time per output token after the first); over runs, medians with
``median_interval`` (a labelled range below 6 runs). The throughput of each level over concurrency
1's comes with a t interval over the rounds. Outputs are checked equal at every level (greedy, so
batching must not change them). Client and server share the machine's cores, as on a laptop.

Every request has a timeout, and every level a time limit (``--time-limit``): nothing waits forever.
The notebook-sized pieces: ``load_prompts``, ``run_level`` (works inside Jupyter's event loop too)
and ``summarize``; ``nanoinfer_lib.serve.background_server`` starts and stops the server.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time

import numpy as np

from .. import cli, validate
from ..serve.background import HOST, background_server
from . import command
from .latency import latency_text, medians
from .results import checkpoint_sha256
from .stats import paired_ratio_interval

LEVELS = (1, 8, 32)


def load_prompts(num: int, max_tokens: int, seed: int = 0, window: int = 512) -> list[str]:
    """``num`` held-out prompts (a seeded choice, repeated if needed) that leave room for ``max_tokens``."""
    from ..metrics import load_eval_set
    from ..paths import BUNDLED_TOKENIZER
    from ..tokenizer import Tokenizer
    tokenizer = Tokenizer(BUNDLED_TOKENIZER)
    fits = [item["prompt"] for item in load_eval_set() if len(tokenizer.encode(item["prompt"])) + max_tokens <= window]
    if not fits:
        raise ValueError(f"max_tokens={max_tokens} leaves no room for a prompt in the {window}-token window")
    order = np.random.default_rng(seed).permutation(len(fits) * -(-num // len(fits)))[:num] % len(fits)
    return [fits[i] for i in order]


async def _one(client, url: str, prompt: str, max_tokens: int, gate: asyncio.Semaphore, t0: float) -> dict:
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    async with gate:
        sent, first, text, usage = time.perf_counter() - t0, None, "", None
        async with client.stream("POST", url, json=body) as r:
            if r.status_code != 200:
                raise RuntimeError(f"the server answered {r.status_code}: {(await r.aread())[:200]!r}")
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    raise RuntimeError(f"the server ended a stream with an error: {chunk['error']['message']}")
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk["choices"]:
                    if choice["text"] and first is None:
                        first = time.perf_counter() - t0
                    text += choice["text"]
        end = time.perf_counter() - t0
    return {"sent": sent, "first": first if first is not None else end, "end": end, "text": text,
            "tokens": usage["completion_tokens"], "prompt_tokens": usage["prompt_tokens"]}


async def _level(base_url: str, prompts: list[str], max_tokens: int, concurrency: int, api_key: str | None,
                 timeout: float, time_limit: float) -> list[dict]:
    import httpx
    gate, headers = asyncio.Semaphore(concurrency), {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=timeout, limits=limits) as client:
        t0 = time.perf_counter()
        jobs = [_one(client, base_url + "/completions", p, max_tokens, gate, t0) for p in prompts]
        return await asyncio.wait_for(asyncio.gather(*jobs), time_limit)


def run_level(base_url: str, prompts: list[str], max_tokens: int = 32, concurrency: int = 8,
              api_key: str | None = None, timeout: float = 120.0, time_limit: float = 600.0) -> list[dict]:
    """Send every prompt (streamed, greedy) with at most ``concurrency`` in flight; one record per
    request, in order: seconds from the start when it was sent, got its first text and its last
    token, its text and token counts. ``base_url`` ends in ``/v1`` (``BackgroundServer.base_url``);
    only 127.0.0.1 is accepted."""
    if not base_url.startswith(f"http://{HOST}:"):
        raise ValueError(f"base_url must be a server on http://{HOST}, got {base_url!r}")
    concurrency = validate.integer("concurrency", concurrency, 1, 1024)
    coro = _level(base_url, list(prompts), validate.integer("max_tokens", max_tokens, 1), concurrency, api_key,
                  timeout, time_limit)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:       # inside a running loop (Jupyter): a thread of its own
        return pool.submit(asyncio.run, coro).result()


def summarize(records: list[dict]) -> dict:
    """Throughput (tokens/s, requests/s), TTFT, TPOT and latency p50/p99 (seconds) of one run."""
    sent, first, end, n = (np.array([r[k] for r in records], dtype=float) for k in ("sent", "first", "end", "tokens"))
    ttft, tpot, latency = first - sent, ((end - first) / np.maximum(n - 1, 1))[n > 1], end - sent
    span = end.max() - sent.min()
    out = {"tokens_per_s": float(n.sum() / span), "requests_per_s": len(records) / float(span), "seconds": float(span)}
    for name, x in (("ttft", ttft), ("tpot", tpot), ("latency", latency)):
        out.update({f"{name}_p50": float(np.percentile(x, 50)), f"{name}_p99": float(np.percentile(x, 99))})
    return out


def measure(base_url: str, prompts: list[str], max_tokens: int, levels: tuple[int, ...], rounds: int,
            stats=None, time_limit: float = 600.0, log=print) -> dict:
    """Every level ``rounds`` times (in order and back), after one warm-up run; the data of a results file."""
    run = lambda c: run_level(base_url, prompts, max_tokens, c, time_limit=time_limit)   # noqa: E731
    reference = [r["text"] for r in run(max(levels))]                                  # warm-up
    runs: dict[int, list[dict]] = {c: [] for c in levels}
    steps: dict[int, list[float]] = {c: [] for c in levels}
    for i in range(rounds):
        for c in (levels if i % 2 == 0 else tuple(reversed(levels))):
            before = stats() if stats else None
            records = run(c)
            if [r["text"] for r in records] != reference:
                raise RuntimeError(f"concurrency {c}: greedy outputs differ from the warm-up run's")
            if any(r["tokens"] != max_tokens for r in records):
                raise RuntimeError(f"concurrency {c}: a request got fewer than max_tokens={max_tokens} tokens")
            if stats:
                after = stats()
                steps[c].append((after["generated_tokens"] - before["generated_tokens"])
                                / max(1, after["steps"] - before["steps"]))
            runs[c].append(summarize(records))
            log(f"round {i + 1}, concurrency {c:3d}: {runs[c][-1]['tokens_per_s']:.0f} tokens/s, TTFT p50 "
                f"{runs[c][-1]['ttft_p50'] * 1e3:.0f} ms")
    data = {"levels": {str(c): over_runs(runs[c], steps[c]) for c in levels}}
    base = [r["seconds"] for r in runs[levels[0]]]
    data["speedup_vs_concurrency_1"] = {str(c): dict(zip(("ratio", "interval"), _ratio(base, [r["seconds"] for r in runs[c]])))
                                        for c in levels[1:]}
    return data


def _ratio(base: list[float], other: list[float]) -> tuple[float, list[float]]:
    ratio, interval = paired_ratio_interval(base, other)              # same tokens: time ratio = throughput ratio
    return ratio, list(interval)


def over_runs(rows: list[dict], tokens_per_step: list[float]) -> dict:
    """``medians`` of the runs' summaries, and the mean tokens per engine step when the server's were read."""
    out = medians(rows)
    if tokens_per_step:                       # tokens sampled per engine step: how many requests it batched
        out["tokens_per_engine_step"] = float(np.mean(tokens_per_step))
    return out


def report(data: dict) -> None:
    for c, s in data["levels"].items():
        print(f"concurrency {c:>3s}: {latency_text(s)}, "
              f"{s.get('tokens_per_engine_step', float('nan')):.1f} tokens per engine step ({s['interval_kind']})")
    for c, r in data["speedup_vs_concurrency_1"].items():
        print(f"throughput at concurrency {c} over concurrency 1: {r['ratio']:.2f}x "
              f"[{r['interval'][0]:.2f}-{r['interval'][1]:.2f}] (t interval over rounds)")


def main(argv: list[str] | None = None) -> int:
    p = command.parser("serve-load", "The HTTP server under 1, 8 and 32 concurrent streamed clients.")
    p.add_argument("--requests", type=int, default=None, help="requests per run (default 32; 8 with --quick)")
    p.add_argument("--max-tokens", type=int, default=None, help="tokens per request (default 64; 8 with --quick)")
    p.add_argument("--concurrency", default=None, help="levels, comma-separated (default 1,8,32; 1,4 with --quick)")
    p.add_argument("--rounds", type=int, default=None,
                   help="runs per level (default 6, the fewest with a 95%% interval of the median; 2 with --quick)")
    p.add_argument("--max-num-seqs", type=int, default=32, help="the server's max_num_seqs (default 32)")
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds a run may take at most (default 600)")
    p.add_argument("--seed", type=int, default=0, help="seed of the prompt choice")
    args = command.parse(p, argv, "a smoke test: small defaults")
    n = validate.integer("--requests", command.default(args, args.requests, 8, 32), 1, 10_000)
    max_tokens = validate.integer("--max-tokens", command.default(args, args.max_tokens, 8, 64), 1, 511)
    rounds = validate.integer("--rounds", command.default(args, args.rounds, 2, 6), 2)
    seqs = validate.integer("--max-num-seqs", args.max_num_seqs, 1, 1024)
    limit = validate.number("--time-limit", args.time_limit, 1.0)
    levels = cli.integers("--concurrency", command.default(args, args.concurrency, "1,4", ",".join(map(str, LEVELS))),
                          1, 1024)
    if len(levels) < 2 or len(set(levels)) != len(levels):
        raise ValueError(f"--concurrency needs two or more different levels, got {args.concurrency!r}")
    prompts = load_prompts(n, max_tokens, validate.integer("--seed", args.seed, 0))
    t0 = time.perf_counter()
    with background_server(max_num_seqs=seqs, args=("--max-queue", str(max(0, n - seqs)))) as server:
        data = measure(server.base_url, prompts, max_tokens, levels, rounds, server.stats, limit)
        data["server"] = {k: server.stats()[k] for k in ("num_blocks", "block_size", "preemptions", "steps")}
    data.update(seconds=round(time.perf_counter() - t0, 1), model_sha256=checkpoint_sha256(), dtype="float32",
                workload={"requests": n, "max_tokens": max_tokens, "concurrency": list(levels), "rounds": rounds,
                          "max_num_seqs": seqs, "seed": args.seed, "temperature": 0, "stream": True})
    report(data)
    command.save(args, "serve-load", data, argv, repeats=rounds, extra_versions=("starlette", "uvicorn", "httpx"))
    return 0
