"""Serving many requests at once (chapter 07): ``Engine`` (continuous batching over a paged KV cache,
prefix caching, preemption), ``SamplingParams`` and ``RequestOutput``. Names follow vLLM's.

    from nanoinfer_lib.serving import Engine, SamplingParams
    engine = Engine(model, tokenizer, max_num_seqs=8, block_size=16)
    outs = engine.generate(["ROMEO.", "JULIET."], SamplingParams(max_new_tokens=32))

By concept: ``params`` (SamplingParams), ``sequence`` (one request's state), ``block_manager``
(blocks, reference counts, the free list, the prefix cache), ``paged_cache`` (the pools and
attention through block tables), ``scheduler`` (queues, admission, preemption), ``engine``.
"""
from .engine import Engine, RequestOutput
from .params import SamplingParams

__all__ = ["Engine", "RequestOutput", "SamplingParams"]
