"""How fast a model runs: ``benchmark_model`` (one forward pass over a batch, a prefill) and
``benchmark_decode`` (greedy generation), and the bytes that decoding must read from memory and the
operations it does, which set its speed limits (the roofline of chapter 04); and one decode step
eager against replayed from a CUDA graph (``cuda_graph_step_ms``)."""
from __future__ import annotations

import statistics

import torch
import torch.nn as nn

from .. import validate
from ..generation import generate
from ..kv_cache import KVCache, kv_cache_bytes
from ..model import check_model
from ..sampling import MAX_SEED
from ..static_decode import capture
from .hardware import device_info, gpu_memory, model_memory, process_memory
from .timing import latency_stats, time_fn


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (a GPT), got {type(model).__name__}")
    p = next(iter(model.parameters()), None)
    if p is None:
        p = next(iter(model.buffers()))
    floats = [t.dtype for t in model.parameters() if t.is_floating_point()]
    return p.device, (floats[0] if floats else torch.float32)


def _where(device: torch.device, dtype: torch.dtype) -> dict:
    return dict(device_info(device), dtype=validate.dtype_name(dtype))


def random_prompt(vocab_size: int, batch_size: int, prompt_len: int, seed: int = 0,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """Seeded random token ids (batch_size, prompt_len) on ``device``."""
    vocab_size = validate.integer("vocab_size", vocab_size, 1)
    shape = (validate.integer("batch_size", batch_size, 1), validate.integer("prompt_len", prompt_len, 1))
    g = torch.Generator().manual_seed(validate.integer("seed", seed, 0, MAX_SEED))
    return torch.randint(0, vocab_size, shape, generator=g).to(device)


def repeated_pass(model, batch_size: int = 1, position: int = 16, n_tokens: int = 1, seed: int = 0):
    """The one way the benchmarks repeat a cached forward pass: a function that runs ``n_tokens`` new
    tokens per row after a cache of ``position`` positions (prefilled here from seeded random ids),
    returns the logits and crops the cache back to ``position``, so every call repeats the same pass,
    with the same shapes (a CUDA graph can capture it). ``n_tokens=1`` is a decode step."""
    batch_size = validate.integer("batch_size", batch_size, 1)
    n_tokens = validate.integer("n_tokens", n_tokens, 1, model.config.block_size - 1)
    position = validate.integer("position", position, 1, model.config.block_size - n_tokens)
    ids = random_prompt(model.config.vocab_size, batch_size, position + n_tokens, seed, model.device)
    cache = KVCache(model.config, batch_size, position + n_tokens, device=model.device, dtype=model.dtype)
    with torch.inference_mode():
        model(ids[:, :position], kv_cache=cache)                              # prefill (B, position)
    new, last_only = ids[:, position:], n_tokens == 1                         # (B, n_tokens)

    def run():
        with torch.inference_mode():
            logits = model(new, kv_cache=cache, last_only=last_only)
        cache.crop(position)                                                  # forget them: the next call repeats it
        return logits
    return run


def benchmark_model(model: nn.Module, input_shape: tuple[int, int] = (4, 512), num_runs: int = 10,
                    warmup: int = 2, seed: int = 0) -> dict:
    """Time one forward pass (a prefill) over random token ids of shape ``input_shape`` = (B, T), on
    the model's own device and dtype: ``warmup`` untimed runs, then ``num_runs`` timed ones, with the
    GPU synchronised around each.

    Returns a dict: avg_latency_ms (mean), median_latency_ms, std_latency_ms, min/max_latency_ms,
    tokens_per_second (B * T / median latency), batch_size, seq_len, num_runs, peak_gpu_memory_mb
    (None on CPU), rss_mb, and where it ran (``device_info``) with its dtype.
    """
    device, dtype = _device_dtype(model)
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"input_shape must be a pair (batch_size, seq_len), got {type(input_shape).__name__} {input_shape!r}")
    if len(input_shape) != 2:
        raise ValueError(f"input_shape must be a pair (batch_size, seq_len), got {input_shape!r}")
    B = validate.integer("input_shape[0] (batch size)", input_shape[0], 1)
    T = validate.integer("input_shape[1] (sequence length)", input_shape[1], 1)
    num_runs, warmup = validate.integer("num_runs", num_runs, 1), validate.integer("warmup", warmup, 0)
    seed = validate.integer("seed", seed, 0, MAX_SEED)
    config = getattr(model, "config", None)
    if config is not None and T > config.block_size:
        raise ValueError(f"input_shape[1] (sequence length) must be <= block_size={config.block_size}, got {T}")
    ids = random_prompt(config.vocab_size if config is not None else 2, B, T, seed, device)   # (B, T)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode():
        times = time_fn(lambda: model(ids), num_runs=num_runs, warmup=warmup, device=device)
    out = latency_stats(times)
    out.update(tokens_per_second=B * T / (out["median_latency_ms"] / 1e3), batch_size=B, seq_len=T,
               num_runs=num_runs, times_s=times, rss_mb=process_memory()["rss_mb"],
               peak_gpu_memory_mb=gpu_memory(device)["peak_allocated_mb"] if device.type == "cuda" else None)
    out.update(_where(device, dtype))
    return out


def decode_fn(model: nn.Module, batch_size: int = 1, prompt_len: int = 16, new_tokens: int = 64,
              use_cache: bool = True, seed: int = 0):
    """A function that greedily generates ``new_tokens`` after a seeded random prompt, to time."""
    device, _ = _device_dtype(check_model("model", model))
    N, use_cache = validate.integer("new_tokens", new_tokens, 1), validate.flag("use_cache", use_cache)
    ids = random_prompt(model.config.vocab_size, batch_size, prompt_len, seed, device)   # (B, P)
    return lambda: generate(model, ids, max_new_tokens=N, temperature=0, use_cache=use_cache)


def benchmark_decode(model: nn.Module, batch_size: int = 1, prompt_len: int = 16, new_tokens: int = 64,
                     num_runs: int = 3, warmup: int = 1, use_cache: bool = True, seed: int = 0) -> dict:
    """Time greedy ``generate`` of ``new_tokens`` tokens after random prompts (batch_size, prompt_len).

    Returns a dict: tokens_per_second (batch_size * new_tokens / median latency), ms_per_step
    (median latency / new_tokens, prefill included), the latency statistics of ``latency_stats``, the
    settings, and where it ran.
    """
    device, dtype = _device_dtype(check_model("model", model))
    run = decode_fn(model, batch_size, prompt_len, new_tokens, use_cache, seed)
    batch_size, prompt_len, new_tokens = int(batch_size), int(prompt_len), int(new_tokens)   # checked above
    times = time_fn(run, num_runs=validate.integer("num_runs", num_runs, 1),
                    warmup=validate.integer("warmup", warmup, 0), device=device)
    out = latency_stats(times)
    out.update(tokens_per_second=batch_size * new_tokens / (out["median_latency_ms"] / 1e3),
               ms_per_step=out["median_latency_ms"] / new_tokens, batch_size=batch_size, prompt_len=prompt_len,
               new_tokens=new_tokens, use_cache=bool(use_cache), num_runs=num_runs, times_s=times)
    out.update(_where(device, dtype))
    return out


def decode_bytes_per_step(model: nn.Module, batch_size: int, context_len: int) -> dict:
    """Bytes a decode step must read from memory: every weight once (the tied embedding once, as
    lm_head; the position table is left out, as one row of it is read) plus the cached keys and values
    of ``context_len`` positions for each of ``batch_size`` rows."""
    cfg = model.config
    B, S = validate.integer("batch_size", batch_size, 1), validate.integer("context_len", context_len, 1)
    dtype = _device_dtype(model)[1]
    weights = model_memory(model) - cfg.block_size * cfg.n_embd * dtype.itemsize
    cache = kv_cache_bytes(cfg, B, S, dtype)
    return {"weights": weights, "kv_cache": cache, "total": weights + cache}


def decode_flops_per_step(model: nn.Module, batch_size: int, context_len: int) -> dict:
    """Floating-point operations of one decode step (a multiply-add counts 2), by formula: per row,
    the matrix products of every layer (queries, keys, values and the attention's output: 4 C^2; the
    MLP's two: 8 C^2), the lm_head (V C), and attention over ``context_len`` positions (Q K^T and the
    weighted sum of V: 4 C S per layer). Elementwise work (LayerNorm, GELU, softmax, biases: O(C) per
    row) is left out. ``torch.utils.flop_counter`` counts the same ``matmul`` figure; it does not
    count the CPU's fused attention."""
    cfg = model.config
    B, S = validate.integer("batch_size", batch_size, 1), validate.integer("context_len", context_len, 1)
    C, n_layer = cfg.n_embd, cfg.n_layer
    matmul = 2 * B * (12 * n_layer * C * C + cfg.vocab_size * C)
    attention = 4 * B * n_layer * C * S
    return {"matmul": matmul, "attention": attention, "total": matmul + attention}


def generation_bytes(model: nn.Module, batch_size: int, prompt_len: int, new_tokens: int) -> int:
    """Bytes that generating ``new_tokens`` tokens reads from memory, at least: one forward pass per
    token (the prefill, then ``new_tokens - 1`` decode steps), each reading every weight once and the
    cached keys and values of its context (``decode_bytes_per_step``)."""
    return sum(decode_bytes_per_step(model, batch_size, prompt_len + i)["total"] for i in range(new_tokens))


def cuda_graph_step_ms(model, batch_size: int = 1, context_len: int = 128, num_runs: int = 50) -> dict:
    """One decode step at a fixed cache position, launched eagerly and replayed from a CUDA graph
    (milliseconds per step, median). A graph replays all the step's kernels with one launch."""
    device = model.device
    if device.type != "cuda":
        raise ValueError(f"CUDA graphs need a model on a CUDA device, got {device}")
    step = repeated_pass(model, batch_size, context_len)     # always the same slot: the graph's shapes are fixed
    with torch.inference_mode():
        graph, _ = capture(step)
        eager = time_fn(step, num_runs=num_runs, warmup=3, device=device)
        replay = time_fn(graph.replay, num_runs=num_runs, warmup=3, device=device)
    return {"eager_ms": statistics.median(eager) * 1e3, "graph_ms": statistics.median(replay) * 1e3,
            "batch_size": batch_size, "context_len": context_len}
