"""A preallocated key/value cache: one (B, nh, max_len, hs) tensor per layer for keys and one for values.

New keys/values are written in place at positions [length, length + T); nothing is reallocated
while generating. This is what makes a decode step cost O(1) new projections instead of O(T).
"""
from __future__ import annotations

import torch


class KVCache:
    def __init__(self, config, batch_size: int, max_len: int,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        for name, value in (("batch_size", batch_size), ("max_len", max_len)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if max_len > config.block_size:
            raise ValueError(f"max_len must be <= the context window block_size={config.block_size}, got {max_len}")
        self.n_layer, self.batch_size, self.max_len = config.n_layer, batch_size, max_len
        self.device = torch.device(device if device is not None else "cpu")
        self.dtype = dtype if dtype is not None else torch.float32
        shape = (batch_size, config.n_head, max_len, config.head_dim)            # (B, nh, max_len, hs)
        self.k = [torch.zeros(shape, device=self.device, dtype=self.dtype) for _ in range(config.n_layer)]
        self.v = [torch.zeros(shape, device=self.device, dtype=self.dtype) for _ in range(config.n_layer)]
        self.length = 0     # positions filled so far (the same for every layer)

    @property
    def nbytes(self) -> int:
        """Bytes held by the cache: 2 (k and v) * n_layer * B * max_len * n_embd * itemsize."""
        return sum(t.numel() * t.element_size() for t in self.k + self.v)

    @property
    def remaining(self) -> int:
        return self.max_len - self.length

    def reset(self) -> None:
        """Forget every cached position (the memory stays allocated for reuse)."""
        self.length = 0

    def update(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new (B, nh, T, hs) keys/values of one layer; return all keys/values so far (B, nh, S, hs)."""
        T = k.shape[2]
        start, end = self.length, self.length + T
        if end > self.max_len:
            raise ValueError(f"kv_cache is full: it holds {self.length} of max_len={self.max_len} positions "
                             f"and cannot take {T} more; create a larger cache or call reset()")
        if k.shape[0] != self.batch_size:
            raise ValueError(f"batch size {k.shape[0]} does not match the cache's batch_size={self.batch_size}")
        self.k[layer_idx][:, :, start:end] = k
        self.v[layer_idx][:, :, start:end] = v
        return self.k[layer_idx][:, :, :end], self.v[layer_idx][:, :, :end]

    def advance(self, T: int) -> None:
        """Called by the model once every layer has written its T new positions."""
        self.length += T

    def __repr__(self) -> str:
        return (f"KVCache(n_layer={self.n_layer}, batch_size={self.batch_size}, length={self.length}, "
                f"max_len={self.max_len}, dtype={self.dtype}, nbytes={self.nbytes:,})")
