"""serving.block_manager: reference counts, the free list, the prefix cache and its collision check."""
import pytest

from nanoinfer_lib.serving.block_manager import BlockManager
from nanoinfer_lib.serving.params import SamplingParams
from nanoinfer_lib.serving.sequence import Sequence


def seq(tokens, rid="r"):
    return Sequence(rid, list(tokens), SamplingParams())


def computed(bm, s):
    """As after a step that computed every pending token: the full blocks enter the prefix cache."""
    s.num_cached = len(s)
    bm.register(s)


def test_allocate_and_free_return_every_block():
    bm = BlockManager(num_blocks=5, block_size=4)
    a, b = seq(range(9), "a"), seq(range(20, 23), "b")
    assert bm.allocate(a) and bm.allocate(b)
    assert len(a.block_table) == 3 and len(b.block_table) == 1 and bm.num_free == 1
    assert not set(a.block_table) & set(b.block_table)
    assert all(bm.blocks[i].ref_count == 1 for i in a.block_table + b.block_table)
    c = seq(range(40, 48), "c")                                       # needs 2 blocks, 1 free
    assert not bm.allocate(c) and c.block_table == [] and bm.num_free == 1      # nothing changed
    bm.free_blocks(a), bm.free_blocks(b)
    assert bm.num_free == 5 and all(blk.ref_count == 0 for blk in bm.blocks)
    assert a.block_table == [] and a.num_cached == 0


def test_append_slot_takes_a_block_at_a_boundary_only():
    bm = BlockManager(num_blocks=3, block_size=2)
    s = seq([1, 2])
    bm.allocate(s)
    computed(bm, s)
    s.token_ids.append(3)                                 # a sampled token, pending at position 2
    assert bm.needs_block(s) and bm.append_slot(s) and len(s.block_table) == 2
    s.num_cached = 3
    s.token_ids.append(4)                                 # position 3: same block
    assert not bm.needs_block(s) and bm.append_slot(s) and len(s.block_table) == 2
    s.num_cached = 4
    s.token_ids.append(5)
    assert bm.append_slot(s) and bm.num_free == 0
    s.num_cached = 5
    s.token_ids.append(6)                                 # fits the third block
    s.num_cached = 6
    s.token_ids.append(7)                                 # needs a fourth: none free
    assert not bm.append_slot(s) and len(s.block_table) == 3


def test_prefix_blocks_are_shared_and_counted():
    bm = BlockManager(num_blocks=10, block_size=4)
    a = seq(list(range(10)), "a")
    bm.allocate(a)
    computed(bm, a)                                       # blocks 0-3 and 4-7 are full: cached
    b = seq(list(range(8)) + [30, 31, 32], "b")          # same first 8 tokens
    assert bm.allocate(b)
    assert b.block_table[:2] == a.block_table[:2] and b.block_table[2] != a.block_table[2]
    assert b.num_cached == 8 and bm.hit_tokens == 8
    assert [bm.blocks[i].ref_count for i in b.block_table] == [2, 2, 1]
    bm.free_blocks(a)
    assert [bm.blocks[i].ref_count for i in b.block_table] == [1, 1, 1]


def test_the_last_token_is_never_in_a_shared_block():
    bm = BlockManager(num_blocks=10, block_size=4)
    a = seq(range(8), "a")
    bm.allocate(a)
    computed(bm, a)
    b = seq(range(8), "b")                               # the same 8 tokens: only the first block is reused
    bm.allocate(b)
    assert b.num_cached == 4 and b.block_table[0] == a.block_table[0] and b.block_table[1] != a.block_table[1]


def test_freed_blocks_stay_cached_until_reused():
    bm = BlockManager(num_blocks=3, block_size=2)
    a = seq([1, 2, 3, 4, 5], "a")
    bm.allocate(a)
    computed(bm, a)
    bm.free_blocks(a)
    assert bm.num_free == 3 and len(bm.cached) == 2
    b = seq([1, 2, 3, 4, 9], "b")                        # revives both cached blocks from the free list
    assert bm.allocate(b) and b.num_cached == 4 and bm.num_free == 0
    bm.free_blocks(b)
    c = seq([7, 7, 7, 7, 7, 7], "c")                     # takes every block: the old entries are forgotten
    assert bm.allocate(c) and c.num_cached == 0 and bm.cached == {}
    bm.free_blocks(c)
    assert bm.allocate(seq([1, 2, 3, 4, 5], "d")) and bm.hit_tokens == 4


def test_a_hash_collision_never_shares_blocks(monkeypatch):
    monkeypatch.setattr(BlockManager, "hash_block", staticmethod(lambda prev, tokens: 42))    # every key collides
    bm = BlockManager(num_blocks=6, block_size=2)
    a = seq([1, 2, 3, 4, 5], "a")
    bm.allocate(a)
    computed(bm, a)
    b = seq([8, 9, 3, 4, 5], "b")                        # same key, other tokens: a miss
    bm.allocate(b)
    assert b.num_cached == 0 and not set(a.block_table) & set(b.block_table)
    c = seq([3, 4, 0], "c")
    bm.allocate(c)
    assert c.num_cached == 0


def test_no_prefix_caching_shares_nothing():
    bm = BlockManager(num_blocks=6, block_size=2, enable_prefix_caching=False)
    a, b = seq([1, 2, 3], "a"), seq([1, 2, 3], "b")
    bm.allocate(a)
    computed(bm, a)
    bm.allocate(b)
    assert b.num_cached == 0 and bm.cached == {} and bm.hit_tokens == 0


@pytest.mark.parametrize("n, blocks", [(1, 1), (4, 1), (5, 2), (8, 2)])
def test_blocks_needed(n, blocks):
    assert BlockManager(4, 4).blocks_needed(n) == blocks


def test_a_colliding_key_with_the_same_tokens_but_another_prefix_is_a_miss(monkeypatch):
    monkeypatch.setattr(BlockManager, "hash_block", staticmethod(lambda prev, tokens: hash(tokens)))  # prefix ignored
    bm = BlockManager(num_blocks=6, block_size=2)
    a = seq([1, 2, 3, 4, 5], "a")
    bm.allocate(a)
    computed(bm, a)                                       # block (3, 4) follows (1, 2)
    b = seq([3, 4, 0], "b")                              # (3, 4) at the start: same tokens, no parent
    bm.allocate(b)
    assert b.num_cached == 0
    c = seq([1, 2, 3, 4, 6], "c")                        # the real prefix is still found
    bm.allocate(c)
    assert c.num_cached == 4 and c.block_table[:2] == a.block_table[:2]

