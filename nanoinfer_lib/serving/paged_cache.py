"""The paged KV cache: one preallocated pool of token slots per layer, cut into blocks of
``block_size`` slots, and attention that reads each sequence's keys and values through its block
table. ``BlockManager`` decides which blocks a sequence holds; this file moves the numbers.

One step runs a batch of B sequences, row i computing n_i new tokens after c_i cached ones (a prompt
chunk, or one token when decoding). The rows are left-padded to T = max n_i, so every row's last
column is a real token (its logits are the ones sampled). ``PagedKVCache.step`` gives the model:

- ``idx`` (B, T) and ``position_ids`` (B, T): column t of row i is token c_i + t - (T - n_i);
- a boolean mask (B, 1, T, S), S = max(c_i + n_i): a real query sees its row's keys up to its own
  position; a padding query sees key 0 only (it needs one, or the softmax is 0/0) and is thrown away;
- a ``PagedView`` that the model calls as its ``kv_cache``: it writes each layer's new keys/values
  into the slots of the block tables (padding into a scratch block that no real query sees) and
  returns the keys/values of every row, gathered block by block through its block table into
  (B, nh, S, hs) (a row's table is padded with the scratch block up to S).

Gathering copies the keys/values a step reads (a GPU kernel such as vLLM's reads them in place).
Whole blocks (``block_size`` tokens, contiguous in the pool) copy faster than token by token, and
they are copied into two buffers the cache keeps (keys, values; grown when a step needs more, used
by one layer after the other), not into new tensors: a new multi-megabyte tensor per gather makes
the memory allocator return pages to the system and fault them in again at every step.
"""
from __future__ import annotations

import torch

from ..kv_cache import kv_cache_bytes


class PagedKVCache:
    def __init__(self, config, num_blocks: int, block_size: int, device=None, dtype=torch.float32):
        self.config, self.num_blocks, self.block_size = config, num_blocks, block_size
        self.device, self.dtype = torch.device(device or "cpu"), dtype
        self.n_head, self.head_dim = config.n_head, config.head_dim
        self.scratch = num_blocks           # one block past the pool: where padding writes
        shape = (num_blocks + 1, block_size, config.n_head, config.head_dim)     # (blocks, bs, nh, hs)
        self.k = [torch.zeros(shape, device=self.device, dtype=dtype) for _ in range(config.n_layer)]
        self.v = [torch.zeros(shape, device=self.device, dtype=dtype) for _ in range(config.n_layer)]
        self.gathered = [torch.empty(0, device=self.device, dtype=dtype)] * 2    # keys, values of a step

    @property
    def block_nbytes(self) -> int:
        """Bytes of the keys and values of one block, all layers (``kv_cache_bytes`` of block_size tokens)."""
        return kv_cache_bytes(self.config, 1, self.block_size, self.dtype)

    @property
    def nbytes(self) -> int:
        """Bytes of the pool (the scratch block not counted)."""
        return self.num_blocks * self.block_nbytes

    def step(self, block_tables: list[list[int]], num_cached: list[int], new_tokens: list[list[int]]):
        """The inputs of one forward pass: ``(idx, position_ids, mask, view)`` (see the module's docstring).
        Built in plain Python: a step has a few rows, and one tensor per input beats a chain of small ops."""
        bs, dev = self.block_size, self.device
        T = max(len(t) for t in new_tokens)
        S = max(c + len(t) for c, t in zip(num_cached, new_tokens))
        nb = -(-S // bs)                                                          # blocks a row reads
        idx, pos, write, read = [], [], [], []
        for table, c, tokens in zip(block_tables, num_cached, new_tokens):
            pad, mine = T - len(tokens), range(c, c + len(tokens))
            idx.append([0] * pad + tokens)
            pos.append([0] * pad + list(mine))                                    # padding at position 0
            write += [self.scratch * bs + (j - pad) % bs for j in range(pad)]     # padding: the scratch block
            write += [table[p // bs] * bs + p % bs for p in mine]
            read += table[:nb] + [self.scratch] * (nb - len(table[:nb]))
        pos = torch.tensor(pos, device=dev)                                       # (B, T)
        mask = (torch.arange(S, device=dev) <= pos[:, :, None])[:, None]          # (B, 1, T, S)
        self._reserve(len(read))
        view = PagedView(self, torch.tensor(write, device=dev), torch.tensor(read, device=dev), len(idx), T, S)
        return torch.tensor(idx, device=dev), pos, mask, view

    def _reserve(self, blocks: int) -> None:
        """Grow the two gather buffers to hold ``blocks`` blocks if they are smaller."""
        if self.gathered[0].shape[0] < blocks:
            shape = (blocks, self.block_size, self.n_head, self.head_dim)
            self.gathered = [torch.empty(shape, device=self.device, dtype=self.dtype) for _ in range(2)]


class PagedView:
    """One step's window on a ``PagedKVCache``, with the interface the model expects of a cache:
    ``check``, ``length``, ``update(layer_idx, k, v)`` and ``advance(T)``."""

    def __init__(self, cache: PagedKVCache, write: torch.Tensor, read: torch.Tensor, B: int, T: int, S: int):
        self.cache, self.write, self.read = cache, write, read      # (B*T,) slot numbers, (B*nb,) block ids
        self.B, self.T, self.S = B, T, S
        self.length = S - T         # the model treats keys 0..S-T-1 as cached and the last T as new

    def check(self, config, batch_size: int, dtype: torch.dtype, device: torch.device) -> None:
        c = self.cache
        if (config.n_layer, config.n_head, config.head_dim) != (len(c.k), c.n_head, c.head_dim):
            raise ValueError("the paged cache was built for another model shape: build it from model.config")
        if batch_size != self.B or dtype != c.dtype or torch.device(device).type != c.device.type:
            raise ValueError(f"this step was prepared for {self.B} rows of {c.dtype} on {c.device}, "
                             f"got {batch_size} rows of {dtype} on {device}")

    def update(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new (B, nh, T, hs) keys/values into their slots; return (B, nh, S, hs) read
        through the block tables: views of the cache's gather buffers, valid until the next update."""
        c, B, nh, hs = self.cache, self.B, self.cache.n_head, self.cache.head_dim
        out = []
        for pool, new, buf in zip((c.k[layer_idx], c.v[layer_idx]), (k, v), c.gathered):   # (blocks, bs, nh, hs)
            pool.view(-1, nh, hs).index_copy_(0, self.write, new.transpose(1, 2).reshape(B * self.T, nh, hs))
            rows = torch.index_select(pool, 0, self.read, out=buf[:len(self.read)])
            rows = rows.view(B, -1, nh, hs)[:, :self.S]                                   # (B, S, nh, hs)
            out.append(rows.transpose(1, 2))
        return out[0], out[1]

    def advance(self, T: int) -> None:
        """Nothing to do: the engine counts each sequence's cached tokens itself."""
