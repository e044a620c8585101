"""``Scheduler``: which sequences run in the next step, and how many tokens each computes.

Two queues: ``waiting`` (first come, first served; holds no blocks) and ``running`` (holds blocks,
at most ``max_num_seqs``, kept in arrival order). Every step starts by admitting waiting requests
while there is a free seat, enough free blocks and token budget left, so a request joins the batch
at the first step after a seat frees up (continuous batching).

Prefill and decode alternate: a step is either a *prefill* step (the prompts just admitted, and
prompts still being prefilled, at most ``max_num_batched_tokens`` tokens in all: a longer prompt is
cut into chunks over several steps) or a *decode* step (one token for every running sequence). Why
not both in one step: the model takes rows of equal length, so one 50-token prompt in a decode
batch would pad every decode row to 50 tokens and multiply that step's work many times over (or,
packed into one row, make attention's score matrix grow with the square of the batch). Alternating
keeps every row of a decode step one token long. The price is that decoding stalls for the length
of a prefill step when a request joins; engines on GPUs mix the two with a packed-row attention
kernel (chunked prefill) to avoid it.

Preemption: when a decoding sequence needs a new block and none is free, the newest running
request (the last to arrive) gives all its blocks back and returns to the front of the waiting
queue; it is recomputed from its tokens (prompt and output so far) when it is admitted again.
"""
from __future__ import annotations

import bisect
import time
from collections import deque

from .block_manager import BlockManager
from .sequence import Sequence, Status


class Scheduler:
    def __init__(self, block_manager: BlockManager, max_num_seqs: int, max_num_batched_tokens: int):
        self.block_manager = block_manager
        self.max_num_seqs, self.max_num_batched_tokens = max_num_seqs, max_num_batched_tokens
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []            # sorted by arrival: the newest is last
        self.preemptions = 0
        self.last_preempted: list[str] = []          # request ids preempted by the latest schedule()

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def has_unfinished(self) -> bool:
        return bool(self.waiting or self.running)

    def schedule(self) -> tuple[str, list[tuple[Sequence, int]]]:
        """("prefill" or "decode", [(sequence, tokens it computes this step), ...]); an empty list
        when nothing can run."""
        self.last_preempted = []
        batch = self._prefill()
        return ("prefill", batch) if batch else ("decode", self._decode())

    def _prefill(self) -> list[tuple[Sequence, int]]:
        budget, batch = self.max_num_batched_tokens, []
        for seq in self.running:                         # prompts cut into chunks go on first
            if seq.num_pending > 1 and budget > 0:
                batch.append((seq, min(seq.num_pending, budget)))
                budget -= batch[-1][1]
        while self.waiting and budget > 0 and len(self.running) < self.max_num_seqs:
            seq = self.waiting[0]
            if not self.block_manager.allocate(seq):     # first come, first served: no overtaking
                break
            self.waiting.popleft()
            seq.status = Status.RUNNING
            bisect.insort(self.running, seq, key=lambda s: s.order)
            if seq.metrics["first_scheduled_time"] is None:
                seq.metrics["first_scheduled_time"] = time.perf_counter()
            batch.append((seq, min(seq.num_pending, budget)))
            budget -= batch[-1][1]
        return batch

    def _decode(self) -> list[tuple[Sequence, int]]:
        batch = []
        for seq in list(self.running):                   # oldest first
            if seq.status is not Status.RUNNING:         # preempted below, for an older one
                continue
            while not self.block_manager.append_slot(seq):
                victim = self.running[-1]
                self.preempt(victim)
                if victim is seq:
                    break
            else:
                batch.append((seq, 1))
        return batch

    def preempt(self, seq: Sequence) -> None:
        """Take ``seq``'s blocks back; it waits at the front of the queue, to be recomputed."""
        self.block_manager.free_blocks(seq)
        self.running.remove(seq)
        seq.status = Status.WAITING
        self.waiting.appendleft(seq)
        self.preemptions += 1
        self.last_preempted.append(seq.request_id)

    def finish(self, seq: Sequence) -> None:
        """Remove ``seq`` (finished or aborted) from whichever queue holds it and free its blocks."""
        if seq.status is Status.RUNNING:
            self.running.remove(seq)
            self.block_manager.free_blocks(seq)
        elif seq.status is Status.WAITING:
            self.waiting.remove(seq)
        seq.status = Status.FINISHED
