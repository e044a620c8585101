"""``Sequence``: one request as the engine tracks it: its tokens (prompt, then output), how many of
them already have keys and values in the paged cache, its block table, and its timings."""
from __future__ import annotations

import itertools
import time
from enum import Enum

import torch

from .params import SamplingParams


class Status(Enum):
    WAITING = "waiting"      # holds no blocks: new, or preempted (its cache dropped, to be recomputed)
    RUNNING = "running"      # holds the blocks of its computed tokens
    FINISHED = "finished"


class Sequence:
    _arrivals = itertools.count()     # arrival order: "newest" means the largest number

    def __init__(self, request_id: str, prompt_token_ids: list[int], params: SamplingParams,
                 generator: torch.Generator | None = None, arrival_time: float | None = None):
        self.request_id, self.params, self.generator = request_id, params, generator
        self.order = next(Sequence._arrivals)
        self.token_ids = list(prompt_token_ids)         # prompt + output so far
        self.num_prompt_tokens = len(prompt_token_ids)
        self.num_cached = 0          # tokens whose keys/values are in the cache (a prefix of token_ids)
        self.num_hashed_blocks = 0   # full blocks already entered in the prefix cache
        self.block_table: list[int] = []
        self.status = Status.WAITING
        self.finish_reason: str | None = None
        self.text = ""               # the output decoded so far (complete characters only)
        self.text_offsets = (0, 0)   # output tokens decoded into text: (start of the last piece, end)
        self.last_piece_len = 0      # characters that piece added
        self.num_prefix_hit_tokens = 0
        now = time.perf_counter()
        self.metrics = {"arrival_time": now if arrival_time is None else arrival_time,
                        "first_scheduled_time": None, "first_token_time": None, "finished_time": None}

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def output_token_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens:]

    @property
    def num_output_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def num_pending(self) -> int:
        """Tokens still to run through the model before the next token can be sampled (1 when decoding)."""
        return len(self.token_ids) - self.num_cached

    def append(self, token: int) -> None:
        self.token_ids.append(token)
        if self.metrics["first_token_time"] is None:
            self.metrics["first_token_time"] = time.perf_counter()

    def __repr__(self) -> str:
        return (f"Sequence({self.request_id!r}, {self.status.value}, tokens={len(self)}, "
                f"cached={self.num_cached}, blocks={self.block_table})")
