"""A preallocated key/value cache: one (B, nh, max_len, hs) tensor per layer for keys and one for values.

New keys/values are written in place at positions [length, length + T); nothing is reallocated
while generating. This is what makes a decode step cost O(1) new projections instead of O(T).
``kv_cache_bytes`` is the one copy of the cache's size formula in the course.

``KVCache(..., kv_bits=8)`` (or 4) stores the cache as unsigned integer codes, as KIVI does: keys
per channel (one scale and minimum per channel over each group of ``group_size`` positions, since a
few key channels carry large values at every position), values per token (one scale and minimum per
position and head). Both are asymmetric (``x ~ low + code * scale``): a channel's keys are often all
of one sign, and a symmetric code would waste half its levels on values that never occur. The
positions of the group still being filled (the most recent ``length % group_size``) stay in the
cache's dtype and are quantized when their group is complete. ``update`` returns dequantized keys and
values, so the model runs unchanged and attention sees the quantization error, prefill included.
"""
from __future__ import annotations

import torch

from . import validate
from .model import check_config

KV_BITS = (8, 4)      # the quantized caches: 8 or 4 bits per code (4 packs two codes per byte)


def kv_cache_bytes(config, batch_size: int, seq_len: int, dtype: torch.dtype = torch.float32,
                   kv_bits: int | None = None, group_size: int = 32) -> int:
    """Bytes of a KV cache holding ``seq_len`` positions: 2 (k and v) * n_layer * B * T * n_embd * itemsize.

    With ``kv_bits``: per layer and row, codes of ``kv_bits`` bits for the positions of complete
    groups (Q = seq_len // group_size * group_size), a scale and a minimum (in ``dtype``) per key
    channel per group and per value head per position, and a full-precision buffer of
    min(group_size - 1, seq_len) positions for keys and for values."""
    config = check_config("config", config)
    batch_size = validate.integer("batch_size", batch_size, 0)
    seq_len = validate.integer("seq_len", seq_len, 0)
    dtype = validate.dtype("dtype", dtype)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if kv_bits is None:
        return 2 * config.n_layer * batch_size * seq_len * config.n_embd * itemsize
    kv_bits, group_size = check_kv_bits(kv_bits, group_size, dtype, config.head_dim)
    groups, C, nh = seq_len // group_size, config.n_embd, config.n_head
    quantized = groups * group_size
    per_row = (2 * quantized * C * kv_bits // 8                  # key and value codes
               + 2 * groups * C * itemsize                       # key scale and minimum: per channel per group
               + 2 * quantized * nh * itemsize                   # value scale and minimum: per head per position
               + 2 * min(group_size - 1, seq_len) * C * itemsize)   # keys and values of the unfinished group
    return config.n_layer * batch_size * per_row


def check_kv_bits(kv_bits, group_size, dtype, head_dim: int) -> tuple[int, int]:
    """``kv_bits`` in KV_BITS, ``group_size`` >= 1, and a dtype whose scales the cache can hold."""
    if validate.integer("kv_bits", kv_bits) not in KV_BITS:
        raise ValueError(f"kv_bits must be None (no quantization) or one of {list(KV_BITS)}, got {kv_bits}")
    group_size = validate.integer("group_size", group_size, 1)
    if dtype not in validate.DTYPES.values():
        raise ValueError(f"dtype must be one of {list(validate.DTYPES)} for a quantized cache (kv_bits="
                         f"{kv_bits}): its scales, minimums and newest positions are kept in it; got {dtype}")
    if kv_bits == 4 and head_dim % 2:
        raise ValueError(f"kv_bits=4 packs two codes per byte along head_dim, which is {head_dim} (odd)")
    return kv_bits, group_size


def quantize_asymmetric(x: torch.Tensor, dim: int, bits: int, dtype: torch.dtype):
    """Codes in [0, 2**bits - 1] (uint8) and the (scale, low) in ``dtype``, reduced over ``dim``, such
    that ``low + code * scale`` is within ``scale / 2`` of ``x`` (up to the rounding of scale and low)."""
    low, high = x.float().amin(dim, keepdim=True), x.float().amax(dim, keepdim=True)
    scale = ((high - low) / (2 ** bits - 1)).to(dtype)
    low = low.to(dtype)
    step = scale.float().clamp(min=torch.finfo(torch.float32).tiny)
    codes = ((x.float() - low.float()) / step).round().clamp(0, 2 ** bits - 1).to(torch.uint8)
    return codes, scale, low


def pack_int4(codes: torch.Tensor) -> torch.Tensor:
    """Two 4-bit codes per byte along the last dim: byte i holds codes 2i (low nibble) and 2i+1 (high)."""
    return codes[..., 0::2] | (codes[..., 1::2] << 4)


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """The inverse of ``pack_int4``: (..., n) uint8 -> (..., 2n) codes in [0, 15]."""
    return torch.stack((packed & 15, packed >> 4), dim=-1).flatten(-2)


class KVCache:
    def __init__(self, config, batch_size: int, max_len: int, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None, kv_bits: int | None = None, group_size: int = 32):
        check_config("config", config)
        self.batch_size = validate.integer("batch_size", batch_size, 1)
        self.max_len = validate.integer("max_len", max_len, 1, config.block_size)
        self.n_layer, self.n_head, self.head_dim = config.n_layer, config.n_head, config.head_dim
        self.device = validate.device("device", device if device is not None else "cpu")
        self.dtype = validate.dtype("dtype", dtype) if dtype is not None else torch.float32
        self.kv_bits, self.group_size = None, None
        self.length = 0     # positions filled so far (the same for every layer)
        if kv_bits is not None:
            self.kv_bits, self.group_size = check_kv_bits(kv_bits, group_size, self.dtype, self.head_dim)
            self._allocate_quantized()
            return
        shape = (self.batch_size, config.n_head, self.max_len, config.head_dim)   # (B, nh, max_len, hs)
        self.k = [torch.zeros(shape, device=self.device, dtype=self.dtype) for _ in range(config.n_layer)]
        self.v = [torch.zeros(shape, device=self.device, dtype=self.dtype) for _ in range(config.n_layer)]

    def _allocate_quantized(self) -> None:
        B, nh, hs, G = self.batch_size, self.n_head, self.head_dim, self.group_size
        groups = self.max_len // G
        Q = groups * G                                        # positions that can be quantized
        width = hs * self.kv_bits // 8                        # bytes of one position's codes per head

        def zeros(*shape, dtype=self.dtype):
            return [torch.zeros(shape, device=self.device, dtype=dtype) for _ in range(self.n_layer)]
        self.k_codes, self.v_codes = zeros(B, nh, Q, width, dtype=torch.uint8), zeros(B, nh, Q, width, dtype=torch.uint8)
        self.k_scale, self.k_low = zeros(B, nh, groups, hs), zeros(B, nh, groups, hs)     # per channel per group
        self.v_scale, self.v_low = zeros(B, nh, Q, 1), zeros(B, nh, Q, 1)                 # per head per position
        tail = min(G - 1, self.max_len)                       # the unfinished group, full precision
        self.k_tail, self.v_tail = zeros(B, nh, tail, hs), zeros(B, nh, tail, hs)

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor the cache holds (what ``nbytes`` counts)."""
        if self.kv_bits is None:
            return self.k + self.v
        return [t for name in ("k_codes", "v_codes", "k_scale", "k_low", "v_scale", "v_low", "k_tail", "v_tail")
                for t in getattr(self, name)]

    @property
    def nbytes(self) -> int:
        """Bytes held by the cache: ``kv_cache_bytes(config, batch_size, max_len, dtype, kv_bits, group_size)``."""
        return sum(t.numel() * t.element_size() for t in self.tensors())

    @property
    def remaining(self) -> int:
        return self.max_len - self.length

    def reset(self) -> None:
        """Forget every cached position (the memory stays allocated for reuse)."""
        self.length = 0

    def crop(self, length: int) -> None:
        """Keep only the first ``length`` positions (speculative decoding rolls back rejected tokens).
        In a quantized cache, positions of a group that was already quantized go back to the
        unfinished group as their dequantized values."""
        length = validate.integer("length", length, 0, self.length)
        if self.kv_bits is not None:
            G = self.group_size
            start, done = length // G * G, self.length // G * G
            if start < done and length > start:            # the kept part of a quantized group
                for i in range(self.n_layer):
                    k, v = self._dequantized(i, start, length)
                    self.k_tail[i][:, :, :length - start] = k
                    self.v_tail[i][:, :, :length - start] = v
        self.length = length

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
        if self.kv_bits is not None:
            return self._update_quantized(layer_idx, k, v, start, end)
        self.k[layer_idx][:, :, start:end] = k
        self.v[layer_idx][:, :, start:end] = v
        return self.k[layer_idx][:, :, :end], self.v[layer_idx][:, :, :end]

    def _update_quantized(self, i: int, k, v, start: int, end: int):
        G = self.group_size
        base, done = start // G * G, end // G * G     # the unfinished group starts at base; [0, done) ends quantized
        k = torch.cat([self.k_tail[i][:, :, :start - base], k], dim=2)   # (B, nh, end - base, hs)
        v = torch.cat([self.v_tail[i][:, :, :start - base], v], dim=2)
        n = done - base                                # positions that complete their group now
        if n > 0:
            B, nh, _, hs = k.shape
            g0, g1 = base // G, done // G
            groups = k[:, :, :n].reshape(B, nh, g1 - g0, G, hs)           # keys: per channel over a group
            codes, scale, low = quantize_asymmetric(groups, 3, self.kv_bits, self.dtype)
            self.k_codes[i][:, :, base:done] = self._pack(codes.reshape(B, nh, n, hs))
            self.k_scale[i][:, :, g0:g1], self.k_low[i][:, :, g0:g1] = scale[:, :, :, 0], low[:, :, :, 0]
            codes, scale, low = quantize_asymmetric(v[:, :, :n], 3, self.kv_bits, self.dtype)   # values: per token
            self.v_codes[i][:, :, base:done] = self._pack(codes)
            self.v_scale[i][:, :, base:done], self.v_low[i][:, :, base:done] = scale, low
        self.k_tail[i][:, :, :end - done] = k[:, :, n:]
        self.v_tail[i][:, :, :end - done] = v[:, :, n:]
        old_k, old_v = self._dequantized(i, 0, done)                   # (B, nh, done, hs)
        return torch.cat([old_k, k[:, :, n:]], dim=2), torch.cat([old_v, v[:, :, n:]], dim=2)

    def _pack(self, codes: torch.Tensor) -> torch.Tensor:
        return pack_int4(codes) if self.kv_bits == 4 else codes

    def _dequantized(self, i: int, start: int, end: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of positions [start, end) (within complete groups) of layer i, (B, nh, end - start, hs)."""
        G = self.group_size
        k, v = self.k_codes[i][:, :, start:end], self.v_codes[i][:, :, start:end]
        if self.kv_bits == 4:
            k, v = unpack_int4(k), unpack_int4(v)
        group = torch.arange(start, end, device=self.device) // G          # the key group of each position
        k = k.to(self.dtype) * self.k_scale[i][:, :, group] + self.k_low[i][:, :, group]
        v = v.to(self.dtype) * self.v_scale[i][:, :, start:end] + self.v_low[i][:, :, start:end]
        return k, v

    def advance(self, T: int) -> None:
        """Called by the model once every layer has written its T new positions."""
        self.length += T

    def __repr__(self) -> str:
        bits = "" if self.kv_bits is None else f", kv_bits={self.kv_bits}, group_size={self.group_size}"
        return (f"KVCache(n_layer={self.n_layer}, batch_size={self.batch_size}, length={self.length}, "
                f"max_len={self.max_len}, dtype={self.dtype}{bits}, nbytes={self.nbytes:,})")
