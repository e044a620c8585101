"""``BlockManager``: which blocks of the paged cache each sequence holds.

The cache is ``num_blocks`` blocks of ``block_size`` token slots. A sequence's block table lists its
blocks in order: token ``i`` lives in slot ``i % block_size`` of block ``block_table[i // block_size]``.
Each block has a reference count (how many sequences hold it); a block whose count falls to 0 goes
back to the free list, oldest freed first out.

Prefix caching: once a block is full, it is entered in a table under a hash of its tokens and of the
hash of the block before it, so the key stands for the whole prefix up to the block's end. A new
sequence whose first blocks have the same keys takes those blocks instead of computing them. The
hash only finds a candidate: it is taken if its tokens are equal, token for token, and its parent
(the block before it when it was cached, still holding the same contents) is the block just taken
for the previous position, so a hash collision can cost a hit but never share wrong keys and values.
A freed block keeps its contents and its key until the free list hands it out again, so a prompt
seen recently is found even after its request finished.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .sequence import Sequence


@dataclass
class Block:
    block_id: int
    ref_count: int = 0
    hash: int | None = None                                # None: not in the prefix cache
    token_ids: tuple[int, ...] = field(default_factory=tuple)
    parent: tuple[int, int] | None = None                  # (block id, its generation) of the block before
    generation: int = 0                                    # how many times the block was handed out


class BlockManager:
    def __init__(self, num_blocks: int, block_size: int, enable_prefix_caching: bool = True):
        self.block_size, self.enable_prefix_caching = block_size, enable_prefix_caching
        self.blocks = [Block(i) for i in range(num_blocks)]
        self.free: dict[int, None] = dict.fromkeys(range(num_blocks))   # ordered: oldest freed first
        self.cached: dict[int, int] = {}                                # prefix hash -> block id
        self.hit_tokens = 0                                             # tokens found in the cache

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def num_free(self) -> int:
        return len(self.free)

    @property
    def num_used(self) -> int:
        return len(self.blocks) - len(self.free)

    def blocks_needed(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    @staticmethod
    def hash_block(prev_hash: int | None, token_ids: tuple[int, ...]) -> int:
        """The key of a full block: its tokens and the key of the block before it (the whole prefix)."""
        return hash((prev_hash, token_ids))

    def _lookup(self, seq: Sequence) -> list[int]:
        """Blocks of the prefix cache that hold ``seq``'s first full blocks. Only blocks that end
        before its last token count: that token is computed, for its logits, in a block of its own."""
        hits, h, parent = [], None, None
        if not self.enable_prefix_caching:
            return hits
        for i in range((len(seq) - 1) // self.block_size):
            tokens = tuple(seq.token_ids[i * self.block_size:(i + 1) * self.block_size])
            h = self.hash_block(h, tokens)
            block = self.blocks[self.cached[h]] if h in self.cached else None
            if block is None or block.token_ids != tokens or block.parent != parent:   # miss, or a collision
                break
            hits.append(block.block_id)
            parent = (block.block_id, block.generation)
        return hits

    def allocate(self, seq: Sequence) -> bool:
        """Give ``seq`` (holding no blocks) blocks for all its tokens, reusing cached ones; False,
        with nothing changed, if the free list is too short."""
        assert not seq.block_table, "allocate() is for a sequence that holds no blocks"
        hits = self._lookup(seq)
        revived = sum(1 for b in hits if self.blocks[b].ref_count == 0)    # cached but free: leave the free list
        if self.blocks_needed(len(seq)) - len(hits) + revived > self.num_free:
            return False
        for b in hits:
            if self.blocks[b].ref_count == 0:
                del self.free[b]
            self.blocks[b].ref_count += 1
        seq.block_table = hits + [self._take() for _ in range(self.blocks_needed(len(seq)) - len(hits))]
        seq.num_cached = seq.num_prefix_hit_tokens = len(hits) * self.block_size
        seq.num_hashed_blocks = len(hits)
        self.hit_tokens += seq.num_cached
        return True

    def _take(self) -> int:
        """A block from the front of the free list, its old prefix-cache entry forgotten."""
        block = self.blocks[next(iter(self.free))]
        del self.free[block.block_id]
        if block.hash is not None and self.cached.get(block.hash) == block.block_id:
            del self.cached[block.hash]
        block.hash, block.token_ids, block.parent, block.ref_count = None, (), None, 1
        block.generation += 1
        return block.block_id

    def free_blocks(self, seq: Sequence) -> None:
        """Release ``seq``'s blocks (last block first, so a shared prefix stays cached longest)."""
        for b in reversed(seq.block_table):
            block = self.blocks[b]
            block.ref_count -= 1
            if block.ref_count == 0:
                self.free[b] = None
        seq.block_table, seq.num_cached, seq.num_hashed_blocks = [], 0, 0

    def needs_block(self, seq: Sequence) -> bool:
        """Whether the next token of ``seq`` (at position ``num_cached``) falls past its last block."""
        return seq.num_cached + seq.num_pending > len(seq.block_table) * self.block_size

    def append_slot(self, seq: Sequence) -> bool:
        """Make room for ``seq``'s pending decode token: a new block if its last one is full. False
        (nothing changed) when there is no free block."""
        if not self.needs_block(seq):
            return True
        if not self.free:
            return False
        seq.block_table.append(self._take())
        return True

    def register(self, seq: Sequence) -> None:
        """Enter the blocks of ``seq`` that filled up since the last call in the prefix cache."""
        if not self.enable_prefix_caching:
            return
        bs, full = self.block_size, seq.num_cached // self.block_size
        h = self.blocks[seq.block_table[seq.num_hashed_blocks - 1]].hash if seq.num_hashed_blocks else None
        for i in range(seq.num_hashed_blocks, full):
            block = self.blocks[seq.block_table[i]]
            prev = self.blocks[seq.block_table[i - 1]] if i else None
            block.token_ids = tuple(seq.token_ids[i * bs:(i + 1) * bs])
            block.parent = (prev.block_id, prev.generation) if prev else None
            h = block.hash = self.hash_block(h, block.token_ids)
            self.cached[h] = block.block_id
        seq.num_hashed_blocks = max(seq.num_hashed_blocks, full)
