"""Timers, benchmarks and device/memory information; also a command line:

    python -m nanoinfer_lib.benchmark kv-sweep --out results.json   # chapter 02: cached vs uncached
    python -m nanoinfer_lib.benchmark perf --out results.json       # chapter 04: precision, batching, ...
    python -m nanoinfer_lib.benchmark vs-hf                         # the library vs transformers
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import numbers
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .kv_cache import KVCache
from .model import GPT, GPTConfig, Linear


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued GPU work so a wall-clock timer measures it (no-op on CPU)."""
    device = torch.device(device) if device is not None else None
    if torch.cuda.is_available() and (device is None or device.type == "cuda"):
        torch.cuda.synchronize(device)
    elif device is not None and device.type == "mps":
        torch.mps.synchronize()


def time_fn(fn: Callable[[], object], num_runs: int = 5, warmup: int = 1,
            device: torch.device | str | None = None) -> list[float]:
    """Run `fn` `warmup` times untimed, then `num_runs` times; return the wall times in seconds."""
    if not isinstance(num_runs, int) or num_runs < 1:
        raise ValueError(f"num_runs must be an integer >= 1, got {num_runs!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(num_runs):
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return times


def cpu_name() -> str:
    """The CPU's model name where the system tells it (Linux: /proc/cpuinfo), else its architecture."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(device: torch.device | str | None = None) -> dict:
    """What a measurement ran on: device name, torch version, threads."""
    device = torch.device(device or "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {"device": str(device), "device_name": name, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}


# ---- chapter 02: cached vs uncached sweep (kv-sweep) -----------------------------------------
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# GPT-2 small ("124M"): the shape of the smallest released GPT-2, for memory and timing with random weights
GPT2_SMALL = GPTConfig(block_size=1024, vocab_size=50257, n_layer=12, n_head=12, n_embd=768)
KV_SWEEP_NEW_TOKENS = (16, 32, 64, 128, 240, 496)   # new tokens after a 16-token prompt: up to 512 positions
KV_SWEEP_GPU_FILE = Path(__file__).parent / "results" / "kv_sweep_gpu.json"


def kv_cache_bytes(config, batch_size: int, seq_len: int, dtype: torch.dtype = torch.float32) -> int:
    """Bytes of a KV cache holding ``seq_len`` positions: 2 (k and v) * n_layer * B * T * n_embd * itemsize."""
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype, got {type(dtype).__name__}")
    itemsize = torch.empty((), dtype=dtype).element_size()
    return 2 * config.n_layer * batch_size * seq_len * config.n_embd * itemsize


def count_parameters(config) -> int:
    """Parameters of a GPT with this config (tied embeddings counted once), without allocating weights."""
    with torch.device("meta"):
        return GPT(config).num_params()


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _prompt(model, batch_size: int, prompt_len: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config.vocab_size, (batch_size, prompt_len), generator=g)   # (B, T)
    return ids.to(model.device)


def kv_sweep(model, new_tokens=KV_SWEEP_NEW_TOKENS, prompt_len: int = 16, batch_size: int = 1,
             num_runs: int = 1, modes=("cached", "uncached"), model_name: str = "model", seed: int = 0) -> list[dict]:
    """Time greedy ``generate`` with and without the KV cache for each number of new tokens.

    Returns tidy records, one per (mode, new_tokens): seconds (median of ``num_runs``), tokens_per_s,
    peak GPU memory (None on CPU), kv_cache_bytes (0 without the cache), and what it ran on.
    A short generation in each mode runs first, untimed (warm-up).
    """
    from .generation import generate
    lengths = [int(n) for n in new_tokens]
    if not lengths or any(n < 1 for n in lengths):
        raise ValueError(f"new_tokens must be a non-empty list of ints >= 1, got {new_tokens!r}")
    if prompt_len < 1 or prompt_len + max(lengths) > model.config.block_size:
        raise ValueError(f"prompt_len + max(new_tokens) must lie in [2, block_size={model.config.block_size}], "
                         f"got {prompt_len} + {max(lengths)}")
    bad = set(modes) - {"cached", "uncached"}
    if bad or not modes:
        raise ValueError(f"modes must be a subset of ('cached', 'uncached'), got {modes!r}")
    device, dtype = model.device, model.dtype
    ids = _prompt(model, batch_size, prompt_len, seed)
    cuda = device.type == "cuda"
    for mode in modes:                                                      # warm-up
        generate(model, ids, max_new_tokens=4, temperature=0, use_cache=mode == "cached")
    records = []
    for n in lengths:
        for mode in modes:
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            times = time_fn(lambda: generate(model, ids, max_new_tokens=n, temperature=0,
                                             use_cache=mode == "cached"),
                            num_runs=num_runs, warmup=0, device=device)
            sec = statistics.median(times)
            records.append({
                "model": model_name, "device": str(device), "dtype": _dtype_name(dtype), "mode": mode,
                "batch_size": batch_size, "prompt_tokens": prompt_len, "new_tokens": n,
                "seconds": sec, "seconds_min": min(times), "runs": num_runs,
                "tokens_per_s": batch_size * n / sec,
                "peak_memory_bytes": torch.cuda.max_memory_allocated(device) if cuda else None,
                "kv_cache_bytes": kv_cache_bytes(model.config, batch_size, prompt_len + n, dtype)
                                  if mode == "cached" else 0,
            })
    return records


def step_latency(model, positions, batch_size: int = 1, num_runs: int = 3, model_name: str = "model",
                 seed: int = 0) -> list[dict]:
    """Time one generation step at each position L (tokens already in the sequence).

    mode "uncached": a forward pass over all L tokens (what a step costs without a cache; this is
    also exactly the prefill of an L-token prompt). mode "cached": one new token attending to a
    cache that holds L positions. Records: position, mode, seconds (median), what it ran on.
    """
    positions = [int(p) for p in positions]
    if not positions or any(not 1 <= p < model.config.block_size for p in positions):
        raise ValueError(f"positions must be ints in [1, block_size={model.config.block_size}), got {positions!r}")
    device = model.device
    ids = _prompt(model, batch_size, max(positions) + 1, seed)             # (B, max_pos + 1)
    records = []
    with torch.inference_mode():
        for L in positions:
            prefix, new = ids[:, :L], ids[:, L:L + 1]
            t_un = time_fn(lambda: model(prefix, last_only=True), num_runs=num_runs, warmup=1, device=device)
            cache = KVCache(model.config, batch_size, L + 1, device=device, dtype=model.dtype)
            model(prefix, kv_cache=cache)                                   # prefill L positions

            def decode_step():
                model(new, kv_cache=cache)
                cache.length = L                                            # forget it, so the next run repeats it
            t_c = time_fn(decode_step, num_runs=num_runs, warmup=1, device=device)
            for mode, t in (("uncached", t_un), ("cached", t_c)):
                records.append({"model": model_name, "device": str(device), "dtype": _dtype_name(model.dtype),
                                "mode": mode, "batch_size": batch_size, "position": L,
                                "seconds": statistics.median(t), "runs": num_runs})
    return records


def cache_append_times(config, n_tokens: int, batch_size: int = 1, device=None,
                       dtype: torch.dtype = torch.float32, num_runs: int = 3) -> dict[str, float]:
    """Seconds to append ``n_tokens`` one at a time to every layer's k and v: growing the tensors with
    ``torch.cat`` (copies the whole cache each step) vs writing into a preallocated ``KVCache``."""
    device = torch.device(device or "cpu")
    B, nh, hs = batch_size, config.n_head, config.head_dim
    k_new = torch.randn(B, nh, 1, hs, device=device, dtype=dtype)          # (B, nh, 1, hs)

    def concat():
        past = [None] * config.n_layer
        for _ in range(n_tokens):
            for i in range(config.n_layer):
                k = k_new if past[i] is None else torch.cat([past[i][0], k_new], dim=2)
                v = k_new if past[i] is None else torch.cat([past[i][1], k_new], dim=2)
                past[i] = (k, v)

    cache = KVCache(config, B, n_tokens, device=device, dtype=dtype)

    def prealloc():
        cache.reset()
        for _ in range(n_tokens):
            for i in range(config.n_layer):
                cache.update(i, k_new, k_new)
            cache.advance(1)

    return {name: statistics.median(time_fn(fn, num_runs=num_runs, warmup=1, device=device))
            for name, fn in (("concat", concat), ("prealloc", prealloc))}


def speedups(records: list[dict]) -> dict[int, float]:
    """{new_tokens: uncached seconds / cached seconds} from ``kv_sweep`` records (one model/device/dtype)."""
    by = {(r["mode"], r["new_tokens"]): r["seconds"] for r in records}
    return {n: by[("uncached", n)] / by[("cached", n)]
            for (mode, n) in sorted(by) if mode == "cached" and ("uncached", n) in by}


def growth_exponent(records: list[dict], mode: str, min_tokens: int = 64) -> float:
    """Slope of log(seconds) vs log(new_tokens) for ``mode`` over lengths >= ``min_tokens``:
    about 1 for work linear in N, about 2 for quadratic work."""
    pts = [(r["new_tokens"], r["seconds"]) for r in records if r["mode"] == mode and r["new_tokens"] >= min_tokens]
    if len(pts) < 2:
        raise ValueError(f"need at least two {mode!r} records with new_tokens >= {min_tokens}")
    x = [math.log(n) for n, _ in pts]
    y = [math.log(s) for _, s in pts]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)


def sweep_meta(device, dtype: torch.dtype) -> dict:
    """What a results file records about where it was measured."""
    info = device_info(device)
    return {**info, "dtype": _dtype_name(dtype), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "platform": platform.platform()}


def load_kv_sweep(path=KV_SWEEP_GPU_FILE) -> dict | None:
    """A results file written by ``kv-sweep`` (dict with meta, runs), or None when there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or "meta" not in data or "runs" not in data:
        raise ValueError(f"{path.name} is not a kv-sweep results file (needs 'meta' and 'runs')")
    return data


def _build_model(name: str, device, dtype: torch.dtype):
    if name == "bundled":
        from .checkpoint import load_model
        return load_model(device=device, dtype=dtype)[0]
    if name == "gpt2-random":
        torch.manual_seed(0)
        return GPT(GPT2_SMALL).eval().to(device=device, dtype=dtype)
    raise ValueError(f"model must be 'bundled' or 'gpt2-random', got {name!r}")


def kv_sweep_main(argv: list[str] | None = None) -> int:
    """``python -m nanoinfer_lib.benchmark kv-sweep --out FILE``: cached vs uncached, written as JSON."""
    p = argparse.ArgumentParser(prog="python -m nanoinfer_lib.benchmark kv-sweep",
                                description="Time greedy generation with and without the KV cache.")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    p.add_argument("--model", nargs="+", default=["bundled"], choices=["bundled", "gpt2-random"],
                   help="bundled: the course's model; gpt2-random: GPT-2 124M shape, random weights")
    p.add_argument("--new-tokens", type=int, nargs="+", default=None,
                   help=f"numbers of new tokens (default {' '.join(map(str, KV_SWEEP_NEW_TOKENS))})")
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--runs", type=int, default=3, help="timed runs per point (median kept)")
    p.add_argument("--quick", action="store_true", help="a few short lengths, one run: a smoke test")
    p.add_argument("--append", action="store_true",
                   help="add these runs to an existing --out file measured on the same device and dtype")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    lengths = args.new_tokens or ([4, 8] if args.quick else list(KV_SWEEP_NEW_TOKENS))
    runs = 1 if args.quick else args.runs
    shown = [Path(a).name if i and (argv or [])[i - 1] == "--out" else a for i, a in enumerate(argv or [])]
    out = {"meta": {**sweep_meta(device, dtype), "command": "kv-sweep " + " ".join(shown)}, "runs": []}
    old = load_kv_sweep(args.out) if args.append else None
    if old is not None:
        if (old["meta"]["device_name"], old["meta"]["dtype"]) != (out["meta"]["device_name"], args.dtype):
            p.error(f"--append: {args.out} was measured on {old['meta']['device_name']}, {old['meta']['dtype']}")
        out["meta"]["command"] = old["meta"]["command"] + "; " + out["meta"]["command"]
        out["runs"] = old["runs"]
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
        out["runs"].append({"model": name, "config": model.config.to_dict(), "n_params": model.num_params(),
                            "records": records, "latency": latency})
        for n, s in speedups(records).items():
            print(f"{name:12s} B={args.batch_size:<3d} {args.dtype:9s} {n:5d} new tokens: speedup {s:5.2f}x")
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    out["meta"]["total_seconds"] = round(time.perf_counter() - t0 + (old or {"meta": {}})["meta"].get("total_seconds", 0), 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out} ({out['meta']['device_name']}, {args.dtype}, {out['meta']['total_seconds']} s)")
    return 0


# ---- chapter 04: benchmark_model, decode benchmark, memory ------------------------------------

def _check_count(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {low}, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return int(value)


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (a GPT), got {type(model).__name__}")
    p = next(iter(model.parameters()), None)
    if p is None:
        p = next(iter(model.buffers()))
    floats = [t.dtype for t in model.parameters() if t.is_floating_point()]
    return p.device, (floats[0] if floats else torch.float32)


def latency_stats(times_s: list[float]) -> dict:
    """Median, mean, spread, min and max (milliseconds) of wall times given in seconds."""
    ms = [t * 1e3 for t in times_s]
    return {"median_latency_ms": statistics.median(ms), "avg_latency_ms": statistics.fmean(ms),
            "std_latency_ms": statistics.stdev(ms) if len(ms) > 1 else 0.0,
            "min_latency_ms": min(ms), "max_latency_ms": max(ms)}


def process_memory() -> dict:
    """This process's memory from the OS (psutil): resident set (RSS) and virtual size (VMS), in MB."""
    import psutil
    info = psutil.Process().memory_info()
    return {"rss_mb": info.rss / 2**20, "vms_mb": info.vms / 2**20}


def gpu_memory(device: torch.device | str | None = None) -> dict:
    """PyTorch's CUDA allocator: memory held by tensors (allocated), kept by the caching allocator
    (reserved) and the peak allocated since the last reset, in MB. Values are None without CUDA."""
    if not torch.cuda.is_available():
        return {"allocated_mb": None, "reserved_mb": None, "peak_allocated_mb": None}
    return {"allocated_mb": torch.cuda.memory_allocated(device) / 2**20,
            "reserved_mb": torch.cuda.memory_reserved(device) / 2**20,
            "peak_allocated_mb": torch.cuda.max_memory_allocated(device) / 2**20}


def model_memory(model: nn.Module) -> int:
    """Bytes of the model's parameters and buffers, each storage counted once (tied weights once)."""
    seen, total = set(), 0
    for t in list(model.parameters()) + list(model.buffers()):
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += t.numel() * t.element_size()
    return total


def _run_info(device: torch.device, dtype: torch.dtype) -> dict:
    info = device_info(device)
    info["dtype"] = str(dtype).replace("torch.", "")
    return info


def benchmark_model(model: nn.Module, input_shape: tuple[int, int] = (4, 512), num_runs: int = 10,
                    warmup: int = 2, seed: int = 0) -> dict:
    """Time one forward pass (a prefill) over random token ids of shape ``input_shape`` = (B, T), on
    the model's own device and dtype: ``warmup`` untimed runs, then ``num_runs`` timed ones, with the
    GPU synchronised around each.

    Returns a dict: avg_latency_ms (mean), median_latency_ms, std_latency_ms, min/max_latency_ms,
    tokens_per_second (B * T / median latency), batch_size, seq_len, num_runs, peak_gpu_memory_mb
    (None on CPU), rss_mb, and device, device_name, dtype, threads, torch.
    """
    device, dtype = _model_device_dtype(model)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 2:
        raise ValueError(f"input_shape must be a pair (batch_size, seq_len), got {input_shape!r}")
    B = _check_count("input_shape[0] (batch size)", input_shape[0], 1)
    T = _check_count("input_shape[1] (sequence length)", input_shape[1], 1)
    num_runs, warmup = _check_count("num_runs", num_runs, 1), _check_count("warmup", warmup, 0)
    config = getattr(model, "config", None)
    if config is not None and T > config.block_size:
        raise ValueError(f"input_shape[1] (sequence length) must be <= block_size={config.block_size}, got {T}")
    vocab = config.vocab_size if config is not None else 2
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (B, T), generator=gen).to(device)    # (B, T)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode():
        times = time_fn(lambda: model(ids), num_runs=num_runs, warmup=warmup, device=device)
    out = latency_stats(times)
    out.update(tokens_per_second=B * T / (out["median_latency_ms"] / 1e3), batch_size=B, seq_len=T,
               num_runs=num_runs, peak_gpu_memory_mb=gpu_memory(device)["peak_allocated_mb"] if device.type == "cuda" else None,
               rss_mb=process_memory()["rss_mb"])
    out.update(_run_info(device, dtype))
    return out


def benchmark_decode(model: nn.Module, batch_size: int = 1, prompt_len: int = 16, new_tokens: int = 64,
                     num_runs: int = 3, warmup: int = 1, use_cache: bool = True, seed: int = 0) -> dict:
    """Time greedy ``generate`` of ``new_tokens`` tokens after random prompts (batch_size, prompt_len).

    Returns a dict: tokens_per_second (batch_size * new_tokens / median latency), ms_per_step
    (median latency / new_tokens, prefill included), the latency statistics of ``latency_stats``, the
    settings, and device, device_name, dtype, threads, torch.
    """
    from .generation import generate
    device, dtype = _model_device_dtype(model)
    B, P = _check_count("batch_size", batch_size, 1), _check_count("prompt_len", prompt_len, 1)
    N = _check_count("new_tokens", new_tokens, 1)
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config.vocab_size, (B, P), generator=gen).to(device)   # (B, P)
    times = time_fn(lambda: generate(model, ids, max_new_tokens=N, temperature=0, use_cache=use_cache),
                    num_runs=_check_count("num_runs", num_runs, 1), warmup=_check_count("warmup", warmup, 0),
                    device=device)
    out = latency_stats(times)
    out.update(tokens_per_second=B * N / (out["median_latency_ms"] / 1e3), ms_per_step=out["median_latency_ms"] / N,
               batch_size=B, prompt_len=P, new_tokens=N, use_cache=bool(use_cache), num_runs=num_runs)
    out.update(_run_info(device, dtype))
    return out


def copy_bandwidth(nbytes: int = 256 * 2**20, device: torch.device | str = "cpu", num_runs: int = 5) -> float:
    """The machine's memory bandwidth in GB/s, measured by copying a ``nbytes`` buffer (median of
    runs). A copy reads and writes every byte, so 2 * nbytes move per copy."""
    nbytes = _check_count("nbytes", nbytes, 2**20)
    src = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    times = time_fn(lambda: dst.copy_(src), num_runs=num_runs, warmup=1, device=device)
    return 2 * src.numel() * 4 / statistics.median(times) / 1e9


def decode_bytes_per_step(model: nn.Module, batch_size: int, context_len: int) -> dict:
    """Bytes a decode step must read from memory: every weight once (the tied embedding once, as
    lm_head; the position table is left out, as one row of it is read) plus the cached keys and values
    of ``context_len`` positions for each of ``batch_size`` rows."""
    cfg = model.config
    B, S = _check_count("batch_size", batch_size, 1), _check_count("context_len", context_len, 1)
    itemsize = _model_device_dtype(model)[1].itemsize
    weights = model_memory(model) - cfg.block_size * cfg.n_embd * itemsize
    cache = 2 * cfg.n_layer * B * S * cfg.n_embd * itemsize
    return {"weights": weights, "kv_cache": cache, "total": weights + cache}


class Int8Linear(nn.Module):
    """Weight-only int8 Linear: int8 weights with one scale per output row; inputs stay floating point.

    y = (x @ W_int8^T) * scale + bias, which equals x @ (W_int8 * scale)^T + bias: the scale of an
    output row can be applied after the matmul. Uses PyTorch's fused int8-weight kernel on CPU when
    present, else converts the weights on the fly.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()                              # (out, in)
        scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0            # (out,)
        self.register_buffer("weight", (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(linear.weight.dtype))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and hasattr(torch.ops.aten, "_weight_int8pack_mm"):
            y = torch.ops.aten._weight_int8pack_mm(x.reshape(-1, self.in_features).contiguous(),
                                                   self.weight, self.scale.to(x.dtype))
            y = y.view(*x.shape[:-1], self.out_features)
        else:
            y = F.linear(x, self.weight.to(x.dtype)) * self.scale.to(x.dtype)
        return y if self.bias is None else y + self.bias.to(x.dtype)


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every nn.Linear replaced by an Int8Linear (weight-only int8).
    The embedding tables stay in floating point (a lookup reads one row, not the whole table)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear(child))
    return model


def heldout_loss(model: nn.Module, ids: torch.Tensor) -> float:
    """Mean next-token cross-entropy (nats) of ``model`` over ``ids`` (1, N), in windows of
    block_size; the loss is computed in float32 whatever the model's dtype."""
    cfg, (device, _) = model.config, _model_device_dtype(model)
    total, count = 0.0, 0
    with torch.inference_mode():
        for s in range(0, ids.shape[1] - 1, cfg.block_size):
            x = ids[:, s:s + cfg.block_size + 1].to(device)              # (1, <= block_size + 1)
            if x.shape[1] < 2:
                break
            logits = model(x[:, :-1]).float()                           # (1, T, V)
            total += F.cross_entropy(logits[0], x[0, 1:], reduction="sum").item()
            count += x.shape[1] - 1
    return total / count


def cuda_graph_step_ms(model: nn.Module, batch_size: int = 1, context_len: int = 128,
                       num_runs: int = 50) -> dict:
    """One decode step at a fixed cache position, launched eagerly and replayed from a CUDA graph
    (milliseconds per step, median). A graph replays all the step's kernels with one launch."""
    from .kv_cache import KVCache
    device, dtype = _model_device_dtype(model)
    if device.type != "cuda":
        raise ValueError(f"CUDA graphs need a model on a CUDA device, got {device}")
    cache = KVCache(model.config, batch_size, context_len + 1, device, dtype)
    tok = torch.zeros(batch_size, 1, dtype=torch.long, device=device)   # static input (B, 1)

    def step():
        cache.length = context_len          # always write the same slot: the graph's shapes are fixed
        return model(tok, kv_cache=cache, last_only=True)

    with torch.inference_mode():
        cache.length = 0
        model(torch.zeros(batch_size, context_len, dtype=torch.long, device=device), kv_cache=cache)  # prefill
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = step()
        eager = time_fn(step, num_runs=num_runs, warmup=3, device=device)
        replay = time_fn(graph.replay, num_runs=num_runs, warmup=3, device=device)
        assert static_out.shape == (batch_size, 1, model.config.vocab_size)
    return {"eager_ms": statistics.median(eager) * 1e3, "graph_ms": statistics.median(replay) * 1e3,
            "batch_size": batch_size, "context_len": context_len}


def time_fn_unsynced(fn: Callable[[], object], num_runs: int) -> list[float]:
    """The wrong way to time GPU code, kept to show it: no warm-up and no synchronisation, so the
    timer stops when the kernels are queued, not when they finish."""
    times = []
    for _ in range(num_runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _perf_main(argv: list[str]) -> int:
    """``perf``: the measurements of notebook 04 on one device, written to a JSON results file."""
    p = argparse.ArgumentParser(prog="python -m nanoinfer_lib.benchmark perf",
                                description="Chapter 04's measurements (precision, batching, threads, "
                                            "torch.compile, CUDA graphs, bandwidth) on one device.")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--quick", action="store_true", help="tiny sweeps (for tests)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurement")
    args = p.parse_args(argv)
    from .checkpoint import load_model
    from .generation import generate_batch
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda given, but torch sees no CUDA device")
    q = args.quick
    runs = 2 if q else 10
    shape = (2, 64) if q else (4, 512)
    new = 8 if q else 128
    model, tokenizer = load_model(device=device)
    texts = json.loads((Path(__file__).parent / "assets" / "eval_set.json").read_text())
    heldout = tokenizer.encode("\n\n".join(t["prompt"] + t["reference"] for t in texts), return_tensors="pt")
    heldout = heldout[:, :(128 if q else 4096)]
    res = {"info": _run_info(device, torch.float32), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": "python -m nanoinfer_lib.benchmark perf " + " ".join(a if a != args.out else Path(a).name for a in argv),
           "checkpoint_sha256": checkpoint_sha256(), "settings":
           {"prefill_shape": list(shape), "decode_prompt_len": 16, "decode_new_tokens": new, "num_runs": runs}}
    print(f"perf on {res['info']['device_name']} ({device}), torch {torch.__version__}", flush=True)

    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    res["precision"] = {}
    for name, dt in dtypes.items():
        m = model.to(dt)
        row = {"weights_mb": model_memory(m) / 2**20, "loss": heldout_loss(m, heldout),
               "prefill": benchmark_model(m, input_shape=shape, num_runs=runs),
               "decode": benchmark_decode(m, batch_size=1, prompt_len=16, new_tokens=new, num_runs=max(2, runs // 3))}
        res["precision"][name] = row
        print(f"  {name:9s} prefill {row['prefill']['tokens_per_second']:10.0f} tok/s, decode "
              f"{row['decode']['tokens_per_second']:8.0f} tok/s, loss {row['loss']:.4f}", flush=True)
    model = model.to(torch.float32)
    work_dtypes = ["float32"] + (["bfloat16"] if device.type == "cuda" else [])

    res["kv_cache"] = {k: benchmark_decode(model, new_tokens=new, num_runs=2, use_cache=c)
                       for k, c in (("cached", True), ("uncached", False))}
    prompts = [t["prompt"] for t in texts][:(4 if q else 64)]
    res["batching"] = {}
    for name in work_dtypes[:1]:         # float32: the notebook's CPU curve is float32 too
        m, rows = model.to(dtypes[name]), []
        for bs in ([1, 4] if q else [1, 2, 4, 8, 16, 32, 64]):
            n = min(len(prompts), max(bs, 4 if q else 16))
            generate_batch(m, prompts[:bs], tokenizer, max_new_tokens=4, batch_size=bs, temperature=0)  # warm-up
            synchronize(device)
            t0 = time.perf_counter()
            generate_batch(m, prompts[:n], tokenizer, max_new_tokens=new // 2, batch_size=bs, temperature=0)
            synchronize(device)
            dt_s = time.perf_counter() - t0
            rows.append({"batch_size": bs, "prompts": n, "tokens_per_second": n * (new // 2) / dt_s,
                         "latency_ms_per_batch": dt_s / -(-n // bs) * 1e3})
        res["batching"][name] = rows
        print(f"  batching {name}: " + ", ".join(f"B={r['batch_size']} {r['tokens_per_second']:.0f}" for r in rows), flush=True)
    model = model.to(torch.float32)

    if device.type == "cuda":            # a timer without synchronisation measures only the launches
        ids = torch.zeros(shape, dtype=torch.long, device=device)
        with torch.inference_mode():
            res["sync"] = {"without_sync_ms": statistics.median(time_fn_unsynced(lambda: model(ids), runs)) * 1e3,
                           "with_sync_ms": statistics.median(time_fn(lambda: model(ids), runs, 2, device)) * 1e3}
    if device.type == "cpu":
        saved, res["threads"] = torch.get_num_threads(), []
        for n in sorted({1, 2, os.cpu_count() or 1}):
            torch.set_num_threads(n)
            res["threads"].append({"threads": n, "prefill_tokens_per_second": benchmark_model(model, input_shape=shape, num_runs=runs)["tokens_per_second"],
                                   "decode_tokens_per_second": benchmark_decode(model, new_tokens=new, num_runs=2)["tokens_per_second"]})
        torch.set_num_threads(saved)
        res["int8"] = {"weights_mb": model_memory(quantize_int8(model)) / 2**20,
                       "loss": heldout_loss(quantize_int8(model), heldout),
                       "decode": benchmark_decode(quantize_int8(model), new_tokens=new, num_runs=2)}
    else:
        res["cuda_graph"] = [cuda_graph_step_ms(model.to(dtypes[name]), context_len=128) | {"dtype": name}
                             for name in work_dtypes]
        model = model.to(torch.float32)
        print("  cuda graphs: " + ", ".join(f"{r['dtype']} eager {r['eager_ms']:.3f} ms, graph {r['graph_ms']:.3f} ms"
                                            for r in res["cuda_graph"]), flush=True)

    if not args.no_compile:
        m = model.to(dtypes[work_dtypes[-1]])
        eager = benchmark_model(m, input_shape=shape, num_runs=runs)
        compiled = torch.compile(m)
        t0 = time.perf_counter()
        with torch.inference_mode():
            compiled(torch.zeros(shape, dtype=torch.long, device=device))
        synchronize(device)
        compile_s = time.perf_counter() - t0
        res["compile"] = {"dtype": work_dtypes[-1], "compile_s": compile_s, "eager": eager,
                          "compiled": benchmark_model(compiled, input_shape=shape, num_runs=runs)}
        print(f"  torch.compile: {compile_s:.1f} s to compile, prefill {eager['median_latency_ms']:.2f} -> "
              f"{res['compile']['compiled']['median_latency_ms']:.2f} ms", flush=True)
        model = model.to(torch.float32)

    res["bandwidth"] = {"copy_gb_s": copy_bandwidth(device=device, nbytes=(16 if q else 256) * 2**20)}
    d = benchmark_decode(model, new_tokens=new, num_runs=2)
    step_bytes = decode_bytes_per_step(model, 1, 16 + new // 2)["total"]
    res["bandwidth"].update(decode_tokens_per_second=d["tokens_per_second"], bytes_per_step=step_bytes,
                            achieved_gb_s=step_bytes * d["tokens_per_second"] / 1e9)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(f"wrote {args.out}")
    return 0


def checkpoint_sha256(path: str | Path | None = None) -> str:
    """SHA-256 of a checkpoint file (default: the bundled one), to tell which weights a results file used."""
    import hashlib
    from .checkpoint import BUNDLED_CHECKPOINT
    return hashlib.sha256(Path(path or BUNDLED_CHECKPOINT).read_bytes()).hexdigest()


def load_results(path: str | Path) -> dict | None:
    """A results file written by ``perf`` (None if it is absent)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


GPU_RESULTS = Path(__file__).parent / "results" / "perf_gpu.json"   # reference numbers measured on a GPU


# ---- fast decoding vs transformers (vs-hf) ----------------------------------------------------
VS_HF_SHAPES = {  # GPTConfig fields of the random models the comparison builds
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, block_size=1024),   # GPT-2 124M
    "tiny": dict(n_layer=2, n_head=2, n_embd=64, vocab_size=512, block_size=128),         # for tests
}


def generation_bytes(model, batch_size: int, prompt_len: int, new_tokens: int) -> int:
    """Bytes that generating ``new_tokens`` tokens reads from memory, at least: one forward pass per
    token (the prefill, then ``new_tokens - 1`` decode steps), each reading every weight once and the
    cached keys and values of its context (``decode_bytes_per_step``)."""
    return sum(decode_bytes_per_step(model, batch_size, prompt_len + i)["total"] for i in range(new_tokens))


def hf_twins(shape: str = "gpt2", dtype: torch.dtype = torch.float32, device: str = "cpu", seed: int = 0):
    """A randomly initialised ``transformers`` GPT2LMHeadModel and the library's GPT holding the same
    weights (saved by transformers, loaded with ``GPT.from_pretrained``), both in eval mode."""
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel
    from .model import GPT
    s = VS_HF_SHAPES[shape]
    torch.manual_seed(seed)
    eot = s["vocab_size"] - 1                      # GPT-2's <|endoftext|> is its last token
    config = GPT2Config(n_layer=s["n_layer"], n_head=s["n_head"], n_embd=s["n_embd"], vocab_size=s["vocab_size"],
                        n_positions=s["block_size"], bos_token_id=eot, eos_token_id=eot)
    transformers.utils.logging.disable_progress_bar()      # no loading bars in the output
    with tempfile.TemporaryDirectory() as tmp:
        GPT2LMHeadModel(config).save_pretrained(tmp)
        hf = GPT2LMHeadModel.from_pretrained(tmp, dtype=dtype, attn_implementation="sdpa")
        model = GPT.from_pretrained(tmp, dtype=dtype)
    return hf.to(device).eval(), model.to(device).eval()


def hf_greedy(hf, ids: torch.Tensor, max_new_tokens: int, cuda_graphs: bool = False) -> torch.Tensor:
    """transformers' greedy ``generate`` with its KV cache, never stopping early (no EOS)."""
    from transformers import GenerationConfig
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                              eos_token_id=None, pad_token_id=0)
    if cuda_graphs:      # a static cache lets transformers compile the decode step into CUDA graphs
        config.cache_implementation = "static"
    with torch.inference_mode():
        return hf.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)


def lib_greedy(model, ids: torch.Tensor, max_new_tokens: int, cuda_graphs: bool = False) -> torch.Tensor:
    """The library's greedy ``generate`` (KV cache on), or, with ``cuda_graphs``, ``graphed_greedy``."""
    from .generation import generate
    if cuda_graphs:
        return graphed_greedy(model, ids, max_new_tokens)
    return generate(model, ids, max_new_tokens=max_new_tokens, temperature=0.0)


class StaticKVCache(KVCache):
    """A KVCache whose decode steps all have the same shapes, so one CUDA graph can replay any of them.

    After ``make_static()`` (called after the prefill), a step writes its keys and values at ``pos``,
    a tensor on the device rather than a Python int, and the model attends to all ``max_len``
    positions, with ``mask`` (B, max_len) hiding the ones not filled yet."""

    def make_static(self) -> None:
        self.pos = torch.tensor([self.length], device=self.device)                    # (1,) next slot
        self.mask = (torch.arange(self.max_len, device=self.device) < self.length).long()
        self.mask = self.mask.expand(self.batch_size, -1).contiguous()                 # (B, max_len)
        self.length = self.max_len - 1       # the model then sees S = past + 1 = max_len positions
        self.static = True

    def update(self, layer_idx, k, v):
        if not getattr(self, "static", False):
            return super().update(layer_idx, k, v)
        self.k[layer_idx].index_copy_(2, self.pos, k)                                  # (B, nh, max_len, hs)
        self.v[layer_idx].index_copy_(2, self.pos, v)
        return self.k[layer_idx], self.v[layer_idx]

    def advance(self, T: int) -> None:
        if not getattr(self, "static", False):
            return super().advance(T)
        self.pos += T                        # on the device: replaying the graph moves it too


def graphed_greedy(model, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy decoding (as ``generate(..., temperature=0)``) with each decode step replayed from one
    CUDA graph: the prefill runs eagerly, then one step is captured and replayed ``max_new_tokens - 1``
    times. Every step attends to the whole preallocated cache through a mask (fixed shapes), so this
    trades some extra cache reads for one kernel launch per step. Eager (no graph) off CUDA."""
    B, T = ids.shape
    seq = torch.empty(B, T + max_new_tokens, dtype=torch.long, device=ids.device)
    seq[:, :T] = ids
    if max_new_tokens == 0:
        return seq
    cache = StaticKVCache(model.config, B, T + max_new_tokens, ids.device, model.dtype)
    with torch.inference_mode():
        token = model(ids, kv_cache=cache, last_only=True)[:, -1].argmax(-1, keepdim=True)   # (B, 1)
        seq[:, T:T + 1] = token
        cache.make_static()

        def step():                                      # reads and writes only fixed buffers
            cache.mask.index_fill_(1, cache.pos, 1)
            logits = model(token, kv_cache=cache, attention_mask=cache.mask,
                           position_ids=cache.pos.expand(B, 1), last_only=True)      # (B, 1, V)
            token.copy_(logits[:, -1].argmax(-1, keepdim=True))

        run = step
        if ids.device.type == "cuda" and max_new_tokens > 1:
            saved = (cache.pos.clone(), cache.mask.clone(), token.clone())
            side = torch.cuda.Stream()                   # warm up on a side stream, as capture needs
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                step()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                step()
            for buf, value in zip((cache.pos, cache.mask, token), saved):   # undo the two steps run above
                buf.copy_(value)
            run = graph.replay
        for L in range(T + 1, T + max_new_tokens):
            run()
            seq[:, L:L + 1] = token
    return seq


def vs_hf(batch_sizes=(1, 8), new_tokens=(128, 512), prompt_len: int = 16, num_runs: int = 3,
          warmup: int = 1, shape: str = "gpt2", device: str = "cpu", dtype: torch.dtype = torch.float32,
          cuda_graphs: bool = False, seed: int = 0, log: Callable[[str], None] | None = print,
          on_case: Callable[[dict], None] | None = None) -> dict:
    """Greedy decoding of the library vs ``transformers`` on the same random weights, in one process.

    For each (batch size, new tokens) case: run each ``warmup + num_runs`` times, alternating
    (transformers, library, transformers, ...), time the last ``num_runs`` runs of each, and check every
    output against transformers' first one, token for token. Returns a dict with the cases (tokens/s, ratio library/transformers,
    bytes read per second) and the machine (device, versions, threads, copy bandwidth); ``on_case``,
    if given, gets that dict, so far, after each case (so a run cut short still leaves its results)."""
    import transformers
    log = log or (lambda s: None)
    hf, model = hf_twins(shape, dtype, device, seed)
    log(f"model: {shape} ({model.num_params() / 1e6:.1f}M parameters), {str(dtype).replace('torch.', '')} "
        f"on {device}, {torch.get_num_threads()} thread(s), transformers {transformers.__version__}")
    bandwidth = copy_bandwidth(device=device, num_runs=10)
    log(f"copy bandwidth: {bandwidth:.1f} GB/s")
    machine = device_info(device)
    machine.update(transformers=transformers.__version__, copy_bandwidth_GBps=bandwidth,
                   omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
                   date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    gen = torch.Generator().manual_seed(seed)
    cases = []
    for B in batch_sizes:
        ids = torch.randint(0, model.config.vocab_size, (B, prompt_len), generator=gen).to(device)
        for N in new_tokens:
            runners = {"transformers": lambda: hf_greedy(hf, ids, N, cuda_graphs),
                       "library": lambda: lib_greedy(model, ids, N, cuda_graphs)}
            reference, outputs_equal, times = None, True, {name: [] for name in runners}
            for i in range(warmup + num_runs):
                for name, run in runners.items():        # alternate, so both see the same conditions
                    synchronize(device)
                    t0 = time.perf_counter()
                    out = run()
                    synchronize(device)
                    if i >= warmup:
                        times[name].append(time.perf_counter() - t0)
                    reference = out if reference is None else reference     # transformers' first output
                    outputs_equal &= out.shape == reference.shape and bool(torch.equal(out, reference))
            tps = {name: B * N / statistics.median(t) for name, t in times.items()}
            nbytes = generation_bytes(model, B, prompt_len, N)
            case = dict(batch_size=B, prompt_len=prompt_len, new_tokens=N, outputs_equal=outputs_equal,
                        tokens_per_s=tps, seconds=times, ratio=tps["library"] / tps["transformers"],
                        bytes_read=nbytes,
                        bandwidth_GBps={n: nbytes * v / (B * N) / 1e9 for n, v in tps.items()})
            case["bandwidth_fraction"] = {n: v / bandwidth for n, v in case["bandwidth_GBps"].items()}
            cases.append(case)
            log(f"B={B:<3d} new={N:<4d} transformers {tps['transformers']:9.1f} tok/s   library "
                f"{tps['library']:9.1f} tok/s   ratio {case['ratio']:.2f}   library reads "
                f"{case['bandwidth_GBps']['library']:.1f} GB/s ({case['bandwidth_fraction']['library']:.0%} of copy)"
                f"   outputs equal: {outputs_equal}")
            if on_case is not None:
                on_case(_vs_hf_result(cases, machine, shape, model, dtype, cuda_graphs, num_runs, warmup))
    result = _vs_hf_result(cases, machine, shape, model, dtype, cuda_graphs, num_runs, warmup)
    log(f"smallest ratio library/transformers: {result['smallest_ratio']:.2f} (batch {result['smallest_case'][0]}, "
        f"{result['smallest_case'][1]} new tokens); outputs equal in every case: {result['outputs_equal']}")
    return result


def _vs_hf_result(cases, machine, shape, model, dtype, cuda_graphs, num_runs, warmup) -> dict:
    worst = min(cases, key=lambda c: c["ratio"])
    return dict(machine=machine, model=shape, num_params=model.num_params(), dtype=str(dtype).replace("torch.", ""),
                cuda_graphs=cuda_graphs, fast_cpu_decode=Linear.fast_cpu_decode, num_runs=num_runs, warmup=warmup,
                cases=list(cases), smallest_ratio=worst["ratio"], smallest_case=(worst["batch_size"], worst["new_tokens"]),
                outputs_equal=all(c["outputs_equal"] for c in cases))


def vs_hf_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m nanoinfer_lib.benchmark vs-hf",
                                description="Greedy decoding speed: the library vs transformers (same weights).")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--new-tokens", type=int, nargs="+", default=[128, 512])
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--runs", type=int, default=3, help="timed runs of each (after --warmup); median reported")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--model", choices=sorted(VS_HF_SHAPES), default="gpt2", help="shape of the random model")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    p.add_argument("--cuda-graphs", action="store_true", help="decode with CUDA graphs (both libraries; GPU only)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads for both (default: as set)")
    p.add_argument("--plain-linear", action="store_true",
                   help="turn off the library's CPU decoding paths in model.Linear (to measure what they bring)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON to this file")
    a = p.parse_args(argv)
    if a.cuda_graphs and not a.device.startswith("cuda"):
        p.error("--cuda-graphs needs --device cuda")
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    Linear.fast_cpu_decode = not a.plain_linear
    command = "python -m nanoinfer_lib.benchmark vs-hf " + " ".join(argv)

    def save(result: dict, complete: bool) -> None:   # one file keeps a run per (dtype, CUDA graphs)
        if a.out is None:
            return
        runs = json.loads(a.out.read_text())["runs"] if a.out.is_file() else []
        runs = [r for r in runs if (r["dtype"], r["cuda_graphs"]) != (result["dtype"], result["cuda_graphs"])]
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"runs": runs + [dict(result, command=command, complete=complete)]}, indent=1) + "\n")

    result = vs_hf(a.batch_sizes, a.new_tokens, a.prompt_len, a.runs, a.warmup, a.model, a.device,
                   DTYPES[a.dtype], a.cuda_graphs, a.seed, on_case=lambda r: save(r, complete=False))
    save(result, complete=True)
    fp32 = a.dtype == "float32"
    return 0 if result["outputs_equal"] or not fp32 else 1


# ---- command line ------------------------------------------------------------------------------
COMMANDS: dict[str, Callable[[list[str]], int]] = {   # name -> main(argv)
    "kv-sweep": kv_sweep_main, "perf": _perf_main, "vs-hf": vs_hf_main}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nanoinfer_lib.benchmark", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=sorted(COMMANDS), help="which benchmark to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments (see COMMAND --help)")
    ns = p.parse_args(argv)
    return COMMANDS[ns.command](ns.args)


if __name__ == "__main__":
    raise SystemExit(main())
