"""serving.scheduler: admission (seats, blocks, token budget), alternating prefill and decode steps,
chunked prompts, and preemption of the newest request with recomputation."""
from nanoinfer_lib.serving.block_manager import BlockManager
from nanoinfer_lib.serving.params import SamplingParams
from nanoinfer_lib.serving.scheduler import Scheduler
from nanoinfer_lib.serving.sequence import Sequence, Status


def make(num_blocks=20, block_size=4, max_num_seqs=4, budget=100):
    return Scheduler(BlockManager(num_blocks, block_size, enable_prefix_caching=False), max_num_seqs, budget)


def add(sched, rid, n):
    seq = Sequence(rid, list(range(1, n + 1)), SamplingParams())
    sched.add(seq)
    return seq


def run(batch, token=7):
    """What the engine does after the forward pass: count the computed tokens; sample when complete."""
    for seq, n in batch:
        seq.num_cached += n
        if seq.num_pending == 0:
            seq.append(token)


def summary(kind, batch):
    return kind, [(s.request_id, n) for s, n in batch]


def test_prefill_and_decode_alternate():
    sched = make()
    a, b = add(sched, "a", 5), add(sched, "b", 3)
    kind, batch = sched.schedule()
    assert summary(kind, batch) == ("prefill", [("a", 5), ("b", 3)])
    run(batch)
    kind, batch = sched.schedule()
    assert summary(kind, batch) == ("decode", [("a", 1), ("b", 1)])
    run(batch)
    c = add(sched, "c", 2)                                     # joins at the next step, as a prefill step
    kind, batch = sched.schedule()
    assert summary(kind, batch) == ("prefill", [("c", 2)])
    run(batch)
    assert summary(*sched.schedule()) == ("decode", [("a", 1), ("b", 1), ("c", 1)])
    assert [s.status for s in (a, b, c)] == [Status.RUNNING] * 3


def test_seats_are_limited_by_max_num_seqs():
    sched = make(max_num_seqs=2)
    for rid in "abc":
        add(sched, rid, 2)
    kind, batch = sched.schedule()
    assert summary(kind, batch) == ("prefill", [("a", 2), ("b", 2)])
    run(batch)
    assert [s.request_id for s in sched.waiting] == ["c"]
    sched.finish(batch[0][0])                                   # a finishes: c takes its seat
    assert summary(*sched.schedule()) == ("prefill", [("c", 2)])


def test_a_long_prompt_is_prefilled_in_chunks_within_the_budget():
    sched = make(budget=4)
    a, b = add(sched, "a", 10), add(sched, "b", 3)
    steps = []
    while a.num_pending > 1 or b.num_pending > 1 or not b.num_output_tokens:
        kind, batch = sched.schedule()
        steps.append(summary(kind, batch))
        assert sum(n for _, n in batch) <= 4
        run(batch)
    # b's last prompt token is all that is left of it: it runs with a's decode, and b samples there
    assert steps == [("prefill", [("a", 4)]), ("prefill", [("a", 4)]), ("prefill", [("a", 2), ("b", 2)]),
                     ("decode", [("a", 1), ("b", 1)])]
    assert a.num_output_tokens == 2 and b.num_output_tokens == 1


def test_first_come_first_served_when_blocks_are_short():
    sched = make(num_blocks=3, block_size=4)
    add(sched, "a", 8), add(sched, "b", 8), add(sched, "c", 2)
    kind, batch = sched.schedule()
    assert summary(kind, batch) == ("prefill", [("a", 8)])      # c would fit, but must not overtake b
    assert [s.request_id for s in sched.waiting] == ["b", "c"]


def test_the_newest_request_is_preempted_and_recomputed():
    sched = make(num_blocks=4, block_size=2)
    a, b = add(sched, "a", 4), add(sched, "b", 4)               # 2 blocks each: the pool is full
    run(sched.schedule()[1])                                    # prefill: both sample a token (5 tokens each)
    kind, batch = sched.schedule()                             # a needs a third block: b gives its blocks back
    assert summary(kind, batch) == ("decode", [("a", 1)])
    assert sched.preemptions == 1 and sched.last_preempted == ["b"]
    assert b.status is Status.WAITING and b.block_table == [] and b.num_cached == 0
    assert list(sched.waiting) == [b] and len(b) == 5           # it keeps its sampled token
    run(batch)
    sched.finish(a)
    kind, batch = sched.schedule()                             # b comes back: prompt and output recomputed
    assert summary(kind, batch) == ("prefill", [("b", 5)])
    assert sched.last_preempted == []


def test_a_lone_request_that_outgrows_the_free_blocks_preempts_itself():
    sched = make(num_blocks=2, block_size=2)
    a = add(sched, "a", 2)
    sched.block_manager.free.pop(1)                            # pretend block 1 is held elsewhere
    run(sched.schedule()[1])
    kind, batch = sched.schedule()
    assert batch == [] and a.status is Status.WAITING and sched.preemptions == 1


def test_finish_frees_blocks_from_either_queue():
    sched = make(max_num_seqs=1)
    a, b = add(sched, "a", 5), add(sched, "b", 5)
    run(sched.schedule()[1])
    sched.finish(a), sched.finish(b)                           # a running, b waiting
    assert not sched.has_unfinished() and sched.block_manager.num_free == 20
    assert a.status is Status.FINISHED and b.status is Status.FINISHED
