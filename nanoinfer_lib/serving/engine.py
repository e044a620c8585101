"""``Engine``: continuous batching over a paged KV cache, with prefix caching and preemption.

    engine = Engine(model, tokenizer, max_num_seqs=8, block_size=16)
    engine.add_request("ROMEO.", SamplingParams(max_new_tokens=32))
    while engine.has_unfinished_requests():
        for out in engine.step():        # one RequestOutput per request that got a token this step
            print(out.request_id, out.text)

Each ``step()`` asks the scheduler who runs (``scheduler.py``), builds the step's rows from the block
tables (``paged_cache.py``), runs the model once, samples one token for every sequence whose prompt
is complete (each with its own settings and, if seeded, its own generator), and retires the
requests that stopped. Greedy outputs equal ``generate(model, prompt, temperature=0)``'s.

Threads: every public method takes one lock, so ``add_request``, ``abort_request``, ``stats`` and
``has_unfinished_requests`` may be called from another thread; they wait while a step runs and act
between steps. Call ``step()`` from one thread at a time (a server's engine loop). ``abort_request``
frees the request's blocks at once.
"""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

import torch

from .. import validate
from ..model import check_model
from ..sampling import apply_repetition_penalty, make_generator
from ..tokenizer import Tokenizer, check_encoded, check_token_ids, check_tokenizer
from .block_manager import BlockManager
from .paged_cache import PagedKVCache
from .params import SamplingParams
from .scheduler import Scheduler
from .sequence import Sequence, Status


@dataclass
class RequestOutput:
    """A request's state after a step (vLLM's names). ``token_ids`` are the new tokens (a stop token
    kept, as in ``generate``); ``text`` is their decoded text, ending before a stop string (the
    tokens that made it stay in ``token_ids``). While unfinished, ``text`` leaves out a tail that may
    yet become a stop string. ``finish_reason``: "stop" (a stop token or string), "length"
    (``max_new_tokens`` reached) or None. ``metrics``: ``time.perf_counter()`` seconds of arrival,
    first scheduling, first token and finish. ``num_cached_tokens``: prompt tokens found in the
    prefix cache."""
    request_id: str
    prompt_token_ids: list[int]
    token_ids: list[int]
    text: str
    finished: bool
    finish_reason: str | None
    metrics: dict = field(default_factory=dict)
    num_cached_tokens: int = 0


class Engine:
    def __init__(self, model, tokenizer, max_num_seqs: int = 8, block_size: int = 16, num_blocks: int | None = None,
                 enable_prefix_caching: bool = True, max_num_batched_tokens: int | None = None):
        """``num_blocks`` None: room for ``max_num_seqs`` full context windows. ``max_num_batched_tokens``
        (None: the context window) caps the prompt tokens of one prefill step; longer prompts are
        prefilled in chunks."""
        self.model, self.tokenizer = check_model("model", model), check_tokenizer("tokenizer", tokenizer)
        # the engine decodes ids its model sampled: no need for the Tokenizer's input checks at every token
        self._decode = tokenizer.enc.decode if isinstance(tokenizer, Tokenizer) else tokenizer.decode
        window = model.config.block_size
        self.max_num_seqs = validate.integer("max_num_seqs", max_num_seqs, 1)
        self.block_size = validate.integer("block_size", block_size, 1, window)
        full = self.max_num_seqs * -(-window // self.block_size)
        num_blocks = validate.integer("num_blocks", full if num_blocks is None else num_blocks, 1)
        budget = validate.integer("max_num_batched_tokens", window if max_num_batched_tokens is None
                                  else max_num_batched_tokens, 1)
        caching = validate.flag("enable_prefix_caching", enable_prefix_caching)
        self.cache = PagedKVCache(model.config, num_blocks, self.block_size, model.device, model.dtype)
        self.block_manager = BlockManager(num_blocks, self.block_size, caching)
        self.scheduler = Scheduler(self.block_manager, self.max_num_seqs, budget)
        self.requests: dict[str, Sequence] = {}          # unfinished requests by id
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self.last_step: dict = {}                        # who ran in the latest step (for timelines)
        self._stats = dict(steps=0, prefill_steps=0, decode_steps=0, prompt_tokens=0, computed_tokens=0,
                           generated_tokens=0, peak_blocks_used=0, slot_steps_reserved=0, slot_steps_used=0)

    # ------------------------------------------------------------------ requests
    def add_request(self, prompt, params: SamplingParams | None = None, request_id: str | None = None) -> str:
        """Queue a request (``prompt``: text, or a list of token ids); returns its id. Checks
        everything before it changes anything, so a bad request disturbs nothing already running."""
        params = SamplingParams() if params is None else params
        if not isinstance(params, SamplingParams):
            raise TypeError(f"params must be None or a SamplingParams, got {type(params).__name__}")
        ids = self._prompt_ids(prompt)
        V, window = self.model.config.vocab_size, self.model.config.block_size
        for t in params.stop_tokens or ():
            if t >= V:
                raise ValueError(f"stop_tokens must lie in [0, {V}) (the model's vocabulary), got {t}")
        if len(ids) + params.max_new_tokens > window:
            raise ValueError(f"prompt ({len(ids)} tokens) + max_new_tokens ({params.max_new_tokens}) must not "
                             f"exceed the model's context window (block_size={window})")
        need = self.block_manager.blocks_needed(len(ids) + params.max_new_tokens - 1)
        if need > self.block_manager.num_blocks:
            raise ValueError(f"prompt + max_new_tokens need {need} blocks of {self.block_size} tokens, but the "
                             f"pool holds num_blocks={self.block_manager.num_blocks}: lower max_new_tokens or "
                             f"raise num_blocks")
        with self._lock:
            request_id = self._new_id(request_id)
            generator = make_generator(params.seed, None, self.model.device)
            seq = Sequence(request_id, ids, params, generator)
            self.requests[request_id] = seq
            self.scheduler.add(seq)
            self._stats["prompt_tokens"] += len(ids)
        return request_id

    def _prompt_ids(self, prompt) -> list[int]:
        V = self.model.config.vocab_size
        if isinstance(prompt, str):
            return check_encoded("prompt", self.tokenizer.encode(prompt), V)
        ids = check_token_ids("prompt", prompt, V, max_dim=1).reshape(-1).tolist()
        if not ids:
            raise ValueError("prompt is empty: give at least one token")
        return ids

    def _new_id(self, request_id) -> str:
        if request_id is None:
            request_id = next(i for i in map(str, self._ids) if i not in self.requests)
        elif not isinstance(request_id, str):
            raise TypeError(f"request_id must be None or a non-empty str, got {request_id!r}")
        elif not request_id:
            raise ValueError("request_id must be None or a non-empty str, got ''")
        elif request_id in self.requests:
            raise ValueError(f"request_id {request_id!r} is already in use by an unfinished request")
        return request_id

    def abort_request(self, request_id: str) -> bool:
        """Drop an unfinished request and free its blocks now; False if there is none by that id
        (finished already, or never added)."""
        with self._lock:
            seq = self.requests.pop(request_id, None)
            if seq is None:
                return False
            self.scheduler.finish(seq)
            seq.finish_reason = "abort"
            return True

    def has_unfinished_requests(self) -> bool:
        with self._lock:
            return self.scheduler.has_unfinished()

    # ------------------------------------------------------------------ one step
    def step(self) -> list[RequestOutput]:
        """Run one step; return the state of every request that got a new token in it."""
        with self._lock:
            kind, batch = self.scheduler.schedule()
            if not batch:
                return []
            # the peak is while the step runs: a request that finishes in it frees its blocks before _record
            self._stats["peak_blocks_used"] = max(self._stats["peak_blocks_used"], self.block_manager.num_used)
            seqs = [s for s, _ in batch]
            idx, pos, mask, view = self.cache.step([s.block_table for s in seqs], [s.num_cached for s in seqs],
                                                   [s.token_ids[s.num_cached:s.num_cached + n] for s, n in batch])
            with torch.inference_mode():
                logits = self.model(idx, kv_cache=view, attention_mask=mask, position_ids=pos,
                                    last_only=True)[:, -1]                                   # (B, V)
            for seq, n in batch:
                seq.num_cached += n
                self.block_manager.register(seq)
            rows = [i for i, s in enumerate(seqs) if s.num_pending == 0]     # prompts complete: sample
            tokens = self._sample([seqs[i] for i in rows], logits[rows])
            outputs = [self._advance(seqs[i], t) for i, t in zip(rows, tokens)]
            self._record(kind, batch, len(tokens))
            return outputs

    def _sample(self, seqs: list[Sequence], logits: torch.Tensor) -> list[int]:
        """One token per row, each with its request's settings; plain greedy rows in one argmax."""
        out = [0] * len(seqs)
        greedy = [i for i, s in enumerate(seqs) if s.params.greedy and not s.params.penalises]
        if greedy:
            for i, t in zip(greedy, seqs[greedy[0]].params.sample(logits[greedy]).tolist()):
                out[i] = t
        for i in sorted(set(range(len(seqs))) - set(greedy)):
            s = seqs[i]
            row = logits[i:i + 1]                                                            # (1, V)
            if s.params.penalises:
                row = apply_repetition_penalty(row, torch.tensor([s.token_ids]), s.params.repetition_penalty)
            out[i] = int(s.params.sample(row, s.generator)[0])
        return out

    def _advance(self, seq: Sequence, token: int) -> RequestOutput:
        """Append ``token``; finish the request if it stopped."""
        seq.append(token)
        p = seq.params
        start = max(0, len(seq.text) - max((len(s) for s in p.stop or ()), default=0))
        self._detokenize(seq)
        cut = min((i for i in (seq.text.find(s, start) for s in p.stop or ()) if i >= 0), default=-1)
        if p.stop_tokens and token in p.stop_tokens:
            seq.finish_reason = "stop"
        elif cut >= 0:
            seq.text, seq.finish_reason = seq.text[:cut], "stop"
        elif seq.num_output_tokens >= p.max_new_tokens:
            seq.finish_reason = "length"
        if seq.finish_reason is not None:
            if cut < 0:
                seq.text = self._decode(seq.output_token_ids)               # a last incomplete character too
            seq.metrics["finished_time"] = time.perf_counter()
            self.scheduler.finish(seq)
            del self.requests[seq.request_id]
        return self._output(seq)

    def _detokenize(self, seq: Sequence) -> None:
        """Extend ``seq.text`` by the new token's characters, decoding only the last few tokens (as
        vLLM's incremental detokenizer): the tokens of the last piece added to the text and those
        after it, minus that piece. A token that ends inside a multi-byte character waits for the next."""
        ids, (start, end) = seq.output_token_ids, seq.text_offsets
        piece = seq.text[len(seq.text) - seq.last_piece_len:]
        after = self._decode(ids[start:])
        if len(after) > len(piece) and not after.endswith("\ufffd"):
            seq.text += after[len(piece):]
            seq.text_offsets, seq.last_piece_len = (end, len(ids)), len(after) - len(piece)

    def _output(self, seq: Sequence) -> RequestOutput:
        finished = seq.status is Status.FINISHED
        return RequestOutput(seq.request_id, seq.token_ids[:seq.num_prompt_tokens], seq.output_token_ids,
                             seq.text if finished else _held_back(seq.text, seq.params.stop), finished,
                             seq.finish_reason, dict(seq.metrics), seq.num_prefix_hit_tokens)

    def _record(self, kind: str, batch: list[tuple[Sequence, int]], sampled: int) -> None:
        s, bm = self._stats, self.block_manager
        s["steps"] += 1
        s[f"{kind}_steps"] += 1
        s["computed_tokens"] += sum(n for _, n in batch)
        s["generated_tokens"] += sampled
        empty = sum(len(q.block_table) * bm.block_size - q.num_cached for q in self.scheduler.running)
        s["slot_steps_reserved"] += bm.num_used * bm.block_size
        s["slot_steps_used"] += bm.num_used * bm.block_size - empty
        self.last_step = {"step": s["steps"], "kind": kind, "requests": [q.request_id for q, _ in batch],
                          "tokens": [n for _, n in batch], "preempted": list(self.scheduler.last_preempted),
                          "blocks_used": bm.num_used}

    # ------------------------------------------------------------------ conveniences
    @property
    def stats(self) -> dict:
        """Counters since the engine was made. ``kv_used_fraction``: of the slots in blocks held by
        running requests, the share holding a token's keys/values, averaged over steps."""
        with self._lock:
            s, bm = dict(self._stats), self.block_manager
            s.update(preemptions=self.scheduler.preemptions, prefix_cache_hit_tokens=bm.hit_tokens,
                     num_blocks=bm.num_blocks, block_size=bm.block_size, blocks_used=bm.num_used,
                     kv_block_bytes=self.cache.block_nbytes, kv_pool_bytes=self.cache.nbytes,
                     running=len(self.scheduler.running), waiting=len(self.scheduler.waiting))
            s["kv_used_fraction"] = s["slot_steps_used"] / s["slot_steps_reserved"] if s["slot_steps_reserved"] else None
            return s

    def generate(self, prompts, params: SamplingParams | list[SamplingParams] | None = None) -> list[RequestOutput]:
        """Run ``prompts`` (texts or token-id lists) to the end; their final outputs, in order. Other
        requests already in the engine advance too, but their outputs are not returned."""
        if isinstance(prompts, str) or not isinstance(prompts, (list, tuple)):
            raise TypeError(f"prompts must be a list of prompts, got {type(prompts).__name__}")
        if not isinstance(params, (list, tuple)):
            params = [params] * len(prompts)
        if len(params) != len(prompts):
            raise ValueError(f"params must be one SamplingParams or one per prompt ({len(prompts)}), got {len(params)}")
        seqs: list[Sequence] = []
        try:
            for prompt, p in zip(prompts, params):
                seqs.append(self.requests[self.add_request(prompt, p)])
        except (TypeError, ValueError):
            for seq in seqs:
                self.abort_request(seq.request_id)
            raise
        while any(s.status is not Status.FINISHED for s in seqs):   # an abort from elsewhere finishes one too
            self.step()
        return [self._output(s) for s in seqs]


def _held_back(text: str, stops: tuple[str, ...] | None) -> str:
    """``text`` without a tail that may still grow into a stop string or a multi-byte character."""
    keep = len(text)
    for s in stops or ():
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                keep = min(keep, len(text) - k)
                break
    return text[:keep].rstrip("\ufffd")
