"""Decoding with fixed shapes: a static KV cache, so that one decode step can be replayed from a CUDA
graph (``graphed_greedy``) or compiled once with ``torch.compile`` (``compiled_greedy``, as gpt-fast does).

A ``StaticKVCache`` step writes its keys and values at ``pos``, a tensor on the device rather than a
Python int, and attends to all ``max_len`` positions with a mask hiding the ones not filled yet. So
every step has the same shapes and reads the same buffers: a CUDA graph captured once replays any
step with one launch, and a compiled step never sees a new shape. ``static_greedy`` is greedy
decoding on it, equal to ``generate(..., temperature=0)`` token for token (``tests/test_static_decode.py``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from . import validate
from .kernels import use_fast_decode
from .kv_cache import KVCache


class StaticKVCache(KVCache):
    """A KVCache that, after ``make_static()`` (called after the prefill), keeps every decode step's shapes fixed."""
    static = False

    def make_static(self) -> None:
        self.pos = torch.tensor([self.length], device=self.device)                    # (1,) next slot
        self.mask = (torch.arange(self.max_len, device=self.device) < self.length).long()
        self.mask = self.mask.expand(self.batch_size, -1).contiguous()                 # (B, max_len)
        self.length = self.max_len - 1       # the model then sees S = past + 1 = max_len positions
        self.static = True

    def update(self, layer_idx, k, v):
        if not self.static:
            return super().update(layer_idx, k, v)
        self.k[layer_idx].index_copy_(2, self.pos, k)                                  # (B, nh, max_len, hs)
        self.v[layer_idx].index_copy_(2, self.pos, v)
        return self.k[layer_idx], self.v[layer_idx]

    def advance(self, T: int) -> None:
        if not self.static:
            return super().advance(T)
        self.pos += T                        # on the device: replaying the graph moves it too


def capture(step: Callable[[], object], state: Sequence[torch.Tensor] = (), warmup: int = 2):
    """Warm ``step`` up on a side stream (as capture needs), capture it as a CUDA graph, then put the
    tensors in ``state`` back as they were (the warm-up and the capture ran the step). Returns
    ``(graph, output)``: ``graph.replay()`` runs the step again; ``output`` is its static result."""
    saved = [t.clone() for t in state]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = step()
    for t, value in zip(state, saved):
        t.copy_(value)
    return graph, output


def static_greedy(model, ids: torch.Tensor, max_new_tokens: int, mode: str = "graph") -> torch.Tensor:
    """Greedy decoding (as ``generate(..., temperature=0)``) on a ``StaticKVCache``: the prefill runs
    eagerly, then every decode step runs with the same shapes. ``mode``: "graph" replays one CUDA
    graph per step (eager off CUDA), "compile" runs the step through ``torch.compile`` (compiled on
    the first call; a new batch size, length, dtype or device compiles again), "eager" runs it as is.
    Every step attends to the whole preallocated cache, so it reads more of it than ``generate``."""
    max_new_tokens = validate.integer("max_new_tokens", max_new_tokens, 0)
    validate.choice("mode", mode, ("graph", "compile", "eager"))
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
        if mode == "compile":
            run = torch.compile(step)
        elif mode == "graph" and ids.device.type == "cuda" and max_new_tokens > 1:
            run = capture(step, state=(cache.pos, cache.mask, token))[0].replay
        for L in range(T + 1, T + max_new_tokens):
            run()
            seq[:, L:L + 1] = token
    return seq


def graphed_greedy(model, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """``static_greedy`` with CUDA graphs (eager off CUDA)."""
    return static_greedy(model, ids, max_new_tokens, mode="graph")


def compiled_greedy(model, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy decoding, equal to ``generate(model, ids, max_new_tokens, temperature=0)`` up to float
    rounding, with every decode step compiled by ``torch.compile`` on a static cache. It turns the
    model's linears into ``FastDecodeLinear`` in place (they compute the same; ``use_fast_decode(model,
    False)`` turns them back). The first call for a new batch size, length, dtype or device compiles
    (about 30 s for GPT-2 on 2 CPU cores); later calls reuse it."""
    return static_greedy(use_fast_decode(model), ids, max_new_tokens, mode="compile")
