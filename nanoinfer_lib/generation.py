"""Autoregressive generation: ``generate`` (full output or a stream of token columns) and
``generate_batch`` (many prompts, left-padded). One decode loop serves all of them.

Context-window rule (both with and without the cache, so the two stay equal): the model always sees
at most the last ``block_size`` tokens, with positions counted from the start of that window, as
nanoGPT crops. Once a sequence is longer than the window, the cached path rebuilds its cache from
the cropped window at every step, so it costs what the uncached path costs.
"""
from __future__ import annotations

import numbers
from typing import Iterable, Iterator

import torch

from .kv_cache import KVCache
from .model import GPT
from .sampling import (apply_repetition_penalty, check_min_p, check_repetition_penalty, check_temperature,
                       check_top_k, check_top_p, sample_next_token)


def _check_args(model, max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty,
                stop_tokens, seed, generator) -> tuple[dict, set[int]]:
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a nanoinfer_lib GPT, got {type(model).__name__}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral):
        raise TypeError(f"max_new_tokens must be an int >= 0, got {type(max_new_tokens).__name__}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    sampling = dict(temperature=check_temperature(temperature), top_k=check_top_k(top_k),
                    top_p=check_top_p(top_p), min_p=check_min_p(min_p))
    check_repetition_penalty(repetition_penalty)
    V = model.config.vocab_size
    if stop_tokens is None:
        stops: set[int] = set()
    elif isinstance(stop_tokens, numbers.Integral) and not isinstance(stop_tokens, bool):
        stops = {int(stop_tokens)}
    elif isinstance(stop_tokens, Iterable) and not isinstance(stop_tokens, (str, bytes)):
        stops = {int(t) for t in stop_tokens}
    else:
        raise TypeError(f"stop_tokens must be None, an int or a list of ints, got {type(stop_tokens).__name__}")
    if any(not 0 <= t < V for t in stops):
        raise ValueError(f"stop_tokens must lie in [0, {V}), got {sorted(stops)}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be None or an int, got {type(seed).__name__}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")
    return sampling, stops


def _as_ids(input_ids, model: GPT) -> torch.Tensor:
    if isinstance(input_ids, (list, tuple)):
        input_ids = torch.tensor(input_ids, dtype=torch.long)
    if not isinstance(input_ids, torch.Tensor) or input_ids.is_floating_point() or input_ids.is_complex():
        raise TypeError(f"input_ids must be a LongTensor (B, T) or a list of ints, got {type(input_ids).__name__}")
    if input_ids.dim() == 1:
        input_ids = input_ids.unsqueeze(0)
    if input_ids.dim() != 2 or input_ids.shape[1] == 0 or input_ids.shape[0] == 0:
        raise ValueError(f"input_ids must be a non-empty prompt of shape (B, T), got {tuple(input_ids.shape)}")
    V = model.config.vocab_size
    if int(input_ids.min()) < 0 or int(input_ids.max()) >= V:
        raise ValueError(f"input_ids must lie in [0, {V}), got min {int(input_ids.min())}, max {int(input_ids.max())}")
    return input_ids.to(model.device, torch.long)


def _decode_steps(model: GPT, seq: torch.Tensor, prompt_len: int, max_new_tokens: int, sampling: dict,
                  repetition_penalty: float | None, stops: set[int], use_cache: bool,
                  generator: torch.Generator | None, mask: torch.Tensor | None = None,
                  pad_id: int = 0) -> Iterator[torch.Tensor]:
    """Fill ``seq`` (B, prompt_len + max_new_tokens) in place, one column per step; yield each column (B,).

    mask (B, prompt_len + max_new_tokens): 1 for real tokens, 0 for left padding (None: no padding).
    """
    B, bs = seq.shape[0], model.config.block_size
    cache = KVCache(model.config, B, min(bs, prompt_len + max_new_tokens), model.device, model.dtype) if use_cache else None
    stop_t = torch.tensor(sorted(stops), device=seq.device) if stops else None
    done = torch.zeros(B, dtype=torch.bool, device=seq.device)
    start = 0                                      # seq index of the first token the cache holds
    with torch.inference_mode():
        for L in range(prompt_len, prompt_len + max_new_tokens):      # L = tokens so far
            if cache is None:
                start = max(0, L - bs)
                new, past = seq[:, start:L], 0
            else:
                if cache.length == 0:
                    start = max(0, L - bs)
                elif L - start > cache.max_len:    # the window slides: rebuild the cache from it
                    start = L - bs
                    cache.reset()
                new, past = seq[:, start + cache.length:L], cache.length
            kwargs = {}
            if mask is not None:
                window = mask[:, start:L]                                   # (B, S)
                kwargs["attention_mask"] = window
                kwargs["position_ids"] = (window.cumsum(-1) - 1).clamp(min=0)[:, past:]   # (B, T)
            logits = model(new, kv_cache=cache, last_only=True, **kwargs)[:, -1, :]   # (B, V)
            if repetition_penalty is not None:
                history = seq[:, :L] if mask is None else seq[:, :L].masked_fill(mask[:, :L] == 0, -1)
                logits = apply_repetition_penalty(logits, history, repetition_penalty)
            token = sample_next_token(logits, generator=generator, **sampling)   # (B,)
            if stop_t is not None:
                token = torch.where(done, torch.full_like(token, pad_id), token)
                done = done | torch.isin(token, stop_t)
            seq[:, L] = token
            if mask is not None:
                mask[:, L] = 1
            yield token
            if stop_t is not None and bool(done.all()):
                return


def _make_generator(seed, generator, device) -> torch.Generator | None:
    if generator is not None:
        return generator
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(int(seed))


def generate(model: GPT, input_ids, max_new_tokens: int = 100, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
             repetition_penalty: float | None = None, stop_tokens=None, use_cache: bool = True,
             seed: int | None = None, stream: bool = False, generator: torch.Generator | None = None):
    """Continue ``input_ids`` (B, T) by up to ``max_new_tokens`` tokens.

    Returns a LongTensor (B, T + n_new) with the prompt included, or, with ``stream=True``, an iterator
    that yields one LongTensor (B,) per step. A row stops after it emits one of ``stop_tokens`` (the stop
    token is kept); later positions of a stopped row hold the smallest stop token id; generation ends when
    every row has stopped. ``temperature=0`` is greedy. ``seed`` (or ``generator``) makes sampling
    reproducible on a device. ``use_cache=False`` recomputes the whole context every step (slow path).
    """
    sampling, stops = _check_args(model, max_new_tokens, temperature, top_k, top_p, min_p,
                                  repetition_penalty, stop_tokens, seed, generator)
    ids = _as_ids(input_ids, model)
    B, T = ids.shape
    seq = torch.empty(B, T + max_new_tokens, dtype=torch.long, device=ids.device)
    seq[:, :T] = ids
    gen = _make_generator(seed, generator, ids.device)
    pad_id = min(stops) if stops else 0
    steps = _decode_steps(model, seq, T, max_new_tokens, sampling, repetition_penalty, stops, use_cache, gen,
                          pad_id=pad_id)
    if stream:
        return steps
    n = sum(1 for _ in steps)
    return seq[:, :T + n]


def generate_batch(model: GPT, prompts: list[str], tokenizer, max_new_tokens: int = 100, batch_size: int = 4,
                   temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                   min_p: float | None = None, repetition_penalty: float | None = None, stop_tokens=None,
                   use_cache: bool = True, seed: int | None = None) -> list[str]:
    """Generate a continuation for each prompt, ``batch_size`` prompts at a time, and return the
    continuations (without the prompts) as text, in order.

    Prompts are left-padded to a common length; an attention mask hides the padding and each row's
    positions start at its first real token, so greedy decoding returns exactly what each prompt
    alone returns. A continuation ends after its first stop token (kept in the text).
    """
    if isinstance(prompts, str) or not isinstance(prompts, (list, tuple)) or not all(isinstance(p, str) for p in prompts):
        raise TypeError("prompts must be a list of strings")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    sampling, stops = _check_args(model, max_new_tokens, temperature, top_k, top_p, min_p,
                                  repetition_penalty, stop_tokens, seed, None)
    encoded = [tokenizer.encode(p) for p in prompts]
    for i, ids in enumerate(encoded):
        if not ids:
            raise ValueError(f"prompts[{i}] is empty: every prompt needs at least one token")
    gen = _make_generator(seed, None, model.device)
    pad_id = tokenizer.eot_token if tokenizer.eot_token < model.config.vocab_size else 0
    out: list[str] = []
    for b in range(0, len(encoded), batch_size):
        chunk = encoded[b:b + batch_size]
        T = max(len(ids) for ids in chunk)
        seq = torch.full((len(chunk), T + max_new_tokens), pad_id, dtype=torch.long, device=model.device)
        mask = torch.zeros_like(seq)
        for r, ids in enumerate(chunk):
            seq[r, T - len(ids):T] = torch.tensor(ids, device=model.device)
            mask[r, T - len(ids):T] = 1
        n = sum(1 for _ in _decode_steps(model, seq, T, max_new_tokens, sampling, repetition_penalty, stops,
                                         use_cache, gen, mask=mask, pad_id=pad_id))
        for row in seq[:, T:T + n].tolist():
            cut = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
            out.append(tokenizer.decode(row[:cut]))
    return out
