"""Chapter 07's measurements: one stream of requests served one at a time, by static batching
(``generate_batch``) and by the ``Engine`` (continuous batching over a paged KV cache). The workload
and the three ways to serve it are in ``serving_runs`` (imported here too); here, how they are compared.

    python -m nanoinfer_lib.benchmark serving --out serving.json [--quick]

The Engine's greedy outputs are checked equal to one at a time's. Whole runs are timed in rounds
(one at a time, static, Engine, Engine, static, one at a time), so each pair runs in ABBA order;
``stats.abba_statistics`` gives the Engine's throughput (output tokens / time to the last token) over
each other system's, with a t interval over the rounds and the A/A noise (8 rounds by default: with 4,
a t interval has 3 degrees of freedom and cannot tell a gain of 2.1x from 2x on this kind of
workload). Per run: TTFT (time to first token, from arrival) and TPOT (time per output token after
the first), p50 and p99 over the requests; over runs, medians with ``median_interval`` (a labelled
range below 6 runs).
KV memory: token slots reserved vs holding a token's keys/values, summed over steps (static: its
contiguous cache of B x (longest prompt + longest output) per batch; Engine: the blocks its requests
hold), and the peak bytes reserved. Two more Engine measurements: a shared system prompt with prefix
caching on vs off, and a pool of a quarter of the default size (preemptions). And static batching
vs the Engine again at other values of max_num_seqs (``--sweep``): a static batch waits for the
longest of its requests, so the more requests it holds, the more of its rows compute padding.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .. import cli, validate
from ..kv_cache import kv_cache_bytes
from ..serving import Engine
from . import command
from .latency import latency_text, median_text, medians
from .results import checkpoint_sha256
from .serving_runs import (Clock, Request, make_workload, serve_engine, serve_one_at_a_time,  # noqa: F401
                           serve_static, static_batch, summarize, system_prompt)
from .stats import abba_statistics, paired_ratio_interval
from .timing import FAILS, HOLDS, Comparison, verdict

GOAL = 2.0                      # the Engine's throughput over static batching's
KV_GOAL = 0.90                  # share of the reserved paged KV slots that hold a token


def over_runs(runs: list[dict]) -> dict:
    """Each summary figure over runs: median, ``median_interval`` and its label."""
    return medians([summarize(r) for r in runs])


def interleaved(systems: dict, rounds: int) -> dict[str, list[dict]]:
    """Each system's runs: one warm-up run each, then ``rounds`` rounds in the order given and back
    (A B C C B A), so each pair of systems runs in ABBA order and slow drifts hit all alike."""
    runs = {name: [fn()] for name, fn in systems.items()}
    for _ in range(rounds):
        for name in list(systems) + list(reversed(systems)):
            runs[name].append(systems[name]())
    return runs


def comparison(runs: dict, a: str, b: str) -> Comparison:
    """Run time of ``a`` over ``b`` (the same tokens: b's throughput over a's), from the ABBA runs."""
    ta, tb = ([r["seconds"] for r in runs[k][1:]] for k in (a, b))           # without the warm-up
    st = abba_statistics(ta, tb)
    return Comparison((a, b), ta, tb, st["ratio"], st["interval"], st["noise"], (1, 1), {"rounds": st["rounds"]})


def measure(model, tokenizer, workload, system_workload, max_num_seqs: int, rounds: int, log=print,
            sweep: tuple[int, ...] = ()) -> dict:
    """Every measurement of the module's docstring; returns the data part of a results file. ``sweep``:
    more values of max_num_seqs at which static batching and the Engine are compared again."""
    engine = lambda w, **kw: lambda: serve_engine(model, tokenizer, w, max_num_seqs=max_num_seqs, **kw)  # noqa: E731
    runs = interleaved({"one at a time": lambda: serve_one_at_a_time(model, workload),
                        "static batching": lambda: serve_static(model, tokenizer, workload, max_num_seqs),
                        "engine": engine(workload)}, rounds)
    check_equal(runs["one at a time"][0], runs["engine"][0])
    vs_static, vs_one = comparison(runs, "static batching", "engine"), comparison(runs, "one at a time", "engine")
    log(f"engine vs static batching: {vs_static}\nengine vs one at a time: {vs_one}")
    cache = interleaved({"no prefix caching": engine(system_workload, enable_prefix_caching=False),
                         "prefix caching": engine(system_workload, enable_prefix_caching=True)}, rounds)
    vs_cache = comparison(cache, "no prefix caching", "prefix caching")
    log(f"shared system prompt: {vs_cache}")
    full = Engine(model, tokenizer, max_num_seqs=max_num_seqs).stats
    need = max(-(-(len(r.ids) + r.max_new_tokens - 1) // full["block_size"]) for r in workload)
    small = engine(workload, num_blocks=max(need, full["num_blocks"] // 4))()     # a quarter: preemptions
    check_equal(cache["no prefix caching"][0], cache["prefix caching"][0])
    check_equal(runs["one at a time"][0], small)
    kept = {k: v[1:] for k, v in {**runs, **cache}.items()}
    data = {"systems": {k: over_runs(kept[k]) for k in runs},
            "comparisons": {"engine vs static batching": vs_static.as_dict(),
                            "engine vs one at a time": vs_one.as_dict(),
                            "prefix caching on vs off": vs_cache.as_dict()},
            "kv": kv_memory(model, kept["static batching"], kept["engine"]),
            "prefix_caching": {k: {**over_runs(kept[k]), **_cache_stats(kept[k][-1]["stats"])} for k in cache},
            "small_pool": {**summarize(small), **{k: small["stats"][k] for k in ("num_blocks", "preemptions",
                                                                                  "peak_blocks_used", "steps")}},
            "occupancy": {k: kept[k][-1]["occupancy"] for k in ("static batching", "engine")},
            "rows_per_step": rows_per_step(kept["static batching"][-1], kept["engine"][-1])}
    data["max_num_seqs_sweep"] = {str(max_num_seqs): _sweep_row(kept, vs_static)}
    for b in sweep:
        more = interleaved({"static batching": lambda b=b: serve_static(model, tokenizer, workload, b),
                            "engine": lambda b=b: serve_engine(model, tokenizer, workload, max_num_seqs=b)}, rounds)
        c = comparison(more, "static batching", "engine")
        log(f"max_num_seqs={b}: engine vs static batching: {c}")
        data["max_num_seqs_sweep"][str(b)] = _sweep_row({k: v[1:] for k, v in more.items()}, c)
    data["claims"] = claims(data, vs_static, vs_one, vs_cache, kept, max_num_seqs)
    return data


def _sweep_row(kept: dict, c: Comparison) -> dict:
    """Static batching vs the Engine at one max_num_seqs: the comparison, throughputs, rows per step and
    the p99 time to first token, Engine over static."""
    return {"comparison": c.as_dict(), "rows_per_step": rows_per_step(kept["static batching"][-1], kept["engine"][-1]),
            "ttft_p99_ratio": ttft_p99_ratio(kept), **{k: over_runs(kept[k])["tokens_per_s"]
                                                       for k in ("static batching", "engine")}}


def ttft_p99_ratio(kept: dict) -> dict:
    """The Engine's p99 time to first token over static batching's, paired by round: ratio and t interval."""
    p99 = lambda runs: [summarize(r)["ttft_p99"] for r in runs]                                    # noqa: E731
    ratio, interval = paired_ratio_interval(p99(kept["engine"]), p99(kept["static batching"]))
    return {"ratio": ratio, "interval": list(interval)}


def check_equal(one: dict, engine: dict) -> None:
    for i, (a, b) in enumerate(zip(one["tokens"], engine["tokens"])):
        if a != b:
            raise RuntimeError(f"request {i}: the greedy tokens of two ways to serve it differ")


def rows_per_step(static: dict, engine: dict) -> dict:
    """Mean rows per decode step of one run each: static batching's, the rows of them still computing
    a token that was asked for, and the Engine's."""
    mean = lambda xs: float(np.mean(xs)) if xs else 0.0                                             # noqa: E731
    decode = [row[1:] for row in static["occupancy"] if row[0] == "decode"]
    return {"static batching": mean([r for r, _ in decode]), "static batching, wanted": mean([w for _, w in decode]),
            "engine": mean([n for kind, n in engine["occupancy"] if kind == "decode"])}


def _cache_stats(stats: dict) -> dict:
    return {k: stats[k] for k in ("prefix_cache_hit_tokens", "computed_tokens", "prompt_tokens")}


def kv_memory(model, static_runs: list[dict], engine_runs: list[dict]) -> dict:
    """Token slots holding keys/values over slots reserved (summed over steps), per run, and peak bytes."""
    static = [r["kv"]["used"] / r["kv"]["reserved"] for r in static_runs]
    engine = [r["stats"]["kv_used_fraction"] for r in engine_runs]
    s = engine_runs[-1]["stats"]
    return {"static_used_fraction": static, "engine_used_fraction": engine,
            "static_peak_reserved_bytes": max(r["kv"]["peak_bytes"] for r in static_runs),
            "engine_peak_reserved_bytes": s["peak_blocks_used"] * s["kv_block_bytes"],
            "engine_pool_bytes": s["kv_pool_bytes"], "bytes_per_token": kv_cache_bytes(model.config, 1, 1)}


def claims(data: dict, vs_static, vs_one, vs_cache, kept: dict, max_num_seqs: int) -> list[dict]:
    """The chapter's claims about these runs, each with a verdict decided here."""
    ttft = ttft_p99_ratio(kept)
    ttft_ratio, ttft_interval = ttft["ratio"], ttft["interval"]
    kv = min(data["kv"]["engine_used_fraction"])
    rows = [(f"the Engine's throughput is at least {GOAL:g}x static batching's at the same max_num_seqs "
             f"({max_num_seqs})", vs_static.ratio, vs_static.interval,
             verdict(vs_static.interval, GOAL, None, vs_static.noise)),
            ("the Engine's p99 time to first token is no worse than static batching's (Engine / static)",
             ttft_ratio, ttft_interval, verdict(ttft_interval, None, 1.0, vs_static.noise)),
            ("the Engine's throughput is higher than one request at a time",
             vs_one.ratio, vs_one.interval, verdict(vs_one.interval, 1.0, None, vs_one.noise)),
            ("prefix caching makes the Engine faster on prompts that share a system prompt",
             vs_cache.ratio, vs_cache.interval, verdict(vs_cache.interval, 1.0, None, vs_cache.noise)),
            (f"at least {KV_GOAL:.0%} of the paged KV slots reserved hold a token (every run; exact counts)",
             kv, [kv, kv], HOLDS if kv >= KV_GOAL else FAILS)]
    for b, row in data["max_num_seqs_sweep"].items():
        if b != str(max_num_seqs):
            c = row["comparison"]
            t = row["ttft_p99_ratio"]
            rows += [(f"at max_num_seqs={b}, the Engine's throughput is at least {GOAL:g}x static batching's",
                      c["ratio"], c["interval"], verdict(c["interval"], GOAL, None, c["noise"])),
                     (f"at max_num_seqs={b}, the Engine's p99 time to first token is no worse than static "
                      f"batching's (Engine / static)", t["ratio"], t["interval"],
                      verdict(t["interval"], None, 1.0, c["noise"]))]
    return [{"claim": c, "value": v, "interval": list(i), "verdict": d} for c, v, i, d in rows]


def main(argv: list[str] | None = None) -> int:
    """``python -m nanoinfer_lib.benchmark serving --out FILE``."""
    p = command.parser("serving", "One at a time, static batching and the Engine on one stream of requests.")
    p.add_argument("--requests", type=int, default=None, help="requests in the workload (default 64)")
    p.add_argument("--rate", type=float, default=200.0, help="Poisson arrivals, requests per second (default 200)")
    p.add_argument("--mean-output", type=float, default=None, help="mean output tokens (geometric; default 64)")
    p.add_argument("--max-num-seqs", type=int, default=8, help="batch size of static batching and the Engine")
    p.add_argument("--sweep", default=None,
                   help="more max_num_seqs values for static batching vs the Engine, comma-separated "
                        "(default 4,16; none with --quick)")
    p.add_argument("--system-tokens", type=int, default=128, help="tokens of the shared system prompt")
    p.add_argument("--rounds", type=int, default=None, help="ABBA rounds per comparison (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the workload")
    args = command.parse(p, argv, "defaults of 8 requests of 4 tokens on average, 2 rounds: a smoke test")
    n = validate.integer("--requests", command.default(args, args.requests, 8, 64), 1, 10_000)
    rate = validate.number("--rate", args.rate, 0.0, low_open=True)
    mean = validate.number("--mean-output", command.default(args, args.mean_output, 4.0, 64.0), 1.0, 256.0)
    seqs = validate.integer("--max-num-seqs", args.max_num_seqs, 1, 256)
    sys_tokens = validate.integer("--system-tokens", args.system_tokens, 1, 255)
    rounds = validate.integer("--rounds", command.default(args, args.rounds, 2, 8), 2)
    seed = validate.integer("--seed", args.seed, 0)
    sweep = cli.integers("--sweep", command.default(args, args.sweep, "", "4,16"), 1, 256)
    from ..checkpoint import load_model
    from ..metrics import load_eval_set
    model, tokenizer = load_model()
    eval_set, window = load_eval_set(), model.config.block_size
    workload = make_workload(eval_set, tokenizer, n, rate, mean, seed, window)
    opening = system_prompt(eval_set, sys_tokens, tokenizer)
    shared = make_workload(eval_set, tokenizer, n, rate, mean, seed, window, opening)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    data = measure(model, tokenizer, workload, shared, seqs, rounds, sweep=sweep)
    data.update(seconds=round(time.perf_counter() - t0, 1), model_sha256=checkpoint_sha256(), dtype="float32",
                workload={"requests": n, "rate": rate, "mean_output": mean, "seed": seed, "max_num_seqs": seqs,
                          "system_prompt_tokens": len(tokenizer.encode(opening)),
                          "prompt_tokens": [len(r.ids) for r in workload],
                          "output_tokens": [r.max_new_tokens for r in workload],
                          "arrivals_s": [round(r.arrival, 4) for r in workload]})
    report(data)
    command.save(args, "serving", data, argv, repeats=rounds)
    return 0


def report(data: dict) -> None:
    for name, s in data["systems"].items():
        print(f"{name:15s} {latency_text(s)} ({s['interval_kind']})")
    kv, pc, off = data["kv"], data["prefix_caching"]["prefix caching"], data["prefix_caching"]["no prefix caching"]
    print(f"KV slots holding a token: static batching {np.median(kv['static_used_fraction']):.1%}, Engine "
          f"{np.median(kv['engine_used_fraction']):.1%}; peak reserved {kv['static_peak_reserved_bytes'] / 2**20:.1f} "
          f"vs {kv['engine_peak_reserved_bytes'] / 2**20:.1f} MiB")
    print(f"prefix caching: {pc['prefix_cache_hit_tokens']} of {pc['prompt_tokens']} prompt tokens found in the "
          f"cache; TTFT p50 {median_text(off, 'ttft_p50', 1e3)} ms without, "
          f"{median_text(pc, 'ttft_p50', 1e3)} ms with it")
    print(f"a quarter of the pool: {data['small_pool']['preemptions']} preemptions, "
          f"{data['small_pool']['tokens_per_s']:.3g} tokens/s (one run)")
    for b, row in data["max_num_seqs_sweep"].items():
        c, r = row["comparison"], row["rows_per_step"]
        print(f"max_num_seqs={b}: Engine / static batching {c['ratio']:.3g} [{c['interval'][0]:.3g}-"
              f"{c['interval'][1]:.3g}]; rows per decode step: static {r['static batching']:.1f} "
              f"({r['static batching, wanted']:.1f} wanted), Engine {r['engine']:.1f}")
    for c in data["claims"]:
        lo, hi = c["interval"]
        print(f"{c['verdict']:>13s}: {c['claim']} ({c['value']:.3g} [{lo:.3g}-{hi:.3g}])")
