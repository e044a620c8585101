"""Autoregressive generation: ``generate`` (full output or a stream of token columns) and
``generate_batch`` (many prompts, left-padded). One decode loop serves all of them.

Context-window rule (both with and without the cache, so the two stay equal): the model always sees
at most the last ``block_size`` tokens, with positions counted from the start of that window, as
nanoGPT crops. Once a sequence is longer than the window, the cached path rebuilds its cache from
the cropped window at every step, so it costs what the uncached path costs.

Host synchronisation: none per step on a GPU unless ``stop_tokens`` are set (then one per step, to
learn whether every row has stopped), plus the finite-logits check of ``sample_next_token``.
"""
from __future__ import annotations

from typing import Iterator

import torch

from . import validate
from .kv_cache import KVCache
from .model import check_model
from .sampling import SamplingSettings, apply_repetition_penalty, check_seed_and_generator, make_generator
from .tokenizer import check_encoded, check_token_id_set, check_token_ids, check_tokenizer


class TokenBuffer:
    """Token ids (B, capacity) of which the first ``length`` columns are filled. The capacity doubles
    when full, so a long stream never allocates ``max_new_tokens`` columns up front."""

    def __init__(self, ids: torch.Tensor, extra: int, fill: int = 0):
        B, T = ids.shape
        self.data = torch.full((B, T + max(1, min(extra, 1024))), fill, dtype=ids.dtype, device=ids.device)
        self.data[:, :T] = ids
        self.length, self.fill = T, fill

    def append(self, column: torch.Tensor) -> None:                           # column (B,)
        if self.length == self.data.shape[1]:
            more = torch.full_like(self.data, self.fill)
            self.data = torch.cat([self.data, more], dim=1)
        self.data[:, self.length] = column
        self.length += 1

    def view(self, start: int = 0, end: int | None = None) -> torch.Tensor:
        return self.data[:, start:self.length if end is None else end]


def _check_args(model, max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty,
                stop_tokens, seed, generator) -> tuple[int, SamplingSettings, set[int], int | None]:
    check_model("model", model)
    max_new_tokens = validate.integer("max_new_tokens", max_new_tokens, 0)
    sampling = SamplingSettings(temperature, top_k, top_p, min_p, repetition_penalty)
    stops = check_token_id_set("stop_tokens", stop_tokens, model.config.vocab_size)
    seed, _ = check_seed_and_generator(seed, generator)
    return max_new_tokens, sampling, stops, seed


def prompt_ids(input_ids, model) -> torch.Tensor:
    """``input_ids`` as a LongTensor (B, T) on the model's device: a (B, T) or (T,) integer tensor or
    (nested) lists of ints, not empty, every id in the model's vocabulary."""
    ids = check_token_ids("input_ids", input_ids, model.config.vocab_size)
    if ids.dim() == 1:
        ids = ids.unsqueeze(0)
    if ids.dim() != 2 or ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"input_ids must be a non-empty prompt of shape (B, T), got {tuple(ids.shape)}")
    return ids.to(model.device)


def decode_steps(model, tokens: TokenBuffer, max_new_tokens: int, sampling: SamplingSettings, stops: set[int],
                 use_cache: bool, generator: torch.Generator | None, mask: TokenBuffer | None = None,
                 pad_id: int = 0) -> Iterator[torch.Tensor]:
    """Append up to ``max_new_tokens`` columns to ``tokens`` (B, T), one per step; yield each (B,).

    mask: 1 for real tokens, 0 for left padding, one column per token (None: no padding).
    """
    B, bs = tokens.data.shape[0], model.config.block_size
    prompt_len = tokens.length
    cache = KVCache(model.config, B, min(bs, prompt_len + max_new_tokens), model.device, model.dtype) \
        if use_cache and max_new_tokens else None
    stop_t = torch.tensor(sorted(stops), device=model.device) if stops else None
    done = torch.zeros(B, dtype=torch.bool, device=model.device)
    start = 0                                      # index of the first token the cache holds
    with torch.inference_mode():
        for L in range(prompt_len, prompt_len + max_new_tokens):      # L = tokens so far
            if cache is None:
                start = max(0, L - bs)
                new, past = tokens.view(start, L), 0
            else:
                if cache.length == 0:
                    start = max(0, L - bs)
                elif L - start > cache.max_len:    # the window slides: rebuild the cache from it
                    start = L - bs
                    cache.reset()
                new, past = tokens.view(start + cache.length, L), cache.length
            kwargs = {}
            if mask is not None:
                window = mask.view(start, L)                                 # (B, S)
                kwargs["attention_mask"] = window
                kwargs["position_ids"] = (window.cumsum(-1) - 1).clamp(min=0)[:, past:]   # (B, T)
            logits = model(new, kv_cache=cache, last_only=True, **kwargs)[:, -1, :]   # (B, V)
            if sampling.repetition_penalty is not None:
                history = tokens.view() if mask is None else tokens.view().masked_fill(mask.view() == 0, -1)
                logits = apply_repetition_penalty(logits, history, sampling.repetition_penalty)
            token = sampling.sample(logits, generator)                       # (B,)
            if stop_t is not None:
                token = torch.where(done, torch.full_like(token, pad_id), token)
                done = done | torch.isin(token, stop_t)
            tokens.append(token)
            if mask is not None:
                mask.append(torch.ones_like(token))
            yield token
            if stop_t is not None and bool(done.all()):               # the one sync per step
                return


def generate(model, input_ids, max_new_tokens: int = 100, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
             repetition_penalty: float | None = None, stop_tokens=None, use_cache: bool = True,
             seed: int | None = None, stream: bool = False, generator: torch.Generator | None = None):
    """Continue ``input_ids`` (B, T) by up to ``max_new_tokens`` tokens.

    Returns a LongTensor (B, T + n_new) with the prompt included, or, with ``stream=True``, an iterator
    that yields one LongTensor (B,) per step. A row stops after it emits one of ``stop_tokens`` (the stop
    token is kept); later positions of a stopped row hold the smallest stop token id; generation ends when
    every row has stopped. ``temperature=0`` is greedy. ``seed`` or ``generator`` (not both) makes
    sampling reproducible on a device. ``use_cache=False`` recomputes the whole context every step.
    """
    max_new_tokens, sampling, stops, seed = _check_args(model, max_new_tokens, temperature, top_k, top_p,
                                                        min_p, repetition_penalty, stop_tokens, seed, generator)
    validate.flag("use_cache", use_cache)
    validate.flag("stream", stream)
    ids = prompt_ids(input_ids, model)
    tokens = TokenBuffer(ids, max_new_tokens)
    gen = make_generator(seed, generator, ids.device)
    steps = decode_steps(model, tokens, max_new_tokens, sampling, stops, use_cache, gen,
                         pad_id=min(stops) if stops else 0)
    if stream:
        return steps
    for _ in steps:
        pass
    return tokens.view().clone()


def generate_batch(model, prompts: list[str], tokenizer, max_new_tokens: int = 100, batch_size: int = 4,
                   temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                   min_p: float | None = None, repetition_penalty: float | None = None, stop_tokens=None,
                   use_cache: bool = True, seed: int | None = None) -> list[str]:
    """Generate a continuation for each prompt, ``batch_size`` prompts at a time, and return the
    continuations (without the prompts) as text, in order.

    Prompts are left-padded to a common length; an attention mask hides the padding and each row's
    positions start at its first real token, so greedy decoding returns exactly what each prompt
    alone returns. A continuation ends after its first stop token (kept in the text).
    """
    prompts = validate.texts("prompts", prompts)
    check_tokenizer("tokenizer", tokenizer)
    batch_size = validate.integer("batch_size", batch_size, 1)
    max_new_tokens, sampling, stops, seed = _check_args(model, max_new_tokens, temperature, top_k, top_p,
                                                        min_p, repetition_penalty, stop_tokens, seed, None)
    validate.flag("use_cache", use_cache)
    V = model.config.vocab_size
    encoded = [check_encoded(f"prompts[{i}]", tokenizer.encode(p), V) for i, p in enumerate(prompts)]
    gen = make_generator(seed, None, model.device)
    pad_id = tokenizer.eot_token if tokenizer.eot_token < V else 0
    out: list[str] = []
    for b in range(0, len(encoded), batch_size):
        chunk = encoded[b:b + batch_size]
        T = max(len(ids) for ids in chunk)
        seq = torch.full((len(chunk), T), pad_id, dtype=torch.long)
        mask = torch.zeros_like(seq)
        for r, ids in enumerate(chunk):
            seq[r, T - len(ids):] = torch.tensor(ids)
            mask[r, T - len(ids):] = 1
        tokens = TokenBuffer(seq.to(model.device), max_new_tokens, fill=pad_id)
        n = sum(1 for _ in decode_steps(model, tokens, max_new_tokens, sampling, stops, use_cache, gen,
                                        mask=TokenBuffer(mask.to(model.device), max_new_tokens), pad_id=pad_id))
        for row in tokens.view(T, T + n).tolist():
            cut = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
            out.append(tokenizer.decode(row[:cut]))
    return out
