"""Where the memory of a generation goes: weights, KV cache, activations and temporaries, the CUDA
allocator's reserve, and the process as the OS sees it, each measured beside its byte formula.

- ``model_bytes(model)``: the bytes of its parameters and buffers, by dtype (tied weights once).
- ``cache_bytes(cache)``: the bytes of every tensor a KV cache holds (scales included, if it has any).
- ``process_memory()``: RSS and VMS (psutil); ``cuda_memory()``: allocated, reserved, peak allocated.
- ``memory_timeline(model, input_ids, max_new_tokens)``: one row per step of a greedy generation.
- ``freeing_memory()``: what ``del``, ``gc.collect()`` and ``torch.cuda.empty_cache()`` give back.
- ``faq_memory(...)``: the tutorial's four answers to "out of memory?" measured on one workload.

Temporaries on CPU: PyTorch keeps no allocator statistics there, so ``TensorCounter`` counts every
operator's outputs from their allocation until their last tensor is freed (scratch memory inside one
operator is not seen). On CUDA the caching allocator's own counters are read.
"""
from __future__ import annotations

import copy
import gc
import weakref

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.checkpoint import checkpoint

from . import validate
from .generation import prompt_ids
from .kv_cache import KVCache
from .model import check_kv_cache, check_model


class TensorCounter(TorchDispatchMode):
    """Counts the bytes of every storage an operator creates, until its last tensor is freed:
    ``now`` (alive at this moment) and ``peak`` (the most at once)."""

    def __init__(self):
        super().__init__()
        self.live: dict[int, list[int]] = {}       # storage address -> [bytes, tensors alive]
        self.now = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor) or t.untyped_storage().nbytes() == 0:
                continue
            ptr = t.untyped_storage().data_ptr()
            if ptr in self.live:                   # a view of a tensor made in here
                self.live[ptr][1] += 1
            elif ptr in inputs:                    # a view or in-place result of a tensor from outside
                continue
            else:                                  # a new allocation
                self.live[ptr] = [t.untyped_storage().nbytes(), 1]
                self.now += self.live[ptr][0]
                self.peak = max(self.peak, self.now)
            weakref.finalize(t, self._release, ptr)
        return out

    def _release(self, ptr: int) -> None:
        entry = self.live.get(ptr)
        if entry is not None:
            entry[1] -= 1
            if entry[1] == 0:
                self.now -= entry[0]
                del self.live[ptr]


def _storages_bytes(tensors) -> int:
    """Bytes of the storages behind ``tensors``, each storage once (tied or viewed tensors share one)."""
    seen = {}
    for t in tensors:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(seen.values())


def model_bytes(model: nn.Module) -> dict:
    """{"total", "parameters", "buffers", "by_dtype": {dtype name: bytes}} of ``model``'s tensors,
    each storage counted once (GPT-2's tied lm_head is the token embedding: counted once)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {validate.given(model)}")
    params = [p for p in model.parameters()]
    buffers = [b for b in model.buffers()]
    by_dtype: dict[str, list] = {}
    for t in params + buffers:
        by_dtype.setdefault(validate.dtype_name(t.dtype), []).append(t)
    return {"total": _storages_bytes(params + buffers), "parameters": _storages_bytes(params),
            "buffers": _storages_bytes(buffers), "by_dtype": {k: _storages_bytes(v) for k, v in by_dtype.items()}}


def cache_bytes(cache) -> int:
    """Bytes of every tensor a KV cache holds (its attributes: tensors, or lists/tuples/dicts of
    them), each storage once. For ``KVCache`` this is ``kv_cache_bytes(config, B, max_len, dtype)``."""
    check_kv_cache("cache", cache)
    return _storages_bytes([t for t in tree_leaves(list(vars(cache).values())) if isinstance(t, torch.Tensor)])


def process_memory() -> dict:
    """This process as the OS sees it (psutil), in bytes: resident set (RSS: pages in RAM now) and
    virtual size (VMS: every address range mapped, touched or not, so VMS >= RSS)."""
    import psutil
    info = psutil.Process().memory_info()
    return {"rss_bytes": info.rss, "vms_bytes": info.vms}


def cuda_memory(device: torch.device | str = "cuda") -> dict:
    """The CUDA caching allocator, in bytes: held by live tensors (allocated), kept by the allocator
    for reuse (reserved, >= allocated), and the most allocated since the last reset."""
    device = validate.device("device", device)
    if device.type != "cuda":
        raise ValueError(f"device must be a CUDA device for cuda_memory, got {device}: on CPU read process_memory()")
    return {"allocated_bytes": torch.cuda.memory_allocated(device), "reserved_bytes": torch.cuda.memory_reserved(device),
            "peak_allocated_bytes": torch.cuda.max_memory_allocated(device)}


def measure_call(fn, device: torch.device | str = "cpu") -> dict:
    """Run ``fn()`` once; {"peak_bytes": most bytes of tensors made by it alive at once, "kept_bytes":
    those still alive when it returned (its result included), "result"}."""
    if not callable(fn):
        raise TypeError(f"fn must be a function of no arguments, got {validate.given(fn)}")
    device = validate.device("device", device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be a CPU or CUDA device, got {device}")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        result = fn()
        torch.cuda.synchronize(device)
        return {"peak_bytes": torch.cuda.max_memory_allocated(device) - base,
                "kept_bytes": torch.cuda.memory_allocated(device) - base, "result": result}
    with TensorCounter() as counter:
        result = fn()
    return {"peak_bytes": counter.peak, "kept_bytes": counter.now, "result": result}


def memory_timeline(model, input_ids, max_new_tokens: int, cache=None) -> list[dict]:
    """Greedy generation, one row per step (step 0: the prompt's prefill), measured as it runs:
    tokens in the cache, the token chosen for each row, weights, the cache's tensors, the share of
    them filled so far (``kv_used_bytes``; for a ``KVCache``: ``kv_cache_bytes(config, B, length,
    dtype)``), the step's activations and temporaries at their peak (``other_bytes``), the CUDA
    allocator's reserve (None on CPU) and the process's RSS. ``cache``: a KV cache to fill (for
    example a quantized one); default a ``KVCache`` of the model's dtype, just long enough."""
    check_model("model", model)
    ids = prompt_ids(input_ids, model)                                       # (B, T)
    n = validate.integer("max_new_tokens", max_new_tokens, 1)
    B, T = ids.shape
    if T + n > model.config.block_size:
        raise ValueError(f"max_new_tokens: prompt ({T}) + max_new_tokens ({n}) must fit the context window "
                         f"block_size={model.config.block_size}")
    if cache is None:
        cache = KVCache(model.config, B, T + n, model.device, model.dtype)
    check_kv_cache("cache", cache)
    if cache.length != 0:
        raise ValueError(f"cache must be empty (length 0), got length {cache.length}: call cache.reset()")
    rows, new = [], ids
    with torch.inference_mode():
        for step in range(n):
            m = measure_call(lambda: model(new, kv_cache=cache, last_only=True), model.device)
            new = m.pop("result")[:, -1, :].argmax(-1, keepdim=True)          # (B, 1) the greedy token
            rows.append({"step": step, "tokens": cache.length, "new_token_ids": new[:, 0].tolist(), "weights_bytes": model_bytes(model)["total"],
                         "kv_cache_bytes": cache_bytes(cache),
                         "kv_used_bytes": cache_bytes(cache) * cache.length // cache.max_len,
                         "other_bytes": m["peak_bytes"],
                         "reserved_bytes": cuda_memory(model.device)["reserved_bytes"]
                         if model.device.type == "cuda" else None,
                         "rss_bytes": process_memory()["rss_bytes"]})
    return rows


def freeing_memory(device: torch.device | str = "cpu", nbytes: int = 256 * 2**20) -> list[dict]:
    """What gives memory back, measured: a filled tensor of ``nbytes`` is made, deleted, then made
    again inside a reference cycle and deleted, with ``gc.collect()`` and ``torch.cuda.empty_cache()``
    in between. One row per action: whether the tensor is alive, the RSS, and on CUDA the allocated
    and reserved bytes. ``del`` frees a tensor as soon as nothing refers to it; a cycle waits for
    ``gc.collect()``. On CUDA a freed tensor stays reserved by PyTorch's caching allocator until
    ``empty_cache()`` hands it back to the driver. On CPU ``empty_cache()`` does nothing; a freed
    tensor goes back to the C library's malloc, which returns a large block to the OS at once when it
    had mapped one for it, but may instead have served it from heap memory it already held (after
    many tensors came and went) and keep it: the RSS shows which happened."""
    device = validate.device("device", device)
    nbytes = validate.integer("nbytes", nbytes, 64 * 2**20)
    rows, ref = [], None

    def row(action: str) -> None:
        r = {"action": action, "tensor_alive": ref is not None and ref() is not None,
             "rss_bytes": process_memory()["rss_bytes"], "allocated_bytes": None, "reserved_bytes": None}
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            r.update({k: v for k, v in cuda_memory(device).items() if k != "peak_allocated_bytes"})
        rows.append(r)

    gc.collect()
    row("start")
    x = torch.ones(nbytes // 4, device=device)                                # written: real pages
    ref = weakref.ref(x)
    row("x = torch.ones(...)")
    del x
    row("del x")
    torch.cuda.empty_cache()
    row("torch.cuda.empty_cache()")
    loop = [torch.ones(nbytes // 4, device=device)]
    loop.append(loop)                                                          # a reference cycle
    ref = weakref.ref(loop[0])
    row("x in a reference cycle")
    del loop
    row("del (the cycle)")
    gc.collect()
    row("gc.collect()")
    torch.cuda.empty_cache()
    row("torch.cuda.empty_cache()")
    return rows


def with_checkpointing(model) -> nn.Module:
    """A copy of ``model`` whose blocks run under ``torch.utils.checkpoint``: with gradients on, each
    block keeps only its input and recomputes the rest in the backward pass."""
    check_model("model", model)
    model = copy.deepcopy(model)

    class Checkpointed(nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, x, kv_cache=None, attn_mask=None):
            return checkpoint(self.block, x, kv_cache, attn_mask, use_reentrant=False)

    model.transformer.h = nn.ModuleList(Checkpointed(b) for b in model.transformer.h)
    return model


def checkpointing_memory(model, input_ids) -> list[dict]:
    """One forward of ``input_ids`` with and without gradient checkpointing, under
    ``torch.inference_mode()`` and with gradients on: peak bytes, and bytes still held when it
    returns (logits, plus what autograd saved for a backward pass). Without gradients nothing is
    saved, so checkpointing has nothing to drop: the rows match."""
    check_model("model", model)
    ids = prompt_ids(input_ids, model)
    models = {"plain": model, "checkpointed": with_checkpointing(model)}
    rows = []
    for mode, context in (("inference_mode", torch.inference_mode), ("gradients on", torch.enable_grad)):
        for name, m in models.items():
            def forward():
                with context():
                    return m(ids)
            r = measure_call(forward, model.device)
            rows.append({"mode": mode, "model": name, "peak_bytes": r["peak_bytes"], "kept_bytes": r["kept_bytes"],
                         "logits_bytes": r["result"].nbytes})
            del r
    return rows


def generation_memory(model, input_ids, max_new_tokens: int, cache=None) -> dict:
    """The largest step of ``memory_timeline``: weights, KV cache and temporaries, and their total."""
    rows = memory_timeline(model, input_ids, max_new_tokens, cache)
    weights, kv = rows[-1]["weights_bytes"], rows[-1]["kv_cache_bytes"]
    other = max(r["other_bytes"] for r in rows)
    return {"weights_bytes": weights, "kv_cache_bytes": kv, "other_bytes": other, "total_bytes": weights + kv + other}


def faq_memory(model, input_ids, max_new_tokens: int, batch_size: int = 4,
               half_dtypes=(torch.bfloat16, torch.float16), quantized: dict | None = None) -> list[dict]:
    """The tutorial's answers to 显存不足怎么办 (out of memory?), measured on one workload: ``input_ids`` repeated to ``batch_size`` rows,
    ``max_new_tokens`` greedy tokens. Rows (the first is the baseline): each answer's setting with
    ``generation_memory``'s bytes and ``ratio`` = total / the baseline's total. ``quantized``: name ->
    a quantized copy of ``model`` (made by the caller), measured as it is given."""
    check_model("model", model)
    ids = prompt_ids(input_ids, model)[:1]
    batch_size = validate.integer("batch_size", batch_size, 2)
    quantized = {} if quantized is None else quantized
    if not isinstance(quantized, dict):
        raise TypeError(f"quantized must be None or a dict of name -> quantized model, got {validate.given(quantized)}")
    batch = ids.expand(batch_size, -1)
    runs = [("baseline", f"{validate.dtype_name(model.dtype)}, batch {batch_size}", model, batch)]
    runs += [("1. use FP16 or BF16", f"{validate.dtype_name(d)} weights and cache",
              copy.deepcopy(model).to(validate.dtype("half_dtypes", d)), batch) for d in half_dtypes]
    runs.append(("2. reduce the batch size", "batch 1", model, ids))
    runs.append(("3. gradient checkpointing", "checkpointed blocks", with_checkpointing(model), batch))
    runs += [("4. quantize the model", name, check_model(f"quantized[{name!r}]", q), batch) for name, q in quantized.items()]
    rows = []
    for answer, setting, m, x in runs:
        rows.append({"answer": answer, "setting": setting, **generation_memory(m, x, max_new_tokens)})
        rows[-1]["ratio"] = rows[-1]["total_bytes"] / rows[0]["total_bytes"]
    return rows
