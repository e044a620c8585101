"""Chapter 02's measurements: greedy generation with and without the KV cache over growing lengths
(``kv_sweep``, repeats interleaved so both modes see the same machine), the latency of one step at a
given position (``step_latency``, ``decode_step_fn``) and the speedup those predict
(``predicted_times``, ``predicted_speedups``), peak memory with and without the cache
(``generation_peak_memory``), and appending to a cache by ``torch.cat`` vs preallocation (``cache_append_fns``).

    python -m nanoinfer_lib.benchmark kv-sweep --out kv.json [--device cuda] [--model bundled gpt2-random]
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from .. import cli, validate
from ..generation import generate
from ..kv_cache import KVCache, kv_cache_bytes
from ..model import GPT, GPT2_SMALL
from .hardware import device_info, model_memory, peak_memory
from .results import KV_SWEEP_GPU_FILE, command_line, make_results, read_benchmark, read_results, write_results
from .speed import random_prompt, repeated_pass
from .stats import paired_ratio_interval
from .timing import synchronize, time_fn

KV_SWEEP_NEW_TOKENS = (16, 32, 64, 128, 240, 496)   # new tokens after a 16-token prompt: up to 512 positions


def kv_sweep(model, new_tokens=KV_SWEEP_NEW_TOKENS, prompt_len: int = 16, batch_size: int = 1,
             num_runs: int = 3, modes=("cached", "uncached"), model_name: str = "model", seed: int = 0) -> list[dict]:
    """Time greedy ``generate`` with and without the KV cache for each number of new tokens.

    ``num_runs`` rounds, each timing every (length, mode) once, so a slow spell of a shared machine
    lands in every condition alike. Returns tidy records, one per (mode, new_tokens): ``times``
    (seconds, one per round), seconds (their median), tokens_per_s, peak GPU memory (None on CPU),
    kv_cache_bytes (0 without the cache). A short generation in each mode runs first (warm-up).
    """
    lengths = [validate.integer("new_tokens[i]", n, 1) for n in new_tokens]
    if not lengths:
        raise ValueError("new_tokens must be a non-empty list of ints >= 1")
    prompt_len = validate.integer("prompt_len", prompt_len, 1)
    if prompt_len + max(lengths) > model.config.block_size:
        raise ValueError(f"prompt_len + max(new_tokens) must be <= block_size={model.config.block_size}, "
                         f"got {prompt_len} + {max(lengths)}")
    num_runs = validate.integer("num_runs", num_runs, 1)
    if not modes or set(modes) - {"cached", "uncached"}:
        raise ValueError(f"modes must be a non-empty subset of ('cached', 'uncached'), got {modes!r}")
    device, dtype = model.device, model.dtype
    ids = random_prompt(model.config.vocab_size, batch_size, prompt_len, seed, device)
    cuda = device.type == "cuda"
    for mode in modes:                                                      # warm-up
        generate(model, ids, max_new_tokens=4, temperature=0, use_cache=mode == "cached")
    times = {(m, n): [] for n in lengths for m in modes}
    peaks = {}
    for _ in range(num_runs):
        for n in lengths:
            for mode in modes:
                if cuda:
                    torch.cuda.reset_peak_memory_stats(device)
                times[(mode, n)] += time_fn(lambda: generate(model, ids, max_new_tokens=n, temperature=0,
                                                             use_cache=mode == "cached"),
                                            num_runs=1, warmup=0, device=device)
                peaks[(mode, n)] = torch.cuda.max_memory_allocated(device) if cuda else None
    records = []
    for (mode, n), t in times.items():
        sec = statistics.median(t)
        records.append({"model": model_name, "device": str(device), "dtype": validate.dtype_name(dtype),
                        "mode": mode, "batch_size": batch_size, "prompt_tokens": prompt_len, "new_tokens": n,
                        "times": t, "seconds": sec, "seconds_min": min(t), "runs": num_runs,
                        "tokens_per_s": batch_size * n / sec, "peak_memory_bytes": peaks[(mode, n)],
                        "kv_cache_bytes": kv_cache_bytes(model.config, batch_size, prompt_len + n, dtype)
                                          if mode == "cached" else 0})
    return records


def decode_step_fn(model, batch_size: int = 1, position: int = 16, seed: int = 0):
    """A function that runs one cached decode step: one new token per row attending to a cache of
    ``position`` positions (prefilled here, from seeded random ids), then forgets that token, so
    every call repeats the same step (``repeated_pass`` with one token). Decode alone, without the prefill."""
    return repeated_pass(model, batch_size, position, 1, seed)


def step_latency(model, positions, batch_size: int = 1, num_runs: int = 3, model_name: str = "model",
                 seed: int = 0, warm_s: float = 0.02) -> list[dict]:
    """Time one generation step at each position L (tokens already in the sequence).

    "uncached": a forward pass over all L tokens (also exactly the prefill of an L-token prompt);
    "cached": one new token attending to a cache of L positions. Each mode runs as a block: untimed
    calls for ``warm_s`` seconds (at least two), then ``num_runs`` timed ones, so a step is timed
    after steps of its own kind, as inside ``generate`` (right after a long uncached pass, a cached
    step takes up to twice as long for several calls). Records: position, mode, seconds (median),
    times (one per run), what it ran on."""
    positions = [int(p) for p in positions]
    if not positions or any(not 1 <= p < model.config.block_size for p in positions):
        raise ValueError(f"positions must be ints in [1, block_size={model.config.block_size}), got {positions!r}")
    num_runs = validate.integer("num_runs", num_runs, 1)
    warm_s = validate.number("warm_s", warm_s, 0.0)
    device = model.device
    ids = random_prompt(model.config.vocab_size, batch_size, max(positions) + 1, seed, device)   # (B, max_pos + 1)
    records = []
    for L in positions:
        prefix = ids[:, :L]

        def uncached():
            with torch.inference_mode():
                model(prefix, last_only=True)
        for mode, fn in (("uncached", uncached), ("cached", decode_step_fn(model, batch_size, L, seed))):
            t0, calls = time.perf_counter(), 0
            while calls < 2 or time.perf_counter() - t0 < warm_s:                   # warm up
                fn()
                calls += 1
            t = time_fn(fn, num_runs=num_runs, warmup=0, device=device)
            records.append({"model": model_name, "device": str(device), "dtype": validate.dtype_name(model.dtype),
                            "mode": mode, "batch_size": batch_size, "position": L,
                            "seconds": statistics.median(t), "times": t, "runs": num_runs})
    return records


def predicted_times(latency: list[dict], prompt_len: int, new_tokens) -> dict[int, dict[str, float]]:
    """{N: {"uncached": s, "cached": s}}: seconds to generate N tokens after ``prompt_len`` by the
    one-step latencies (``step_latency``, interpolated linearly). Uncached: steps at positions
    P .. P+N-1; cached: the prefill of P (an uncached step at P), then cached steps at P+1 .. P+N-1."""
    by = {m: sorted((r["position"], r["seconds"]) for r in latency if r["mode"] == m) for m in ("cached", "uncached")}
    if not by["cached"] or not by["uncached"]:
        raise ValueError("latency needs records of both modes, 'cached' and 'uncached'")
    P = validate.integer("prompt_len", prompt_len, 1)
    step = {m: (lambda L, pts=pts: np.interp(L, [p for p, _ in pts], [s for _, s in pts])) for m, pts in by.items()}
    out = {}
    for n in new_tokens:
        L = np.arange(P, P + validate.integer("new_tokens[i]", n, 1))
        out[int(n)] = {"uncached": float(step["uncached"](L).sum()),
                       "cached": float(step["uncached"](P) + step["cached"](L[1:]).sum())}
    return out


def predicted_speedups(latency: list[dict], prompt_len: int, new_tokens) -> dict[int, float]:
    """{N: speedup predicted from one-step latencies}: ``predicted_times``' uncached / cached seconds."""
    return {n: t["uncached"] / t["cached"] for n, t in predicted_times(latency, prompt_len, new_tokens).items()}


def generation_peak_memory(model, new_tokens: int, prompt_len: int = 16, batch_size: int = 1,
                           seed: int = 0) -> dict[str, dict]:
    """Peak memory of greedy generation with and without the cache, for one workload:
    {mode: {"peak_bytes" (weights included), "weights_bytes", "kv_cache_bytes", "method"}}.
    Measured with ``hardware.peak_memory`` (CPU: tensors counted at every operator; CUDA: the
    allocator's peak); the weights, allocated before, are added to the peak."""
    n = validate.integer("new_tokens", new_tokens, 1)
    ids = random_prompt(model.config.vocab_size, batch_size, prompt_len, seed, model.device)
    weights = model_memory(model)
    out = {}
    for mode in ("cached", "uncached"):
        m = peak_memory(lambda: generate(model, ids, max_new_tokens=n, temperature=0, use_cache=mode == "cached"),
                        model.device)
        out[mode] = {"peak_bytes": weights + m["peak_bytes"], "weights_bytes": weights, "method": m["method"],
                     "kv_cache_bytes": kv_cache_bytes(model.config, batch_size, prompt_len + n, model.dtype)
                                       if mode == "cached" else 0}
    return out


def cache_append_fns(config, n_tokens: int, batch_size: int = 1, device=None,
                     dtype: torch.dtype = torch.float32) -> dict:
    """Two functions of no arguments that append ``n_tokens`` one at a time to every layer's k and v:
    "concat" grows the tensors with ``torch.cat`` (copies the whole cache each step), "prealloc"
    writes into a preallocated ``KVCache``. Time them side by side (``timing.compare``)."""
    n_tokens = validate.integer("n_tokens", n_tokens, 1)
    batch_size = validate.integer("batch_size", batch_size, 1)
    device = torch.device(device or "cpu")
    k_new = torch.randn(batch_size, config.n_head, 1, config.head_dim, device=device, dtype=dtype)   # (B, nh, 1, hs)

    def concat():
        past = [None] * config.n_layer
        for _ in range(n_tokens):
            for i in range(config.n_layer):
                k = k_new if past[i] is None else torch.cat([past[i][0], k_new], dim=2)
                v = k_new if past[i] is None else torch.cat([past[i][1], k_new], dim=2)
                past[i] = (k, v)

    cache = KVCache(config, batch_size, n_tokens, device=device, dtype=dtype)

    def prealloc():
        cache.reset()
        for _ in range(n_tokens):
            for i in range(config.n_layer):
                cache.update(i, k_new, k_new)
            cache.advance(1)

    return {"concat": concat, "prealloc": prealloc}


def cache_append_times(config, n_tokens: int, batch_size: int = 1, device=None,
                       dtype: torch.dtype = torch.float32, num_runs: int = 3) -> dict[str, float]:
    """Median seconds of ``cache_append_fns``' two ways to append ``n_tokens`` (``num_runs`` runs each)."""
    return {name: statistics.median(time_fn(fn, num_runs=num_runs, warmup=1, device=device))
            for name, fn in cache_append_fns(config, n_tokens, batch_size, device, dtype).items()}


def speedups(records: list[dict]) -> dict[int, float]:
    """{new_tokens: uncached seconds / cached seconds} from ``kv_sweep`` records (one model/device/dtype)."""
    by = {(r["mode"], r["new_tokens"]): r["seconds"] for r in records}
    return {n: by[("uncached", n)] / by[("cached", n)]
            for (mode, n) in sorted(by) if mode == "cached" and ("uncached", n) in by}


def speedup_intervals(records: list[dict]) -> dict[int, tuple[float, float]]:
    """{new_tokens: 95% interval of the speedup}: the t interval of the per-round ratios uncached /
    cached over the paired rounds of ``kv_sweep`` (``stats.paired_ratio_interval``, honest with 3
    rounds). Records measured before repeats were kept give a zero-width interval at their ratio."""
    by = {(r["mode"], r["new_tokens"]): np.array(r.get("times") or [r["seconds"]]) for r in records}
    out = {}
    for n, s in speedups(records).items():
        un, ca = by[("uncached", n)], by[("cached", n)]
        k = min(len(un), len(ca))
        out[n] = paired_ratio_interval(un[:k], ca[:k])[1] if k > 1 else (s, s)
    return out


def growth_exponent(records: list[dict], mode: str, min_tokens: int = 64) -> float:
    """Slope of log(seconds) vs log(new_tokens) for ``mode`` over lengths >= ``min_tokens``:
    about 1 for work linear in N, about 2 for quadratic work."""
    pts = [(r["new_tokens"], r["seconds"]) for r in records if r["mode"] == mode and r["new_tokens"] >= min_tokens]
    if len(pts) < 2:
        raise ValueError(f"need at least two {mode!r} records with new_tokens >= {min_tokens}")
    x, y = np.log([n for n, _ in pts]), np.log([s for _, s in pts])
    return float(np.polyfit(x, y, 1)[0])


def load_kv_sweep(path=KV_SWEEP_GPU_FILE) -> dict | None:
    """A kv-sweep results file as ``{"meta": hardware and provenance, "runs": [...]}`` (None if absent)."""
    res = read_benchmark(path, "kv-sweep")
    return None if res is None else {"meta": res["meta"], "runs": res["data"]["runs"]}


def _build_model(name: str, device, dtype: torch.dtype):
    if name == "bundled":
        from ..checkpoint import load_model
        return load_model(device=device, dtype=dtype)[0]
    torch.manual_seed(0)
    return GPT(GPT2_SMALL).eval().to(device=device, dtype=dtype)            # "gpt2-random"


def main(argv: list[str] | None = None) -> int:
    """``python -m nanoinfer_lib.benchmark kv-sweep --out FILE``: cached vs uncached, written as JSON."""
    p = cli.ArgumentParser(prog="python -m nanoinfer_lib.benchmark kv-sweep",
                           description="Time greedy generation with and without the KV cache.")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="float32", choices=sorted(validate.DTYPES))
    p.add_argument("--model", nargs="+", default=["bundled"], choices=["bundled", "gpt2-random"],
                   help="bundled: the course's model; gpt2-random: GPT-2 124M shape, random weights")
    p.add_argument("--new-tokens", type=int, nargs="+", default=None,
                   help=f"numbers of new tokens (default {' '.join(map(str, KV_SWEEP_NEW_TOKENS))})")
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--runs", type=int, default=3, help="interleaved rounds (median and interval kept)")
    p.add_argument("--quick", action="store_true", help="a few short lengths, one round: a smoke test")
    p.add_argument("--append", action="store_true",
                   help="add these runs to an existing --out file measured on the same device and dtype")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    device, dtype = torch.device(args.device), validate.DTYPES[args.dtype]
    validate.output_file("--out", args.out)
    lengths = args.new_tokens or ([4, 8] if args.quick else list(KV_SWEEP_NEW_TOKENS))
    runs = 1 if args.quick else args.runs
    command = command_line(["kv-sweep", *(argv or [])])
    old = read_results(args.out) if args.append else None
    here = device_info(device)["device_name"]
    if old is not None and (old["hardware"]["device_name"], old["data"].get("dtype")) != (here, args.dtype):
        p.error(f"--append: {args.out} was measured on {old['hardware']['device_name']}, {old['data'].get('dtype')}")
    data = {"dtype": args.dtype, "runs": old["data"]["runs"] if old else []}
    t0 = time.perf_counter()
    for name in args.model:
        model = _build_model(name, device, dtype)
        # GPT-2's window is 1024: by default sweep it further, up to its context window
        full = model.config.block_size - args.prompt_len
        ls = lengths if args.new_tokens or args.quick or full <= max(lengths) else lengths + [full]
        records = kv_sweep(model, ls, prompt_len=args.prompt_len, batch_size=args.batch_size,
                           num_runs=runs, model_name=name)
        positions = sorted({min(n + args.prompt_len, model.config.block_size - 1) for n in [0] + ls})
        latency = step_latency(model, positions, batch_size=args.batch_size, num_runs=1 if args.quick else 5,
                               model_name=name)
        data["runs"].append({"model": name, "config": model.config.to_dict(), "n_params": model.num_params(),
                             "records": records, "latency": latency})
        for n, s in speedups(records).items():
            print(f"{name:12s} B={args.batch_size:<3d} {args.dtype:9s} {n:5d} new tokens: speedup {s:5.2f}x")
        del model
        synchronize(device)
    data["seconds"] = round(time.perf_counter() - t0, 1)
    out = make_results("kv-sweep", data, device=device, repeats=runs,
                       command=command if old is None else f"{old['command']}; {command}")
    write_results(args.out, out)
    print(f"wrote {args.out} ({out['hardware']['device_name']}, {args.dtype}, {data['seconds']} s)")
    return 0
