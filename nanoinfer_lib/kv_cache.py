"""A preallocated key/value cache: one (B, nh, max_len, hs) tensor per layer for keys and one for values.

New keys/values are written in place at positions [length, length + T); nothing is reallocated
while generating. This is what makes a decode step cost O(1) new projections instead of O(T).
``kv_cache_bytes`` is the one copy of the cache's size formula in the course.
"""
from __future__ import annotations

import torch

from . import validate
from .model import check_config


def kv_cache_bytes(config, batch_size: int, seq_len: int, dtype: torch.dtype = torch.float32) -> int:
    """Bytes of a KV cache holding ``seq_len`` positions: 2 (k and v) * n_layer * B * T * n_embd * itemsize."""
    config = check_config("config", config)
    batch_size = validate.integer("batch_size", batch_size, 0)
    seq_len = validate.integer("seq_len", seq_len, 0)
    itemsize = torch.empty((), dtype=validate.dtype("dtype", dtype)).element_size()
    return 2 * config.n_layer * batch_size * seq_len * config.n_embd * itemsize


class KVCache:
    def __init__(self, config, batch_size: int, max_len: int,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        check_config("config", config)
        self.batch_size = validate.integer("batch_size", batch_size, 1)
        self.max_len = validate.integer("max_len", max_len, 1, config.block_size)
        self.n_layer, self.n_head, self.head_dim = config.n_layer, config.n_head, config.head_dim
        self.device = validate.device("device", device if device is not None else "cpu")
        self.dtype = validate.dtype("dtype", dtype) if dtype is not None else torch.float32
        shape = (self.batch_size, config.n_head, self.max_len, config.head_dim)   # (B, nh, max_len, hs)
        self.k = [torch.zeros(shape, device=self.device, dtype=self.dtype) for _ in range(config.n_layer)]
        self.v = [torch.zeros(shape, device=self.device, dtype=self.dtype) for _ in range(config.n_layer)]
        self.length = 0     # positions filled so far (the same for every layer)

    @property
    def nbytes(self) -> int:
        """Bytes held by the cache: ``kv_cache_bytes(config, batch_size, max_len, dtype)``."""
        return sum(t.numel() * t.element_size() for t in self.k + self.v)

    @property
    def remaining(self) -> int:
        return self.max_len - self.length

    def reset(self) -> None:
        """Forget every cached position (the memory stays allocated for reuse)."""
        self.length = 0

    def crop(self, length: int) -> None:
        """Keep only the first ``length`` positions (speculative decoding rolls back rejected tokens)."""
        self.length = validate.integer("length", length, 0, self.length)

    def check(self, config, batch_size: int, dtype: torch.dtype, device: torch.device) -> None:
        """Raise a ValueError unless this cache fits a model with ``config`` running a batch of
        ``batch_size`` in ``dtype`` on ``device`` (the model calls this before every forward)."""
        want = (config.n_layer, config.n_head, config.head_dim)
        if (self.n_layer, self.n_head, self.head_dim) != want:
            raise ValueError(f"kv_cache was built for n_layer, n_head, head_dim = "
                             f"{(self.n_layer, self.n_head, self.head_dim)}, but the model has {want}: "
                             f"build it with KVCache(model.config, ...)")
        if batch_size != self.batch_size:
            raise ValueError(f"batch size {batch_size} does not match the kv_cache's batch_size={self.batch_size}")
        if dtype != self.dtype or torch.device(device).type != self.device.type:
            raise ValueError(f"kv_cache holds {validate.dtype_name(self.dtype)} on {self.device}, but the model "
                             f"runs {validate.dtype_name(dtype)} on {device}: pass device= and dtype= to KVCache")

    def update(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new (B, nh, T, hs) keys/values of one layer; return all keys/values so far (B, nh, S, hs)."""
        T = k.shape[2]
        start, end = self.length, self.length + T
        if end > self.max_len:
            raise ValueError(f"kv_cache is full: it holds {self.length} of max_len={self.max_len} positions "
                             f"and cannot take {T} more; create a larger cache or call reset()")
        self.k[layer_idx][:, :, start:end] = k
        self.v[layer_idx][:, :, start:end] = v
        return self.k[layer_idx][:, :, :end], self.v[layer_idx][:, :, :end]

    def advance(self, T: int) -> None:
        """Called by the model once every layer has written its T new positions."""
        self.length += T

    def __repr__(self) -> str:
        return (f"KVCache(n_layer={self.n_layer}, batch_size={self.batch_size}, length={self.length}, "
                f"max_len={self.max_len}, dtype={self.dtype}, nbytes={self.nbytes:,})")
